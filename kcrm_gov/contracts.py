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
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from . import typemap
from .errors import ContractError, Location
from .yamlsource import PathKey, YamlDocument, parse_yaml, read_text

if TYPE_CHECKING:
    from .incremental import Incremental
    from .propensity_spec import PropensitySpec
    from .retl.destination import Destination

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
    options: dict[str, Any] = field(default_factory=dict)  # ODCS logicalTypeOptions (pattern, minimum...)
    custom: dict[str, Any] = field(default_factory=dict)  # the column's customProperties
    declared_sources: tuple[str, ...] = ()  # ODCS transformSourceObjects: the tables it is made from
    transform_description: str | None = None
    enum_written: bool = False  # allowed values come from ODCS ``enum`` (else the allowedValues property)
    business_name: str | None = None  # ODCS businessName: the column's name for people (BI labels)

    @property
    def pattern(self) -> str | None:
        """The regular expression values must match (logicalTypeOptions, else a custom property)."""
        value = self.options.get("pattern") or self.custom.get("pattern")
        return str(value) if value else None

    @property
    def accepted_values(self) -> tuple[Any, ...]:
        """The values the contract allows in this column: its ``enum`` / ``allowedValues``, else the
        ``validValues`` of its ``invalidValues`` quality rule (the ODCS library-metric way)."""
        if self.allowed_values:
            return tuple(self.allowed_values)
        for rule in self.quality:
            values = valid_values_of(rule)
            if values is not None:
                return tuple(values)
        return ()

    @property
    def allowed_values_path(self) -> PathKey:
        """Where the allowed values are written in the file: ``enum`` or the ``allowedValues``
        custom property."""
        if self.enum_written:
            return (*self.yaml_path, "enum")
        return (*self.yaml_path, "customProperties")

    @property
    def pattern_path(self) -> PathKey:
        """Where the pattern is written: ``logicalTypeOptions.pattern`` or a custom property."""
        if self.options.get("pattern"):
            return (*self.yaml_path, "logicalTypeOptions", "pattern")
        return (*self.yaml_path, "customProperties")

    @property
    def classification_rank(self) -> int:
        """The position of the classification in :data:`CLASSIFICATIONS` (-1 when unclassified)."""
        return classification_rank(self.classification)

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
        value = self.model.id
        return str(value) if value is not None else None

    @property
    def version(self) -> str | None:
        value = self.model.version
        return str(value) if value is not None else None

    @property
    def status(self) -> str | None:
        value = self.model.status
        return str(value) if value is not None else None

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
        return custom_properties(self.model.customProperties)

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
        # only raw and stg name their source; a retl table's prefix is its destination (retl.hubspot__contacts)
        return self.table.split("__", 1)[0] if "__" in self.table and self.layer in ("raw", "stg") else None

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

    def sla_index(self, name: str) -> int | None:
        """The position of the slaProperties entry called ``name``."""
        return next((i for i, item in enumerate(self.model.slaProperties or []) if item.property == name), None)

    @cached_property
    def freshness(self) -> Freshness | None:
        """The freshness SLA, parsed once for every consumer (lint, checks, the freshness command,
        diff, the catalog); None without one. Raises :class:`ContractError` at the SLA's line when it
        is malformed (see :func:`parse_freshness`)."""
        return parse_freshness(self)

    @cached_property
    def propensity_model(self) -> PropensitySpec | None:
        """The propensity model this table scores (``customProperties.propensityModel``), parsed once
        for the trainer, the lint and the catalog's model card; None without one. Raises
        :class:`ContractError` at its line when it is malformed."""
        from .propensity_spec import parse_propensity_model

        return parse_propensity_model(self)

    @cached_property
    def destination(self) -> Destination | None:
        """Where a retl table's rows are synced (``customProperties.destination``), parsed once for the
        lint, ``diff``, the sync, lineage and the catalog; None without one. Raises
        :class:`ContractError` at its line when it is malformed."""
        from .retl.destination import parse_destination

        return parse_destination(self)

    @cached_property
    def incremental(self) -> Incremental | None:
        """How the table is built incrementally (``customProperties.incremental``), parsed once for the
        build and the lint; None when it is rebuilt in full. Raises :class:`ContractError` at its line
        when it is malformed."""
        from .incremental import parse_incremental

        return parse_incremental(self)

    @property
    def highest_classification(self) -> str | None:
        """The most sensitive classification of any column or nested field."""
        levels = [c.classification.lower() for _, c in self.all_columns() if c.classification_rank >= 0
                  and c.classification]
        return max(levels, key=CLASSIFICATIONS.index) if levels else None

    @cached_property
    def checks_read(self) -> tuple[str, ...]:
        """Other tables (``layer.table``) that this table's checks read: the tables its
        relationships point at (reference checks, same layer) and those its ``type: sql`` quality
        rules query. A build runs the checks only once those are built too."""
        found: list[str] = []
        for _, column in self.all_columns():
            for ref in column.references:
                parts = ref.split(".")
                table = ".".join(parts[-3:-1]) if len(parts) == 3 else f"{self.layer}.{parts[0]}" \
                    if len(parts) == 2 else None
                if table and table != self.qualified_name and table not in found:
                    found.append(table)
        for query in self._quality_queries():
            for table in _tables_read(query, self.qualified_name):
                if table != self.qualified_name and table not in found:
                    found.append(table)
        return tuple(found)

    @cached_property
    def table_quality(self) -> list[dict[str, Any]]:
        """The table-level quality rules (``schema[0].quality``), each as a plain dict."""
        obj = self.schema_object
        return [q.model_dump(exclude_none=True, by_alias=True) for q in getattr(obj, "quality", None) or []]

    def _quality_queries(self) -> list[str]:
        rules = [rule for _, column in self.all_columns() for rule in column.quality]
        rules += self.table_quality
        return [str(rule["query"]) for rule in rules if str(rule.get("type") or "").lower() == "sql"
                and isinstance(rule.get("query"), str)]

    def sensitive_columns(self) -> list[tuple[str, Column]]:
        """Every column and nested field whose values never leave the warehouse."""
        return [(path, col) for path, col in self.all_columns() if col.is_sensitive]

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

    def custom_mapping(self, name: str) -> tuple[dict[str, Any], tuple[str | int, ...]] | None:
        """The top-level customProperty ``name`` as a mapping with its YAML path (for
        :meth:`location`), or None when the contract has none; raises :class:`ContractError` at its
        line when its value is not a mapping. The one reader of the structured blocks
        (``incremental``, ``destination``, ``propensityModel``)."""
        items = list(self.model.customProperties or [])
        index = next((i for i, item in enumerate(items) if getattr(item, "property", None) == name), None)
        if index is None:
            return None
        path: tuple[str | int, ...] = ("customProperties", index, "value")
        value = items[index].value
        if not isinstance(value, dict):
            raise ContractError(f"{name} must be a mapping", self.location(*path))
        return value, path


