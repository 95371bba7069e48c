"""Compile every model against the contracts, with no data and no credentials.

Every table is created empty from its contract's DuckDB DDL in an in-memory database; each
model is then compiled for DuckDB and its output schema compared with its contract. This is
what `kcrm-gov check` runs in CI: a model whose output drifted from its contract fails here,
before anything is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .build import compile_model, located
from .config import Target
from .enforce import Mismatch, compare_schema, format_mismatches
from .engines.duckdb import DuckDBEngine
from .errors import KcrmGovError, Location
from .project import Project


@dataclass
class CompileProblem:
    """One model that does not compile, or does not match its contract, at its place in a file."""

    table: str  # "-" for a problem of the DAG as a whole
    location: Location
    message: str
    mismatches: list[Mismatch] = field(default_factory=list)

    def __str__(self) -> str:
        if self.mismatches:
            return f"{self.location}: {self.table} does not match its contract:\n{format_mismatches(self.mismatches)}"
        return f"{self.location}: {self.message}"


@dataclass
class CompileReport:
    models: int = 0
    problems: list[CompileProblem] = field(default_factory=list)


def compile_project(project: Project) -> CompileReport:
    """Compile every model against empty tables made from the contracts."""
    report = CompileReport()
    if project.dag.problems:
        report.problems = [CompileProblem("-", problem.location or Location("?"), problem.message)
                           for problem in project.dag.problems]
        return report
    engine = DuckDBEngine.in_memory(project, Target(name="compile", type="duckdb"))
    try:
        for contract in project.ordered():
            engine.create_table(contract)
        for table, model in sorted(project.models.items()):
            report.models += 1
            contract = project.contracts[table]
            try:
                sql = compile_model(project, engine, table)
                mismatches = compare_schema(contract, engine.model_schema(sql), engine.type_text)
            except KcrmGovError as exc:
                error = located(project, table, exc)
                report.problems.append(CompileProblem(table, error.location or model.location(), error.message))
                continue
            if mismatches:
                report.problems.append(CompileProblem(table, model.location(), "", mismatches))
    finally:
        engine.close()
    return report
