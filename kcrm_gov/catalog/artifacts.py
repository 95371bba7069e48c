"""The latest run artifacts under ``.kcrm/``, read defensively.

The catalog shows what the last build, quality scan and freshness check said about each table.
Those artifacts are written by other commands whose formats may grow; this module accepts the
shapes they write (a list of per-table records, records grouped under a table key, or one run
holding a ``models`` / ``results`` / ``checks`` list) and ignores what it does not understand:
a missing or unexpected artifact means "never run", never a failed catalog build. An artifact that
exists but cannot be read (truncated by a full disk, not JSON) is not "never run" either: it is
recorded in :attr:`Artifacts.unreadable` (by kind) and :attr:`Artifacts.problems`, and the catalog
says that file is unreadable where the result would be.

* build: ``.kcrm/build_results.json`` and the history in ``.kcrm/runs/*-build-*.json``
  (:func:`kcrm_gov.build.write_run_results`), one :class:`BuildInfo` per table, the newest wins;
* quality: ``.kcrm/test_results.json`` (Soda scan results) and the history in ``.kcrm/runs/*-test-*.json``,
  a list of :class:`CheckInfo` per table from the newest run that tested that table;
* freshness: ``.kcrm/freshness_results.json`` and the history in ``.kcrm/runs/*-freshness-*.json``, one
  :class:`FreshnessInfo` per table from the newest run that measured it.

A selective run (``kcrm-gov test -s core.accounts``) rewrites the latest file with that table alone;
the other tables keep the result of the last run that covered them, found in the history.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BUILD_RESULTS = "build_results.json"
TEST_RESULTS = "test_results.json"
FRESHNESS_RESULTS = "freshness_results.json"
RUNS_DIR = "runs"
MAX_RUN_FILES = 200  # how far back a history (build, test, freshness) is searched for a table's last run

PASS, WARN, FAIL, ERROR, UNKNOWN = "pass", "warn", "fail", "error", "unknown"
BUILD, QUALITY, FRESHNESS = "build", "quality", "freshness"  # the kinds of run artifact
_OUTCOMES = {
    PASS: ("pass", "passed", "ok", "success", "succeeded", "fresh", "green", "healthy", "within_sla"),
    WARN: ("warn", "warning", "warned", "stale_warn", "yellow", "late"),
    FAIL: ("fail", "failed", "failure", "breach", "breached", "stale", "red", "violated", "critical"),
    ERROR: ("error", "errored", "exception", "skipped"),
}
_TABLE_KEYS = ("qualified_name", "table", "table_name", "dataset", "name", "model")
_WHEN_KEYS = ("finished_at", "checked_at", "evaluated_at", "scan_time", "scanned_at", "measured_at",
              "completed_at", "ended_at", "started_at", "timestamp", "time", "at", "when", "data_timestamp",
              "generated_at", "created_at")
_CHECK_NAME_KEYS = ("name", "check", "check_name", "definition", "identity", "title", "metric", "id")
_OUTCOME_KEYS = ("outcome", "status", "result", "state", "level")


@dataclass
class BuildInfo:
    """The last build of one table (from a build run artifact)."""

    status: str
    when: str | None
    rows: int | None = None
    seconds: float | None = None
    error: str | None = None
    run_id: str | None = None
    target: str | None = None


@dataclass
class CheckInfo:
    """The last result of one quality check on one table."""

    name: str
    outcome: str  # pass | warn | fail | error | unknown
    when: str | None = None
    column: str | None = None
    value: str | None = None
    message: str | None = None


@dataclass
class FreshnessInfo:
    """The last freshness measurement of one table."""

    outcome: str
    when: str | None = None
    age: str | None = None
    latest: str | None = None
    message: str | None = None


@dataclass
class Artifacts:
    """Every run artifact the catalog shows, by ``layer.table``."""

    builds: dict[str, BuildInfo] = field(default_factory=dict)
    checks: dict[str, list[CheckInfo]] = field(default_factory=dict)
    freshness: dict[str, FreshnessInfo] = field(default_factory=dict)
    checks_run_at: str | None = None  # when the quality artifact was produced, if it says
    freshness_run_at: str | None = None
    problems: list[str] = field(default_factory=list)  # artifacts that exist but could not be read
    unreadable: dict[str, str] = field(default_factory=dict)  # build | quality | freshness: why none is shown


def outcome_of(value: Any) -> str:
    """Normalise an outcome word (or a boolean ``passed``) to pass / warn / fail / error / unknown."""
    if isinstance(value, bool):
        return PASS if value else FAIL
    word = str(value or "").strip().lower().replace(" ", "_").replace("-", "_")
    for outcome, words in _OUTCOMES.items():
        if word in words:
            return outcome
    return UNKNOWN


def load_artifacts(state_dir: Path, tables: Iterable[str]) -> Artifacts:
    """Read every artifact under ``state_dir`` for the tables named ``tables`` (``layer.table``)."""
    known = set(tables)
    resolver = _Resolver(known)
    out = Artifacts()
    out.builds = _load_builds(state_dir, resolver, out.problems)
    if out.problems:
        out.unreadable[BUILD] = out.problems[0]
    out.checks, out.checks_run_at = _newest_per_table(state_dir, TEST_RESULTS, "test", resolver, out, QUALITY,
                                                      _checks_of_run)
    out.freshness, out.freshness_run_at = _newest_per_table(state_dir, FRESHNESS_RESULTS, "freshness", resolver,
                                                            out, FRESHNESS, _freshness_of_run)
    return out


def _checks_of_run(data: Any, resolve: _Resolver, fallback: str | None) -> dict[str, list[CheckInfo]]:
    """The checks of each table in one test run (the latest result of each check)."""
    found: dict[str, list[CheckInfo]] = {}
    for table, record, inherited in _table_records(data, resolve):
        check = _check(record, inherited or fallback)
        if check is not None:
            found.setdefault(table, []).append(check)
    return {table: _latest_per_check(checks) for table, checks in found.items()}


def _freshness_of_run(data: Any, resolve: _Resolver, fallback: str | None) -> dict[str, FreshnessInfo]:
    """The freshness of each table in one freshness run (its newest measurement)."""
    found: dict[str, FreshnessInfo] = {}
    for table, record, inherited in _table_records(data, resolve):
        info = _freshness(record, inherited or fallback)
        previous = found.get(table)
        if info is not None and (previous is None or (info.when or "") >= (previous.when or "")):
            found[table] = info
    return found


def _newest_per_table(state_dir: Path, latest_name: str, command: str, resolve: _Resolver, out: Artifacts,
                      kind: str, parse: Callable[[Any, _Resolver, str | None], dict[str, Any]]
                      ) -> tuple[dict[str, Any], str | None]:
    """Per table, what the newest run of ``command`` that covered it recorded; and when the latest ran.

    Reads ``latest_name`` (the last run, whatever it selected) and then the history under ``runs/``,
    newest first, so a selective run does not hide the other tables' results. A run's time is the
    one it records (finished or started), else its file's modification time; between runs of the same
    time the one read first (the latest file, then the newer history file) wins. When the latest file
    is unreadable, a result older than it is not shown (that run may have replaced it): the table says
    the file is unreadable instead.
    """
    latest = state_dir / latest_name
    files = [latest]
    runs = state_dir / RUNS_DIR
    if runs.is_dir():
        files.extend(sorted((p for p in runs.glob("*.json") if f"-{command}-" in p.name), reverse=True)
                     [:MAX_RUN_FILES])
    found: dict[str, Any] = {}
    order: dict[str, tuple[int, float, str]] = {}
    latest_at: str | None = None
    cutoff: float | None = None  # the modification time of an unreadable latest file
    for path in files:
        data = _read_json(path, out.problems, out.unreadable, kind)
        if data is None:
            if path == latest and latest.is_file():
                try:
                    cutoff = latest.stat().st_mtime
                except OSError:
                    cutoff = float("inf")
            continue
        ran_at = _when(data) if isinstance(data, dict) else None
        if path == latest:
            latest_at = ran_at
        ran = ran_at or _mtime(path)
        key = _order(ran)
        for table, result in parse(data, resolve, ran).items():
            if table not in found or key > order[table]:
                found[table], order[table] = result, key
        if resolve.known <= set(found) and cutoff is None:
            break
    if cutoff is not None:
        found = {t: r for t, r in found.items() if order[t][0] and order[t][1] > cutoff}
    return found, latest_at


def _order(when: str | None) -> tuple[int, float, str]:
    """A sort key for a recorded time: ISO 8601 times by instant, after any time that is not ISO."""
    text = (when or "").strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return 0, 0.0, text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return 1, moment.timestamp(), text


# --- reading ------------------------------------------------------------------------------------
def _read_json(path: Path, problems: list[str], unreadable: dict[str, str] | None = None,
               kind: str | None = None) -> Any | None:
    """The parsed file; None when it is missing, or unreadable (then recorded in ``problems`` and,
    under ``kind``, in ``unreadable``)."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        shown = f"{path.parent.parent.name}/{path.parent.name}/{path.name}" if path.parent.name == RUNS_DIR \
            else f"{path.parent.name}/{path.name}"
        problem = f"{shown} is unreadable ({exc.__class__.__name__}: {exc})"
        problems.append(problem)
        if unreadable is not None and kind is not None:
            unreadable.setdefault(kind, problem)
        return None


