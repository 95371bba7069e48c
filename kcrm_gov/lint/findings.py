"""Lint findings and the lint run over a project."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import KcrmGovError, Location
from ..project import Project


@dataclass(frozen=True, order=True)
class Finding:
    """One problem found in one file."""

    path: str
    line: int
    column: int
    rule: str
    message: str

    @classmethod
    def at(cls, location: Location, rule: str, message: str) -> Finding:
        return cls(str(location.path), location.line or 1, location.column or 1, rule, message)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.rule} {self.message}"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class LintReport:
    """The result of linting a project: findings, and whether input was unusable."""

    findings: list[Finding] = field(default_factory=list)
    unusable: list[Finding] = field(default_factory=list)  # files that could not be read at all
    contracts_checked: int = 0

    @property
    def exit_code(self) -> int:
        """0 clean, 1 findings, 2 unusable input (the documented lint exit codes)."""
        if self.unusable:
            return 2
        return 1 if self.findings else 0

    def all(self) -> list[Finding]:
        return sorted(self.unusable + self.findings)


def _unusable(exc: KcrmGovError) -> Finding:
    return Finding.at(exc.location or Location("?"), "KG000", exc.message)


def lint_project(project: Project, paths: list[Path] | None = None) -> LintReport:
    """Lint every contract of ``project`` (or only those under ``paths``)."""
    from .odcs_schema import schema_findings
    from .rules import PROJECT_RULES, RULES

    def selected(path: Path) -> bool:
        if not paths:
            return True
        full = (project.root / path).resolve()  # messages carry paths relative to the root
        return any(full == p or p in full.parents for p in paths)

    report = LintReport()
    for problem in project.problems:
        if problem.location and not selected(Path(str(problem.location.path))):
            continue
        document = getattr(problem, "document", None)
        # YAML that the ODCS model refused: the upstream schema says precisely why
        found = schema_findings(document) if document is not None else []
        if found:
            report.contracts_checked += 1
            report.findings.extend(found)
        else:
            report.unusable.append(_unusable(problem))
    for contract in project.ordered():
        if not selected(contract.path):
            continue
        report.contracts_checked += 1
        schema_problems = schema_findings(contract.document)
        report.findings.extend(schema_problems)
        for rule in RULES:
            report.findings.extend(rule.check(contract, project))
    for project_rule in PROJECT_RULES:
        report.findings.extend(f for f in project_rule.check_project(project) if selected(Path(f.path)))
    report.findings = sorted(set(report.findings))
    return report
