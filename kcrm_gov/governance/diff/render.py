"""The report for people: a pull-request comment (markdown) and a terminal listing (text)."""

from __future__ import annotations

from typing import Any

from .model import (
    ADDITIVE,
    BREAKING,
    DESTINATION_CHANGE,
    DOCUMENTATION,
    IMPLEMENTATION,
    REFERENCE_CHANGE,
    DiffReport,
    Impact,
)

_ICONS = {BREAKING: "🔴", ADDITIVE: "🟢", DOCUMENTATION: "📝", IMPLEMENTATION: "⚙️"}


def _md(text: Any) -> str:
    """Text safe in a markdown table cell or list item (one line, no column separators)."""
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
            lines += _impact_lines(t.impact)
            lines.append("")
    external = [t for t in report.tables if any(c.change.startswith(DESTINATION_CHANGE) for c in t.changes)]
    if external:  # a sync writes these into another system: its stewards approve every one
        lines += ["", "### Changes to external systems (approval required)", ""]
        for t in external:
            lines += [f"#### `{t.table}`", ""]
            lines += [f"- {_ICONS[c.kind]} {_md(c.message)} ({c.path}:{c.line})" for c in t.changes
                      if c.change.startswith(DESTINATION_CHANGE)]
            if t.kind != BREAKING:  # a breaking table's impact is listed above
                lines += _impact_lines(t.impact)
            lines.append("")
    moved = [t for t in report.tables if t.kind != BREAKING and t.impact is not None
             and any(c.change.startswith(REFERENCE_CHANGE) for c in t.changes)]
    if moved:  # changed reference rows: every downstream number may move
        lines += ["", "### Reference data changed and what it reaches", ""]
        for t in moved:
            lines += [f"#### `{t.table}`", ""]
            lines += [f"- {_ICONS[c.kind]} {_md(c.message)}" for c in t.changes
                      if c.change.startswith(REFERENCE_CHANGE)]
            lines += _impact_lines(t.impact)
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


def _impact_lines(imp: Impact | None) -> list[str]:
    """The downstream reach of a table's changes and who must approve them, as markdown list items."""
    if imp is None:
        return []
    lines = ["", f"- **Downstream tables** ({len(imp.tables)}): " + (", ".join(f"`{x}`" for x in imp.tables) or "none")]
    if imp.columns:
        lines.append(f"- **Downstream columns** ({len(imp.columns)}): " + ", ".join(f"`{x}`" for x in imp.columns))
    elif not imp.column_level:
        lines.append("- **Downstream columns**: column lineage not available (table-level impact)")
    lines.append("- **Reverse-ETL syncs reached**: " + (", ".join(f"`{x}`" for x in imp.retl) or "none"))
    lines.append("- **Marts reached**: " + (", ".join(f"`{x}`" for x in imp.marts) or "none"))
    lines.append("- **External systems reached**: " + (", ".join(f"`{x}`" for x in imp.destinations) or "none"))
    who = ", ".join(f"{a.mention} ({a.name}, {a.team}: {a.reason})" for a in imp.approvers)
    lines.append(f"- **Approvals required**: {who or 'no steward named'}")
    lines += [f"- _{_md(note)}_" for note in imp.notes]
    return lines


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
                       + (f", marts: {', '.join(imp.marts)}" if imp.marts else "")
                       + (f", external: {', '.join(imp.destinations)}" if imp.destinations else ""))
            out.append("  approvers: " + (", ".join(f"{a.mention} ({a.team})" for a in imp.approvers) or "none"))
    for v in report.violations:
        out.append(f"{v.path}:{v.line}: VERSION {v.table}: {v.message}")
    counts = report.counts()
    out.append(f"{counts[BREAKING]} breaking, {counts[ADDITIVE]} additive, {counts[DOCUMENTATION]} documentation, "
               f"{counts[IMPLEMENTATION]} implementation; "
               + ("version rules met" if report.ok else f"{len(report.violations)} version rule(s) broken"))
    return "\n".join(out)
