"""``kcrm-gov freshness``: each contract's freshness SLA measured on a target.

**What is measured.** A contract's ``slaProperties`` entry ``freshness`` names an ``element``
(``table.column``), a ``value`` and a ``unit``; its customProperties may add ``warnAfter`` (same
unit) and ``lateArrivalAllowance`` (same unit). The table's *latest* time is ``MAX(element)``
(a DATE element counts as the end of that day, UTC); its *age* is ``now - latest``. A contract
with no element is measured by the table's last-modified time: BigQuery's table metadata
(``modified``), and on DuckDB, which keeps no per-table modification time, the end of the last
successful ``kcrm-gov build`` of that table recorded under ``.kcrm/`` (a raw table on DuckDB with
no element and no build is reported ``unknown``: nothing records when it was loaded).

**Outcome.** ``fresh`` when age ≤ warnAfter (or ≤ value when there is no warnAfter); ``warn`` when
warnAfter < age ≤ the breach threshold; ``breach`` when age > the breach threshold, when the table
is empty or missing; ``error`` when it cannot be queried, or when ``latest`` is in the future of
``now`` by more than :data:`CLOCK_SKEW_TOLERANCE` (5 minutes): the age cannot be measured then
(clock skew, a bad source timestamp, or ``--now`` before the data). A DATE element is in the
future only when its day starts after ``now``. Exit code: 0 all fresh, 1 a warning, 2 a breach or
error (and 2 when the run could not happen at all: no warehouse, no credentials).

**Sensitive elements.** When the element column is sensitive (tagged ``pii``, or classified
confidential or restricted) its value never leaves the warehouse: ``latest`` (and the provisional
window derived from it) is left out of the results, the console, the messages and the lineage
events; only the age is reported.

**Late-arriving sources** (GA4 restates a day's shard for up to 72 hours). The allowance changes
the evaluation according to what the element measures:

* a *load-time* element (the loader's own timestamp: ``_loaded_at``, ``_fivetran_synced``,
  ``loaded_at``, ``synced_at``…; or ``elementKind: load`` in the SLA's customProperties) records
  when data arrived, so late arrival cannot make it look older than it is: the thresholds apply
  unchanged, and a restated shard counts as a load. The allowance is reported as the
  *provisional window*: rows loaded after ``latest - allowance`` may still be restated
  (``provisional_since`` in the results). GA4's contracts measure ``_loaded_at`` / ``loaded_at``:
  no new shard for 36 hours is a breach whatever the allowance.
* an *event-time* element (any other column, or ``elementKind: event``) records when things
  happened, and late-arriving rows fill in the past after the fact: the breach threshold is
  extended by the allowance (``value + lateArrivalAllowance``); past ``value`` but within the
  allowance the outcome is ``warn`` ("late, within the allowance"), past both it is ``breach``.

Results are written to ``.kcrm/freshness_results.json`` (and ``.kcrm/runs/``), which the catalog
shows, and sent as an OpenLineage run of job ``kcrm-gov.freshness`` whose input datasets carry the
outcome as ``dataQualityAssertions`` (through the project's lineage transport).
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlglot import exp

from ..contracts import Contract, Freshness
from ..engines.base import Engine, EngineError
from ..errors import ContractError, KcrmGovError
from ..project import Project

log = logging.getLogger(__name__)

FRESH, WARN, BREACH, ERROR, UNKNOWN = "fresh", "warn", "breach", "error", "unknown"
EXIT_CODES = {FRESH: 0, UNKNOWN: 0, WARN: 1, BREACH: 2, ERROR: 2}
RESULTS_FILE = "freshness_results.json"
CLOCK_SKEW_TOLERANCE = timedelta(minutes=5)
"""How far ``latest`` may be ahead of ``now`` and still count as now (clocks of the source, the
warehouse and this machine differ a little); further ahead is an ``error``."""


class FreshnessError(KcrmGovError):
    """A freshness SLA that cannot be evaluated as written."""

    exit_code = 2


@dataclass
class FreshnessResult:
    """One table's freshness on one run."""

    table: str
    status: str
    element: str | None
    element_kind: str
    latest: str | None
    age_hours: float | None
    warn_after_hours: float | None
    error_after_hours: float
    threshold_hours: float
    late_arrival_allowance_hours: float | None
    provisional_since: str | None
    rows: int | None
    message: str
    checked_at: str
    contract: str
    line: int
    latest_hidden: bool = False  # the element is sensitive: latest is not reported, only the age

    @property
    def age(self) -> str | None:
        return None if self.age_hours is None else f"{self.age_hours:.1f} h"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["age"] = self.age
        data["outcome"] = self.status
        return data


