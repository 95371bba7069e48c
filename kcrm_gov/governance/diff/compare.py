"""The entry points: compare two projects, or the working tree with a git ref."""

from __future__ import annotations

from pathlib import Path

from ...project import Project
from ..gitrefs import project_at, resolve_base
from .impact import compute_impact
from .model import BREAKING, DESTINATION_CHANGE, REFERENCE_CHANGE, DiffReport
from .tables import Differ
from .versions import version_check


def diff_projects(base: Project | None, head: Project, *, base_label: str = "base", impact: bool = True,
                  column_level: bool = True) -> DiffReport:
    """Compare ``base`` with ``head``: classify, apply the version rule and (optionally) the impact."""
    report = DiffReport(base=base_label)
    if base is None:
        report.notes.append(f"the project does not exist at {base_label}: every table is new")
        base = Project(root=head.root, config=head.config)
        base.__dict__["models"] = {}  # an empty project: no models to read from a tree that has none
    for problem in head.problems:
        report.notes.append(f"cannot compare a contract that does not load: {problem}")
    report.tables = Differ(base, head).diff()
    for t in report.tables:
        t.version = version_check(t, base, head)
        # breaking changes, changed reference data (every downstream number may move) and a changed destination
        # (an external system: its stewards approve) show their reach
        if impact and any(c.kind == BREAKING or c.change.startswith((REFERENCE_CHANGE, DESTINATION_CHANGE))
                          for c in t.changes):
            t.impact = compute_impact(base, head, t, column_level=column_level)
    report.tables = [t for t in report.tables if t.changes or (t.version and not t.version.ok)]
    return report


def diff(root: Path, base: str | None = None, *, impact: bool = True, head: Project | None = None) -> DiffReport:
    """Compare the project at ``root`` (working tree) with the project at the base ref."""
    head = head or Project.load(root, strict=False)
    commit, label = resolve_base(head.root, base)
    with project_at(head.root, commit) as old:
        return diff_projects(old, head, base_label=label, impact=impact)
