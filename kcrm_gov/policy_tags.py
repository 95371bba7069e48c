"""BigQuery policy tags: which Data Catalog policy tag protects which classified column.

The taxonomy is declared once in ``catalog/policy_tags.yml`` (its resource name and one policy
tag per sensitive classification, plus an optional stricter ``pii`` tag). A contract's columns
say their classification; this module turns both into ``{dotted.leaf.path: policy tag}``, which
the BigQuery JSON schema (``ddl.bigquery.json_schema``) and the BigQuery engine
(``apply_policy_tags``) both read, so the mapping is decided in one place.

Rules (the file's header says the same to its readers):

* a leaf tagged ``pii`` (or inside a STRUCT tagged ``pii``) gets the ``pii`` tag when the
  taxonomy has one: BigQuery allows one policy tag per column, and the pii tag is the strictest;
* otherwise the leaf gets the tag of its classification; a leaf without a classification
  inherits the nearest classified ancestor's;
* classifications without a tag in the taxonomy (public, internal) get none;
* RECORD (STRUCT / ARRAY<STRUCT>) fields never carry a tag: BigQuery tags leaf fields only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .contracts import CLASSIFICATIONS, PII_TAG
from .errors import ConfigError
from .yamlsource import read_yaml

if TYPE_CHECKING:
    from .contracts import Column, Contract

POLICY_TAGS_FILE = Path("catalog") / "policy_tags.yml"
_TAXONOMY = re.compile(r"^projects/[^/]+/locations/[^/]+/taxonomies/[0-9]+$")
_TAG_ID = re.compile(r"^[0-9]+$")
KEYS = (*CLASSIFICATIONS, PII_TAG)
"""What a policy tag can be declared for: a classification level, or ``pii``."""


@dataclass(frozen=True)
class PolicyTag:
    key: str  # the classification (or "pii") it protects
    name: str  # full resource name: <taxonomy>/policyTags/<id>
    display_name: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Taxonomy:
    """The policy-tag taxonomy of ``catalog/policy_tags.yml``."""

    resource: str
    tags: dict[str, PolicyTag] = field(default_factory=dict)
    display_name: str | None = None

    def tag_for(self, classification: str | None, pii: bool = False) -> str | None:
        """The policy tag resource name for a leaf with this classification, or None."""
        if pii and PII_TAG in self.tags:
            return self.tags[PII_TAG].name
        tag = self.tags.get((classification or "").lower())
        return tag.name if tag else None


def parse_taxonomy(data: object, where: Path, locate=None) -> Taxonomy:
    """Build a Taxonomy from the parsed YAML (raises ConfigError naming the file and line)."""
    from .errors import Location

    def loc(*keys: str) -> Location:
        return locate(*keys) if locate else Location(where)

    if not isinstance(data, dict):
        raise ConfigError(f"{where.name} must be a mapping with `taxonomy` and `policyTags`", loc())
    tax = data.get("taxonomy")
    if not isinstance(tax, dict) or not isinstance(tax.get("resource"), str):
        raise ConfigError("`taxonomy.resource` must be the taxonomy's resource name "
                          "(projects/P/locations/L/taxonomies/ID)", loc("taxonomy"))
    resource = tax["resource"].strip()
    if not _TAXONOMY.match(resource):
        raise ConfigError(f"`taxonomy.resource` '{resource}' is not a taxonomy resource name "
                          "(projects/P/locations/L/taxonomies/ID)", loc("taxonomy", "resource"))
    raw_tags = data.get("policyTags") or {}
    if not isinstance(raw_tags, dict):
        raise ConfigError("`policyTags` must map classifications (or pii) to tags", loc("policyTags"))
    tags: dict[str, PolicyTag] = {}
    for key, spec in raw_tags.items():
        key = str(key).lower()
        if key not in KEYS:
            raise ConfigError(f"policy tag for '{key}': not a classification ({', '.join(KEYS)})",
                              loc("policyTags", key))
        spec = spec if isinstance(spec, dict) else {"id": spec}
        tag_id = str(spec.get("id") or "").strip()
        if not _TAG_ID.match(tag_id):
            raise ConfigError(f"policy tag '{key}': `id` must be the numeric policy tag id, not {tag_id!r}",
                              loc("policyTags", key))
        tags[key] = PolicyTag(key=key, name=f"{resource}/policyTags/{tag_id}",
                              display_name=spec.get("displayName"), description=spec.get("description"))
    return Taxonomy(resource=resource, tags=tags, display_name=tax.get("displayName"))


def load_taxonomy(root: Path) -> Taxonomy | None:
    """The taxonomy declared in ``root/catalog/policy_tags.yml``; None when the file is absent."""
    path = root / POLICY_TAGS_FILE
    if not path.exists():
        return None
    doc = read_yaml(path, POLICY_TAGS_FILE)
    return parse_taxonomy(doc.data, POLICY_TAGS_FILE, doc.location)


def column_policy_tags(contract: Contract, taxonomy: Taxonomy | None) -> dict[str, str]:
    """``{dotted.path: policy tag name}`` for every leaf field of ``contract`` that needs one."""
    out: dict[str, str] = {}
    if taxonomy is None:
        return out

    def walk(column: Column, prefix: str, classification: str | None, pii: bool) -> None:
        path = f"{prefix}{column.name}"
        classification = column.classification or classification
        pii = pii or column.is_pii
        if column.fields:
            for f in column.fields:
                walk(f, path + ".", classification, pii)
            return
        tag = taxonomy.tag_for(classification, pii)
        if tag:
            out[path] = tag

    for column in contract.columns:
        walk(column, "", None, False)
    return out
