"""``kcrm-gov diff``: classify every contract and model change, enforce the version rule, list the impact.

Each change between the project at a base ref and the working tree is one of three kinds:

=================  ==========================================================================
kind               changes
=================  ==========================================================================
``breaking``       table removed or renamed; column removed or renamed; type narrowed or changed
                   (anything but a widening below); column made required, or made optional (the
                   non-null guarantee readers rely on is gone); unique added or removed; primary
                   key changed; allowed values narrowed; classification lowered; PII mark removed;
                   SLA loosened (or removed, or its element changed) on a table others depend on;
                   quality rule removed or changed
``additive``       table or column added; type widened; allowed values widened; classification
                   raised; PII mark added; SLA tightened (or loosened on a table nothing reads);
                   quality rule added; other metadata (tags, owner team, stewards, partitioning,
                   clustering, custom properties)
``documentation``  descriptions, business names, the contract's purpose / usage / limitations
=================  ==========================================================================

A model whose SQL changed while its contract did not is reported as ``implementation``: its
output is still enforced against the unchanged contract (``check`` compiles it), so it asks for
no version bump.

**Widening lattice** (a change is a widening only when every value of the old type is exactly
representable in the new one *and* every query that worked on the old type works the same):
``INT64 → NUMERIC → BIGNUMERIC`` (and ``INT64 → BIGNUMERIC``); ``NUMERIC(P,S) → NUMERIC(P',S')``
and ``BIGNUMERIC(P,S)`` likewise when ``P'-S' ≥ P-S`` and ``S' ≥ S``; a parameterized type to its
unparameterized form; ``STRING(L) → STRING(L')`` with ``L' ≥ L`` (and ``BYTES``); ``ARRAY<T> →
ARRAY<U>`` when ``T → U`` widens. Not widenings: ``INT64 → FLOAT64`` and ``NUMERIC → FLOAT64``
(exact to approximate: integers above 2^53 and decimals change value), ``DATE → DATETIME`` /
``DATE → TIMESTAMP`` / ``DATETIME → TIMESTAMP`` (comparisons with date literals, ``DATE_TRUNC`` and
time-zone semantics change), anything ``→ STRING`` (arithmetic and ordering break). STRUCT fields
are compared one by one as nested columns.

**Version rule**, per contract, on its semantic ``version``: a breaking change needs a major bump
(``1.4.2 → 2.0.0``), an additive one at least a minor bump, a documentation-only one at least a
patch; a version must never go down. A removed table cannot bump its version, so it must have
been ``status: deprecated`` (or ``retired``) at the base: consumers were warned first.

**Impact** of each breaking change: the tables downstream of the changed table in the DAG (at
the base and in the working tree), the downstream columns fed by a changed column (through the
models' column lineage, transitively; table level when lineage is not available), the reverse-ETL
(``retl``) tables and marts reached, and the stewards who must approve: those of the changed
table and of every downstream table, with their GitHub handles from ``catalog/teams.yml``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlglot import exp

from ..contracts import CLASSIFICATIONS, Column, Contract
from ..project import Project

BREAKING, ADDITIVE, DOCUMENTATION, IMPLEMENTATION = "breaking", "additive", "documentation", "implementation"
KINDS = (BREAKING, ADDITIVE, DOCUMENTATION, IMPLEMENTATION)
BUMP_FOR = {BREAKING: "major", ADDITIVE: "minor", DOCUMENTATION: "patch"}
_BUMP_RANK = {"none": 0, "patch": 1, "minor": 2, "major": 3}
DEPRECATED_STATUSES = ("deprecated", "retired")
EXTERNAL_LAYERS = ("retl", "marts")  # read by syncs and dashboards outside the warehouse

_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$")
_HOURS = {"m": 1 / 60, "min": 1 / 60, "minute": 1 / 60, "minutes": 1 / 60, "h": 1, "hr": 1, "hour": 1,
          "hours": 1, "d": 24, "day": 24, "days": 24, "w": 168, "week": 168, "weeks": 168,
          "y": 8760, "yr": 8760, "year": 8760, "years": 8760}
_LOOSER_WHEN_LARGER = ("freshness", "latency", "frequency")
_LOOSER_WHEN_SMALLER = ("retention",)
_SLA_CUSTOM_DURATIONS = ("warnAfter", "lateArrivalAllowance")
# contract keys compared field by field; everything else is compared as "other metadata"
_HANDLED_KEYS = {"version", "status", "schema", "slaProperties", "description", "contractCreatedTs", "team"}

T = exp.DataType.Type


# --- results ------------------------------------------------------------------------------------
@dataclass
class Change:
    """One difference between the base and the working tree."""

    table: str
    kind: str  # breaking | additive | documentation | implementation
    change: str  # table_removed, column_removed, type_narrowed, ...
    message: str
    column: str | None = None
    before: Any = None
    after: Any = None
    path: str | None = None  # the file that shows it (working tree, or the base's for removals)
    line: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items()}


@dataclass
class Approver:
    """A steward who must approve, and why."""

    username: str
    name: str
    github: str | None
    team: str
    team_github: str | None
    reason: str

    @property
    def mention(self) -> str:
        return f"@{self.github.lstrip('@')}" if self.github else self.username


@dataclass
class Impact:
    """What a table's breaking changes reach downstream."""

    tables: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # layer.table.column, fed by a changed column
    retl: list[str] = field(default_factory=list)
    marts: list[str] = field(default_factory=list)
    approvers: list[Approver] = field(default_factory=list)
    column_level: bool = True  # False when lineage was not available (table-level impact only)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["approvers"] = [{**asdict(a), "mention": a.mention} for a in self.approvers]
        return data


