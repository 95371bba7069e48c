"""Change sets for reverse ETL: what each retl table must send to its destination since the last sync.

A retl table's rows are compared with the **sync state** kept in the warehouse (schema/dataset
``<prefix>sync``, outside the six layers, created on the first push; see docs/sync.md):

* ``sync_state``: one row per destination record last acknowledged, keyed by (system, instance, object,
  match_key, key_value), with the ``row_hash`` acknowledged, the JSON of the written field values last
  sent (``sent_fields``, the destination's wire form) and when and in which batch it was acknowledged;
* ``sync_batches``: one row per batch a push finished (acknowledged, partial or failed): the progress log.

A key in the table but not in the state is an **insert**, a different ``row_hash`` an **update**, a key
in the state but no longer in the table a **delete**, which ``destination.onDelete`` turns into a
``clear`` (the written fields sent empty), an ``archive``, or nothing (``keep``: the state row stays, so
the record is not sent again unless it changes). The changed fields of an update are found by comparing
the wire values with ``sent_fields``; the plan reports keys, counts and field names, never values.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import KcrmGovError

if TYPE_CHECKING:
    from ..contracts import Contract
    from ..engines import Engine
    from ..project import Project
    from ..retl.destination import Destination

STATE_LAYER = "sync"
"""The logical name of the state's schema/dataset: ``target.dataset('sync')`` (``sync`` locally, ``kcrm_sync``
with the prod target's ``dataset_prefix: kcrm_``)."""
STATE_TABLE = "sync_state"
BATCH_TABLE = "sync_batches"
BATCH_SIZE = {"hubspot": 100, "salesforce": 10_000, "gainsight": 50}
"""Records a batch: HubSpot CRM v3 batch upsert takes 100 inputs; a Salesforce Bulk API 2.0 job takes up to
150 MB of CSV (we also cut at :data:`SALESFORCE_MAX_BYTES`); the Gainsight Company API 50 records a call."""
SALESFORCE_MAX_BYTES = 90 * 1024 * 1024
SALESFORCE_NULL = "#N/A"
"""Bulk API CSV: an empty cell leaves a field unchanged; ``#N/A`` sets it to null."""
OPS = ("insert", "update", "delete", "archive")


class SyncError(KcrmGovError):
    """A sync cannot be planned or sent (no row_hash, an unsupported delete, a destination error)."""

    exit_code = 1


@dataclass(frozen=True)
class Change:
    """One record to send: ``op`` insert | update | delete (a clear) | archive."""

    op: str
    key: str
    row_hash: str | None  # None for deletes and archives: the state row goes
    values: dict[str, str | None]  # destination field -> wire value (None: empty); {} for an archive
    changed: tuple[str, ...] = ()  # fields whose wire value differs from the last sent


@dataclass
class DestinationPlan:
    """The change set of one retl table."""

    table: str
    destination: Destination
    changes: list[Change] = field(default_factory=list)
    unchanged: int = 0
    kept: int = 0  # deletes that onDelete: keep leaves alone

    @property
    def label(self) -> str:
        """``system://instance/object``: the destination as the plan names it."""
        d = self.destination
        return f"{d.namespace}/{d.object}"

    def counts(self) -> dict[str, int]:
        """Changes by operation (plus unchanged and kept)."""
        c = Counter(ch.op for ch in self.changes)
        return {**{op: c.get(op, 0) for op in OPS}, "unchanged": self.unchanged, "kept": self.kept}

    def top_fields(self, n: int = 5) -> list[tuple[str, int]]:
        """The fields that changed in the most records (inserts and clears count every field they send)."""
        c = Counter(f for ch in self.changes for f in ch.changed)
        return sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[:n]

    def batches(self) -> list[Batch]:
        """The changes cut into batches in a stable order (upserts by key, then archives by key).

        The order only depends on the change set, so a push resumed after a crash, which re-plans
        against the state the acknowledged batches already updated, cuts the remaining records into
        the same batches the crashed run would have sent next."""
        system = self.destination.system
        size = BATCH_SIZE[system]
        upserts = sorted((c for c in self.changes if c.op != "archive"), key=lambda c: c.key)
        archives = sorted((c for c in self.changes if c.op == "archive"), key=lambda c: c.key)
        out: list[Batch] = []
        for kind, items in (("upsert", upserts), ("archive", archives)):
            chunks = _salesforce_chunks(self, items) if system == "salesforce" else \
                [items[i:i + size] for i in range(0, len(items), size)]
            for chunk in chunks:
                out.append(Batch(plan=self, kind=kind, number=len(out) + 1, changes=tuple(chunk)))
        return out

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON: counts, changed fields and keys (never values)."""
        return {"table": self.table, "destination": self.label, "matchKey": self.destination.match_key,
                "onDelete": self.destination.on_delete, "counts": self.counts(),
                "topFields": [{"field": f, "records": n} for f, n in self.top_fields()],
                "keys": {op: sorted(c.key for c in self.changes if c.op == op) for op in OPS}}


@dataclass(frozen=True)
class Batch:
    """One request's worth of changes to one destination."""

    plan: DestinationPlan
    kind: str  # upsert | archive
    number: int
    changes: tuple[Change, ...]

    @property
    def batch_id(self) -> str:
        """A content id: destination, kind and every (op, key, row_hash) it carries. The same records
        give the same id, so the progress log shows a batch sent again after a crash as the same batch."""
        d = self.plan.destination
        text = "\n".join([d.namespace, d.object, d.match_key, self.kind,
                          *(f"{c.op}\t{c.key}\t{c.row_hash or ''}" for c in self.changes)])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _salesforce_chunks(plan: DestinationPlan, items: list[Change]) -> Iterator[list[Change]]:
    """Bulk API 2.0 jobs of at most BATCH_SIZE records and SALESFORCE_MAX_BYTES of CSV."""
    size, used = BATCH_SIZE["salesforce"], 0
    chunk: list[Change] = []
    header = len(",".join(salesforce_header(plan.destination)).encode()) + 1
    for change in items:
        row = len(",".join(v or SALESFORCE_NULL for v in change.values.values()).encode()) * 2 + 64  # quoting bound
        if chunk and (len(chunk) >= size or header + used + row > SALESFORCE_MAX_BYTES):
            yield chunk
            chunk, used = [], 0
        chunk.append(change)
        used += row
    if chunk:
        yield chunk


