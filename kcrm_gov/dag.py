"""The DAG of tables: who reads whom, the layer read-rules, cycles, and dbt-style selection."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter

from . import LAYERS
from .errors import KcrmGovError, Location
from .project import Project

# DESIGN.md: which layers each layer may read.
MAY_READ: dict[str, tuple[str, ...]] = {
    "raw": (),
    "stg": ("raw",),
    "core": ("stg", "core"),
    "enr": ("core", "enr"),
    "retl": ("core", "enr"),
    "marts": ("core", "enr", "marts"),
}


class DagError(KcrmGovError):
    """The models do not form a valid DAG (cycle, layer violation, missing model or contract)."""

    exit_code = 1

    def __init__(self, message: str, location: Location | None = None, problems: list[str] | None = None):
        super().__init__(message, location)
        self.problems = problems or [str(self)]


@dataclass
class Dag:
    """Tables and the edges ``upstream -> downstream`` between them."""

    upstream: dict[str, list[str]] = field(default_factory=dict)  # table -> tables it reads
    downstream: dict[str, list[str]] = field(default_factory=dict)

    def order(self) -> list[str]:
        """Every table, upstream before downstream (ties by layer, then name)."""
        rank = {layer: i for i, layer in enumerate(LAYERS)}
        sorter = TopologicalSorter({t: set(u) for t, u in self.upstream.items()})
        sorter.prepare()
        out: list[str] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready(), key=lambda t: (rank.get(t.split(".")[0], 99), t))
            out.extend(ready)
            sorter.done(*ready)
        return out

    def ancestors(self, table: str) -> set[str]:
        return _walk(table, self.upstream)

    def descendants(self, table: str) -> set[str]:
        return _walk(table, self.downstream)


def _walk(start: str, edges: dict[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(edges.get(start, []))
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(edges.get(node, []))
    return seen


def build_dag(project: Project) -> Dag:
    """The DAG of every contract and model, checked against the layer rules.

    Raises :class:`DagError` listing every problem: a model without a contract, a non-raw
    contract without a model, a read the layer rules forbid, an unknown table, a cycle.
    """
    problems: list[str] = []
    for name, model in project.models.items():
        if name not in project.contracts:
            problems.append(f"{model.path}: model {name} has no contract (contracts/{model.layer}/"
                            f"{model.table}.odcs.yaml)")
    for name, contract in project.contracts.items():
        if contract.layer != "raw" and name not in project.models:
            problems.append(f"{contract.path}: contract {name} has no model (models/{contract.layer}/"
                            f"{contract.table}.sql)")
        if contract.layer == "raw" and name in project.models:
            problems.append(f"{project.models[name].path}: raw tables are landed by loaders, not built by models")
    dag = Dag()
    for name in project.contracts:
        dag.upstream.setdefault(name, [])
        dag.downstream.setdefault(name, [])
    for name, model in project.models.items():
        try:
            refs = model.refs
        except KcrmGovError as exc:
            problems.append(str(exc))
            continue
        allowed = MAY_READ.get(model.layer, ())
        for ref in refs:
            layer = ref.split(".", 1)[0]
            if ref not in project.contracts:
                problems.append(f"{model.ref_location(ref)}: model {name} reads unknown table {ref} "
                                "(no contract defines it)")
                continue
            if layer not in allowed:
                rule = f"{model.layer} may read {', '.join(allowed)}" if allowed else f"{model.layer} reads nothing"
                problems.append(f"{model.ref_location(ref)}: layer violation: {name} reads {ref}; {rule}")
                continue
            dag.upstream.setdefault(name, []).append(ref)
            dag.downstream.setdefault(ref, []).append(name)
    try:
        TopologicalSorter({t: set(u) for t, u in dag.upstream.items()}).prepare()
    except CycleError as exc:
        cycle = exc.args[1]
        problems.append(f"cycle: {' -> '.join(reversed(cycle))}")
    if problems:
        raise DagError(problems[0] if len(problems) == 1 else f"{len(problems)} problems in the DAG:\n  "
                       + "\n  ".join(problems), problems=problems)
    return dag


def select(project: Project, dag: Dag, selectors: Iterable[str] = (), exclude: Iterable[str] = ()) -> list[str]:
    """The tables chosen by dbt-style selectors, in DAG order.

    ``table`` or ``layer.table``; ``+table`` adds its ancestors, ``table+`` its descendants;
    ``layer:core``, ``source:hubspot``, ``tag:pii`` (a contract tag, or ``pii`` for any table with a
    PII column). No selector selects everything. Selectors may be space-separated in one string.
    """
    def expand(spec: str) -> set[str]:
        up, down = spec.startswith("+"), spec.endswith("+")
        core = spec.strip("+")
        if ":" in core:
            kind, _, value = core.partition(":")
            chosen = _by_method(project, kind, value)
        else:
            chosen = {_resolve(project, core)}
        out = set(chosen)
        for table in chosen:
            if up:
                out |= dag.ancestors(table)
            if down:
                out |= dag.descendants(table)
        return out

    def parse(items: Iterable[str]) -> list[str]:
        return [word for item in items for word in item.split()]

    picked: set[str] = set()
    specs = parse(selectors)
    if not specs:
        picked = set(dag.upstream)
    for spec in specs:
        picked |= expand(spec)
    for spec in parse(exclude):
        picked -= expand(spec)
    return [t for t in dag.order() if t in picked]


def _by_method(project: Project, kind: str, value: str) -> set[str]:
    contracts = project.contracts.values()
    if kind == "layer":
        if value not in LAYERS:
            raise KcrmGovError(f"unknown layer '{value}' in selector (layers: {', '.join(LAYERS)})")
        return {c.qualified_name for c in contracts if c.layer == value}
    if kind == "source":
        found = {c.qualified_name for c in contracts if c.source == value}
        if not found:
            raise KcrmGovError(f"no table has source '{value}'")
        return found
    if kind == "tag":
        return {c.qualified_name for c in contracts
                if value in c.tags or (value == "pii" and any(col.is_pii for _, col in c.all_columns()))}
    raise KcrmGovError(f"unknown selector method '{kind}:' (use layer:, source: or tag:)")


def _resolve(project: Project, name: str) -> str:
    if name in project.contracts:
        return name
    matches = [q for q, c in project.contracts.items() if c.table == name]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise KcrmGovError(f"'{name}' is ambiguous: {', '.join(sorted(matches))}")
    raise KcrmGovError(f"no table '{name}' (write it as <layer>.<table>)")
