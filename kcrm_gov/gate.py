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


STEPS = [lint_step]


def run_gate(project: Project) -> GateResult:
    """Run every step of the gate on ``project``."""
    return GateResult(steps=[step(project) for step in STEPS])
