"""Run the generated checks with soda-core's programmatic ``Scan``, offline and silent.

**Data sources.** One Soda data source per layer, ``kcrm_<layer>``, whose ``schema`` (DuckDB)
or ``dataset`` (BigQuery) is the target's dataset of that layer, so the checks name tables
bare (see :mod:`.sodacl`). On DuckDB the data sources use cursors of the engine's own
connection (``Scan.add_duckdb_connection``), so ``build --test`` scans inside the process that
holds the file, and ``kcrm-gov test`` opens the warehouse read-only. On BigQuery the data
source is configured from the target (project, dataset, location; ``client_options`` with the
target's ``api_endpoint`` for the emulator, where credential lookup is bypassed with anonymous
credentials instead of Application Default Credentials, and table names are qualified because
the emulator ignores the default dataset).

**Speed.** Soda's SodaCL parsing is fed by :mod:`.soda_parser`; the generated checks and the
parsed SodaCL of a layer are kept in ``.kcrm/cache/`` (:mod:`kcrm_gov.cache`), keyed by the
contracts' digests and the text; the cyclic garbage collector is paused during a scan.
``benchmarks/checks.py`` measures the result against one aggregate query per table.

**Telemetry.** Soda Core 3 reads ``send_anonymous_usage_stats`` from the first of
``~/.soda/config.yml``, ``.soda/config.yml`` and ``/tmp/.soda/config.yml`` when ``soda`` is first
imported, and *writes* a default (telemetry on) into the user's HOME when none exists. Its
``ConfigHelper`` accepts an explicit config path on first use: :func:`soda_offline` writes
``.kcrm/soda/config.yml`` (telemetry off) and hands it over before anything imports
``soda.scan``, so nothing is written to HOME and no network call is attempted. If some other
code already loaded Soda's config in this process, the loaded value is switched off in memory.

**Results and PII.** Each check's outcome (pass / warn / fail / error), its value, and for
failing checks up to :data:`SAMPLE_ROWS` sample rows, captured by a sampler of our own so
rows never go to Soda's logs. Values of PII columns (tagged ``pii`` or classified
confidential / restricted) are replaced with :data:`MASK` before they are kept anywhere.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__, cache
from ..cache import cache_key
from ..errors import KcrmGovError
from .soda_parser import add_sodacl
from .sodacl import TableChecks, check_path, generate_all

if TYPE_CHECKING:
    from ..contracts import Contract
    from ..engines.base import Engine
    from ..project import Project

PASS, WARN, FAIL, ERROR = "pass", "warn", "fail", "error"
MASK = "***"
SAMPLE_ROWS = 5
NOW_ENV = "KCRM_GOV_NOW"
"""Environment variable with the time freshness is measured against (``--now``; default: the clock)."""
SODA_CONFIG = Path("soda") / "config.yml"
_SODA_CONFIG_TEXT = ("# Written by kcrm-gov: Soda Core reads this instead of ~/.soda/config.yml.\n"
                     "send_anonymous_usage_stats: false\nuser_cookie_id: kcrm-gov-offline\n")


_SCAN_LOCK = threading.Lock()
"""Soda Core's scans share module-level state (query ids, logging): one scan at a time."""


class ScanError(KcrmGovError):
    """Soda could not run the checks of a table (its errors are in the message)."""

    exit_code = 1


# --- telemetry ------------------------------------------------------------------------------------
def soda_offline(state_dir: Path) -> None:
    """Make Soda Core offline and silent for this process (call before importing ``soda.scan``)."""
    from soda.common.config_helper import ConfigHelper

    path = state_dir / SODA_CONFIG
    if not path.is_file() or path.read_text() != _SODA_CONFIG_TEXT:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_SODA_CONFIG_TEXT)
    helper = ConfigHelper.get_instance(str(path))
    helper.config["send_anonymous_usage_stats"] = False  # when another caller created it first
    soda_logger = logging.getLogger("soda")
    if not soda_logger.handlers:  # its logs are collected from the scan; never printed
        soda_logger.addHandler(logging.NullHandler())
        soda_logger.propagate = False


