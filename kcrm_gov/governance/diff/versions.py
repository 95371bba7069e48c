"""The version rule, per contract, on its semantic ``version``.

A breaking change needs a major bump (``1.4.2 → 2.0.0``), an additive one at least a minor bump,
a documentation-only one at least a patch; a version must never go down. A removed table cannot
bump its version, so it must have been ``status: deprecated`` (or ``retired``) at the base:
consumers were warned first.
"""

from __future__ import annotations

import re

from ...project import Project
from .model import ADDITIVE, BREAKING, BUMP_FOR, BUMP_RANK, DEPRECATED_STATUSES, DOCUMENTATION, TableDiff, VersionCheck

_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$")


def parse_semver(text: str | None) -> tuple[int, int, int] | None:
    """``MAJOR.MINOR.PATCH`` (an optional ``v`` before, pre-release / build after) as numbers."""
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
    """The version rule on one table's changes (None when the table is in neither project)."""
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
    ok = BUMP_RANK[actual] >= BUMP_RANK[required]
    reason = {"major": "breaking", "minor": "additive", "patch": "documentation"}.get(required, "")
    if ok:
        message = (f"{old.version} → {new.version} ({actual} bump; {reason} changes need at least {required})"
                   if required != "none" else f"{old.version} → {new.version}")
    else:
        message = (f"{reason} change needs a {required} version bump: version is {new.version}"
                   f"{' (unchanged)' if actual == 'none' else f' ({actual} bump from {old.version})'}; "
                   f"set it to {_bump_example(old.version, required)}")
    return VersionCheck(table.table, old.version, new.version, required, actual, ok, message, str(new.path), line)
