"""Sections of the README and the docs that the program writes, so they cannot drift from it.

This module runs the CLI to show its output, so it belongs to the CLI layer (the library never imports it).

A generated section sits between two markers::

    <!-- kcrm-gov:generated NAME -->
    …
    <!-- kcrm-gov:end NAME -->

``kcrm-gov generate docs`` rewrites every section from :data:`SECTIONS`; ``kcrm-gov check``
fails when one is stale. Nothing in the files is executed (unlike cog, which would run Python
written in the README, code a pull request could change): each section's content comes from a
function of this module, by name. The sections are the outputs that depend only on the project:
the lint rules and the contract → check tables, and the CLI examples of ``lint``, ``check`` and
``lineage show`` (run for real on a copy of the project). Outputs with timings (``build``,
``test``) stay hand-pasted, marked as one run's output.
"""

from __future__ import annotations

import difflib
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..gate import GateResult, GateStep
    from ..project import Project

_SECTION = re.compile(r"(<!-- kcrm-gov:generated (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- kcrm-gov:end (?P=name) -->)",
                      re.S)
PROJECT_FILES = ("kcrm_gov.yml", "contracts", "models", "catalog", "checks", "lookml", "lineage", ".github",
                 "README.md", "docs")
"""What a copy of the project needs for the CLI examples (no build outputs)."""
WARM = (".kcrm/lineage/column_lineage.json", ".kcrm/cache")
"""Caches copied along when present: they only save time (keyed by the contracts and models)."""


@dataclass(frozen=True)
class Section:
    """One generated section: its name, the file that holds it, and the function that writes it
    (given the project and, inside `check`, the gate's result so far)."""

    name: str
    file: str
    render: Callable[[Project, GateResult | None], str]


@dataclass(frozen=True)
class StaleSection:
    """A file whose generated sections differ from what the program writes."""

    path: str
    sections: tuple[str, ...]
    diff: str

    def __str__(self) -> str:
        return f"{self.path}: {', '.join(self.sections)} out of date (run `kcrm-gov generate docs`)"


# --- tables ---------------------------------------------------------------------------------------
def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def rules_table(project: Project, gate: GateResult | None = None) -> str:
    """The lint rules, their titles and why they exist, from the rule registry."""
    from ..lint.rules import BUILTIN_RULES, PROJECT_RULES, RULES

    rows = [(r.id, r.title, r.why) for r in BUILTIN_RULES]
    rows += [(r.id, r.title, (r.check.__doc__ or "").strip()) for r in RULES]
    rows += [(r.id, r.title, (r.check_project.__doc__ or "").strip()) for r in PROJECT_RULES]
    order = {"KG000": 0, "ODCS001": 1}
    rows.sort(key=lambda row: (order.get(row[0], 2), row[0]))
    lines = ["| id | rule | why |", "|---|---|---|"]
    lines += [f"| {rid} | {_cell(title)} | {_cell(why)} |" for rid, title, why in rows]
    return "\n".join(lines) + "\n"


def check_table(project: Project, gate: GateResult | None = None) -> str:
    """What each contract element turns into, from the check generator's own table."""
    from ..checks.sodacl import CHECK_TABLE

    lines = ["| in the contract | the generated check (SodaCL v3) |", "|---|---|"]
    lines += [f"| {_cell(element)} | {_cell(check)} |" for element, check in CHECK_TABLE]
    return "\n".join(lines) + "\n"


# --- CLI examples, run for real on a copy of the project --------------------------------------------
def _copy(project: Project, dest: Path) -> Path:
    for name in WARM:
        src = project.root / name
        if src.exists():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (shutil.copytree if src.is_dir() else shutil.copy2)(src, dest / name)
    for name in PROJECT_FILES:
        src = project.root / name
        if src.is_dir():
            shutil.copytree(src, dest / name)
        elif src.is_file():
            shutil.copy2(src, dest / name)
    return dest


