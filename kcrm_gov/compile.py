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
from .dag import DagError, build_dag
from .enforce import Mismatch, compare_schema, format_mismatches
from .engines.duckdb import DuckDBEngine
from .errors import KcrmGovError
from .project import Project


@dataclass
class CompileProblem:
    table: str
    path: str
    message: str
    mismatches: list[Mismatch] = field(default_factory=list)

    def __str__(self) -> str:
        if self.mismatches:
            return f"{self.path}: {self.table} does not match its contract:\n{format_mismatches(self.mismatches)}"
        return self.message if self.message.startswith(self.path) else f"{self.path}: {self.message}"


@dataclass
class CompileReport:
    models: int = 0
    problems: list[CompileProblem] = field(default_factory=list)


def compile_project(project: Project) -> CompileReport:
    """Compile every model against empty tables made from the contracts."""
    report = CompileReport()
    try:
        build_dag(project)
    except DagError as exc:
        report.problems = [CompileProblem("-", p.split(":", 1)[0], p) for p in exc.problems]
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
                report.problems.append(CompileProblem(table, str(model.path), str(located(project, table, exc))))
                continue
            if mismatches:
                report.problems.append(CompileProblem(table, str(model.path), "", mismatches))
    finally:
        engine.close()
    return report

