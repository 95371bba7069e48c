"""Contracts: ODCS v3 files read once into typed objects.

Parsing goes through the ODCS pydantic model (``open-data-contract-standard``) so the
contract means what the standard says it means; kcrm-gov only adds what it needs on top:
the table's layer and name (from its path), typed columns (with nested fields and sqlglot
types), primary key, partitioning, SLA and the source positions lint reports against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlglot import exp

from . import typemap
from .errors import ContractError, Location
from .yamlsource import PathKey, YamlDocument, read_yaml

CONTRACT_SUFFIX = ".odcs.yaml"
API_VERSION = "v3.2.0"
"""The one ODCS apiVersion every contract in the project uses."""

STEWARD_ROLE = "data steward"
PII_TAG = "pii"
CLASSIFICATIONS = ("public", "internal", "confidential", "restricted")
"""Classification levels, from least to most sensitive."""
SENSITIVE_CLASSIFICATIONS = ("confidential", "restricted")
"""Levels whose values never leave the warehouse: not in samples, messages, results or lineage."""


@dataclass
class Column:
    """One column of a contract's table (or one field of a nested STRUCT)."""

    name: str
    data_type: exp.DataType
    description: str | None
    required: bool
    unique: bool
    primary_key_position: int | None
    partitioned: bool
    classification: str | None
    tags: tuple[str, ...]
    logical_type: str | None
    physical_type: str | None
    fields: list[Column]
    references: tuple[str, ...]  # "table.column" of foreign keys
    allowed_values: tuple[Any, ...]
    quality: list[dict[str, Any]]
    yaml_path: PathKey

    @property
    def is_pii(self) -> bool:
        """True when the column is marked as personal data."""
        return PII_TAG in self.tags

    @property
    def is_sensitive(self) -> bool:
        """True when this column's own values may never be shown outside the warehouse: tagged
        ``pii`` or classified confidential or restricted."""
        return self.is_pii or (self.classification or "").lower() in SENSITIVE_CLASSIFICATIONS

    @property
    def holds_sensitive(self) -> bool:
        """True when this column or any field nested in it is sensitive (a STRUCT holding an
        email is as sensitive as the email)."""
        return any(col.is_sensitive for _, col in self.walk())

    # rendered once: generating SQL from a type tree costs more than everything else done per column
    @cached_property
    def bigquery_type(self) -> str:
        return typemap.to_bigquery(self.data_type)

    @cached_property
    def duckdb_type(self) -> str:
        return typemap.to_duckdb(self.data_type)

    def walk(self, prefix: str = "") -> list[tuple[str, Column]]:
        """This column and its nested fields as ``(dotted.path, column)`` pairs."""
        path = f"{prefix}{self.name}"
        out = [(path, self)]
        for f in self.fields:
            out.extend(f.walk(path + "."))
        return out


@dataclass
class Contract:
    """One ODCS contract: the definition of one warehouse table."""

    path: Path  # as shown to people: relative to the project root
    layer: str
    table: str
    document: YamlDocument
    model: Any  # open_data_contract_standard.model.OpenDataContractStandard
    columns: list[Column] = field(default_factory=list)
    file: Path | None = None  # the absolute path it was read from

    # --- identity -------------------------------------------------------------------------
    @property
    def qualified_name(self) -> str:
        """``layer.table``, the name models use to read it."""
        return f"{self.layer}.{self.table}"

    @property
    def id(self) -> str | None:
        return self.model.id

    @property
    def version(self) -> str | None:
        return self.model.version

    @property
    def status(self) -> str | None:
        return self.model.status

    @property
    def schema_object(self) -> Any | None:
        schemas = self.model.schema_ or []
        return schemas[0] if schemas else None

    @property
    def description(self) -> str | None:
        obj = self.schema_object
        return obj.description if obj else None

    # --- ownership ------------------------------------------------------------------------
    @property
    def owner_team(self) -> str | None:
        team = self.model.team
        return team.name if team is not None and not isinstance(team, list) else None

    @property
    def stewards(self) -> list[str]:
        """Usernames of the team members whose role is data steward."""
        team = self.model.team
        members = team if isinstance(team, list) else (team.members if team else None)
        return [m.username for m in members or [] if (m.role or "").lower() == STEWARD_ROLE and m.username]

    # --- custom properties ----------------------------------------------------------------
    @cached_property
    def properties(self) -> dict[str, Any]:
        """The contract's top-level customProperties as a dict."""
        return {p.property: p.value for p in self.model.customProperties or [] if p.property}

    @property
    def declared_layer(self) -> str | None:
        value = self.properties.get("layer")
        return str(value) if value is not None else None

    @property
    def source(self) -> str | None:
        """The source system (raw and stg tables: the part before ``__``)."""
        value = self.properties.get("source")
        if value:
            return str(value)
        return self.table.split("__", 1)[0] if "__" in self.table else None

    @property
    def materialization(self) -> str:
        return str(self.properties.get("materialization") or "table")

    @property
    def cluster_by(self) -> list[str]:
        value = self.properties.get("clusterBy") or []
        return [str(v) for v in (value if isinstance(value, list) else [value])]

    @property
    def partition_column(self) -> Column | None:
        parts = sorted((c for c in self.columns if c.partitioned), key=lambda c: c.name)
        return parts[0] if parts else None

    # --- keys and SLA ---------------------------------------------------------------------
    @property
    def primary_key(self) -> list[str]:
        keyed = [c for c in self.columns if c.primary_key_position is not None]
        return [c.name for c in sorted(keyed, key=lambda c: c.primary_key_position or 0)]

    @property
    def tags(self) -> list[str]:
        return list(self.model.tags or [])

    def sla(self, name: str) -> Any | None:
        """The slaProperties entry called ``name`` (``freshness``, ``frequency``...)."""
        for item in self.model.slaProperties or []:
            if item.property == name:
                return item
        return None

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    def all_columns(self) -> list[tuple[str, Column]]:
        """Every column and nested field as ``(dotted.path, column)``."""
        out: list[tuple[str, Column]] = []
        for c in self.columns:
            out.extend(c.walk())
        return out

    def location(self, *keys: str | int) -> Location:
        """Where ``keys`` (a path into the YAML document) is in the file."""
        return self.document.location(*keys)