def _run(root: Path, *args: str) -> str:
    """``kcrm-gov ARGS`` in ``root``, as a console block shows it (stdout then stderr)."""
    from click.testing import CliRunner

    from ..cli import cli

    result = CliRunner().invoke(cli, ["--project-dir", str(root), *args], obj={}, env={"COLUMNS": "120"})
    text = result.stdout + result.stderr
    return f"$ kcrm-gov {' '.join(args)}\n{text.rstrip()}\n"


@dataclass(frozen=True)
class Run:
    """A kcrm-gov command, run for real; its output is shown."""

    args: tuple[str, ...]


@dataclass(frozen=True)
class Edit:
    """A change to a file of the copy, shown as the shell line that would make it."""

    shown: str
    path: str
    old: str
    new: str


Step = Run | Edit | str  # a str is shown as it is (a comment, an exit code)
_RENDERING = False
"""True while the sections are being rendered: the `check` run inside one must not render them again."""


def rendering() -> bool:
    """Whether the docs are being generated right now (the gate's docs step then trusts them)."""
    return _RENDERING


def _console(project: Project, steps: list[Step], keep: int | None = None) -> str:
    """A console block: the steps, run in order on a copy of the project. ``keep``: show only the
    first lines of the last command's output, then ``...``."""
    global _RENDERING
    out: list[str] = []
    before, _RENDERING = _RENDERING, True
    try:
        with tempfile.TemporaryDirectory(prefix="kcrm-gov-docs-") as tmp:
            root = _copy(project, Path(tmp))
            for step in steps:
                if isinstance(step, Run):
                    lines = _run(root, *step.args).rstrip().splitlines()
                    out.extend([*lines[: keep + 1], "    ..."] if keep and len(lines) > keep + 1 else lines)
                elif isinstance(step, Edit):
                    path = root / step.path
                    text = path.read_text()
                    if step.old not in text:
                        raise ValueError(f"{step.path} no longer holds {step.old!r}: update "
                                         "kcrm_gov/commands/docs_sections.py")
                    path.write_text(text.replace(step.old, step.new, 1))
                    out.append(f"$ {step.shown}")
                else:
                    out.append(step)
    finally:
        _RENDERING = before
    return "```console\n" + "\n".join(out) + "\n```\n"


def cli_lint(project: Project, gate: GateResult | None = None) -> str:
    """``lint`` clean, then on a contract whose version is not a string."""
    rel = "contracts/raw/zendesk__users.odcs.yaml"
    return _console(project, [
        Run(("lint",)),
        Edit(f"sed -i 's/^version: 2.0.0/version: 2.0/' {rel}", rel, "\nversion: 2.0.0\n", "\nversion: 2.0\n"),
        Run(("lint",)),
        "$ echo $?",
        "1",
    ])


def cli_template_refusal(project: Project, gate: GateResult | None = None) -> str:
    """A contract string that Soda would evaluate, refused by lint at its line."""
    rel = "contracts/stg/hubspot__owners.odcs.yaml"
    rule = ("- {type: library, metric: invalidValues, mustBe: 0, arguments: {validValues: [SDR, AE, "
            "\"${ env_var('HOME') }\"]}}")
    anchor = "        transformDescription: Trimmed.\n      - name: is_active\n"
    return _console(project, [
        f"$ # in {rel}, a quality rule on team_name:",
        Edit(f"#   {rule}", rel, anchor,
             anchor.replace("      - name: is_active\n", "") + f"        quality:\n          {rule}\n"
             "      - name: is_active\n"),
        Run(("lint",)),
    ])


def cli_check(project: Project, gate: GateResult | None = None) -> str:
    """``check`` on the project as it is. Inside `check` itself, its own steps so far are what it
    prints (with its docs step passing): the same text, without running the gate twice."""
    if gate is None:
        return _console(project, [Run(("check",))])
    from ..gate import GateResult, GateStep
    from ..gate.formats import to_text

    passing = GateStep(name="docs", ok=True, summary=sections_summary(project))
    return "```console\n$ kcrm-gov check\n" + to_text(GateResult(steps=[*gate.steps, passing])) + "\n```\n"