def _mtime(path: Path) -> str | None:
    try:
        stamp = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except OSError:
        return None
    return stamp.isoformat(timespec="seconds").replace("+00:00", "Z")


def _text(value: Any) -> str | None:
    if value is None or value == "" or isinstance(value, (dict, list)):
        return None
    return str(value)


def _when(record: dict[str, Any]) -> str | None:
    for key in _WHEN_KEYS:
        value = _text(record.get(key))
        if value:
            return value
    return None


class _Resolver:
    """Turns whatever names an artifact uses for a table into the project's ``layer.table``."""

    def __init__(self, known: set[str]) -> None:
        self.known = known
        self.by_table: dict[str, list[str]] = {}
        for name in known:
            self.by_table.setdefault(name.split(".", 1)[-1], []).append(name)

    def __call__(self, name: Any, layer: Any = None) -> str | None:
        text = _text(name)
        if not text:
            return None
        text = text.strip("`").strip('"')
        if layer and f"{layer}.{text}" in self.known:
            return f"{layer}.{text}"
        if text in self.known:
            return text
        parts = text.split(".")
        if len(parts) >= 2 and ".".join(parts[-2:]) in self.known:  # project.layer.table, db.layer.table
            return ".".join(parts[-2:])
        if len(parts) >= 2:  # a dataset with a prefix (kcrm_stg.table)
            candidates = [n for n in self.by_table.get(parts[-1], []) if parts[-2].endswith(n.split(".")[0])]
            if len(candidates) == 1:
                return candidates[0]
        candidates = self.by_table.get(parts[-1], [])
        return candidates[0] if len(candidates) == 1 else None

    def of(self, record: dict[str, Any]) -> str | None:
        layer = record.get("layer") or record.get("schema")
        for key in _TABLE_KEYS:
            value = record.get(key)
            if isinstance(value, dict):
                value = value.get("name") or value.get("table")
            found = self(value, layer)
            if found:
                return found
        return None