def custom_properties(items: Any) -> dict[str, Any]:
    """ODCS ``customProperties`` (a list of ``{property, value}``, typed or as parsed YAML) as a dict."""
    out: dict[str, Any] = {}
    for item in items or []:
        key = item.get("property") if isinstance(item, dict) else getattr(item, "property", None)
        if key:
            out[str(key)] = item.get("value") if isinstance(item, dict) else getattr(item, "value", None)
    return out


def _tables_read(query: str, own: str) -> list[str]:
    """The ``layer.table`` names a quality rule's SQL reads (``${table}`` is ``own``); [] when the
    query does not parse (the check generator reports that, at its line)."""
    import sqlglot

    from .errors import KcrmGovError
    from .escape import OWN_PLACEHOLDER
    from .models import read_tables
    from .sqlerrors import SQL_ERRORS

    text = OWN_PLACEHOLDER.sub(lambda m: own if m.group(1) in ("table", "model") else "x", query)
    try:
        tree = sqlglot.parse_one(text, read="bigquery")
        return read_tables(tree, lambda line, col: Location("<query>", line, col))
    except (*SQL_ERRORS, KcrmGovError):
        return []


def valid_values_of(rule: dict[str, Any]) -> list[Any] | None:
    """The ``validValues`` of an ``invalidValues`` library rule, or None for any other rule."""
    args = rule.get("arguments")
    if rule.get("metric") == "invalidValues" and isinstance(args, dict) and isinstance(args.get("validValues"), list):
        return list(args["validValues"])
    return None


