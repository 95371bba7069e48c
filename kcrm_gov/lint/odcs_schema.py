"""Validation against the upstream ODCS JSON Schema.

The schema is the one that ships with the ``open-data-contract-standard`` package (the same
file datacontract-cli validates against). It is compiled once per process: re-checking the
meta-schema on every contract is what makes ``datacontract lint`` cost 0.2 s a file.
"""

from __future__ import annotations

import importlib.util
import json
from functools import cache
from pathlib import Path
from typing import Any

from ..yamlsource import YamlDocument
from .findings import Finding

RULE = "ODCS001"


def _schema_path() -> Path:
    spec = importlib.util.find_spec("open_data_contract_standard")
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover - a broken install
        raise RuntimeError("the open-data-contract-standard package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "schema.json"


@cache
def _validator() -> Any:
    import jsonschema

    schema = json.loads(_schema_path().read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def _leaf_errors(error: Any) -> list[Any]:
    """The most specific errors under a oneOf/anyOf failure (what a person needs to read)."""
    if not error.context:
        return [error]
    best = max(error.context, key=lambda e: len(e.absolute_path))
    deepest = [e for e in error.context if len(e.absolute_path) == len(best.absolute_path)]
    return [leaf for e in deepest[:1] for leaf in _leaf_errors(e)]


def schema_findings(doc: YamlDocument) -> list[Finding]:
    """Findings for every place where ``doc`` breaks the ODCS JSON Schema."""
    findings = []
    for error in _validator().iter_errors(doc.data):
        for leaf in _leaf_errors(error):
            keys = list(leaf.absolute_path)
            where = ".".join(str(k) for k in keys) or "(document)"
            findings.append(Finding.at(doc.location(*keys), RULE,
                                       f"not valid ODCS {doc.data.get('apiVersion', 'v3')}: {where}: {leaf.message}"))
    return findings