def _custom(prop: Any) -> dict[str, Any]:
    return {p.property: p.value for p in prop.customProperties or [] if p.property}


def _column(prop: Any, yaml_path: PathKey, source: YamlDocument) -> Column:
    """Build a Column (and its nested fields) from an ODCS SchemaProperty."""
    name = prop.name or ""
    fields: list[Column] = []
    logical = (prop.logicalType or "").lower() or None
    physical = prop.physicalType
    try:
        if prop.items is not None:  # ARRAY<element>
            item = prop.items
            if item.properties:
                fields = [_column(p, (*yaml_path, "items", "properties", i), source)
                          for i, p in enumerate(item.properties)]
                element = typemap.struct_type([(f.name, f.data_type) for f in fields])
            else:
                element = _scalar(item, (*yaml_path, "items"), source)
            data_type = typemap.array_type(element)
        elif prop.properties:  # STRUCT<fields>
            fields = [_column(p, (*yaml_path, "properties", i), source) for i, p in enumerate(prop.properties)]
            data_type = typemap.struct_type([(f.name, f.data_type) for f in fields])
        else:
            data_type = _scalar(prop, yaml_path, source)
    except typemap.TypeError_ as exc:
        raise ContractError(f"column '{name}': {exc}", source.location(*yaml_path, "physicalType")) from None
    references = tuple(
        str(r.to) for r in prop.relationships or [] if isinstance(r.to, str)
    )
    allowed = tuple(e.value for e in prop.enum or []) if prop.enum else ()
    if not allowed:
        custom_allowed = _custom(prop).get("allowedValues")
        if isinstance(custom_allowed, list):
            allowed = tuple(custom_allowed)
    return Column(
        name=name,
        data_type=data_type,
        description=prop.description,
        required=bool(prop.required),
        unique=bool(prop.unique),
        primary_key_position=(prop.primaryKeyPosition or 1) if prop.primaryKey else None,
        partitioned=bool(prop.partitioned),
        classification=prop.classification,
        tags=tuple(t.lower() for t in prop.tags or []),
        logical_type=logical,
        physical_type=physical,
        fields=fields,
        references=references,
        allowed_values=allowed,
        quality=[q.model_dump(exclude_none=True, by_alias=True) for q in prop.quality or []],
        yaml_path=yaml_path,
    )


def _scalar(prop: Any, yaml_path: PathKey, source: YamlDocument) -> exp.DataType:
    if prop.physicalType:
        return typemap.parse_bigquery_type(prop.physicalType)
    logical = (prop.logicalType or "").lower()
    if logical in typemap.LOGICAL_DEFAULTS:
        return typemap.parse_bigquery_type(typemap.LOGICAL_DEFAULTS[logical])
    raise typemap.TypeError_(f"no physicalType and no usable logicalType ({logical or 'none'})")


def _pydantic_location(doc: YamlDocument, loc: tuple[Any, ...]) -> Location:
    keys = [k for k in loc if isinstance(k, (str, int))]
    # pydantic adds union-branch names ("str", "list[...]") to locations: keep only real keys
    clean: list[str | int] = []
    for k in keys:
        if (*clean, k) in doc.positions:
            clean.append(k)
    return doc.location(*clean)


def parse_contract(doc: YamlDocument, layer: str, table: str) -> Contract:
    """Turn a parsed YAML document into a :class:`Contract` (raises ContractError)."""
    from open_data_contract_standard.model import OpenDataContractStandard
    from pydantic import ValidationError

    data = doc.data
    if not isinstance(data, dict) or data.get("kind") != "DataContract" or "apiVersion" not in data:
        raise ContractError(
            "not an ODCS data contract (expected a mapping with `kind: DataContract` and an `apiVersion`)",
            doc.location("kind") if isinstance(data, dict) else doc.location(),
        )
    try:
        model = OpenDataContractStandard.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = _pydantic_location(doc, tuple(err["loc"]))
        field_name = ".".join(str(p) for p in err["loc"] if isinstance(p, (str, int)))
        error = ContractError(f"field '{field_name}': {err['msg']}", where)
        error.document = doc  # lint reports the upstream schema's findings for it instead
        raise error from None
    contract = Contract(path=doc.path, layer=layer, table=table, document=doc, model=model)
    schemas = model.schema_ or []
    if schemas:
        contract.columns = [_column(p, ("schema", 0, "properties", i), doc)
                            for i, p in enumerate(schemas[0].properties or [])]
    return contract


def table_of(path: Path) -> tuple[str, str]:
    """``(layer, table)`` named by a contract path ``contracts/<layer>/<table>.odcs.yaml``."""
    return path.parent.name, path.name[: -len(CONTRACT_SUFFIX)]


def load_contract(path: Path, display: Path | None = None) -> Contract:
    """Read one contract file; ``display`` is the path messages show (relative to the project)."""
    layer, table = table_of(path)
    contract = parse_contract(read_yaml(path, display), layer, table)
    contract.file = path
    return contract