def classification_rank(level: str | None) -> int:
    """The sensitivity rank of a classification (0 public … 3 restricted; -1 when unknown)."""
    text = (level or "").strip().lower()
    return CLASSIFICATIONS.index(text) if text in CLASSIFICATIONS else -1


def _custom(prop: Any) -> dict[str, Any]:
    return custom_properties(prop.customProperties)


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
    custom = _custom(prop)
    allowed = tuple(e.value for e in prop.enum or []) if prop.enum else ()
    if not allowed:
        custom_allowed = custom.get("allowedValues")
        if isinstance(custom_allowed, list):
            allowed = tuple(custom_allowed)
    options = prop.logicalTypeOptions if isinstance(prop.logicalTypeOptions, dict) else {}
    sources = prop.transformSourceObjects or []
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
        options=dict(options),
        custom=custom,
        declared_sources=tuple(str(s) for s in ([sources] if isinstance(sources, str) else sources)),
        transform_description=prop.transformDescription,
        enum_written=bool(prop.enum),
        business_name=prop.businessName,
    )


def _scalar(prop: Any, yaml_path: PathKey, source: YamlDocument) -> exp.DataType:
    if prop.physicalType:
        return typemap.parse_bigquery_type(prop.physicalType)
    logical = (prop.logicalType or "").lower()
    if logical in typemap.LOGICAL_DEFAULTS:
        return typemap.parse_bigquery_type(typemap.LOGICAL_DEFAULTS[logical])
    raise typemap.TypeError_(f"no physicalType and no usable logicalType ({logical or 'none'})")


SLA_UNITS: dict[str, float] = {
    "m": 1 / 60, "min": 1 / 60, "mins": 1 / 60, "minute": 1 / 60, "minutes": 1 / 60,
    "h": 1.0, "hr": 1.0, "hrs": 1.0, "hour": 1.0, "hours": 1.0,
    "d": 24.0, "day": 24.0, "days": 24.0,
    "w": 168.0, "week": 168.0, "weeks": 168.0,
    "y": 8760.0, "yr": 8760.0, "year": 8760.0, "years": 8760.0,
}
"""The one table of SLA units kcrm-gov accepts (freshness, latency, frequency, retention), in hours."""
FRESHNESS_UNITS = SLA_UNITS
"""The units a freshness SLA accepts: the same table (kept as a name for readers of freshness)."""


