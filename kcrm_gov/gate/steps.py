"""The steps of the gate, each a function of the project returning a :class:`~kcrm_gov.gate.GateStep`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import Annotation, GateStep

if TYPE_CHECKING:
    from ..project import Project


def lint_step(project: Project) -> GateStep:
    """Contracts are valid ODCS v3 and meet the governance rules."""
    from ..lint import lint_project

    report = lint_project(project)
    findings = report.all()
    return GateStep(
        name="lint",
        ok=not findings,
        summary=f"{report.contracts_checked} contracts, {len(findings)} findings",
        details=[str(f) for f in findings],
        exit_code=report.exit_code,
        annotations=[Annotation(f.path, f.line, f.column, f.message, f.rule) for f in findings],
    )


def compile_step(project: Project) -> GateStep:
    """Every model compiles against the contracts and its output matches its own contract."""
    from ..compile import compile_project

    report = compile_project(project)
    return GateStep(
        name="compile",
        ok=not report.problems,
        summary=f"{report.models} models, {len(report.problems)} problems",
        details=[str(p) for p in report.problems],
        exit_code=1 if report.problems else 0,
        annotations=[Annotation(str(p.location.path), p.location.line or 1, p.location.column or 1,
                                str(p).split(": ", 1)[-1], "compile")
                     for p in report.problems],
    )


def checks_step(project: Project) -> GateStep:
    """The committed SodaCL files under checks/ are what the contracts generate."""
    from ..checks import generate_checks, stale_checks
    from ..errors import KcrmGovError

    try:
        generated = generate_checks(project, "duckdb")
    except KcrmGovError as exc:
        from ..checks.sodacl import generation_problems

        problems: list[KcrmGovError] = [*generation_problems(project)] or [exc]
        return GateStep(name="checks", ok=False,
                        summary=f"the checks of {len(problems)} contract{'s' if len(problems) != 1 else ''} cannot be "
                                "generated", details=[str(p) for p in problems], exit_code=1,
                        annotations=[Annotation(str(p.location.path), p.location.line or 1, p.location.column or 1,
                                                p.message, "checks") for p in problems if p.location])
    stale = stale_checks(project, generated)
    return _stale_files_step(
        "checks", stale, f"{len(generated)} check files, {len(stale)} stale", "checks",
        [Annotation(item.path.as_posix(), 1, 1, f"{item.reason}: run `kcrm-gov generate checks`", "checks")
         for item in stale])


def lookml_step(project: Project) -> GateStep:
    """The committed LookML under lookml/ is what the marts contracts and metrics generate."""
    from ..bi.lookml import generate_lookml, stale_lookml
    from ..errors import KcrmGovError

    try:
        generated = generate_lookml(project)
    except KcrmGovError as exc:
        return GateStep(name="lookml", ok=False, summary="the LookML cannot be generated", details=[str(exc)],
                        exit_code=1, annotations=[Annotation.at(exc.location, exc.message, "lookml")])
    stale = stale_lookml(project, generated)
    return _stale_files_step(
        "lookml", stale, f"{len(generated)} LookML files, {len(stale)} stale", "lookml",
        [Annotation(item.path.as_posix(), 1, 1, f"{item.reason}: run `kcrm-gov generate lookml`", "lookml")
         for item in stale])


def codeowners_step(project: Project) -> GateStep:
    """The committed .github/CODEOWNERS is what the contracts' stewards generate."""
    from ..governance.codeowners import stale_codeowners

    stale = stale_codeowners(project)
    return GateStep(
        name="codeowners",
        ok=stale is None,
        summary="in sync with the contracts' stewards" if stale is None else f"{stale}",
        details=[] if stale is None else [f"{stale}\n{stale.diff.rstrip()}"],
        exit_code=0 if stale is None else 1,
        annotations=[] if stale is None else [Annotation(stale.path.as_posix(), 1, 1, str(stale).split(": ", 1)[1],
                                                         "CODEOWNERS")],
    )


def versions_step(project: Project, base: str) -> GateStep:
    """Every contract change since ``base`` carries the version bump its kind requires."""
    from ..errors import KcrmGovError
    from ..governance.diff import BREAKING, diff

    try:
        report = diff(project.root, base, impact=False, head=project)
    except KcrmGovError as exc:
        return GateStep(name="versions", ok=False, summary=f"cannot compare with {base}", details=[str(exc)],
                        exit_code=exc.exit_code, annotations=[Annotation.at(exc.location, exc.message, "versions")])
    counts = report.counts()
    violations = report.violations
    return GateStep(
        name="versions",
        ok=not violations,
        summary=f"{len(report.tables)} tables changed since {report.base} ({counts[BREAKING]} breaking changes), "
                f"{len(violations)} version rules broken" + (" (see `kcrm-gov diff`)" if violations else ""),
        details=[f"{v.path}:{v.line}:1: {v.table}: {v.message}" for v in violations],
        exit_code=1 if violations else 0,
        annotations=[Annotation(v.path or "", v.line or 1, 1, f"{v.table}: {v.message}", "version rule")
                     for v in violations],
    )