# --- results --------------------------------------------------------------------------------------
@dataclass
class CheckResult:
    """One check of one table in one scan."""

    name: str
    kind: str
    outcome: str  # pass | warn | fail | error
    severity: str  # what the contract asks for a breach: fail | warn
    columns: list[str] = field(default_factory=list)
    value: Any = None
    rule: str = ""
    line: int = 0
    description: str = ""
    failed_rows: int | None = None
    sample_columns: list[str] = field(default_factory=list)
    samples: list[list[Any]] = field(default_factory=list)
    message: str | None = None
    # where the samples come from: "sample" (Soda's failed rows, sensitive values masked) or "keys" (the
    # rule's failed-rows query: key columns only, see kcrm_gov.checks.failed_rows)
    sample_kind: str | None = None


@dataclass
class TableResult:
    """The checks of one table."""

    table: str
    contract: str  # the contract file
    contract_version: str | None
    checks_file: str
    outcome: str = PASS
    key_columns: list[str] = field(default_factory=list)  # the primary key, to identify sample rows
    seconds: float = 0.0
    checks: list[CheckResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def settle(self) -> None:
        """Set the outcome to the worst of the checks' (error, fail, warn, pass)."""
        outcomes = {c.outcome for c in self.checks}
        self.outcome = next((o for o in (ERROR, FAIL, WARN) if o in outcomes), PASS)

    def counts(self) -> dict[str, int]:
        out = {PASS: 0, WARN: 0, FAIL: 0, ERROR: 0}
        for c in self.checks:
            out[c.outcome] = out.get(c.outcome, 0) + 1
        return out


@dataclass
class TestRun:
    """One ``kcrm-gov test``: the artifact written to ``.kcrm/runs/`` and ``.kcrm/test_results.json``."""

    __test__ = False  # not a pytest class

    run_id: str
    command: str
    target: str
    engine: str
    started_at: str
    now: str | None = None
    finished_at: str | None = None
    seconds: float = 0.0
    kcrm_gov_version: str = __version__
    soda_core_version: str | None = None
    tables: list[TableResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(t.outcome in (PASS, WARN) for t in self.tables)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def counts(self) -> dict[str, int]:
        out = {PASS: 0, WARN: 0, FAIL: 0, ERROR: 0}
        for t in self.tables:
            for key, n in t.counts().items():
                out[key] += n
        return out

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        data["counts"] = self.counts()
        return data


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- PII ------------------------------------------------------------------------------------------
def sensitive_columns(contract: Contract) -> set[str]:
    """Top-level columns whose values never leave the warehouse: PII-tagged or confidential /
    restricted, or holding such a nested field."""
    return {column.name for column in contract.columns if column.holds_sensitive}


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Decimal):
        return float(value) if value == value.to_integral_value() or abs(value) < 1e15 else str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


class _Sampler:
    """A Soda sampler that keeps a few masked rows per failing check, in memory only."""

    def __init__(self, masked: dict[str, set[str]]) -> None:
        self.masked = masked  # table name -> columns to mask
        self.samples: dict[tuple[str | None, str | None], tuple[list[str], list[list[Any]], int]] = {}
        self.logs: Any = None

    def store_sample(self, sample_context: Any) -> Any:
        from soda.sampler.sample_ref import SampleRef

        sample = sample_context.sample
        schema = sample.get_schema()
        names = [c.name for c in schema.columns]
        table = sample_context.partition.table.table_name if sample_context.partition else None
        hidden = self.masked.get(str(table).strip('"'), set())
        # failed-rows queries of user SQL may read other tables: mask every name we know is sensitive
        if table is None:
            hidden = set().union(*self.masked.values()) if self.masked else set()
        rows = []
        for row in list(sample.get_rows())[:SAMPLE_ROWS]:
            rows.append([MASK if name in hidden and v is not None else _jsonable(v) for name, v in zip(names, row,
                                                                                                   strict=False)])
        total = sample.get_rows_count()
        self.samples[(sample_context.check_name, table)] = (names, rows, total)
        return SampleRef(name=sample_context.sample_name, schema=schema, total_row_count=total,
                         stored_row_count=len(rows), type=SampleRef.TYPE_NOT_PERSISTED,
                         message="kept by kcrm-gov, PII masked")


# --- data sources ---------------------------------------------------------------------------------
def data_source_name(layer: str) -> str:
    return f"kcrm_{layer}"


def _add_duckdb(scan: Any, engine: Engine, layer: str) -> None:
    # a cursor of the engine's hardened connection: UTC, no file access, configuration locked
    con = engine.cursor()  # type: ignore[attr-defined]  # DuckDBEngine: closed with the engine
    name = data_source_name(layer)
    scan.add_duckdb_connection(con, data_source_name=name)
    # add_duckdb_connection takes no schema; it is a documented data source property
    scan._configuration.data_source_properties_by_name[name]["schema"] = engine.schema(layer)


def bigquery_data_source(engine: Engine, layer: str) -> dict[str, Any]:
    """The Soda data source configuration of one layer of a BigQuery target."""
    target = engine.target
    config: dict[str, Any] = {"type": "bigquery", "project_id": target.project, "dataset": engine.schema(layer),
                              "labels": {"kcrm_tool": "kcrm-gov", "kcrm_command": "test"}}
    if target.location:
        config["location"] = target.location
    if target.api_endpoint:
        config["client_options"] = {"api_endpoint": target.api_endpoint}
    return config


def _add_bigquery(scan: Any, engine: Engine, layer: str) -> None:
    import yaml
    from soda.data_sources.bigquery_data_source import BigQueryDataSource

    from ..engines.bigquery import QualifyingConnection

    name = data_source_name(layer)
    config = bigquery_data_source(engine, layer)
    scan.add_configuration_yaml_str(yaml.safe_dump({f"data_source {name}": config}))
    if engine.target.api_endpoint:
        # An emulator has no credentials: build the data source ourselves with anonymous ones
        # (BigQueryDataSource.__init__ would call google.auth.default()).
        from google.auth.credentials import AnonymousCredentials

        source = BigQueryDataSource.__new__(BigQueryDataSource)
        source_props = dict(config, account_info_json=None)
        _init_bigquery_source(source, scan, name, source_props, AnonymousCredentials())
        source.connect()
        # the emulator ignores the default dataset Soda's SQL relies on (.ci/BQEMULATOR.md)
        source.connection = QualifyingConnection(source.connection, config["project_id"], config["dataset"])
        scan._data_source_manager.data_sources[name] = source


def _init_bigquery_source(source: Any, scan: Any, name: str, props: dict[str, Any], credentials: Any) -> None:
    from soda.execution.data_source import DataSource

    DataSource.__init__(source, scan._logs, name, props)
    source.account_info_dict = None
    source.auth_scopes = []
    source.credentials = credentials
    source.project_id = props["project_id"]
    source.dataset = props["dataset"]
    source.location = props.get("location")
    source.client_options = props.get("client_options")
    source.storage_project_id = props["project_id"]
    source.labels = props.get("labels", {})


# --- running --------------------------------------------------------------------------------------
def _outcome(check: Any) -> str:
    value = getattr(check.outcome, "value", None)
    return {"pass": PASS, "warn": WARN, "fail": FAIL}.get(str(value or "").lower(), ERROR)


def _value(check: Any) -> Any:
    if getattr(check, "freshness_values", None):
        freshness = check.freshness_values.get("freshness")
        return str(freshness) if freshness is not None else None
    for attr in ("check_value",):
        value = getattr(check, attr, None)
        if value is not None:
            return _jsonable(value)
    violations = _schema_violations(check)
    if violations is not None:
        problems = [*violations.missing_column_names,
                    *(f"{c} ({_actual_type(t)})" for c, t in violations.column_type_mismatches.items())]
        return ", ".join(str(p) for p in problems) if problems else None
    return None


def _schema_violations(check: Any) -> Any:
    """A schema check's ``SchemaCheckValidationResult`` (the failing one, else the warning one)."""
    if not hasattr(check, "fail_result") or not hasattr(check, "measured_schema"):
        return None
    return check.fail_result or check.warn_result


def _actual_type(info: Any) -> Any:
    return info.get("actual_type") if isinstance(info, dict) else info


def _message(check: Any) -> str | None:
    violations = _schema_violations(check)
    if violations is not None:
        parts = []
        if violations.missing_column_names:
            parts.append("missing columns: " + ", ".join(violations.missing_column_names))
        for col, info in violations.column_type_mismatches.items():
            expected = info.get("expected_type") if isinstance(info, dict) else None
            parts.append(f"{col} is {_actual_type(info)}, the contract says {expected}")
        return "; ".join(parts) or None
    freshness = getattr(check, "freshness_values", None)
    if freshness:
        return f"newest {freshness.get('max_column_timestamp')} at {freshness.get('now_timestamp')}"
    return None


def scan_tables(project: Project, engine: Engine, tables: list[str], *, now: datetime | None = None,
                checks: list[TableChecks] | None = None) -> list[TableResult]:
    """Run the checks of ``tables`` (``layer.table``) on ``engine``; one Soda scan per layer.

    ``now`` is the time freshness is measured against (default: the wall clock).
    ``checks`` are the generated checks to run (default: generated for the engine's target).
    """
    with _SCAN_LOCK, _gc_paused():
        return _scan_tables(project, engine, tables, now=now, checks=checks)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection during a scan. Soda allocates some hundred thousand small
    objects per scan; each time that triggers a full collection, Python walks every object of the
    process (sqlglot, pyarrow, Soda and the project), which cost up to a fifth of a scan. Nothing in
    a scan depends on collecting cycles; they are collected when it ends."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _scan_tables(project: Project, engine: Engine, tables: list[str], *, now: datetime | None,
                 checks: list[TableChecks] | None) -> list[TableResult]:
    soda_offline(project.state_dir)
    wanted = [t for t in tables if t in project.contracts]
    if checks is None:
        checks = generate_all(project, engine.kind, target=engine.target, tables=wanted)
    by_table = {tc.qualified_name: tc for tc in checks if tc.qualified_name in wanted}
    results: dict[str, TableResult] = {}
    layers: dict[str, list[TableChecks]] = {}
    for name in wanted:
        if name in by_table:
            layers.setdefault(by_table[name].contract.layer, []).append(by_table[name])
    for layer, group in layers.items():
        runnable, unrunnable = _without_missing_references(engine, layer, group)
        scanned, aborted = _scan_group(project, engine, layer, runnable, now)
        if aborted:
            # Soda abandons the whole scan at some query errors (a reference to a column that is
            # gone): scan each table alone, and a table that still aborts check by check, so the
            # problem is reported on its own check and every other check still gets its result.
            scanned = {tc.qualified_name: _scan_isolated(project, engine, layer, tc, now) for tc in runnable}
        for tc in group:
            result = scanned[tc.qualified_name]
            if tc.qualified_name in unrunnable:
                result = _with_unrunnable(tc, result, unrunnable[tc.qualified_name])
            results[tc.qualified_name] = result
            _add_failed_rows(engine, tc, result)
    return [results[t] for t in wanted if t in results]