@dataclass
class FreshnessRun:
    """A freshness run: the artifact written under ``.kcrm/``."""

    run_id: str
    target: str
    engine: str
    now: str
    started_at: str
    finished_at: str | None = None
    results: list[FreshnessResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return max((EXIT_CODES[r.status] for r in self.results), default=0)

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys((FRESH, WARN, BREACH, ERROR, UNKNOWN), 0)
        for r in self.results:
            out[r.status] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "command": "freshness", "target": self.target, "engine": self.engine,
                "now": self.now, "started_at": self.started_at, "finished_at": self.finished_at,
                "exit_code": self.exit_code, "counts": self.counts(),
                "tables": [r.to_dict() for r in self.results], "notes": self.notes}


def parse_now(text: str | None) -> datetime | None:
    """``--now``: an ISO timestamp (UTC when it has no zone); None (the option not given) for the
    clock. An empty ``--now ''`` is refused: it is a mistake (an unset variable), not "the clock"."""
    if text is None:
        return None
    if not text.strip():
        raise KcrmGovError("--now is empty: give an ISO timestamp (e.g. 2024-01-02T06:00:00Z), or leave the option "
                           "out to measure from the clock")
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise KcrmGovError(f"--now: '{text}' is not an ISO timestamp (e.g. 2024-01-02T06:00:00Z)") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def sla_of(contract: Contract) -> Freshness | None:
    """The contract's freshness SLA (:attr:`Contract.freshness`, parsed once for every consumer);
    raises :class:`FreshnessError` at its line when it is malformed."""
    try:
        return contract.freshness
    except ContractError as exc:
        raise FreshnessError(exc.message, exc.location) from None


def _warn_hours(sla: Freshness) -> float | None:
    """The warning threshold, when it comes before the breach (a warning after it says nothing)."""
    return sla.warn_hours if sla.warn_hours is not None and sla.warn_hours < sla.hours else None


def _as_datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):  # data through that day: the end of the day
        return datetime(value.year, value.month, value.day, tzinfo=UTC) + timedelta(days=1)
    raise FreshnessError(f"the freshness element is a {type(value).__name__}, not a TIMESTAMP or DATE")


_PER_SECOND = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}


def _first(column: Any) -> Any:
    """The first value of a result column (a pyarrow ChunkedArray). A timestamp is converted here, as
    UTC: pyarrow's own conversion of one with a time zone imports pandas (a third of a second)."""
    import pyarrow as pa

    scalar = column[0]
    if not pa.types.is_timestamp(scalar.type):
        return scalar.as_py()
    if not scalar.is_valid:
        return None
    per_second = _PER_SECOND[scalar.type.unit]
    seconds, rest = divmod(scalar.value, per_second)  # since the epoch, in UTC (with a zone or without)
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds, microseconds=rest * 10**6 // per_second)


def _last_build(project: Project, table: str) -> datetime | None:
    """When ``table`` was last built successfully, from ``.kcrm/build_results.json`` and ``.kcrm/runs/``."""
    files = [project.state_dir / "build_results.json"]
    runs = project.state_dir / "runs"
    if runs.is_dir():
        files += sorted(runs.glob("*-build-*.json"), reverse=True)[:200]
    best: datetime | None = None
    for path in files:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        for m in data.get("models") or [] if isinstance(data, dict) else []:
            if isinstance(m, dict) and m.get("table") == table and m.get("status") == "success":
                when = data.get("finished_at") or m.get("started_at")
                try:
                    stamp = datetime.fromisoformat(str(when).replace("Z", "+00:00"))
                except ValueError:
                    continue
                best = stamp if best is None or stamp > best else best
    return best


def _latest(project: Project, engine: Engine, contract: Contract,
            sla: Freshness) -> tuple[datetime | None, int | None]:
    """``(latest time, rows)`` of the table (rows None when only metadata was read)."""
    if sla.element is not None:
        relation = engine.relation(contract.layer, contract.table)
        dialect = "bigquery" if engine.kind == "bigquery" else "duckdb"
        column = exp.column(sla.element, quoted=True).sql(dialect=dialect)
        data = engine.query_arrow(f"SELECT MAX({column}) AS latest, COUNT(*) AS n FROM {relation}")
        return _as_datetime(_first(data.column("latest"))), int(_first(data.column("n")))
    if engine.kind == "bigquery":
        client = engine.client  # type: ignore[attr-defined]  # the BigQuery engine's
        table = client.get_table(f"{engine.target.project}.{engine.schema(contract.layer)}.{contract.table}")
        return _as_datetime(table.modified), table.num_rows
    return _last_build(project, contract.qualified_name), None


