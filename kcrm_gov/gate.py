"""``kcrm-gov check``: the one gate CI runs, made of independent steps."""

from __future__ import annotations

from dataclasses import dataclass, field

from .project import Project


@dataclass
class GateStep:
    """The outcome of one step of the gate."""

    name: str
    ok: bool
    summary: str
    details: list[str] = field(default_factory=list)
    exit_code: int = 0


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
                "steps": [{"name": s.name, "ok": s.ok, "summary": s.summary, "details": s.details}
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


STEPS = [lint_step, compile_step]


def run_gate(project: Project) -> GateResult:
    """Run every step of the gate on ``project``; compiling needs readable contracts."""
    result = GateResult(steps=[lint_step(project)])
    if result.steps[0].exit_code == 2:
        return result
    result.steps.extend(step(project) for step in STEPS[1:])
    return result
