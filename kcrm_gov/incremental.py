"""Incremental models: what a contract says (``customProperties.incremental``) and the SQL a build runs.

A contract declares its model incremental with::

    customProperties:
      - property: incremental
        value:
          timeColumn: synced_at               # a TIMESTAMP or DATE column of this table: its high-water mark
          lookback: {value: 3, unit: days}    # re-read this much before the high-water mark (late data)
          uniqueKey: [event_id]               # default: the primary key
          sources:                            # the tables the model reads incrementally (others: whole)
            - table: raw.mixpanel__events
              timeColumn: _fivetran_synced    # the same clock as this table's timeColumn
              key: [_fivetran_id]             # optional: the source columns uniqueKey is made of

Parsed once, on the typed contract (:attr:`kcrm_gov.contracts.Contract.incremental`), for the build
and the lint (KG026).

**What a build does.** When the table exists and was built from the same contract columns (a
fingerprint kept outside the six layers), the build computes ``cutoff = MAX(timeColumn) - lookback``
from the table itself, and runs the model with every ``sources`` read replaced by
``(SELECT * FROM source WHERE source.timeColumn >= cutoff)``: no template, the model's own SQL
rewritten on its syntax tree. It then, in one transaction (DuckDB) or one ``MERGE`` (BigQuery),
removes from the table every row that the window recomputes -- its ``timeColumn`` is at or after the
cutoff, its key is among the window's output, or (with ``key``) among the keys of the source rows in
the window (a row changed, soft-deleted or re-categorised upstream) -- and inserts the window's output.
The contract's NOT NULLs and primary key hold for the merged table as for a full build
(on DuckDB the key is checked by a query: the window's keys against the rows kept).

**What is guaranteed.** The result equals a full build when every change to the sources carries a
``timeColumn`` at or after ``cutoff``. With a *load-time* column (``_fivetran_synced``,
``_loaded_at``) that is every append, re-sync and soft deletion, however old its event time: a
late-arriving event is loaded late, so it is new by load time. With an *event-time* column (a
daily aggregate's date) a row that arrives more than the lookback after its event time is missed
until ``--full-refresh``. A model that compares a new source row with an old one outside the window
(de-duplication of two copies with different keys loaded further apart than the lookback, a
running first-use flag, a join to a dimension that changed) is only as right as that window.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from .errors import ContractError, Location
from .identifiers import identifier_problem

if TYPE_CHECKING:
    from .contracts import Contract
    from .models import Model

SPEC_PROPERTY = "incremental"


@dataclass(frozen=True)
class IncrementalSource:
    """One upstream table a model reads incrementally."""

    table: str  # layer.table
    time_column: str
    key: tuple[str, ...]  # the source columns the table's uniqueKey is made of (empty: not declared)
    location: Location


@dataclass(frozen=True)
class Incremental:
    """A contract's incremental declaration (``customProperties.incremental``)."""

    time_column: str
    lookback_hours: float
    unique_key: tuple[str, ...]
    sources: tuple[IncrementalSource, ...]
    location: Location

    def cutoff(self, high_water_mark: Any) -> Any:
        """The oldest ``timeColumn`` value a run recomputes: the high-water mark minus the lookback
        (whole days, rounded up, for a DATE column)."""
        if isinstance(high_water_mark, datetime):
            return high_water_mark - timedelta(hours=self.lookback_hours)
        if isinstance(high_water_mark, date):
            return high_water_mark - timedelta(days=-(-self.lookback_hours // 24))
        raise TypeError(f"a high-water mark must be a date or a timestamp, not {type(high_water_mark).__name__}")


def parse_incremental(contract: Contract) -> Incremental | None:
    """The contract's incremental declaration, or None; a malformed one raises :class:`ContractError`
    at its line."""
    from . import LAYERS, typemap
    from .contracts import SLA_UNITS

    block = contract.custom_mapping(SPEC_PROPERTY)
    if block is None:
        return None
    value, base = block
    where = contract.location(*base)

    def at(*keys: str | int) -> Location:
        return contract.location(*base, *keys)

    def name(raw: Any, what: str, *keys: str | int) -> str:
        problem = identifier_problem(raw) if isinstance(raw, str) else "it is not a name"
        if problem:
            raise ContractError(f"{SPEC_PROPERTY}.{what} {raw!r}: {problem}", at(*keys))
        return str(raw)

    def names(raw: Any, what: str, *keys: str | int) -> tuple[str, ...]:
        raw = [raw] if isinstance(raw, str) else raw
        if not isinstance(raw, list) or not raw:
            raise ContractError(f"{SPEC_PROPERTY}.{what} must be a column or a list of columns", at(*keys))
        return tuple(name(item, what, *keys) for item in raw)

    unknown = sorted(set(value) - {"timeColumn", "lookback", "uniqueKey", "sources"})
    if unknown:
        raise ContractError(f"{SPEC_PROPERTY} has unknown key(s) {', '.join(unknown)} (timeColumn, lookback, "
                            "uniqueKey, sources)", where)
    time_column = name(value.get("timeColumn"), "timeColumn", "timeColumn")
    column = contract.column(time_column)
    if column is None or typemap.logical_type_of(column.data_type) not in ("timestamp", "date"):
        raise ContractError(f"{SPEC_PROPERTY}.timeColumn '{time_column}' must be a TIMESTAMP or DATE column of "
                            f"{contract.qualified_name}", at("timeColumn"))
    lookback = value.get("lookback", {"value": 0, "unit": "hours"})
    amount = lookback.get("value") if isinstance(lookback, dict) else None
    unit = str(lookback.get("unit") or "").strip().lower() if isinstance(lookback, dict) else ""
    if (isinstance(amount, bool) or not isinstance(amount, int | float) or amount < 0
            or unit not in SLA_UNITS):
        raise ContractError(f"{SPEC_PROPERTY}.lookback must be {{value: <number ≥ 0>, unit: <one of "
                            f"{', '.join(SLA_UNITS)}>}}", at("lookback") if "lookback" in value else where)
    if "uniqueKey" in value:
        unique_key = names(value["uniqueKey"], "uniqueKey", "uniqueKey")
    else:
        unique_key = tuple(contract.primary_key)
    if not unique_key:
        raise ContractError(f"{SPEC_PROPERTY}.uniqueKey is missing and the table has no primary key: rows "
                            "are merged by key", where)
    for key in unique_key:
        if contract.column(key) is None:
            raise ContractError(f"{SPEC_PROPERTY}.uniqueKey '{key}' is not a column of {contract.qualified_name}",
                                at("uniqueKey"))
    raw_sources = value.get("sources")
    if not isinstance(raw_sources, list) or not raw_sources:
        raise ContractError(f"{SPEC_PROPERTY}.sources must list the tables the model reads incrementally",
                            at("sources") if "sources" in value else where)
    sources: list[IncrementalSource] = []
    for i, raw in enumerate(raw_sources):
        if not isinstance(raw, dict):
            raise ContractError(f"{SPEC_PROPERTY}.sources[{i}] must be a mapping {{table, timeColumn, key}}",
                                at("sources", i))
        table = raw.get("table")
        parts = table.split(".") if isinstance(table, str) else []
        if len(parts) != 2 or parts[0] not in LAYERS or identifier_problem(parts[1]):
            raise ContractError(f"{SPEC_PROPERTY}.sources[{i}].table must name a table as layer.table, got "
                                f"{table!r}", at("sources", i))
        source_key = names(raw["key"], "key", "sources", i, "key") if raw.get("key") is not None else ()
        if source_key and len(source_key) != len(unique_key):
            raise ContractError(f"{SPEC_PROPERTY}.sources[{i}].key names {len(source_key)} column(s); uniqueKey has "
                                f"{len(unique_key)} (one source column for each, in order)", at("sources", i, "key"))
        sources.append(IncrementalSource(table=str(table), key=source_key, location=at("sources", i),
                                         time_column=name(raw.get("timeColumn"), "timeColumn", "sources", i)))
    if len({s.table for s in sources}) != len(sources):
        raise ContractError(f"{SPEC_PROPERTY}.sources names a table twice", at("sources"))
    return Incremental(time_column=time_column, lookback_hours=float(amount) * SLA_UNITS[unit],
                       unique_key=unique_key, sources=tuple(sources), location=where)


def fingerprint(contract: Contract) -> str:
    """A digest of what an incrementally built table's rows depend on in its contract: every column
    (nested fields included) with its type and whether it is required, and the unique key. A table
    whose stored fingerprint differs must be rebuilt in full (``--full-refresh``)."""
    spec = contract.incremental
    shape = [[path, column.bigquery_type, bool(column.required)] for path, column in contract.all_columns()]
    text = json.dumps({"columns": shape, "key": list(spec.unique_key) if spec else []}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def cutoff_literal(value: Any) -> exp.Expr:
    """The cutoff as a typed BigQuery literal (a value from the data, never contract text)."""
    if isinstance(value, datetime):
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.build("TIMESTAMP", dialect="bigquery"))
    return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.build("DATE", dialect="bigquery"))


CUTOFF_SENTINEL = "__kcrm_incremental_cutoff__"
"""Stands for the cutoff in a window's SQL while it is transpiled and cached (see
:func:`kcrm_gov.build.incremental_sql`); replaced by the cutoff's own ISO text afterwards."""


def render_window(model: Model, spec: Incremental, table_for: Any, cutoff: Any) -> exp.Query:
    """The model's AST with its references pointing at the engine's tables (as
    :meth:`kcrm_gov.models.Model.render`), each incremental source read only from ``cutoff`` on
    (a date or datetime, or an ``exp.Expr`` standing for it)."""
    from . import LAYERS

    since_value = cutoff if isinstance(cutoff, exp.Expr) else cutoff_literal(cutoff)

    sources = {s.table: s for s in spec.sources}

    def swap(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Table) and node.db in LAYERS and not node.catalog:
            replacement = table_for(node.db, node.name)
            alias = node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(node.name))
            source = sources.get(f"{node.db}.{node.name}")
            if source is None:
                replacement.set("alias", alias)
                return replacement
            since = exp.GTE(this=exp.column(source.time_column, quoted=True), expression=since_value.copy())
            window = exp.select("*").from_(replacement).where(since)
            return exp.Subquery(this=window, alias=alias)
        return node

    rendered = model.ast.transform(swap)  # transform() copies the tree
    assert isinstance(rendered, exp.Query)
    return rendered