def _add_failed_rows(engine: Engine, tc: TableChecks, result: TableResult) -> None:
    """Run the failed-rows query of each failing or warning rule that has one
    (:mod:`.failed_rows`): its first rows, keys only, and how many there are. The query was vetted
    when the checks were generated (keys only, nothing classified); a column that still bears a
    sensitive column's name is masked all the same."""
    hidden = sensitive_columns(tc.contract)
    for item in result.checks:
        spec = tc.spec(item.name)
        if spec is None or spec.failed_rows is None or item.outcome not in (FAIL, WARN):
            continue
        rows_sql, count_sql = spec.failed_rows
        try:
            rows = engine.query_arrow(rows_sql)
            count = engine.query_arrow(count_sql).column(0)[0].as_py()
        except KcrmGovError as exc:
            message = f"the failed-rows query could not run: {engine.scrubbed(exc.message, rows_sql)}"
            item.message = f"{item.message}; {message}" if item.message else message
            continue
        names = list(rows.column_names)
        item.sample_columns = names
        item.samples = [[MASK if name in hidden and value is not None else _jsonable(value)
                         for name, value in zip(names, row, strict=True)]
                        for row in zip(*(rows.column(n).to_pylist() for n in names), strict=True)] if names else []
        item.failed_rows = int(count or 0)
        item.sample_kind = "keys"