# --- wire values ---------------------------------------------------------------------------------------
def wire(value: Any) -> str | None:
    """A warehouse value as the text a destination receives (HubSpot properties and Salesforce CSV
    cells are text): numbers without exponent, dates ISO, booleans ``true``/``false``, lists joined
    with ``;`` (HubSpot multi-select). None stays None: the sender decides how it says empty."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return text
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ";".join(v for v in (wire(x) for x in value) if v is not None)
    return str(value)


# --- state ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StateRow:
    """What the destination last acknowledged for one record."""

    row_hash: str
    sent: dict[str, str | None]


class SyncState:
    """The sync state tables, through the engine (DuckDB; BigQuery runs the same statements)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def relation(self, table: str) -> str:
        """The qualified name of a state table."""
        return self.engine.relation(STATE_LAYER, table)

    def exists(self) -> bool:
        """Whether a push ever created the state (a plan before the first push sees it empty)."""
        return self.engine.table_exists(STATE_LAYER, STATE_TABLE)

    def ensure(self) -> None:
        """Create the schema/dataset and both tables unless they exist."""
        ensure = getattr(self.engine, "ensure_schema", None) or getattr(self.engine, "ensure_dataset")  # noqa: B009
        ensure(STATE_LAYER)
        ts = "TIMESTAMPTZ" if self.engine.kind == "duckdb" else "TIMESTAMP"
        num = "BIGINT" if self.engine.kind == "duckdb" else "INT64"
        self.engine.execute(
            f"CREATE TABLE IF NOT EXISTS {self.relation(STATE_TABLE)} (system STRING NOT NULL, instance STRING "
            "NOT NULL, object STRING NOT NULL, match_key STRING NOT NULL, key_value STRING NOT NULL, row_hash "
            f"STRING NOT NULL, sent_fields STRING NOT NULL, batch_id STRING NOT NULL, acknowledged_at {ts} NOT NULL)")
        self.engine.execute(
            f"CREATE TABLE IF NOT EXISTS {self.relation(BATCH_TABLE)} (batch_id STRING NOT NULL, system STRING "
            "NOT NULL, instance STRING NOT NULL, object STRING NOT NULL, kind STRING NOT NULL, records "
            f"{num} NOT NULL, acknowledged {num} NOT NULL, failed {num} NOT NULL, status STRING NOT NULL, "
            f"started_at {ts} NOT NULL, finished_at {ts} NOT NULL)")

    def load(self, d: Destination) -> dict[str, StateRow]:
        """The acknowledged records of destination ``d`` by key value."""
        if not self.exists():
            return {}
        from ..ddl import sql_string

        rows = self.engine.query_arrow(
            f"SELECT key_value, row_hash, sent_fields FROM {self.relation(STATE_TABLE)} WHERE "
            f"system = {sql_string(d.system)} AND instance = {sql_string(d.instance)} AND "
            f"object = {sql_string(d.object)} AND match_key = {sql_string(d.match_key)}").to_pylist()
        return {r["key_value"]: StateRow(r["row_hash"], json.loads(r["sent_fields"])) for r in rows}

    def acknowledge(self, batch: Batch, acked: Sequence[Change], failed: int, started: datetime) -> None:
        """Mark ``acked`` (the records the destination acknowledged) and log the batch, in one transaction."""
        d, now = batch.plan.destination, datetime.now(UTC)
        where = "system = ? AND instance = ? AND object = ? AND match_key = ?"
        ident = [d.system, d.instance, d.object, d.match_key]
        with self.engine.transaction():
            for start in range(0, len(acked), 500):
                part = acked[start:start + 500]
                self.engine.execute(f"DELETE FROM {self.relation(STATE_TABLE)} WHERE {where} AND key_value IN "
                                    f"({', '.join('?' for _ in part)})", [*ident, *(c.key for c in part)])
                kept = [c for c in part if c.row_hash is not None]
                if kept:
                    row = "(?, ?, ?, ?, ?, ?, ?, ?, CAST(? AS TIMESTAMP))"
                    params: list[Any] = []
                    for c in kept:
                        params += [*ident, c.key, c.row_hash, json.dumps(c.values, sort_keys=True), batch.batch_id,
                                   now.isoformat()]
                    self.engine.execute(f"INSERT INTO {self.relation(STATE_TABLE)} VALUES "
                                        f"{', '.join(row for _ in kept)}", params)
            status = "acknowledged" if not failed else ("partial" if acked else "failed")
            self.engine.execute(
                f"INSERT INTO {self.relation(BATCH_TABLE)} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
                "CAST(? AS TIMESTAMP), CAST(? AS TIMESTAMP))",
                [batch.batch_id, d.system, d.instance, d.object, batch.kind, len(batch.changes), len(acked), failed,
                 status, started.isoformat(), now.isoformat()])