@dataclass
class VersionCheck:
    """The version rule on one table."""

    table: str
    before: str | None
    after: str | None
    required: str  # none | patch | minor | major
    actual: str  # none | patch | minor | major | down | invalid | new | removed
    ok: bool
    message: str
    path: str | None = None
    line: int = 0


@dataclass
class TableDiff:
    table: str
    changes: list[Change] = field(default_factory=list)
    version: VersionCheck | None = None
    impact: Impact | None = None

    @property
    def kind(self) -> str:
        """The strongest kind of change on this table."""
        for kind in KINDS:
            if any(c.kind == kind for c in self.changes):
                return kind
        return IMPLEMENTATION


@dataclass
class DiffReport:
    """Every change between the base and the working tree, by table."""

    base: str
    tables: list[TableDiff] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def changes(self) -> list[Change]:
        return [c for t in self.tables for c in t.changes]

    @property
    def violations(self) -> list[VersionCheck]:
        return [t.version for t in self.tables if t.version is not None and not t.version.ok]

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(KINDS, 0)
        for c in self.changes:
            out[c.kind] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.base, "ok": self.ok, "exit_code": self.exit_code, "counts": self.counts(),
            "tables": [{"table": t.table, "kind": t.kind, "changes": [c.to_dict() for c in t.changes],
                        "version": asdict(t.version) if t.version else None,
                        "impact": t.impact.to_dict() if t.impact else None} for t in self.tables],
            "violations": [asdict(v) for v in self.violations],
            "notes": self.notes,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)


# --- types ----------------------------------------------------------------------------------------
def _params(dt: exp.DataType) -> list[int]:
    out = []
    for e in dt.expressions:
        node = e.this if isinstance(e, exp.DataTypeParam) else e
        try:
            out.append(int(node.this if isinstance(node, exp.Literal) else node.name))
        except (ValueError, AttributeError):
            return []
    return out


_DECIMAL_DEFAULTS = {T.DECIMAL: (38, 9), T.BIGDECIMAL: (76, 38)}
_EXACT_INT_DIGITS = {T.BIGINT: 19}


def type_text(dt: exp.DataType) -> str:
    """A type as BigQuery spells it."""
    return dt.sql(dialect="bigquery")


def widens(old: exp.DataType, new: exp.DataType) -> bool:
    """Whether ``old → new`` is a widening (see the module docstring for the lattice)."""
    if old == new:
        return True
    a, b = old.this, new.this
    if a == T.ARRAY and b == T.ARRAY:
        return bool(old.expressions and new.expressions) and widens(old.expressions[0], new.expressions[0])
    ints = (T.BIGINT, T.INT, T.SMALLINT, T.TINYINT)
    if a in ints and b in (*ints, T.DECIMAL, T.BIGDECIMAL):
        if b in ints:
            return True  # every integer spelling is INT64 in BigQuery
        params = _params(new) or list(_DECIMAL_DEFAULTS[b])
        return len(params) < 2 or params[0] - params[1] >= 19
    if a in (T.DECIMAL, T.BIGDECIMAL) and b in (T.DECIMAL, T.BIGDECIMAL):
        if a == T.BIGDECIMAL and b == T.DECIMAL:
            return False
        p1, s1 = [*_params(old), 0][:2] if _params(old) else _DECIMAL_DEFAULTS[a]
        p2, s2 = [*_params(new), 0][:2] if _params(new) else _DECIMAL_DEFAULTS[b]
        return p2 - s2 >= p1 - s1 and s2 >= s1
    if a == b and a in (T.VARCHAR, T.TEXT, T.BINARY, T.VARBINARY):
        n1, n2 = _params(old), _params(new)
        return not n2 or (bool(n1) and n2[0] >= n1[0])
    if {a, b} <= {T.VARCHAR, T.TEXT}:  # STRING(L) -> STRING
        return not _params(new)
    return False