def _without_missing_references(engine: Engine, layer: str, group: list[TableChecks]
                                ) -> tuple[list[TableChecks], dict[str, dict[str, str]]]:
    """The group without reference checks whose referenced table does not exist (Soda would fail
    the whole scan on them), and ``{table: {check name: why it cannot run}}``."""
    referenced = {spec.references for tc in group for spec in tc.specs if spec.references}
    if not referenced:
        return group, {}
    missing = referenced - set(engine.iter_tables(layer))
    if not missing:
        return group, {}
    runnable, unrunnable = [], {}
    for tc in group:
        skipped = {spec.name: f"{layer}.{spec.references} does not exist on target '{engine.target.name}', so "
                              "this reference cannot be checked (run `kcrm-gov build`)"
                   for spec in tc.specs if spec.references in missing}
        if skipped:
            unrunnable[tc.qualified_name] = skipped
            tc = TableChecks(contract=tc.contract, engine=tc.engine,
                             specs=[spec for spec in tc.specs if spec.name not in skipped])
        runnable.append(tc)
    return runnable, unrunnable


def _with_unrunnable(tc: TableChecks, result: TableResult, skipped: dict[str, str]) -> TableResult:
    """``result`` with the checks that could not run put back, as errors, in the contract's order."""
    by_name = {c.name: c for c in result.checks}
    result.checks = [by_name.get(spec.name) or CheckResult(
        name=spec.name, kind=spec.kind, outcome=ERROR, severity=spec.severity, columns=list(spec.columns),
        rule=spec.rule, line=spec.line, description=spec.description, message=skipped[spec.name])
        for spec in tc.specs if spec.name in by_name or spec.name in skipped]
    result.settle()
    return result