def cli_lineage(project: Project, gate: GateResult | None = None) -> str:
    """Column lineage of one column (the first lines: the tree is long)."""
    return _console(project, [Run(("lineage", "show", "core.accounts.account_key"))], keep=10)


LOOKML_EXAMPLE = "product_engagement_daily"
"""The mart whose generated view the docs show: small, with a compound key, a date and a ratio."""


def lookml_example(project: Project, gate: GateResult | None = None) -> str:
    """The generated view of one mart, as written under lookml/views/ (its key, date, first
    dimension and every measure; the other dimensions are elided)."""
    from ..bi.lookml import read_metrics, view_text

    contracts = [c for c in project.layer("marts") if c.source != "reference"]
    contract = next((c for c in contracts if c.table == LOOKML_EXAMPLE), contracts[0] if contracts else None)
    if contract is None:
        return "(this project has no marts tables)\n"
    text = view_text(contract, project.config.target_of_kind("bigquery"), read_metrics(project))
    blocks, elided = text.split("\n\n"), False
    kept: list[str] = []
    for block in blocks:
        head = block.strip().splitlines()[0] if block.strip() else ""
        first_dimension = head.startswith("dimension:") and not any(
            b.strip().startswith("dimension: ") and "primary_key" not in b for b in kept)
        if head.startswith(("#", "view:", "dimension_group:", "measure:")) or "primary_key: yes" in block or \
                first_dimension:
            kept.append(block)
        elif not elided:
            kept.append("  # ... a dimension per other column ...")
            elided = True
    path = f"lookml/views/{contract.table}.view.lkml"
    return f"`{path}` (excerpt):\n\n```\n" + "\n\n".join(kept).rstrip() + "\n```\n"


SECTIONS: tuple[Section, ...] = (
    Section("lint-rules", "docs/governance/rules.md", rules_table),
    Section("check-table", "docs/governance/checks.md", check_table),
    Section("lookml-example", "docs/governance/lookml.md", lookml_example),
    Section("cli-lint", "README.md", cli_lint),
    Section("cli-template-refusal", "README.md", cli_template_refusal),
    Section("cli-lineage", "README.md", cli_lineage),
    Section("cli-check", "README.md", cli_check),
)
"""Every generated section, by name (a file's markers name one of these)."""


def _inputs(project: Project) -> list[str]:
    """What a CLI example depends on: every file the copy of the project holds, the files with
    generated sections without their bodies (no example reads another's output: a hand-edited or
    stale section must not make every example run again)."""
    import hashlib

    holders = {s.file for s in SECTIONS}
    parts = []
    for name in PROJECT_FILES:
        path = project.root / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path] if path.is_file() else []
        for file in files:
            rel = file.relative_to(project.root).as_posix()
            data = file.read_bytes()
            if rel in holders:
                data = _SECTION.sub(lambda m: m.group(1) + m.group(4), data.decode(errors="replace")).encode()
            parts.append(f"{rel}:{hashlib.sha256(data).hexdigest()}")
    return parts


def _render(project: Project, section: Section, gate: GateResult | None) -> str:
    """A section's text; the CLI examples come from ``.kcrm/cache/`` when nothing they depend on
    changed (running them costs seconds, and `check` renders them on every run)."""
    if (gate is not None and section.name == "cli-check") or section.file != "README.md":
        return section.render(project, gate)  # cheap, or built from this very gate run
    from ..cache import cache_key, cached

    key = cache_key(["docs-section", section.name, *_inputs(project)])
    return cached(project.state_dir, "docs", key, lambda: section.render(project, gate),
                  valid=lambda value: isinstance(value, str))


