"""What a diff reports: the kinds of change, one change, a table's changes, the version verdict,
the impact of breaking changes and the whole report."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from ... import LAYERS

BREAKING, ADDITIVE, DOCUMENTATION, IMPLEMENTATION = "breaking", "additive", "documentation", "implementation"
KINDS = (BREAKING, ADDITIVE, DOCUMENTATION, IMPLEMENTATION)
REFERENCE_CHANGE = "reference_"  # prefix of the changes to a reference table's rows
DESTINATION_CHANGE = "destination_"  # prefix of the changes to a retl table's destination (an external system)
"""Strongest first: a table's kind is the first of these any of its changes has."""
BUMP_FOR = {BREAKING: "major", ADDITIVE: "minor", DOCUMENTATION: "patch"}
BUMP_RANK = {"none": 0, "patch": 1, "minor": 2, "major": 3}
DEPRECATED_STATUSES = ("deprecated", "retired")
EXTERNAL_LAYERS = ("retl", "marts")  # read by syncs and dashboards outside the warehouse


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
        """The change as plain data (the JSON report's shape)."""
        return asdict(self)


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
        """``@handle`` when the steward has a GitHub handle, else the username."""
        return f"@{self.github.lstrip('@')}" if self.github else self.username


@dataclass
class Impact:
    """What a table's breaking changes reach downstream."""

    tables: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # layer.table.column, fed by a changed column
    retl: list[str] = field(default_factory=list)
    marts: list[str] = field(default_factory=list)
    destinations: list[str] = field(default_factory=list)  # external fields reached: hubspot://portal/object.field
    approvers: list[Approver] = field(default_factory=list)
    column_level: bool = True  # False when lineage was not available (table-level impact only)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The impact as plain data, each approver with its mention."""
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
    """One table's changes, its version verdict and (for breaking changes) their impact."""

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
        """The number of changes of each kind (every kind present, zero or not)."""
        out = dict.fromkeys(KINDS, 0)
        for c in self.changes:
            out[c.kind] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (what ``kcrm-gov diff --json`` prints)."""
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


def table_order(name: str) -> tuple[int, str]:
    """Sort key for ``layer.table``: by layer, upstream first, then by name."""
    layer = name.split(".", 1)[0]
    return (LAYERS.index(layer) if layer in LAYERS else len(LAYERS), name)