def _scan_isolated(project: Project, engine: Engine, layer: str, tc: TableChecks, now: datetime | None
                   ) -> TableResult:
    """The checks of one table, scanned alone; if Soda aborts that scan, one scan per check."""
    results, aborted = _scan_group(project, engine, layer, [tc], now)
    result = results[tc.qualified_name]
    if not aborted or len(tc.specs) < 2:
        return result
    checks: list[CheckResult] = []
    errors: list[str] = []
    seconds = 0.0
    for spec in tc.specs:
        alone = TableChecks(contract=tc.contract, engine=tc.engine, specs=[spec])
        part = _scan_group(project, engine, layer, [alone], now)[0][tc.qualified_name]
        checks.extend(part.checks)
        errors.extend(e for e in part.errors if e not in errors)
        seconds += part.seconds
    result.checks, result.errors, result.seconds = checks, errors, round(seconds, 3)
    result.settle()
    return result


def _scan_group(project: Project, engine: Engine, layer: str, group: list[TableChecks], now: datetime | None
                ) -> tuple[dict[str, TableResult], bool]:
    """One Soda scan of the checks of ``group`` (tables of one layer). Returns the results and
    whether Soda aborted the scan (then no check of the group was evaluated)."""
    from soda.scan import Scan

    start = time.perf_counter()
    masked = {tc.table: sensitive_columns(tc.contract) for tc in group}
    sampler = _Sampler(masked)
    scan = Scan()
    scan.set_scan_definition_name(f"kcrm-gov {layer}")
    source = data_source_name(layer)
    if engine.kind == "duckdb":
        _add_duckdb(scan, engine, layer)
    else:
        _add_bigquery(scan, engine, layer)
    scan.set_data_source_name(source)
    scan.sampler = sampler
    # Soda serialises every check back to YAML for a results dict we do not read (a quarter of a
    # scan's time): kcrm-gov reads the evaluated checks themselves.
    scan.build_scan_results = dict
    if now is not None:
        scan.add_variables({"NOW": now.astimezone(UTC).isoformat()})
    _add_checks(project, scan, source, group)
    # Soda's messages quote the failing query's error, which quotes row values: scrubbed, keeping
    # the checks' own SQL words and the project's names
    sql = "\n".join(tc.text for tc in group)
    try:
        scan.execute()
    except Exception as exc:  # soda reports its own errors in logs; this is the last resort
        message = f"the scan failed: {engine.scrubbed(str(exc), sql)}"
        return {tc.qualified_name: _errored(tc, message) for tc in group}, True
    seconds = round((time.perf_counter() - start) / max(len(group), 1), 3)
    logged = [log for log in scan._logs.logs if str(getattr(log.level, "name", log.level)) == "ERROR"]
    errors = [engine.scrubbed(str(log.message), sql) + (f" ({engine.scrubbed(str(log.exception), sql)})"
                                                         if getattr(log, "exception", None) else "") for log in logged]
    aborted = any(log.message == _SCAN_ABORTED for log in logged)
    return {tc.qualified_name: _collect(tc, scan, sampler, errors, seconds) for tc in group}, aborted


_SCAN_ABORTED = "Error occurred while executing scan."
"""What Soda Core logs when an exception stopped ``Scan.execute`` (nothing after it ran)."""