def evaluate(project: Project, engine: Engine, tables: list[str] | None = None, *,
             now: datetime | None = None) -> FreshnessRun:
    """Measure the freshness SLA of each contract in ``tables`` (default: every contract with one)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    started = datetime.now(UTC)
    run = FreshnessRun(run_id=str(uuid.uuid4()), target=engine.target.name, engine=engine.kind, now=_iso(now) or "",
                       started_at=_iso(started) or "")
    for name in tables if tables is not None else [c.qualified_name for c in project.ordered()]:
        contract = project.contracts[name]
        sla = sla_of(contract)
        if sla is None:
            if tables is not None:
                run.notes.append(f"{name}: no freshness SLA in {contract.path}")
            continue
        run.results.append(_evaluate_one(project, engine, contract, sla, now))
    run.finished_at = _iso(datetime.now(UTC))
    return run


def _evaluate_one(project: Project, engine: Engine, contract: Contract, sla: Freshness,
                  now: datetime) -> FreshnessResult:
    column = contract.column(sla.element) if sla.element else None
    hidden = column is not None and column.is_sensitive  # its values never leave the warehouse

    def result(status: str, message: str, latest: datetime | None = None, rows: int | None = None) -> FreshnessResult:
        age = None if latest is None else round((now - latest).total_seconds() / 3600, 3)
        provisional = None
        if latest is not None and sla.allowance_hours and sla.element_kind == "load" and not hidden:
            provisional = _iso(latest - timedelta(hours=sla.allowance_hours))
        return FreshnessResult(
            table=contract.qualified_name, status=status, element=sla.element, element_kind=sla.element_kind,
            latest=None if hidden else _iso(latest), age_hours=age, warn_after_hours=_warn_hours(sla),
            error_after_hours=sla.hours, threshold_hours=sla.threshold_hours,
            late_arrival_allowance_hours=sla.allowance_hours, provisional_since=provisional, rows=rows,
            message=message, checked_at=_iso(now) or "", contract=str(contract.path), line=sla.line,
            latest_hidden=hidden and latest is not None)

    what = f"MAX({sla.element})" if sla.element else "last modified"
    if not engine.table_exists(contract.layer, contract.table):
        return result(BREACH, f"table {contract.qualified_name} does not exist on target '{engine.target.name}'")
    try:
        latest, rows = _latest(project, engine, contract, sla)
    except (EngineError, FreshnessError) as exc:
        return result(ERROR, f"cannot measure {what}: {exc.message}")
    except Exception as exc:  # a metadata call of the warehouse client
        return result(ERROR, f"cannot measure {what}: {type(exc).__name__}: {exc}")
    if latest is None:
        if rows == 0:
            return result(BREACH, "the table is empty", None, rows)
        if sla.element is None:
            return result(UNKNOWN, "no element and no recorded build: DuckDB keeps no per-table modification time, "
                          "and this table was not built by `kcrm-gov build` (name an element in the SLA)", None, rows)
        return result(BREACH, f"{what} is NULL on every row", None, rows)
    age = (now - latest).total_seconds() / 3600
    if age < 0:
        # a DATE element counts as the end of its day: today's date is not in the future
        is_date = column is not None and column.data_type.is_type(exp.DataType.Type.DATE)
        ahead = (latest - timedelta(days=1) if is_date else latest) - now
        if ahead > CLOCK_SKEW_TOLERANCE:
            return result(ERROR, f"{what} is {ahead.total_seconds() / 3600:.1f} h in the future of now: freshness "
                          "cannot be measured (clock skew, a bad source timestamp, or --now before the data)",
                          latest, rows)
        return result(FRESH, f"{what} is {ahead.total_seconds() / 60:.1f} min ahead of now, within the "
                      f"{CLOCK_SKEW_TOLERANCE.total_seconds() / 60:g} min clock-skew tolerance: current"
                      if ahead > timedelta(0) else f"{what} is today's date (data through the end of the day)",
                      latest, rows)
    limit = sla.threshold_hours
    if age > limit:
        extra = (f" (value {sla.hours:g} h + late-arrival allowance {sla.allowance_hours:g} h)"
                 if limit != sla.hours else "")
        return result(BREACH, f"{what} is {age:.1f} h old: over the {limit:g} h SLA{extra}", latest, rows)
    if age > sla.hours:  # event-time element, within the allowance
        return result(WARN, f"{what} is {age:.1f} h old: late, past the {sla.hours:g} h SLA but within the "
                      f"{sla.allowance_hours:g} h late-arrival allowance", latest, rows)
    warn = _warn_hours(sla)
    if warn is not None and age > warn:
        return result(WARN, f"{what} is {age:.1f} h old: over the {warn:g} h warning threshold "
                      f"(breach at {limit:g} h)", latest, rows)
    return result(FRESH, f"{what} is {age:.1f} h old (warn after {_warn_hours(sla) or limit:g} h, breach after "
                  f"{limit:g} h)", latest, rows)


def write_results(project: Project, run: FreshnessRun) -> Path:
    """``.kcrm/freshness_results.json`` (the catalog reads it) and ``.kcrm/runs/<time>-freshness-<id>.json``."""
    from ..artifacts import write_run_artifact

    return write_run_artifact(project, "freshness", run.run_id, run.started_at, run.to_dict())[1]


# --- OpenLineage ----------------------------------------------------------------------------------
def emit_lineage(project: Project, engine: Engine, run: FreshnessRun) -> str | None:
    """Send the run as OpenLineage START and COMPLETE events of job ``kcrm-gov.freshness``.

    Each measured table is an input dataset whose ``dataQualityAssertions`` facet holds two
    assertions on the element: ``freshness`` (no breach) and ``freshness_warn`` (not even a
    warning). Goes through the project's lineage transport (``lineage/openlineage.yml``); falls
    back to openlineage-python's file transport under ``.kcrm/lineage/events/`` when the lineage
    package is not there. Never raises: returns a note when nothing could be sent.
    """
    try:
        from openlineage.client.event_v2 import InputDataset, Job, Run, RunEvent, RunState
        from openlineage.client.facet_v2 import data_quality_assertions_dataset as dqa
    except ImportError as exc:  # pragma: no cover - a pinned dependency
        return f"no OpenLineage event: {exc}"
    try:
        factory = sink = None
        try:
            from ..lineage.events import EventFactory
            from ..lineage.transport import LineageSink

            factory = EventFactory(project, engine.target)
            sink = LineageSink(project)
            if not sink.enabled:
                return None
        except ImportError:
            factory = sink = None

        inputs = []
        for r in run.results:
            assertions = [
                dqa.Assertion(assertion="freshness", success=r.status in (FRESH, WARN), column=r.element),
                dqa.Assertion(assertion="freshness_warn", success=r.status == FRESH, column=r.element),
            ]
            facet = dqa.DataQualityAssertionsDatasetFacet(assertions=assertions)
            if factory is not None:
                base = factory.input(r.table)
                inputs.append(InputDataset(namespace=base.namespace, name=base.name, facets=base.facets,
                                           inputFacets={"dataQualityAssertions": facet}))
            else:
                layer, table = r.table.split(".", 1)
                inputs.append(InputDataset(namespace=f"{engine.kind}://kcrm-gov", name=f"{layer}.{table}",
                                           inputFacets={"dataQualityAssertions": facet}))
        description = "kcrm-gov freshness: the contracts' freshness SLAs measured on the target."
        job = (factory.command_job("kcrm-gov.freshness", description) if factory is not None else
               Job(namespace=project.config.lineage_namespace, name="kcrm-gov.freshness"))
        run_facets = factory.run_facets() if factory is not None else {}
        events = [RunEvent(eventType=RunState.START, eventTime=run.started_at, run=Run(runId=run.run_id,
                                                                                       facets=run_facets),
                           job=job, inputs=inputs, producer=_producer()),
                  RunEvent(eventType=RunState.COMPLETE, eventTime=run.finished_at or run.started_at,
                           run=Run(runId=run.run_id, facets=run_facets), job=job, inputs=inputs,
                           producer=_producer())]
        if sink is not None:
            for event in events:
                sink.emit(event)
            sink.close()
            return None
        from openlineage.client import OpenLineageClient
        from openlineage.client.transport.file import FileConfig, FileTransport

        folder = project.state_dir / "lineage" / "events"
        folder.mkdir(parents=True, exist_ok=True)
        client = OpenLineageClient(transport=FileTransport(FileConfig(log_file_path=str(folder / "events.jsonl"),
                                                                      append=True)))
        for event in events:
            client.emit(event)
        return None
    except KcrmGovError as exc:
        return f"no OpenLineage event: {exc}"
    except Exception as exc:  # the observer never breaks the job
        log.warning("OpenLineage event for the freshness run failed: %s", exc)
        return f"no OpenLineage event: {type(exc).__name__}: {exc}"


def _producer() -> str:
    try:
        from ..lineage.events import PRODUCER
    except ImportError:
        from .. import __version__

        return f"https://github.com/kcrm/kcrm-gov/tree/v{__version__}"
    return PRODUCER