_LIST_KEYS = ("results", "checks", "tables", "models", "items", "scans", "records")


def _table_records(data: Any, resolve: _Resolver, table: str | None = None,
                   inherited: str | None = None) -> Iterator[tuple[str, dict[str, Any], str | None]]:
    """Every ``(table, record, run time)`` in an artifact, whatever its nesting."""
    if isinstance(data, list):
        for item in data:
            yield from _table_records(item, resolve, table, inherited)
        return
    if not isinstance(data, dict):
        return
    when = _when(data) or inherited
    here = resolve.of(data) or table
    nested = False
    for key in _LIST_KEYS:
        value = data.get(key)
        if isinstance(value, list):
            nested = True
            yield from _table_records(value, resolve, here, when)
        elif isinstance(value, dict):
            nested = True
            for name, sub in value.items():
                sub_table = resolve(name) or here
                if isinstance(sub, (list, dict)):
                    yield from _table_records(sub, resolve, sub_table, when)
    if not nested and here is not None:
        yield here, data, inherited
    elif not nested and here is None:  # {table: record} maps at the top level
        for name, sub in data.items():
            sub_table = resolve(name)
            if sub_table and isinstance(sub, (dict, list)):
                yield from _table_records(sub, resolve, sub_table, when)


def _check(record: dict[str, Any], fallback_when: str | None) -> CheckInfo | None:
    outcome = next((record[k] for k in _OUTCOME_KEYS if k in record), None)
    if outcome is None and "passed" in record:
        outcome = record["passed"]
    if outcome is None:
        return None
    name = next((_text(record[k]) for k in _CHECK_NAME_KEYS if _text(record.get(k))), None) or "check"
    value = record.get("value", record.get("measured", record.get("diagnostics")))
    if isinstance(value, dict):
        value = value.get("value", value.get("check_value"))
    message = _text(record.get("message") or record.get("error") or record.get("reason"))
    column = _text(record.get("column"))
    columns = record.get("columns")
    if column is None and isinstance(columns, list) and columns:
        column = ", ".join(str(c) for c in columns)
    # never copy failed-row samples (``samples``): the catalog shows outcomes, not data
    return CheckInfo(name=name, outcome=outcome_of(outcome), when=_when(record) or fallback_when,
                     column=column, value=_text(value), message=message)