# --- SLA ------------------------------------------------------------------------------------------
def _hours(value: Any, unit: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    factor = _HOURS.get(str(unit or "h").strip().lower())
    return None if factor is None else float(value) * factor


def _sla_map(contract: Contract) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in contract.model.slaProperties or []:
        if not item.property:
            continue
        custom = {p.property: p.value for p in item.customProperties or [] if p.property}
        out[item.property] = {"value": item.value, "unit": item.unit, "element": item.element, "custom": custom,
                              "hours": _hours(item.value, item.unit)}
    return out


# --- comparison -----------------------------------------------------------------------------------
class _Differ:
    def __init__(self, base: Project, head: Project) -> None:
        self.base, self.head = base, head
        self.base_graph = dependency_graph(base)
        self.head_graph = dependency_graph(head)

    def has_dependents(self, table: str) -> bool:
        layer = table.split(".", 1)[0]
        return (layer in EXTERNAL_LAYERS or bool(self.base_graph.get(table))
                or bool(self.head_graph.get(table)))

    # ---- tables
    def diff(self) -> list[TableDiff]:
        out: dict[str, TableDiff] = {}
        removed = sorted(set(self.base.contracts) - set(self.head.contracts))
        added = sorted(set(self.head.contracts) - set(self.base.contracts))
        renamed = self._table_renames(removed, added)
        for old, new in renamed.items():
            after = self.head.contracts[new]
            out.setdefault(old, TableDiff(old)).changes.append(Change(
                old, BREAKING, "table_renamed", f"table {old} renamed to {new}", before=old, after=new,
                path=str(after.path), line=after.location("name").line))
        for name in removed:
            if name in renamed:
                continue
            c = self.base.contracts[name]
            out.setdefault(name, TableDiff(name)).changes.append(Change(
                name, BREAKING, "table_removed", f"table {name} removed (contract {c.path} deleted)",
                before=c.version, path=str(c.path), line=1))
        for name in added:
            if name in renamed.values():
                continue
            c = self.head.contracts[name]
            out.setdefault(name, TableDiff(name)).changes.append(Change(
                name, ADDITIVE, "table_added", f"table {name} added (version {c.version})", after=c.version,
                path=str(c.path), line=1))
        for name in sorted(set(self.base.contracts) & set(self.head.contracts)):
            changes = self.contract_changes(self.base.contracts[name], self.head.contracts[name])
            changes += self.model_changes(name)
            if changes:
                out.setdefault(name, TableDiff(name)).changes.extend(changes)
        for name in sorted(set(self.base.unreadable) | set(self.head.unreadable)):
            out.setdefault(name, TableDiff(name))
        return [out[k] for k in sorted(out, key=_table_order)]

    def _table_renames(self, removed: list[str], added: list[str]) -> dict[str, str]:
        """A removed and an added table of the same layer with the same columns: a rename."""
        out: dict[str, str] = {}
        for old in removed:
            cols = [(p, type_text(c.data_type)) for p, c in self.base.contracts[old].all_columns()]
            for new in added:
                if new in out.values() or new.split(".")[0] != old.split(".")[0]:
                    continue
                if [(p, type_text(c.data_type)) for p, c in self.head.contracts[new].all_columns()] == cols:
                    out[old] = new
                    break
        return out

    def model_changes(self, name: str) -> list[Change]:
        old, new = self.base.models.get(name), self.head.models.get(name)
        if old is None and new is None:
            return []
        if old is None or new is None:
            what = "added" if old is None else "removed"
            return [Change(name, IMPLEMENTATION, f"model_{what}", f"model for {name} {what}",
                           path=str((new or old).path), line=1)]
        if " ".join(old.sql.split()) == " ".join(new.sql.split()):
            return []
        return [Change(name, IMPLEMENTATION, "model_changed",
                       f"model {new.path} changed (its output is still enforced against the contract)",
                       path=str(new.path), line=1)]

    def contract_changes(self, old: Contract, new: Contract) -> list[Change]:
        changes: list[Change] = []
        t = new.qualified_name

        def add(kind: str, change: str, message: str, *keys: str | int, column: str | None = None,
                before: Any = None, after: Any = None) -> None:
            where = new.location(*keys) if keys else new.location()
            changes.append(Change(t, kind, change, message, column, before, after, str(new.path),
                                  where.line or 1))

        # columns, nested fields included, by dotted path
        old_cols, new_cols = dict(old.all_columns()), dict(new.all_columns())
        gone = [p for p in old_cols if p not in new_cols]
        came = [p for p in new_cols if p not in old_cols]
        renames = _column_renames(old, new, gone, came)
        for before, after in renames.items():
            add(BREAKING, "column_renamed", f"column {before} renamed to {after}", *new_cols[after].yaml_path,
                column=before, before=before, after=after)
        for path in gone:
            if path in renames or any(path.startswith(g + ".") for g in gone):
                continue
            add(BREAKING, "column_removed", f"column {path} removed", "schema", 0, column=path,
                before=type_text(old_cols[path].data_type))
        for path in came:
            if path in renames.values() or any(path.startswith(g + ".") for g in came):
                continue
            col = new_cols[path]
            kind = ADDITIVE
            message = f"column {path} added ({type_text(col.data_type)})"
            if col.required and "." not in path:
                message += "; it is required, so writers must provide it"
            add(kind, "column_added", message, *col.yaml_path, column=path, after=type_text(col.data_type))
        for path in [p for p in old_cols if p in new_cols]:
            changes.extend(self._column_changes(t, old, new, path, old_cols[path], new_cols[path]))

        if old.primary_key != new.primary_key:
            add(BREAKING, "primary_key_changed",
                f"primary key changed from ({', '.join(old.primary_key)}) to ({', '.join(new.primary_key)})",
                "schema", 0, before=old.primary_key, after=new.primary_key)

        # table-level quality rules
        changes.extend(_quality_changes(t, new, old.schema_object, new.schema_object, None, ("schema", 0)))

        # SLA
        changes.extend(self._sla_changes(t, old, new))

        # documentation
        for key in ("purpose", "usage", "limitations"):
            a = getattr(old.model.description, key, None) if old.model.description else None
            b = getattr(new.model.description, key, None) if new.model.description else None
            if (a or "") != (b or ""):
                add(DOCUMENTATION, "description_changed", f"description.{key} changed", "description", key)
        so, sn = old.schema_object, new.schema_object
        for key in ("description", "businessName"):
            if (getattr(so, key, None) or "") != (getattr(sn, key, None) or ""):
                add(DOCUMENTATION, "description_changed", f"table {key} changed", "schema", 0, key)

        # status
        if (old.status or "") != (new.status or ""):
            add(ADDITIVE, "status_changed", f"status changed from {old.status} to {new.status}", "status",
                before=old.status, after=new.status)

        # ownership
        if old.owner_team != new.owner_team or sorted(old.stewards) != sorted(new.stewards):
            add(ADDITIVE, "ownership_changed",
                f"owner changed from {old.owner_team} ({', '.join(old.stewards)}) to {new.owner_team} "
                f"({', '.join(new.stewards)})", "team",
                before={"team": old.owner_team, "stewards": old.stewards},
                after={"team": new.owner_team, "stewards": new.stewards})

        # anything else (tags, custom properties such as partitioning and clustering, servers…)
        a, b = _other_metadata(old), _other_metadata(new)
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                add(ADDITIVE, "metadata_changed", f"{key} changed", key if key in b else "kind",
                    before=a.get(key), after=b.get(key))
        return changes

    def _column_changes(self, t: str, old_c: Contract, new_c: Contract, path: str, a: Column,
                        b: Column) -> list[Change]:
        out: list[Change] = []

        def add(kind: str, change: str, message: str, key: str | None = None, before: Any = None,
                after: Any = None) -> None:
            keys = (*b.yaml_path, key) if key and (*b.yaml_path, key) in new_c.document.positions else b.yaml_path
            out.append(Change(t, kind, change, f"column {path}: {message}", path, before, after, str(new_c.path),
                              new_c.location(*keys).line or 1))

        if not a.fields and not b.fields:
            ta, tb = type_text(a.data_type), type_text(b.data_type)
            if ta != tb:
                if widens(a.data_type, b.data_type):
                    add(ADDITIVE, "type_widened", f"type widened from {ta} to {tb}", "physicalType", ta, tb)
                elif widens(b.data_type, a.data_type):
                    add(BREAKING, "type_narrowed", f"type narrowed from {ta} to {tb}", "physicalType", ta, tb)
                else:
                    add(BREAKING, "type_changed", f"type changed from {ta} to {tb}", "physicalType", ta, tb)
        elif bool(a.fields) != bool(b.fields):
            ta, tb = type_text(a.data_type), type_text(b.data_type)
            add(BREAKING, "type_changed", f"type changed from {ta} to {tb}", "physicalType", ta, tb)
        elif (a.data_type.this == T.ARRAY) != (b.data_type.this == T.ARRAY):
            add(BREAKING, "type_changed", "changed between a repeated and a single record", "physicalType",
                type_text(a.data_type)[:40], type_text(b.data_type)[:40])
        if not a.required and b.required:
            add(BREAKING, "column_made_required", "made required: writers must now always provide it",
                "required", False, True)
        elif a.required and not b.required:
            add(BREAKING, "column_made_optional", "made optional: readers lose the non-null guarantee",
                "required", True, False)
        if a.unique != b.unique:
            what = "unique constraint added: existing duplicates break writers" if b.unique else \
                "unique constraint removed: readers lose the uniqueness guarantee"
            add(BREAKING, "unique_changed", what, "unique", a.unique, b.unique)
        allowed_a, allowed_b = allowed_values(a), allowed_values(b)
        if allowed_a != allowed_b and (allowed_a or allowed_b):
            va, vb = set(map(str, allowed_a)), set(map(str, allowed_b))
            if not vb:
                add(ADDITIVE, "allowed_values_widened", "allowed values removed (any value allowed)", None,
                    sorted(va), None)
            elif not va or vb > va:
                add(ADDITIVE if va else BREAKING, "allowed_values_widened" if va else "allowed_values_narrowed",
                    f"allowed values widened: added {', '.join(sorted(vb - va))}" if va else
                    f"allowed values restricted to {', '.join(sorted(vb))}", None, sorted(va), sorted(vb))
            elif vb < va:
                add(BREAKING, "allowed_values_narrowed",
                    f"allowed values narrowed: removed {', '.join(sorted(va - vb))}", None, sorted(va), sorted(vb))
            elif va != vb:
                add(BREAKING, "allowed_values_narrowed",
                    f"allowed values changed: removed {', '.join(sorted(va - vb))}, added {', '.join(sorted(vb - va))}",
                    None, sorted(va), sorted(vb))
        ra, rb = _classification_rank(a.classification), _classification_rank(b.classification)
        if (a.classification or "") != (b.classification or ""):
            if rb < ra:
                add(BREAKING, "classification_lowered",
                    f"classification lowered from {a.classification} to {b.classification}: less protection for "
                    "data already classified higher", "classification", a.classification, b.classification)
            else:
                add(ADDITIVE, "classification_raised",
                    f"classification raised from {a.classification} to {b.classification}", "classification",
                    a.classification, b.classification)
        if a.is_pii and not b.is_pii:
            add(BREAKING, "pii_mark_removed", "PII mark removed: masking and access policies no longer apply",
                "tags", True, False)
        elif b.is_pii and not a.is_pii:
            add(ADDITIVE, "pii_mark_added", "marked as PII", "tags", False, True)
        out.extend(_quality_changes(t, new_c, a, b, path, b.yaml_path))
        for key, attr in (("description", "description"),):
            if (getattr(a, attr) or "") != (getattr(b, attr) or ""):
                add(DOCUMENTATION, "description_changed", "description changed", key)
        if (a.references != b.references) and a.references:
            add(BREAKING if set(a.references) - set(b.references) else ADDITIVE, "relationship_changed",
                f"relationships changed from {', '.join(a.references)} to {', '.join(b.references) or 'none'}",
                "relationships", list(a.references), list(b.references))
        elif b.references and not a.references:
            add(ADDITIVE, "relationship_changed", f"relationship to {', '.join(b.references)} added",
                "relationships", [], list(b.references))
        return out

    def _sla_changes(self, t: str, old: Contract, new: Contract) -> list[Change]:
        out: list[Change] = []
        a, b = _sla_map(old), _sla_map(new)
        depended = self.has_dependents(t)
        loose_kind = BREAKING if depended else ADDITIVE
        why = " on a table others depend on" if depended else " (nothing reads this table)"

        def add(kind: str, change: str, message: str, prop: str, before: Any, after: Any) -> None:
            index = next((i for i, s in enumerate(new.model.slaProperties or []) if s.property == prop), None)
            where = new.location("slaProperties", index) if index is not None else new.location("slaProperties")
            if where.line == 0:
                where = new.location()
            out.append(Change(t, kind, change, message, None, before, after, str(new.path), where.line or 1))

        for prop in sorted(set(a) | set(b)):
            sa, sb = a.get(prop), b.get(prop)
            if sa == sb:
                continue
            if sb is None:
                add(loose_kind, "sla_loosened", f"SLA {prop} removed{why}", prop, sa, None)
                continue
            if sa is None:
                add(ADDITIVE, "sla_tightened", f"SLA {prop} added ({sb['value']} {sb['unit'] or ''})".rstrip(),
                    prop, None, sb)
                continue
            looser: list[str] = []
            tighter: list[str] = []
            if sa["element"] != sb["element"]:
                looser.append(f"element changed from {sa['element']} to {sb['element']}")
            ha, hb = sa["hours"], sb["hours"]
            if ha is not None and hb is not None and ha != hb:
                larger_is_looser = prop not in _LOOSER_WHEN_SMALLER
                bucket = looser if (hb > ha) == larger_is_looser else tighter
                bucket.append(f"{sa['value']} {sa['unit'] or ''} → {sb['value']} {sb['unit'] or ''}")
            elif sa["value"] != sb["value"] or sa["unit"] != sb["unit"]:
                looser.append(f"{sa['value']} {sa['unit'] or ''} → {sb['value']} {sb['unit'] or ''}")
            unit_a, unit_b = sa["unit"], sb["unit"]
            for key in sorted(set(sa["custom"]) | set(sb["custom"])):
                ca, cb = sa["custom"].get(key), sb["custom"].get(key)
                if ca == cb:
                    continue
                if key in _SLA_CUSTOM_DURATIONS:
                    xa, xb = _hours(ca, unit_a), _hours(cb, unit_b)
                    if xa is not None and xb is not None:
                        (looser if xb > xa else tighter).append(f"{key} {ca} → {cb}")
                        continue
                    if cb is None:
                        # no warning threshold / no allowance any more: warnAfter gone is looser (no early
                        # warning), an allowance gone is tighter
                        (looser if key == "warnAfter" else tighter).append(f"{key} {ca} removed")
                        continue
                    if ca is None:
                        (tighter if key == "warnAfter" else looser).append(f"{key} {cb} added")
                        continue
                looser.append(f"{key} {ca} → {cb}")
            if looser:
                add(loose_kind, "sla_loosened", f"SLA {prop} loosened{why}: {'; '.join(looser)}", prop, sa, sb)
            if tighter:
                add(ADDITIVE, "sla_tightened", f"SLA {prop} tightened: {'; '.join(tighter)}", prop, sa, sb)
        return out


def _valid_values(rule: dict[str, Any]) -> list[Any] | None:
    args = rule.get("arguments")
    if rule.get("metric") == "invalidValues" and isinstance(args, dict) and isinstance(args.get("validValues"), list):
        return list(args["validValues"])
    return None


def allowed_values(column: Column) -> tuple[Any, ...]:
    """A column's allowed values: its ``enum`` / ``allowedValues``, or the ``validValues`` of its
    ``invalidValues`` quality rule (the ODCS library-metric way this project writes them)."""
    if column.allowed_values:
        return tuple(column.allowed_values)
    for rule in column.quality:
        values = _valid_values(rule)
        if values is not None:
            return tuple(values)
    return ()


def _quality_key(rule: dict[str, Any]) -> str:
    if rule.get("name"):
        return str(rule["name"])
    if _valid_values(rule) is not None:  # its values are compared as allowed values
        rest = {k: v for k, v in rule.items() if k not in ("description", "name", "arguments")}
        return "allowed-values:" + json.dumps(rest, sort_keys=True, default=str)
    return json.dumps({k: v for k, v in rule.items() if k not in ("description", "name")}, sort_keys=True,
                      default=str)


def _quality_list(obj: Any) -> list[dict[str, Any]]:
    if obj is None:
        return []
    if isinstance(obj, Column):
        return obj.quality
    return [q.model_dump(exclude_none=True, by_alias=True) for q in getattr(obj, "quality", None) or []]


def _quality_changes(t: str, new: Contract, a: Any, b: Any, column: str | None,
                     yaml_path: tuple[Any, ...]) -> list[Change]:
    qa = {_quality_key(q): q for q in _quality_list(a)}
    qb = {_quality_key(q): q for q in _quality_list(b)}
    where = "column " + column + ": " if column else ""
    out = []
    line = new.location(*yaml_path, "quality").line or new.location(*yaml_path).line or 1
    for key in qa:
        if key not in qb:
            rule = qa[key]
            what = rule.get("name") or rule.get("description") or rule.get("metric") or rule.get("rule") or key
            out.append(Change(t, BREAKING, "quality_rule_removed", f"{where}quality rule removed: {what}", column,
                              rule, None, str(new.path), line))
    for key in qb:
        if key not in qa:
            rule = qb[key]
            what = rule.get("name") or rule.get("description") or rule.get("metric") or rule.get("rule") or key
            out.append(Change(t, ADDITIVE, "quality_rule_added", f"{where}quality rule added: {what}", column,
                              None, rule, str(new.path), line))
        elif qa[key] != qb[key] and key.startswith("allowed-values:"):
            continue  # a change of the values themselves: see the allowed-values comparison
        elif qa[key] != qb[key]:
            out.append(Change(t, DOCUMENTATION, "description_changed", f"{where}quality rule description changed",
                              column, None, None, str(new.path), line))
    return out


def _classification_rank(value: str | None) -> int:
    text = (value or "").lower()
    return CLASSIFICATIONS.index(text) if text in CLASSIFICATIONS else -1


def _other_metadata(c: Contract) -> dict[str, Any]:
    data = c.document.data if isinstance(c.document.data, dict) else {}
    return {k: v for k, v in data.items() if k not in _HANDLED_KEYS}


def _column_renames(old: Contract, new: Contract, gone: list[str], came: list[str]) -> dict[str, str]:
    """A removed and an added column at the same position with the same type: a rename."""
    out: dict[str, str] = {}
    old_pos = {c.name: i for i, c in enumerate(old.columns)}
    new_pos = {c.name: i for i, c in enumerate(new.columns)}
    old_all, new_all = dict(old.all_columns()), dict(new.all_columns())
    for a in gone:
        if "." in a or a not in old_pos:
            continue
        for b in came:
            if "." in b or b in out.values() or b not in new_pos:
                continue
            if old_pos[a] == new_pos[b] and type_text(old_all[a].data_type) == type_text(new_all[b].data_type):
                out[a] = b
                break
    return out


def _table_order(name: str) -> tuple[int, str]:
    from .. import LAYERS

    layer = name.split(".", 1)[0]
    return (LAYERS.index(layer) if layer in LAYERS else len(LAYERS), name)


# --- the DAG, leniently ---------------------------------------------------------------------------
def dependency_graph(project: Project) -> dict[str, list[str]]:
    """``table -> [tables that read it]`` from the models' refs, tolerating broken models.

    :func:`kcrm_gov.dag.build_dag` refuses a project with any problem; a diff must still show the
    impact on a working tree that does not compile yet.
    """
    down: dict[str, list[str]] = {}
    for name, model in sorted(project.models.items()):
        try:
            refs = model.refs
        except Exception:  # a model that does not parse reads nothing we can know
            continue
        for ref in refs:
            down.setdefault(ref, [])
            if name not in down[ref]:
                down[ref].append(name)
    return down


def _descendants(graphs: Iterable[dict[str, list[str]]], table: str) -> set[str]:
    seen: set[str] = set()
    todo = [table]
    while todo:
        node = todo.pop()
        for g in graphs:
            for child in g.get(node, []):
                if child not in seen and child != table:
                    seen.add(child)
                    todo.append(child)
    return seen


# --- version rule ---------------------------------------------------------------------------------
def parse_semver(text: str | None) -> tuple[int, int, int] | None:
    m = _SEMVER.match(str(text or "").strip())
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


def bump_of(before: str | None, after: str | None) -> str:
    """none | patch | minor | major | down | invalid."""
    a, b = parse_semver(before), parse_semver(after)
    if a is None or b is None:
        return "invalid"
    if b == a:
        return "none"
    if b < a:
        return "down"
    if b[0] > a[0]:
        return "major"
    if b[1] > a[1]:
        return "minor"
    return "patch"


def _bump_example(before: str | None, required: str) -> str:
    v = parse_semver(before)
    if v is None:
        return "a semantic version"
    major, minor, patch = v
    return {"major": f"{major + 1}.0.0", "minor": f"{major}.{minor + 1}.0", "patch": f"{major}.{minor}.{patch + 1}"
            }.get(required, f"{major}.{minor}.{patch}")


def version_check(table: TableDiff, base: Project, head: Project) -> VersionCheck | None:
    old, new = base.contracts.get(table.table), head.contracts.get(table.table)
    kinds = {c.kind for c in table.changes}
    required = "none"
    for kind in (BREAKING, ADDITIVE, DOCUMENTATION):
        if kind in kinds:
            required = BUMP_FOR[kind]
            break
    if new is None and old is not None:  # removed (or renamed away)
        renamed = any(c.change == "table_renamed" for c in table.changes)
        if renamed:
            target = next(c.after for c in table.changes if c.change == "table_renamed")
            ok = (old.status or "").lower() in DEPRECATED_STATUSES
            return VersionCheck(table.table, old.version, None, "major", "removed", ok,
                                f"{table.table} was renamed to {target}: the old table must be deprecated first "
                                f"(status: deprecated) so consumers can move" if not ok else
                                f"{table.table} renamed to {target} after deprecation", str(old.path), 1)
        ok = (old.status or "").lower() in DEPRECATED_STATUSES
        message = (f"{table.table} removed after deprecation (status {old.status} at the base)" if ok else
                   f"{table.table} removed while `status: {old.status}`: deprecate it first (set status: deprecated "
                   "and bump the major version) so consumers are warned before it disappears")
        return VersionCheck(table.table, old.version, None, "major", "removed", ok, message, str(old.path), 1)
    if new is None:
        return None
    line = new.location("version").line or 1
    if old is None:
        valid = parse_semver(new.version) is not None
        return VersionCheck(table.table, None, new.version, "none", "new", valid,
                            f"new table {table.table} at version {new.version}" if valid else
                            f"version '{new.version}' is not a semantic version (MAJOR.MINOR.PATCH)",
                            str(new.path), line)
    actual = bump_of(old.version, new.version)
    if actual == "invalid":
        return VersionCheck(table.table, old.version, new.version, required, actual, False,
                            f"version '{new.version}' is not a semantic version (MAJOR.MINOR.PATCH)",
                            str(new.path), line)
    if actual == "down":
        return VersionCheck(table.table, old.version, new.version, required, actual, False,
                            f"version went down from {old.version} to {new.version}", str(new.path), line)
    ok = _BUMP_RANK[actual] >= _BUMP_RANK[required]
    reason = {"major": "breaking", "minor": "additive", "patch": "documentation"}.get(required, "")
    if ok:
        message = (f"{old.version} → {new.version} ({actual} bump; {reason} changes need at least {required})"
                   if required != "none" else f"{old.version} → {new.version}")
    else:
        message = (f"{reason} change needs a {required} version bump: version is {new.version}"
                   f"{' (unchanged)' if actual == 'none' else f' ({actual} bump from {old.version})'}; "
                   f"set it to {_bump_example(old.version, required)}")
    return VersionCheck(table.table, old.version, new.version, required, actual, ok, message, str(new.path), line)


# --- impact ---------------------------------------------------------------------------------------
def _approvers_for(projects: list[Project], tables: Iterable[str], reason_for: dict[str, str]) -> list[Approver]:
    out: dict[str, Approver] = {}
    for table in tables:
        contract = next((p.contracts[table] for p in projects if table in p.contracts), None)
        if contract is None:
            continue
        project = next(p for p in projects if table in p.contracts)
        team = project.teams.get(contract.owner_team or "")
        for username in contract.stewards:
            if username in out:
                continue
            member = team.members.get(username) if team else None
            if member is None:  # a steward listed in another team
                member = next((t.members[username] for t in project.teams.values() if username in t.members), None)
            out[username] = Approver(username=username, name=member.name if member else username,
                                     github=member.github if member else None,
                                     team=contract.owner_team or "?", team_github=team.github if team else None,
                                     reason=reason_for.get(table, f"steward of {table}"))
    return list(out.values())


def compute_impact(base: Project, head: Project, table: TableDiff, *, column_level: bool = True) -> Impact:
    """What the breaking changes of ``table`` reach downstream, and who must approve them."""
    graphs = [dependency_graph(base), dependency_graph(head)]
    tables = sorted(_descendants(graphs, table.table), key=_table_order)
    impact = Impact(tables=tables)
    impact.retl = [t for t in tables if t.startswith("retl.")]
    impact.marts = [t for t in tables if t.startswith("marts.")]
    columns = sorted({c.column.split(".")[0] for c in table.changes if c.kind == BREAKING and c.column})
    table_wide = any(c.kind == BREAKING and not c.column for c in table.changes)
    if columns and column_level:
        try:
            impact.columns = _downstream_columns(base, table.table, columns, tables)
        except ImportError:
            impact.column_level = False
            impact.notes.append("column lineage is not available (kcrm_gov.lineage missing): impact is table-level")
        except Exception as exc:  # lineage is advisory: never lose the report over it
            impact.column_level = False
            impact.notes.append(f"column lineage failed ({exc}): impact is table-level")
        if table_wide:
            impact.notes.append("table-level changes (key, SLA, removal…) reach every downstream table")
    elif columns:
        impact.column_level = False
    reasons = {table.table: f"steward of {table.table} (changed)"}
    for t in tables:
        reasons[t] = f"steward of {t} (downstream)"
    impact.approvers = _approvers_for([head, base], [table.table, *tables], reasons)
    return impact


def _downstream_columns(project: Project, table: str, columns: list[str], tables: list[str]) -> list[str]:
    """``layer.table.column`` fed (transitively) by ``table``'s ``columns``, through column lineage."""
    from ..lineage.columns import column_lineage

    frontier = {(table, c) for c in columns}
    found: set[tuple[str, str]] = set()
    for downstream in tables:  # tables are in DAG order, so upstream columns are known first
        if downstream not in project.models:
            continue
        try:
            lineage = column_lineage(project, downstream)
        except Exception:
            continue
        for out_col, sources in lineage.items():
            if any((s.table, s.top_column) in frontier or (s.table, s.column) in frontier for s in sources):
                frontier.add((downstream, out_col))
                found.add((downstream, out_col))
    return sorted((f"{t}.{c}" for t, c in found), key=lambda x: (_table_order(x.rsplit(".", 1)[0]), x))


# --- the entry point ------------------------------------------------------------------------------
def diff_projects(base: Project | None, head: Project, *, base_label: str = "base", impact: bool = True,
                  column_level: bool = True) -> DiffReport:
    """Compare ``base`` with ``head``: classify, apply the version rule and (optionally) the impact."""
    report = DiffReport(base=base_label)
    if base is None:
        report.notes.append(f"the project does not exist at {base_label}: every table is new")
        base = Project(root=head.root, config=head.config)
        base.__dict__["models"] = {}
    for problem in head.problems:
        report.notes.append(f"cannot compare a contract that does not load: {problem}")
    report.tables = _Differ(base, head).diff()
    for t in report.tables:
        t.version = version_check(t, base, head)
        if impact and any(c.kind == BREAKING for c in t.changes):
            t.impact = compute_impact(base, head, t, column_level=column_level)
    report.tables = [t for t in report.tables if t.changes or (t.version and not t.version.ok)]
    return report


def diff(root: Path, base: str | None = None, *, impact: bool = True, head: Project | None = None) -> DiffReport:
    """Compare the project at ``root`` (working tree) with the project at the base ref."""
    from .gitrefs import project_at, resolve_base

    head = head or Project.load(root, strict=False)
    commit, label = resolve_base(head.root, base)
    with project_at(head.root, commit) as old:
        return diff_projects(old, head, base_label=label, impact=impact)


# --- the markdown report --------------------------------------------------------------------------
_ICONS = {BREAKING: "🔴", ADDITIVE: "🟢", DOCUMENTATION: "📝", IMPLEMENTATION: "⚙️"}


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(report: DiffReport) -> str:
    """The report as a pull-request comment (GitHub-flavoured markdown)."""
    counts = report.counts()
    lines = ["## kcrm-gov contract diff", ""]
    lines.append(f"Compared with {report.base}.")
    lines.append("")
    if not report.tables:
        lines += ["No contract or model changed.", ""]
        return "\n".join(lines)
    verdict = "✅ version rules met" if report.ok else f"❌ {len(report.violations)} version rule(s) broken"
    lines.append(f"**{verdict}** · {counts[BREAKING]} breaking · {counts[ADDITIVE]} additive · "
                 f"{counts[DOCUMENTATION]} documentation · {counts[IMPLEMENTATION]} implementation")
    lines += ["", "| table | change | version | required | |", "|---|---|---|---|---|"]
    for t in report.tables:
        v = t.version
        ver = "—" if v is None else f"{v.before or '—'} → {v.after or '(removed)'}"
        req = "—" if v is None else v.required
        mark = "" if v is None else ("✅" if v.ok else "❌")
        lines.append(f"| `{t.table}` | {_ICONS[t.kind]} {t.kind} | {ver} | {req} | {mark} |")
    if report.violations:
        lines += ["", "### Version rules broken", ""]
        for v in report.violations:
            lines.append(f"- `{v.table}` ({v.path}:{v.line}): {_md(v.message)}")
    breaking = [t for t in report.tables if t.kind == BREAKING]
    if breaking:
        lines += ["", "### Breaking changes and their impact", ""]
        for t in breaking:
            lines.append(f"#### `{t.table}`")
            lines.append("")
            for c in t.changes:
                if c.kind == BREAKING:
                    lines.append(f"- 🔴 {_md(c.message)} ({c.path}:{c.line})")
            imp = t.impact
            if imp is not None:
                lines.append("")
                lines.append(f"- **Downstream tables** ({len(imp.tables)}): "
                             + (", ".join(f"`{x}`" for x in imp.tables) or "none"))
                if imp.columns:
                    lines.append(f"- **Downstream columns** ({len(imp.columns)}): "
                                 + ", ".join(f"`{x}`" for x in imp.columns))
                elif not imp.column_level:
                    lines.append("- **Downstream columns**: column lineage not available (table-level impact)")
                lines.append("- **Reverse-ETL syncs reached**: " + (", ".join(f"`{x}`" for x in imp.retl) or "none"))
                lines.append("- **Marts reached**: " + (", ".join(f"`{x}`" for x in imp.marts) or "none"))
                who = ", ".join(f"{a.mention} ({a.name}, {a.team}: {a.reason})" for a in imp.approvers)
                lines.append(f"- **Approvals required**: {who or 'no steward named'}")
                for note in imp.notes:
                    lines.append(f"- _{_md(note)}_")
            lines.append("")
    others = [c for c in report.changes if c.kind != BREAKING]
    if others:
        lines += ["", "<details><summary>Non-breaking changes "
                  f"({len(others)})</summary>", ""]
        for c in others:
            lines.append(f"- {_ICONS[c.kind]} `{c.table}`: {_md(c.message)}")
        lines += ["", "</details>"]
    if report.notes:
        lines += [""] + [f"> {_md(n)}" for n in report.notes]
    lines.append("")
    return "\n".join(lines)


def to_text(report: DiffReport) -> str:
    """A compact terminal rendering: one line per change, then the version verdicts."""
    out = [f"compared with {report.base}"]
    for t in report.tables:
        for c in t.changes:
            out.append(f"{c.path}:{c.line}: {c.kind.upper()} {c.table}: {c.message}")
        if t.impact:
            imp = t.impact
            out.append(f"  impact: {len(imp.tables)} downstream tables"
                       + (f", {len(imp.columns)} columns" if imp.columns else "")
                       + (f", retl: {', '.join(imp.retl)}" if imp.retl else "")
                       + (f", marts: {', '.join(imp.marts)}" if imp.marts else ""))
            out.append("  approvers: " + (", ".join(f"{a.mention} ({a.team})" for a in imp.approvers) or "none"))
    for v in report.violations:
        out.append(f"{v.path}:{v.line}: VERSION {v.table}: {v.message}")
    c = report.counts()
    out.append(f"{c[BREAKING]} breaking, {c[ADDITIVE]} additive, {c[DOCUMENTATION]} documentation, "
               f"{c[IMPLEMENTATION]} implementation; "
               + ("version rules met" if report.ok else f"{len(report.violations)} version rule(s) broken"))
    return "\n".join(out)
