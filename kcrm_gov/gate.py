"""``kcrm-gov check``: the one gate CI runs, made of independent steps."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .project import Project


@dataclass(frozen=True)
class Annotation:
    """One problem at a place in a file (``--format github`` and ``junit`` print these)."""

    path: str
    line: int
    column: int
    message: str
    title: str = ""


@dataclass
class GateStep:
    """The outcome of one step of the gate."""

    name: str
    ok: bool
    summary: str
    details: list[str] = field(default_factory=list)
    exit_code: int = 0
    annotations: list[Annotation] = field(default_factory=list)  # where each problem is (for --format)


@dataclass
class GateResult:
    steps: list[GateStep] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)

    @property
    def exit_code(self) -> int:
        return max((s.exit_code for s in self.steps), default=0)

    def to_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "exit_code": self.exit_code,
                "steps": [{"name": s.name, "ok": s.ok, "summary": s.summary, "details": s.details,
                           "annotations": [vars(a) for a in s.annotations]}
                          for s in self.steps]}


def lint_step(project: Project) -> GateStep:
    """Contracts are valid ODCS v3 and meet the governance rules."""
    from .lint import lint_project

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
    from .compile import compile_project

    report = compile_project(project)
    return GateStep(
        name="compile",
        ok=not report.problems,
        summary=f"{report.models} models, {len(report.problems)} problems",
        details=[str(p) for p in report.problems],
        exit_code=1 if report.problems else 0,
    )


def checks_step(project: Project) -> GateStep:
    """The committed SodaCL files under checks/ are what the contracts generate."""
    from .checks import generate_checks, stale_checks
    from .errors import KcrmGovError

    try:
        generated = generate_checks(project, "duckdb")
    except KcrmGovError as exc:
        from .checks.sodacl import generation_problems

        problems = generation_problems(project) or [exc]
        return GateStep(name="checks", ok=False,
                        summary=f"the checks of {len(problems)} contract{'s' if len(problems) != 1 else ''} cannot be "
                                "generated", details=[str(p) for p in problems], exit_code=1,
                        annotations=[Annotation(str(p.location.path), p.location.line or 1, p.location.column or 1,
                                                p.message, "checks") for p in problems if p.location])
    stale = stale_checks(project, generated)
    return GateStep(
        name="checks",
        ok=not stale,
        summary=f"{len(generated)} check files, {len(stale)} stale"
                + (" (run `kcrm-gov generate checks`)" if stale else ""),
        details=[f"{item}\n{item.diff.rstrip()}" for item in stale],
        exit_code=1 if stale else 0,
    )


def codeowners_step(project: Project) -> GateStep:
    """The committed .github/CODEOWNERS is what the contracts' stewards generate."""
    from .governance.codeowners import stale_codeowners

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
    from .errors import KcrmGovError
    from .governance.diff import BREAKING, diff

    try:
        report = diff(project.root, base, impact=False, head=project)
    except KcrmGovError as exc:
        return GateStep(name="versions", ok=False, summary=f"cannot compare with {base}", details=[str(exc)],
                        exit_code=exc.exit_code)
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


STEPS = [lint_step, compile_step, checks_step, codeowners_step]


def run_gate(project: Project, base: str | None = None) -> GateResult:
    """Run every step of the gate on ``project``; compiling needs readable contracts.

    With ``base`` (a git ref), the diff's version rules are a step too.
    """
    result = GateResult(steps=[lint_step(project)])
    if result.steps[0].exit_code == 2:
        return result
    result.steps.extend(step(project) for step in STEPS[1:])
    if base is not None:
        result.steps.append(versions_step(project, base))
    for step in result.steps:
        if not step.ok and not step.annotations:
            step.annotations = [annotation_of(detail, step.name) for detail in step.details]
    return result


_POINTER = re.compile(r"^(?P<path>[^\s:][^:\n]*?\.(?:ya?ml|sql|json|toml|py|md)|CODEOWNERS|\.github/CODEOWNERS)"
                      r"(?::(?P<line>\d+))?(?::(?P<col>\d+))?:\s*(?P<message>.*)", re.DOTALL)


def annotation_of(detail: str, step: str) -> Annotation:
    """Where a step's detail line points: ``path:line:col: message`` or ``path: message`` (else no file)."""
    m = _POINTER.match(detail.strip())
    if not m:
        return Annotation("", 0, 0, detail.strip(), step)
    return Annotation(m.group("path"), int(m.group("line") or 1), int(m.group("col") or 1),
                      m.group("message").strip(), step)