# --- planning ------------------------------------------------------------------------------------------
def retl_contracts(project: Project, tables: Sequence[str] | None = None) -> list[Contract]:
    """The selected contracts that declare a destination (every one when ``tables`` is None)."""
    chosen = [c for c in project.ordered() if c.destination is not None]
    if tables is not None:
        wanted = set(tables)
        chosen = [c for c in chosen if c.qualified_name in wanted]
    return chosen


def plan_table(contract: Contract, engine: Engine, state: SyncState) -> DestinationPlan:
    """Compare one retl table with the state of its destination."""
    from ..ddl import quote

    d = contract.destination
    assert d is not None
    names = {c.name for c in contract.columns}
    if "row_hash" not in names:
        raise SyncError(f"{contract.qualified_name} has no row_hash column: a sync compares row hashes")
    missing = [c for c in d.columns if c not in names]
    if missing:
        raise SyncError(f"{contract.qualified_name}: the destination maps columns the table lacks: "
                        f"{', '.join(missing)}")
    if not engine.table_exists(contract.layer, contract.table):
        raise SyncError(f"{contract.qualified_name} is not built: run `kcrm-gov build --select "
                        f"{contract.qualified_name}` first")
    written = d.written
    cols = [d.key_column, "row_hash", *(m.column for m in written)]
    rows = engine.query_arrow(f"SELECT {', '.join(quote(c) for c in cols)} FROM "
                              f"{engine.relation(contract.layer, contract.table)}").to_pylist()
    last = state.load(d)
    plan = DestinationPlan(table=contract.qualified_name, destination=d)
    seen: set[str] = set()
    for row in rows:
        key = wire(row[d.key_column])
        if key is None:
            raise SyncError(f"{contract.qualified_name}: a row has no {d.key_column} (the match key)")
        seen.add(key)
        values = {m.field: wire(row[m.column]) for m in written}
        before = last.get(key)
        if before is None:
            plan.changes.append(Change("insert", key, row["row_hash"], values, tuple(values)))
        elif before.row_hash != row["row_hash"]:
            changed = tuple(f for f, v in values.items() if before.sent.get(f, None) != v or f not in before.sent)
            plan.changes.append(Change("update", key, row["row_hash"], values, changed))
        else:
            plan.unchanged += 1
    for key in sorted(set(last) - seen):
        if d.on_delete == "keep":
            plan.kept += 1
        elif d.on_delete == "archive":
            plan.changes.append(Change("archive", key, None, {}, ()))
        else:
            cleared: dict[str, str | None] = {m.field: None for m in written}
            changed = tuple(f for f in cleared if last[key].sent.get(f) is not None)
            plan.changes.append(Change("delete", key, None, cleared, changed))
    return plan


def plan(project: Project, engine: Engine, tables: Sequence[str] | None = None) -> list[DestinationPlan]:
    """The change set of every selected retl table with a destination."""
    state = SyncState(engine)
    return [plan_table(c, engine, state) for c in retl_contracts(project, tables)]


# --- payloads (one escaping function per format: the json and csv modules) ---------------------------
RECORD_ID = "hs_object_id"
"""HubSpot's own record id: a record matched by it already exists, so it is updated, never upserted."""