def _add_checks(project: Project, scan: Any, source: str, group: list[TableChecks]) -> None:
    """Parse the group's SodaCL into ``scan``, or take what an earlier run parsed from the same
    text (Soda's parse costs a quarter of a scan; see :mod:`.soda_parser`)."""
    from soda.__version__ import SODA_CORE_VERSION

    files = [(check_path(tc.contract).as_posix(), tc.text) for tc in group]
    # text with ${...} is resolved against the scan's variables while parsing
    variables = json.dumps(scan._variables, sort_keys=True, default=str) if any("${" in t for _, t in files) else ""
    key = cache_key([SODA_CORE_VERSION, source, variables, *(f"{path}\n{text}" for path, text in files)])
    from soda.sodacl.data_source_scan_cfg import DataSourceScanCfg

    # what Soda's parse leaves in scan._sodacl_cfg.data_source_scan_cfgs; any other shape is parsed again
    parsed = cache.load(project.state_dir, "sodacl", key, valid=lambda value: (
        isinstance(value, dict) and isinstance(value.get(source), DataSourceScanCfg)
        and all(isinstance(name, str) and isinstance(cfg, DataSourceScanCfg) for name, cfg in value.items())))
    if parsed is not None:
        scan._sodacl_cfg.data_source_scan_cfgs = parsed
        return
    for path, text in files:
        add_sodacl(scan, text, path)
    if not any(str(getattr(log.level, "name", log.level)) in ("ERROR", "WARNING") for log in scan._logs.logs):
        cache.store(project.state_dir, "sodacl", key, scan._sodacl_cfg.data_source_scan_cfgs)


def _table_result(contract: Contract, **fields: Any) -> TableResult:
    return TableResult(table=contract.qualified_name, contract=contract.path.as_posix(),
                       contract_version=contract.version, checks_file=check_path(contract).as_posix(),
                       key_columns=contract.primary_key, **fields)


def _errored(tc: TableChecks, message: str) -> TableResult:
    result = _table_result(tc.contract, outcome=ERROR, errors=[message])
    for spec in tc.specs:
        result.checks.append(CheckResult(name=spec.name, kind=spec.kind, outcome=ERROR, severity=spec.severity,
                                         columns=list(spec.columns), rule=spec.rule, line=spec.line,
                                         description=spec.description, message=message))
    return result


def _collect(tc: TableChecks, scan: Any, sampler: _Sampler, errors: list[str], seconds: float) -> TableResult:
    from soda.execution.partition import Partition

    result = _table_result(tc.contract, seconds=seconds)
    soda_checks = {}
    for check in scan._checks:
        table = str(Partition.get_table_name(check.partition) or "").strip('"')
        if table == tc.table:
            soda_checks[check.name] = check
    for spec in tc.specs:
        check = soda_checks.get(spec.name)
        item = CheckResult(name=spec.name, kind=spec.kind, outcome=ERROR, severity=spec.severity,
                           columns=list(spec.columns), rule=spec.rule, line=spec.line, description=spec.description)
        if check is None or check.outcome is None:
            item.message = "Soda did not evaluate this check" + (f": {errors[0]}" if errors else "")
        else:
            item.outcome = _outcome(check)
            item.value = _value(check)
            item.message = _message(check)
            if spec.kind == "freshness" and any(sensitive.is_sensitive for sensitive in
                                                (tc.contract.column(c) for c in spec.columns) if sensitive):
                item.message = "the newest value is not shown: the column is sensitive"
            sample = sampler.samples.get((spec.name, tc.table)) or sampler.samples.get((spec.name, None))
            if sample and item.outcome in (FAIL, WARN):
                item.sample_columns, item.samples, item.failed_rows = sample
                item.sample_kind = "sample"
        result.checks.append(item)
    result.settle()
    if result.outcome == ERROR:
        result.errors = errors[:5]
    return result