def servers_step(project: Project) -> GateStep:
    """Every contract's `servers` block is what the targets of kcrm_gov.yml generate."""
    from ..governance.servers import stale_servers

    stale = stale_servers(project)
    return _stale_files_step(
        "servers", stale, f"{len(project.contracts)} contracts, {len(stale)} with a missing or stale servers block",
        "servers",
        [Annotation(item.path.as_posix(), item.line, 1, str(item).split(": ", 1)[1], "servers") for item in stale])


def cost_step(project: Project, target: str | None = None) -> GateStep:
    """No model (and no build of every model) scans more than the target's budget
    (``max_bytes_per_model`` / ``max_bytes_per_build`` in kcrm_gov.yml), by a dry run of every model
    on the target. Skipped, with the reason, where no figure can be had: a DuckDB target (no cost
    model), no budget set, or a BigQuery target that cannot be reached or has no credentials."""
    from ..engines import WarehouseUnavailable, open_engine
    from ..workflows import budget_problems, dry_run_models, format_bytes

    chosen = project.config.target(target)
    if chosen.type != "bigquery":
        return GateStep(name="cost", ok=True, summary=f"skipped: target '{chosen.name}' ({chosen.type}) has no cost "
                        "model; `check --target <bigquery target>` dry-runs every model against its budget")
    limits = {"max_bytes_per_model": chosen.max_bytes_per_model, "max_bytes_per_build": chosen.max_bytes_per_build}
    if all(v is None for v in limits.values()):
        return GateStep(name="cost", ok=True, summary=f"skipped: target '{chosen.name}' sets no scan budget "
                        "(max_bytes_per_model, max_bytes_per_build in kcrm_gov.yml)")
    tables = [t for t in project.dag.valid().order() if t in project.models]
    try:
        with open_engine(project, chosen.name) as engine:
            report = dry_run_models(project, engine, tables)
    except WarehouseUnavailable as exc:
        return GateStep(name="cost", ok=True, summary=f"skipped: target '{chosen.name}' cannot be reached or has "
                        "no credentials, so the scan budget was not checked", details=[exc.message])
    problems = budget_problems(report, chosen.max_bytes_per_model, chosen.max_bytes_per_build)
    unpriced = [m for m in report.models if m.status != "ok"]
    budget = ", ".join(f"{k} {format_bytes(v)}" for k, v in limits.items() if v is not None)
    summary = (f"{len(report.models)} models would scan {format_bytes(report.total_bytes or 0)} "
               f"(${report.total_cost_usd or 0:,.4f}) on target '{chosen.name}' ({budget}): "
               f"{len(problems)} over budget")
    if unpriced:
        summary += f"; {len(unpriced)} not estimated (their dry run failed, see details)"
    over = {m.table for m in report.models
            if chosen.max_bytes_per_model is not None and (m.bytes or 0) > chosen.max_bytes_per_model}
    return GateStep(
        name="cost",
        ok=not problems,
        summary=summary,
        details=problems + [f"not estimated: {m.table}: {m.error}" for m in unpriced],
        exit_code=1 if problems else 0,
        annotations=[Annotation(str(project.models[m.table].path), 1, 1, p, "scan budget")
                     for m, p in zip([m for m in report.models if m.table in over], problems, strict=False)]
        + ([Annotation(str(project.root / "kcrm_gov.yml"), 1, 1, problems[-1], "scan budget")]
           if len(problems) > len(over) else []),
    )


def _stale_files_step(name: str, stale: Sequence[Any], summary: str, generator: str,
                      annotations: list[Annotation]) -> GateStep:
    """A step over generated files: it fails when any is stale, showing each one's diff."""
    return GateStep(
        name=name,
        ok=not stale,
        summary=summary + (f" (run `kcrm-gov generate {generator}`)" if stale else ""),
        details=[f"{item}\n{item.diff.rstrip()}" for item in stale],
        exit_code=1 if stale else 0,
        annotations=annotations,
    )


STEPS = [lint_step, compile_step, checks_step, servers_step, lookml_step, codeowners_step]
"""The steps every run of the gate takes, in order (then versions with --base, then any extra steps)."""