def _latest_per_check(checks: list[CheckInfo]) -> list[CheckInfo]:
    latest: dict[tuple[str, str | None], CheckInfo] = {}
    for check in checks:
        key = (check.name, check.column)
        if key not in latest or (check.when or "") >= (latest[key].when or ""):
            latest[key] = check
    return list(latest.values())


def _freshness(record: dict[str, Any], fallback_when: str | None) -> FreshnessInfo | None:
    outcome = next((record[k] for k in _OUTCOME_KEYS if k in record), None)
    if outcome is None and "fresh" in record:
        outcome = record["fresh"]
    if outcome is None:
        return None
    age = next((record[k] for k in ("age", "lag", "age_hours", "hours", "staleness", "freshness") if k in record),
               None)
    if isinstance(age, (int, float)) and "age_hours" in record:
        age = f"{age:g} h"
    latest = _text(record.get("latest") or record.get("max_value") or record.get("latest_value")
                   or record.get("max_timestamp"))
    return FreshnessInfo(outcome=outcome_of(outcome), when=_when(record) or fallback_when,
                         age=_text(age), latest=latest,
                         message=_text(record.get("message") or record.get("error")))


def _load_builds(state_dir: Path, resolve: _Resolver, problems: list[str]) -> dict[str, BuildInfo]:
    """The newest build of each table: ``build_results.json``, then older runs under ``runs/``."""
    files: list[Path] = []
    latest = state_dir / BUILD_RESULTS
    if latest.is_file():
        files.append(latest)
    runs = state_dir / RUNS_DIR
    if runs.is_dir():
        files.extend(sorted((p for p in runs.glob("*.json") if "-build-" in p.name), reverse=True)[:MAX_RUN_FILES])
    found: dict[str, BuildInfo] = {}
    for path in files:
        data = _read_json(path, problems)
        if not isinstance(data, dict):
            continue
        models = data.get("models")
        if not isinstance(models, list):
            continue
        for model in models:
            if not isinstance(model, dict):
                continue
            table = resolve(model.get("table"))
            if table is None:
                continue
            when = _text(model.get("started_at")) or _text(data.get("started_at"))
            previous = found.get(table)
            if previous is not None and (previous.when or "") >= (when or ""):
                continue
            rows = model.get("rows_written")
            seconds = model.get("seconds")
            found[table] = BuildInfo(
                status=str(model.get("status") or UNKNOWN), when=when,
                rows=rows if isinstance(rows, int) and not isinstance(rows, bool) else None,
                seconds=float(seconds) if isinstance(seconds, (int, float)) else None,
                error=_text(model.get("error")), run_id=_text(data.get("run_id")), target=_text(data.get("target")))
        if resolve.known <= set(found):
            break
    return found
