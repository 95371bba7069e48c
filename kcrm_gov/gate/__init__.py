"""``kcrm-gov check``: the one gate CI runs on every pull request, made of independent steps.

Each step (:mod:`.steps`) returns a :class:`GateStep` whose problems carry their place in a file
(:class:`Annotation`: path, line, column), built from the locations the library reports, never
recovered from message text. :mod:`.formats` prints a result as text, JSON, GitHub annotations or
JUnit XML.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..errors import Location
    from ..project import Project


@dataclass(frozen=True)
class Annotation:
    """One problem at a place in a file (``--format github`` and ``junit`` print these)."""

    path: str
    line: int
    column: int
    message: str
    title: str = ""

    @classmethod
    def at(cls, location: Location | None, message: str, title: str) -> Annotation:
        """An annotation at ``location`` (a file's first line when it names no line)."""
        if location is None:
            return cls("", 0, 0, message, title)
        return cls(str(location.path), location.line or 1, location.column or 1, message, title)


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


FinalStep = Callable[["Project", "GateResult"], "GateStep"]
"""A step that runs after the others and sees their result (the CLI adds its docs step)."""


def run_gate(project: Project, base: str | None = None, final: tuple[FinalStep, ...] = (),
             target: str | None = None) -> GateResult:
    """Run every step of the gate on ``project``; the later steps need readable contracts.

    With ``base`` (a git ref), the diff's version rules are a step too; ``final`` steps run last, each
    given the result so far. ``target`` is the warehouse whose scan budget the cost step checks
    (default: the default target; a DuckDB one skips it).
    """
    result = GateResult(steps=[lint_step(project)])
    if result.steps[0].exit_code == 2:
        return result
    result.steps.extend(step(project) for step in STEPS[1:])
    result.steps.append(cost_step(project, target))
    if base is not None:
        result.steps.append(versions_step(project, base))
    for step in final:
        result.steps.append(step(project, result))
    return result


from .steps import (  # noqa: E402 - the steps build on the types above
    STEPS,
    checks_step,
    codeowners_step,
    compile_step,
    cost_step,
    lint_step,
    lookml_step,
    servers_step,
    versions_step,
)

__all__ = ["STEPS", "Annotation", "GateResult", "GateStep", "checks_step", "codeowners_step", "compile_step",
           "cost_step", "lint_step", "lookml_step", "run_gate", "servers_step", "versions_step"]