def hubspot_operation(d: Destination) -> str:
    """The HubSpot batch endpoint a change set goes to: ``update`` when the match key is the record id
    (``hs_object_id``: batch upsert takes only a unique property of the portal's own, and a company
    the warehouse knows by its id exists already), else ``upsert`` on the unique property."""
    return "update" if d.match_key == RECORD_ID else "upsert"


def hubspot_upsert(batch: Batch) -> dict[str, Any]:
    """HubSpot CRM v3 ``POST /crm/v3/objects/{objectType}/batch/upsert`` body, or ``batch/update`` when the
    match key is the record id (see :func:`hubspot_operation`). An empty value is sent as ``""`` (HubSpot
    clears a property set to the empty string)."""
    d = batch.plan.destination
    by_id = hubspot_operation(d) == "update"
    return {"inputs": [{**({} if by_id else {"idProperty": d.match_key}), "id": c.key,
                        "properties": {f: "" if v is None else v for f, v in c.values.items()}}
                       for c in batch.changes]}


def hubspot_archive(batch: Batch) -> dict[str, Any]:
    """HubSpot ``POST /crm/v3/objects/{objectType}/batch/archive`` body (ids are record ids: the match key
    must be ``hs_object_id``, checked by :func:`check_supported`)."""
    return {"inputs": [{"id": c.key} for c in batch.changes]}


def salesforce_header(d: Destination) -> list[str]:
    """The Bulk API 2.0 CSV header: the external id field, then the written fields' API names."""
    return [d.match_key, *(m.field for m in d.written)]


def salesforce_rows(batch: Batch) -> list[dict[str, str]]:
    """The records of a Bulk API 2.0 upsert job (a null is ``#N/A``: an empty cell would change nothing)."""
    d = batch.plan.destination
    return [{d.match_key: c.key, **{f: SALESFORCE_NULL if v is None else v for f, v in c.values.items()}}
            for c in batch.changes]


def salesforce_csv(batch: Batch) -> str:
    """The job's CSV text, written by the csv module (LF line endings, as the job declares)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=salesforce_header(batch.plan.destination), lineterminator="\n")
    writer.writeheader()
    writer.writerows(salesforce_rows(batch))
    return out.getvalue()


def gainsight_upsert(batch: Batch) -> dict[str, Any]:
    """Gainsight Company upsert (``PUT /v1/data/objects/Company?keys=<matchKey>``) body: ``records`` of field
    name to value, the match key among them; an empty value is null."""
    d = batch.plan.destination
    return {"object": d.object, "keys": [d.match_key],
            "records": [{d.match_key: c.key, **c.values} for c in batch.changes]}


def check_supported(p: DestinationPlan) -> None:
    """Refuse a change set a destination cannot take: an archive needs a record-id match key on HubSpot
    and is not implemented for Salesforce or Gainsight (use onDelete: clear)."""
    d = p.destination
    if not any(c.op == "archive" for c in p.changes):
        return
    if d.system != "hubspot":
        raise SyncError(f"{p.table}: onDelete: archive is not supported for {d.system}; use clear or keep")
    if d.match_key != RECORD_ID:
        raise SyncError(f"{p.table}: onDelete: archive on HubSpot archives by record id: the match key must "
                        "be hs_object_id")


def export(plans: Sequence[DestinationPlan], out: Path, dry_run: bool = False) -> list[Path]:
    """Write every change set as files under ``out/<system>.<instance>.<object>/``, one file a batch:
    ``NNNN-upsert.json`` (HubSpot, Gainsight), ``NNNN-upsert.csv`` (Salesforce), ``NNNN-archive.json``.
    Exporting changes no state: only an acknowledged push does. ``dry_run`` returns the paths it would
    write and touches no file (nor the folder's previous export)."""
    written: list[Path] = []
    for p in plans:
        check_supported(p)
        d = p.destination
        folder = out / f"{d.system}.{d.instance}.{d.object}"
        if not dry_run:
            folder.mkdir(parents=True, exist_ok=True)
            for stale in folder.glob("[0-9][0-9][0-9][0-9]-*"):  # a previous export's batches are not this plan's
                stale.unlink()
        for batch in p.batches():
            kind = hubspot_operation(d) if d.system == "hubspot" and batch.kind == "upsert" else batch.kind
            stem = f"{batch.number:04d}-{kind}"
            path = folder / f"{stem}.{'csv' if d.system == 'salesforce' else 'json'}"
            written.append(path)
            if dry_run:  # the path only
                continue
            if d.system == "salesforce":
                path.write_text(salesforce_csv(batch), encoding="utf-8", newline="")
            else:
                body = (hubspot_archive(batch) if batch.kind == "archive" else hubspot_upsert(batch)) \
                    if d.system == "hubspot" else gainsight_upsert(batch)
                path.write_text(json.dumps(body, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return written