def sections_summary(project: Project) -> str:
    """How the docs step of the gate sums up a passing check."""
    files = sorted({s.file for s in SECTIONS if (project.root / s.file).is_file()})
    held = [s for s in SECTIONS if s.file in files and f"kcrm-gov:generated {s.name} " in
            (project.root / s.file).read_text()]
    if not held:
        return "no generated sections in this project"
    return f"{len(held)} generated sections of {len(files)} files in sync"


def generated(project: Project, *, gate: GateResult | None = None, only: set[str] | None = None
              ) -> dict[Path, str]:
    """``{file: its text with every generated section rewritten}`` for the files that hold one.

    A marker naming an unknown section is an error (:class:`ValueError`); a section listed here but
    missing from its file is added nowhere (the file's author places the markers).
    """
    by_name = {s.name: s for s in SECTIONS}
    texts = {file: (project.root / file).read_text() for file in sorted({s.file for s in SECTIONS})
             if (project.root / file).is_file()}
    for file, text in texts.items():  # every marker is checked before any example runs (seconds each)
        unknown = [m.group("name") for m in _SECTION.finditer(text) if m.group("name") not in by_name]
        if unknown:
            raise ValueError(f"{file}: unknown generated section '{unknown[0]}'")
    out: dict[Path, str] = {}
    for file, text in texts.items():
        path = project.root / file

        def fill(match: re.Match[str]) -> str:
            name = match.group("name")
            body = match.group("body") if only is not None and name not in only else \
                _render(project, by_name[name], gate)
            return match.group(1) + body + match.group(4)

        out[path] = _SECTION.sub(fill, text)
    return out


def stale_docs(project: Project, *, gate: GateResult | None = None) -> list[StaleSection]:
    """The files whose generated sections are not what the program writes now."""
    out = []
    for path, text in generated(project, gate=gate).items():
        old = path.read_text()
        if old == text:
            continue
        names = tuple(m.group("name") for m, n in zip(_SECTION.finditer(old), _SECTION.finditer(text), strict=False)
                      if m.group("body") != n.group("body"))
        rel = path.relative_to(project.root).as_posix()
        diff = "".join(difflib.unified_diff(old.splitlines(keepends=True), text.splitlines(keepends=True),
                                            fromfile=f"a/{rel}", tofile=f"b/{rel}"))
        out.append(StaleSection(rel, names, diff))
    return out


def write_docs(project: Project) -> list[StaleSection]:
    """Rewrite the stale generated sections; return what changed."""
    changed = stale_docs(project)
    texts = generated(project)
    for item in changed:
        (project.root / item.path).write_text(texts[project.root / item.path])
    return changed


def docs_step(project: Project, so_far: GateResult) -> GateStep:
    """The gate's last step (added by `kcrm-gov check`): the generated sections of README.md and docs/
    are what the program writes now."""
    from ..gate import Annotation, GateStep

    summary = sections_summary(project)
    if rendering():  # this run is the README's example of `check`, inside `generate docs`
        return GateStep(name="docs", ok=True, summary=summary)
    try:
        stale = stale_docs(project, gate=so_far)
    except ValueError as exc:
        return GateStep(name="docs", ok=False, summary="the generated sections cannot be written", details=[str(exc)],
                        exit_code=1, annotations=[Annotation("README.md", 1, 1, str(exc), "docs")])
    return GateStep(
        name="docs",
        ok=not stale,
        summary=summary if not stale else f"{len(stale)} files with stale generated sections "
                                          "(run `kcrm-gov generate docs`)",
        details=[f"{item}\n{item.diff.rstrip()}" for item in stale],
        exit_code=1 if stale else 0,
        annotations=[Annotation(item.path, 1, 1, str(item).split(": ", 1)[1], "docs") for item in stale],
    )


__all__ = ["SECTIONS", "Section", "StaleSection", "docs_step", "generated", "stale_docs", "write_docs"]