def _col(table: str, name: str) -> exp.Column:
    return exp.column(name, table=table, quoted=True)


def _all(conditions: list[exp.Expr]) -> exp.Expr:
    out = conditions[0]
    for condition in conditions[1:]:
        out = exp.and_(out, condition)
    return out


def merge_statement(contract: Contract, target: exp.Table, new_rows: exp.Table,
                    sources: dict[str, exp.Table], cutoff: Any) -> exp.Merge:
    """The BigQuery ``MERGE`` that folds a window's rows (``new_rows``, already built) into ``target``.

    ``USING`` holds one row per key that the window touches: the key of every new row and, for a
    source with a declared ``key``, of every source row in the window; ``__kcrm_gone`` marks a key
    with no new row (changed or deleted upstream). Matched keys are updated or deleted, new keys
    inserted, and target rows at or after the cutoff that the window no longer produces deleted.
    Every identifier is quoted by sqlglot; the only literal is the cutoff, a value from the data.
    """
    spec = contract.incremental
    assert spec is not None
    keys = list(spec.unique_key)
    gone = "__kcrm_gone"
    key_rows: exp.Query = exp.select(*[exp.column(k, quoted=True) for k in keys]).from_(new_rows.copy())
    for source in spec.sources:
        if source.key and source.table in sources:
            named = [exp.alias_(exp.column(s, quoted=True), k, quoted=True)
                     for s, k in zip(source.key, keys, strict=True)]
            since = exp.GTE(this=exp.column(source.time_column, quoted=True), expression=cutoff_literal(cutoff))
            key_rows = exp.union(key_rows, exp.select(*named).from_(sources[source.table].copy()).where(since),
                                 distinct=True)
    new_alias = new_rows.copy()
    new_alias.set("alias", exp.TableAlias(this=exp.to_identifier("n")))
    using = (exp.select(*[_col("k", k) for k in keys],
                        *[_col("n", c.name) for c in contract.columns if c.name not in keys],
                        exp.alias_(exp.Is(this=_col("n", keys[0]), expression=exp.null()), gone, quoted=True))
             .from_(exp.Subquery(this=key_rows, alias=exp.TableAlias(this=exp.to_identifier("k"))))
             .join(new_alias, on=_all([exp.EQ(this=_col("n", k), expression=_col("k", k)) for k in keys]),
                   join_type="left"))
    target_aliased = target.copy()
    target_aliased.set("alias", exp.TableAlias(this=exp.to_identifier("t")))
    on = _all([exp.EQ(this=_col("t", k), expression=_col("s", k)) for k in keys])
    columns = [c.name for c in contract.columns]
    update = exp.Update(expressions=[exp.EQ(this=exp.column(c, quoted=True), expression=_col("s", c))
                                     for c in columns if c not in keys])
    insert = exp.Insert(this=exp.Tuple(expressions=[exp.column(c, quoted=True) for c in columns]),
                        expression=exp.Tuple(expressions=[_col("s", c) for c in columns]))
    whens = [
        exp.When(matched=True, condition=_col("s", gone), then=exp.var("DELETE")),
        exp.When(matched=True, then=update),
        exp.When(matched=False, condition=exp.not_(_col("s", gone)), then=insert),
        exp.When(matched=False, source=True,
                 condition=exp.GTE(this=_col("t", spec.time_column), expression=cutoff_literal(cutoff)),
                 then=exp.var("DELETE")),
    ]
    source_rows = exp.Subquery(this=using, alias=exp.TableAlias(this=exp.to_identifier("s")))
    return exp.Merge(this=target_aliased, using=source_rows, on=on, whens=exp.Whens(expressions=whens))
