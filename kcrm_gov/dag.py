"""The DAG of tables: who reads whom, the layer read-rules, cycles, and dbt-style selection."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from typing import TYPE_CHECKING

from . import LAYERS
from .errors import KcrmGovError, Location

if TYPE_CHECKING:
    from .contracts import Contract
    from .models import Model
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

    def __init__(self, problems: list[KcrmGovError]) -> None:
        text = [str(p) for p in problems]
        super().__init__(text[0] if len(text) == 1 else f"{len(text)} problems in the DAG:\n  " + "\n  ".join(text))
        self.problems = problems


@dataclass
class Dag:
    """Tables and the edges ``upstream -> downstream`` between them, and what is wrong with them.

    One graph for every consumer: :func:`compute_dag` keeps every edge between contracted tables
    that the models' SQL shows, even when a rule is broken, and lists the problems (each an error
    with its file, line and column). The build asks for a valid DAG (:meth:`valid`); the catalog,
    lineage and diff walk what there is.
    """

    upstream: dict[str, list[str]] = field(default_factory=dict)  # table -> tables it reads
    downstream: dict[str, list[str]] = field(default_factory=dict)
    problems: list[KcrmGovError] = field(default_factory=list)
    checks_read: dict[str, list[str]] = field(default_factory=dict)
    """table -> the other tables its quality checks read (references, quality SQL): a build runs a
    table's checks once those are built too (see :meth:`check_waits`)."""

    def check_waits(self, table: str, building: set[str]) -> list[str]:
        """The tables of ``building`` that ``table``'s checks must wait for. A table downstream of
        ``table`` is not waited for (it waits for ``table``): its checks read its last version."""
        below = self.descendants(table)
        return [t for t in self.checks_read.get(table, []) if t in building and t not in below and t != table]

    def valid(self) -> Dag:
        """This DAG, when it has no problem; else :class:`DagError` listing them all."""
        if self.problems:
            raise DagError(self.problems)
        return self

    def order(self) -> list[str]:
        """Every table, upstream before downstream (ties by layer, then name); a cycle's tables last."""
        rank = {layer: i for i, layer in enumerate(LAYERS)}
        key = lambda t: (rank.get(t.split(".")[0], 99), t)  # noqa: E731
        sorter = TopologicalSorter({t: set(u) for t, u in self.upstream.items()})
        try:
            sorter.prepare()
        except CycleError:
            return sorted(self.upstream, key=key)
        out: list[str] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready(), key=key)
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
    seen.discard(start)
    return seen


def compute_dag(project: Project) -> Dag:
    """The DAG of every contract and model (read it as ``project.dag``, computed once).

    Problems: a model without a contract, a non-raw contract without a model, a model that
    cannot be read or reads something it may not (a table function, an unknown table, a layer
    its layer may not read), a cycle. Edges are kept for every read of a contracted table.
    """
    problems: list[KcrmGovError] = []
    for name, model in project.models.items():
        if name not in project.contracts:
            problems.append(DagProblem(f"model {name} has no contract (contracts/{model.layer}/"
                                       f"{model.table}.odcs.yaml)", model.location()))
    for name, contract in project.contracts.items():
        if contract.layer != "raw" and name not in project.models:
            problems.append(DagProblem(f"contract {name} has no model (models/{contract.layer}/"
                                       f"{contract.table}.sql, or .csv for a reference table)",
                                       Location(contract.path)))
        if contract.layer == "raw" and name in project.models:
            problems.append(DagProblem("raw tables are landed by loaders, not built by models",
                                       project.models[name].location()))
    dag = Dag(problems=problems)
    for name, contract in project.contracts.items():
        dag.upstream.setdefault(name, [])
        dag.downstream.setdefault(name, [])
        dag.checks_read[name] = [t for t in cached_checks_read(project, contract) if t in project.contracts]
    for name, model in project.models.items():
        try:
            refs = cached_refs(project, model)
        except KcrmGovError as exc:
            problems.append(exc)
            continue
        allowed = MAY_READ.get(model.layer, ())
        for ref in refs:
            layer = ref.split(".", 1)[0]
            if ref not in project.contracts:
                problems.append(DagProblem(f"model {name} reads unknown table {ref} (no contract defines it)",
                                           model.ref_location(ref)))
                continue
            # a layer's own reference tables (models/<layer>/*.csv) are readable by that layer
            own_reference = layer == model.layer and ref in project.models and project.models[ref].reference
            if layer not in allowed and not own_reference:
                rule = f"{model.layer} may read {', '.join(allowed)}" if allowed else f"{model.layer} reads nothing"
                problems.append(DagProblem(f"layer violation: {name} reads {ref}; {rule}", model.ref_location(ref)))
            if name in dag.upstream and ref not in dag.upstream[name]:
                dag.upstream[name].append(ref)
                dag.downstream[ref].append(name)
    try:
        TopologicalSorter({t: set(u) for t, u in dag.upstream.items()}).prepare()
    except CycleError as exc:
        cycle = exc.args[1]
        problems.append(DagProblem(f"cycle: {' -> '.join(reversed(cycle))}"))
    return dag


REFS_KEEP = 2_000
"""Models' read lists kept in ``.kcrm/cache/refs/``: one entry per model version."""


def cached_refs(project: Project, model: Model) -> list[str]:
    """``model.refs``, remembered in ``.kcrm/cache`` by the model's text.

    Every command that needs the DAG (build, the catalog, check...) parsed every model to find
    what it reads: more than a second of a fresh process. A read list depends on the text alone, so
    it is cached; the model is parsed only when it changed or something needs its AST. A model
    that cannot be read is never cached (``model.refs`` raises, and says where)."""
    refs = _remembered(project, "refs", ["refs", model.layer, model.sql], lambda: list(model.refs))
    model.__dict__["refs"] = refs  # the cached_property's own slot: later readers get the same list
    return refs


def cached_checks_read(project: Project, contract: Contract) -> list[str]:
    """``contract.checks_read``, remembered in ``.kcrm/cache`` by the contract's text (its quality
    rules' SQL is parsed to find them: most of the time the DAG took once the models' reads were cached)."""
    if not contract.document.digest:  # not parsed from a file: nothing to key it on
        return list(contract.checks_read)
    found = _remembered(project, "checks-read", ["checks-read", contract.qualified_name, contract.document.digest],
                        lambda: list(contract.checks_read))
    contract.__dict__["checks_read"] = tuple(found)
    return found


def _remembered(project: Project, kind: str, parts: list[str], compute: Callable[[], list[str]]) -> list[str]:
    from .cache import cache_key, load, store

    key = cache_key(parts)
    found = load(project.state_dir, kind, key,
                 valid=lambda value: isinstance(value, list) and all(isinstance(r, str) for r in value))
    if found is None:
        found = compute()
        store(project.state_dir, kind, key, found, keep=REFS_KEEP)
    return found


class DagProblem(KcrmGovError):
    """One thing wrong with the DAG, at its place in a model or contract."""

    exit_code = 1


def build_dag(project: Project) -> Dag:
    """The project's DAG, valid: raises :class:`DagError` listing every problem (see :func:`compute_dag`)."""
    return project.dag.valid()


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