def sla_hours(value: Any, unit: Any) -> float | None:
    """``value`` ``unit`` in hours (no unit: hours); None when either is not understood."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    factor = SLA_UNITS.get(str(unit or "h").strip().lower())
    return None if factor is None else float(value) * factor
LOAD_TIME_COLUMNS = ("_loaded_at", "_fivetran_synced", "loaded_at", "synced_at", "_synced_at", "_ingested_at",
                     "ingested_at", "_airbyte_extracted_at", "_sdc_batched_at")
"""Columns a loader writes when data arrives: a freshness element of this kind measures load time."""


@dataclass(frozen=True)
class Freshness:
    """A contract's freshness SLA (``slaProperties: [{property: freshness, …}]``), in hours.

    ``element`` is the column whose newest value is measured (``None``: the table's last
    modification). ``warn_hours`` comes from the SLA's customProperty ``warnAfter`` and
    ``allowance_hours`` from ``lateArrivalAllowance`` (both in the SLA's unit). ``element_kind`` is
    ``load`` (the loader's own timestamp, or ``elementKind: load``), ``event`` or ``modified``.
    """

    table: str
    element: str | None
    value: float
    unit: str
    hours: float
    warn_hours: float | None
    allowance_hours: float | None
    element_kind: str
    index: int
    line: int

    @property
    def threshold_hours(self) -> float:
        """Where a breach starts: the value, plus the allowance for event-time elements."""
        if self.element_kind == "event" and self.allowance_hours:
            return self.hours + self.allowance_hours
        return self.hours

    def duration(self, hours: float | None = None) -> str:
        """A duration as SodaCL writes it (``24h``, ``90m``, ``2d``), in the SLA's own unit when the
        value is whole in it."""
        hours = self.hours if hours is None else hours
        factor = FRESHNESS_UNITS[self.unit]
        letter, per = {1 / 60: ("m", 1 / 60), 1.0: ("h", 1.0)}.get(factor, ("d", 24.0))  # Soda knows m, h, d
        amount = hours / per
        if abs(amount - round(amount)) < 1e-9:
            return f"{round(amount)}{letter}"
        return f"{round(hours * 60)}m"


def _hours_of(value: Any, unit: str, what: str, where: Location) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ContractError(f"{what} needs a positive number, got {value!r}", where)
    return float(value) * FRESHNESS_UNITS[unit]


def parse_freshness(contract: Contract) -> Freshness | None:
    """The contract's freshness SLA, or None. Raises :class:`ContractError` at the SLA's line for an
    unknown unit, a value that is not a positive number, or an element that is not a TIMESTAMP or
    DATE column of this table (written ``<table>.<column>`` or ``<layer>.<table>.<column>``)."""
    index = contract.sla_index("freshness")
    if index is None:
        return None
    sla = contract.model.slaProperties[index]
    where = contract.location("slaProperties", index)
    unit = str(sla.unit or "").strip().lower()
    if unit not in FRESHNESS_UNITS:
        raise ContractError(f"freshness unit {sla.unit!r} is not one of {', '.join(FRESHNESS_UNITS)}",
                            contract.location("slaProperties", index, "unit"))
    hours = _hours_of(sla.value, unit, "freshness value", contract.location("slaProperties", index, "value"))
    custom = custom_properties(sla.customProperties)
    warn = _hours_of(custom["warnAfter"], unit, "warnAfter", where) if custom.get("warnAfter") is not None else None
    allowance = (_hours_of(custom["lateArrivalAllowance"], unit, "lateArrivalAllowance", where)
                 if custom.get("lateArrivalAllowance") is not None else None)
    element: str | None = None
    kind = "modified"
    if sla.element:
        parts = str(sla.element).split(".")
        named = (parts[-2] if len(parts) >= 2 else None, parts[-3] if len(parts) == 3 else contract.layer)
        column = contract.column(parts[-1]) if len(parts) in (2, 3) else None
        at = contract.location("slaProperties", index, "element")
        if named != (contract.table, contract.layer) or column is None:
            raise ContractError(f"freshness element '{sla.element}' must name a column of this table as "
                                f"{contract.table}.<column>", at)
        if typemap.logical_type_of(column.data_type) not in ("timestamp", "date"):
            raise ContractError(f"freshness element '{sla.element}' is {column.bigquery_type}; it must be a "
                                "TIMESTAMP or DATE", at)
        element = column.name
        declared = str(custom.get("elementKind") or "").lower()
        kind = declared if declared in ("load", "event") else ("load" if element in LOAD_TIME_COLUMNS else "event")
    return Freshness(table=contract.qualified_name, element=element, value=float(sla.value), unit=unit, hours=hours,
                     warn_hours=warn, allowance_hours=allowance, element_kind=kind, index=index, line=where.line)


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


CONTRACTS_KEEP = 2_000
"""Parsed contracts kept in ``.kcrm/cache/contracts`` (one entry per contract text: a project's
contracts, and the versions of them a branch or an edit made)."""


def load_contract(path: Path, display: Path | None = None, *, state_dir: Path | None = None) -> Contract:
    """Read one contract file; ``display`` is the path messages show (relative to the project).

    With ``state_dir`` (the project's ``.kcrm``) a contract that parsed is kept there, keyed by its
    text, path and the code (:mod:`kcrm_gov.cache`): every command of a run (build, test, freshness,
    catalog) loads the whole project, and parsing the YAML with its positions and validating it
    against ODCS cost four times reading it back. A contract that does not parse is never kept."""
    layer, table = table_of(path)
    shown = display or path
    text = read_text(path, shown)

    def parse() -> Contract:
        return parse_contract(parse_yaml(text, shown), layer, table)

    if state_dir is None:
        contract = parse()
    else:
        from .cache import cache_key, shared

        key = cache_key(["contract", str(shown), layer, table, text])
        name = f"{layer}.{table}"
        # a contract's parts are read, never changed: a process parses or unpickles each version once
        contract = shared(state_dir, "contracts", key, parse, keep=CONTRACTS_KEEP,
                          valid=lambda value: isinstance(value, Contract) and value.qualified_name == name)
    contract.file = path
    return contract