def run_tests(project: Project, engine: Engine, tables: list[str], *, now: datetime | None = None,
              listener: Callable[[TableResult], None] | None = None) -> TestRun:
    """``kcrm-gov test``: scan ``tables`` and collect a :class:`TestRun`."""
    from soda.__version__ import SODA_CORE_VERSION

    run = TestRun(run_id=str(uuid.uuid4()), command="test", target=engine.target.name, engine=engine.kind,
                  started_at=now_iso(), now=now.isoformat() if now else None, soda_core_version=SODA_CORE_VERSION)
    start = time.perf_counter()
    existing = {f"{layer}.{table}" for layer in {t.split(".", 1)[0] for t in tables}
                for table in engine.iter_tables(layer)}
    missing = [t for t in tables if t in project.contracts and t not in existing]
    present = [t for t in tables if t not in missing]
    checks = generate_all(project, engine.kind, target=engine.target, tables=present)
    if engine.kind == "duckdb":
        for tc in checks:
            committed = project.root / check_path(tc.contract)
            if committed.is_file() and committed.read_text() != tc.text:
                run.notes.append(f"{check_path(tc.contract).as_posix()} is stale: ran the checks its contract "
                                 "generates now (run `kcrm-gov generate checks`)")
    run.tables = scan_tables(project, engine, present, now=now, checks=checks)
    for name in missing:
        run.tables.append(_table_result(project.contracts[name], outcome=ERROR,
                                        errors=[f"{name} does not exist on target '{engine.target.name}' "
                                                "(run `kcrm-gov build`)"]))
    order = {t: i for i, t in enumerate(tables)}
    run.tables.sort(key=lambda t: order.get(t.table, len(order)))
    if listener:
        for t in run.tables:
            listener(t)
    run.finished_at = now_iso()
    run.seconds = round(time.perf_counter() - start, 3)
    return run


class BuildQualityGate:
    """``build --test``: the build's ``after_build`` callback. Runs a table's checks right after
    it is built; a failing (or unrunnable) check fails the model, so its downstream is skipped."""

    def __init__(self, project: Project, engine: Engine, *, now: datetime | None = None) -> None:
        from soda.__version__ import SODA_CORE_VERSION

        soda_offline(project.state_dir)  # once, before models run on worker threads
        from ..clock import measure_time

        now, clock_note = measure_time(engine, now or parse_now(os.environ.get(NOW_ENV)))
        self.project, self.engine, self.now = project, engine, now
        self.run = TestRun(run_id=str(uuid.uuid4()), command="test", target=engine.target.name, engine=engine.kind,
                           started_at=now_iso(), now=now.isoformat() if now else None,
                           soda_core_version=SODA_CORE_VERSION, notes=[clock_note] if clock_note else [])
        self._start = time.perf_counter()

    def __call__(self, table: str) -> str | None:
        results = scan_tables(self.project, self.engine, [table], now=self.now)
        self.run.tables.extend(results)
        failed = [c.name for r in results for c in r.checks if c.outcome in (FAIL, ERROR)]
        if not failed:
            return None
        shown = ", ".join(failed[:5]) + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
        return f"built, but its quality checks failed ({shown}); downstream skipped — see `kcrm-gov test -s {table}`"

    def finish(self) -> TestRun:
        self.run.finished_at = now_iso()
        self.run.seconds = round(time.perf_counter() - self._start, 3)
        return self.run


def write_test_results(project: Project, run: TestRun) -> Path:
    """Write ``.kcrm/runs/<time>-test-<id>.json`` and ``.kcrm/test_results.json`` atomically; return the
    first. Raises :class:`~kcrm_gov.artifacts.ArtifactError` when they cannot be written."""
    from ..artifacts import write_run_artifact

    return write_run_artifact(project, run.command, run.run_id, run.started_at, run.to_dict())[0]


def parse_now(text: str | None) -> datetime | None:
    """``--now``: an ISO timestamp (UTC when it has no zone); None (not given) for the clock. An
    empty ``--now ''`` is refused: it is a mistake (an unset variable), not "the clock"."""
    if text is None:
        return None
    if not text.strip():
        raise KcrmGovError(f"--now / {NOW_ENV} is empty: give an ISO timestamp (e.g. 2024-01-02T06:00:00Z), or leave "
                           "it unset to measure from the clock")
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise KcrmGovError(f"--now: '{text}' is not an ISO timestamp (e.g. 2024-01-02T06:00:00Z)") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


__all__ = [
    "ERROR",
    "FAIL",
    "MASK",
    "PASS",
    "WARN",
    "BuildQualityGate",
    "CheckResult",
    "ScanError",
    "TableResult",
    "TestRun",
    "bigquery_data_source",
    "parse_now",
    "run_tests",
    "scan_tables",
    "sensitive_columns",
    "soda_offline",
    "write_test_results",
]
