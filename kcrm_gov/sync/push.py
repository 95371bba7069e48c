"""``kcrm-gov sync push``: send change sets through the official clients, batch by batch.

* HubSpot: ``hubspot-api-client``'s generic CRM objects batch API (``crm.objects.batch_api.upsert`` /
  ``archive``), so custom objects go the same way as companies or contacts. Base URL and private-app
  token from ``KCRM_GOV_HUBSPOT_BASE_URL`` (default https://api.hubapi.com) and ``KCRM_GOV_HUBSPOT_TOKEN``.
* Salesforce: ``simple-salesforce``'s Bulk API 2.0 upsert on the external id field (one ingest job a
  batch), instance URL and session id from ``KCRM_GOV_SALESFORCE_INSTANCE_URL`` and
  ``KCRM_GOV_SALESFORCE_SESSION_ID`` (a private CA: ``REQUESTS_CA_BUNDLE``).
* Gainsight: not pushed (export only).

Every request is retried on 429 (waiting ``Retry-After``, capped) and on 5xx or a dropped connection
(exponential backoff), a bounded number of times. After each batch, the records the destination
acknowledged are marked in the state and the batch is logged, in one transaction; failed records stay
pending and are reported by key. A push that stops (a crash, an exhausted retry) is resumed by running
it again: it re-plans against the state, so acknowledged records are not sent again and the rest are
cut into the same batches. Tokens and values never reach a message: errors name status codes and keys.
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .plan import (
    Batch,
    Change,
    DestinationPlan,
    SyncError,
    SyncState,
    check_supported,
    hubspot_operation,
    hubspot_upsert,
    salesforce_rows,
)


@dataclass(frozen=True)
class RetryPolicy:
    """How long a push insists: attempts per request, backoff for 5xx, the cap on a Retry-After wait."""

    attempts: int = 6
    backoff: float = 1.0  # first 5xx wait, doubled each time
    backoff_max: float = 30.0
    retry_after_max: float = 120.0
    poll: float = 2.0  # Salesforce job state polling interval


@dataclass
class BatchResult:
    """What one batch did."""

    table: str
    destination: str
    number: int
    batch_id: str
    records: int
    acknowledged: int
    failed_keys: list[str] = field(default_factory=list)


@dataclass
class PushRun:
    """A push: every batch sent, and what was skipped."""

    batches: list[BatchResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(len(b.failed_keys) for b in self.batches)

    def to_dict(self) -> dict[str, Any]:
        return {"batches": [b.__dict__ for b in self.batches], "skipped": self.skipped, "failed": self.failed}


class Transient(Exception):
    """A response worth retrying: 429 (with its Retry-After seconds) or 5xx / connection loss."""

    def __init__(self, status: int | None, retry_after: float | None = None) -> None:
        super().__init__(status)
        self.status, self.retry_after = status, retry_after


def with_retries(send: Callable[[], Any], policy: RetryPolicy, what: str,
                 sleep: Callable[[float], None] = time.sleep) -> Any:
    """Call ``send`` until it does not raise :class:`Transient`, at most ``policy.attempts`` times."""
    delay = policy.backoff
    for attempt in range(1, policy.attempts + 1):
        try:
            return send()
        except Transient as exc:
            if attempt == policy.attempts:
                raise SyncError(f"{what}: gave up after {attempt} attempts (last status "
                                f"{exc.status or 'connection lost'}); the batches acknowledged before are "
                                "recorded: run the push again to resume") from None
            if exc.retry_after is not None:
                wait = min(exc.retry_after, policy.retry_after_max)
            else:
                wait, delay = min(delay, policy.backoff_max), delay * 2
            sleep(wait)
    raise AssertionError("unreachable")


def _retry_after(headers: Any) -> float | None:
    value = None
    if headers is not None:
        value = next((v for k, v in dict(headers).items() if k.lower() == "retry-after"), None)
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:  # an HTTP date: wait one backoff instead of parsing it
        return None


# --- HubSpot -------------------------------------------------------------------------------------------
class HubSpotSender:
    """Batches to HubSpot through hubspot-api-client."""

    def __init__(self, policy: RetryPolicy, sleep: Callable[[float], None]) -> None:
        from hubspot import HubSpot

        self.policy, self.sleep = policy, sleep
        token = os.environ.get("KCRM_GOV_HUBSPOT_TOKEN")
        if not token:
            raise SyncError("KCRM_GOV_HUBSPOT_TOKEN is not set (a HubSpot private app token)")
        host = os.environ.get("KCRM_GOV_HUBSPOT_BASE_URL", "https://api.hubapi.com").rstrip("/")
        self.api = HubSpot(access_token=token, host=host).crm.objects.batch_api

    def send(self, batch: Batch) -> tuple[list[Change], list[str]]:
        """Send one batch: (acknowledged changes, failed keys)."""
        import urllib3
        from hubspot.crm.objects import (
            ApiException,
            BatchInputSimplePublicObjectBatchInput,
            BatchInputSimplePublicObjectBatchInputUpsert,
            BatchInputSimplePublicObjectId,
            SimplePublicObjectBatchInput,
            SimplePublicObjectBatchInputUpsert,
            SimplePublicObjectId,
        )

        d = batch.plan.destination

        def call() -> Any:
            try:
                if batch.kind == "archive":
                    ids = [SimplePublicObjectId(id=c.key) for c in batch.changes]
                    body = BatchInputSimplePublicObjectId(inputs=ids)
                    return self.api.archive(d.object, body)
                body = hubspot_upsert(batch)["inputs"]
                if hubspot_operation(d) == "update":  # matched by record id: batch/update
                    updates = [SimplePublicObjectBatchInput(id=i["id"], properties=i["properties"]) for i in body]
                    return self.api.update(d.object, BatchInputSimplePublicObjectBatchInput(inputs=updates))
                inputs = [SimplePublicObjectBatchInputUpsert(id_property=i["idProperty"], id=i["id"],
                                                             properties=i["properties"]) for i in body]
                return self.api.upsert(d.object, BatchInputSimplePublicObjectBatchInputUpsert(inputs=inputs))
            except ApiException as exc:
                status = int(exc.status or 0)
                if status == 429:
                    raise Transient(429, _retry_after(exc.headers)) from None
                if status >= 500:
                    raise Transient(status, _retry_after(exc.headers) if status == 503 else None) from None
                raise SyncError(f"HubSpot refused batch {batch.number} of {batch.plan.table} (HTTP {status})") \
                    from None
            except (urllib3.exceptions.HTTPError, OSError):
                raise Transient(None) from None

        response = with_retries(call, self.policy, f"HubSpot batch {batch.number} of {batch.plan.table}",
                                self.sleep)
        if batch.kind == "archive":  # 204: all or nothing
            return list(batch.changes), []
        # only the records HubSpot returned are acknowledged: a 207's errors and anything missing stay pending
        returned = set()
        for result in response.results or []:
            props = result.properties or {}
            returned.add(result.id if hubspot_operation(d) == "update" else props.get(d.match_key))
        acked = [c for c in batch.changes if c.key in returned]
        return acked, [c.key for c in batch.changes if c.key not in returned]



# --- Salesforce ----------------------------------------------------------------------------------------
class SalesforceSender:
    """Batches to Salesforce through simple-salesforce's Bulk API 2.0 (one ingest job a batch)."""

    def __init__(self, policy: RetryPolicy, sleep: Callable[[float], None]) -> None:
        from simple_salesforce import Salesforce

        self.policy, self.sleep = policy, sleep
        url = os.environ.get("KCRM_GOV_SALESFORCE_INSTANCE_URL")
        session_id = os.environ.get("KCRM_GOV_SALESFORCE_SESSION_ID")
        if not url or not session_id:
            raise SyncError("KCRM_GOV_SALESFORCE_INSTANCE_URL and KCRM_GOV_SALESFORCE_SESSION_ID must be set")
        self.sf = Salesforce(instance_url=url, session_id=session_id)

    def send(self, batch: Batch) -> tuple[list[Change], list[str]]:
        """Send one batch as a Bulk API 2.0 upsert job: (acknowledged changes, failed keys)."""
        import requests
        from simple_salesforce.exceptions import SalesforceError, SalesforceOperationError

        d = batch.plan.destination
        if batch.kind != "upsert":
            raise SyncError(f"{batch.plan.table}: only upserts are sent to Salesforce")
        bulk = getattr(self.sf.bulk2, d.object)

        def call() -> tuple[set[str], set[str]]:
            try:
                jobs = bulk.upsert(records=salesforce_rows(batch), external_id_field=d.match_key,
                                   wait=self.policy.poll)
                ok: set[str] = set()
                bad: set[str] = set()
                for job in jobs:
                    ok |= _keys(bulk.get_successful_records(job["job_id"]), d.match_key)
                    bad |= _keys(bulk.get_failed_records(job["job_id"]), d.match_key)
                return ok, bad
            except SalesforceError as exc:
                status = int(getattr(exc, "status", 0) or 0)
                if status == 429 or status >= 500:
                    raise Transient(status) from None
                raise SyncError(f"Salesforce refused batch {batch.number} of {batch.plan.table} (HTTP {status})") \
                    from None
            except SalesforceOperationError:  # a failed or aborted job: its message may quote the data
                raise SyncError(f"Salesforce job of batch {batch.number} of {batch.plan.table} failed") from None
            except requests.RequestException:
                raise Transient(None) from None

        ok, _bad = with_retries(call, self.policy, f"Salesforce batch {batch.number} of {batch.plan.table}",
                                self.sleep)
        acked = [c for c in batch.changes if c.key in ok]
        return acked, [c.key for c in batch.changes if c.key not in ok]



def _keys(text: str, column: str) -> set[str]:
    """The match keys of a Bulk API 2.0 result CSV (successfulResults / failedResults)."""
    return {row[column] for row in csv.DictReader(text.splitlines()) if row.get(column)}


# --- the push ------------------------------------------------------------------------------------------
SENDERS: dict[str, Callable[[RetryPolicy, Callable[[float], None]], Any]] = {
    "hubspot": HubSpotSender, "salesforce": SalesforceSender}


def skip_note(p: DestinationPlan) -> str:
    """Why push leaves a table's changes alone (a destination it cannot send to)."""
    return f"{p.table}: push to {p.destination.system} is not implemented; use `kcrm-gov sync export`"


def dry_run(plans: Sequence[DestinationPlan]) -> dict[str, Any]:
    """What :func:`push` would send, without credentials, a connection, a state table or a lineage event.

    Per destination: the plan (counts, fields changed most, keys) and the batches push would cut, in the
    order it would send them, with the ids the progress log would record; the tables push would skip
    (export-only destinations with changes) under ``skipped``. Refuses what push refuses (an
    unsupported onDelete), so a clean dry run means push can start."""
    for p in plans:
        check_supported(p)
    out: dict[str, Any] = {"dryRun": True, "destinations": [], "skipped": []}
    for p in plans:
        entry = p.to_dict()
        skipped = bool(p.changes) and p.destination.system not in SENDERS
        entry["skipped"] = skipped
        d = p.destination
        entry["batches"] = [] if skipped else [  # kind as sent: a HubSpot upsert by record id is a batch/update
            {"number": b.number, "records": len(b.changes), "batchId": b.batch_id,
             "kind": hubspot_operation(d) if d.system == "hubspot" and b.kind == "upsert" else b.kind}
            for b in p.batches()]
        if skipped:
            out["skipped"].append(skip_note(p))
        out["destinations"].append(entry)
    return out


def push(plans: Sequence[DestinationPlan], state: SyncState, *, policy: RetryPolicy | None = None,
         sleep: Callable[[float], None] = time.sleep,
         after_batch: Callable[[BatchResult], None] | None = None,
         after_table: Callable[[str, int, str | None], None] | None = None) -> PushRun:
    """Send every plan's batches in order; mark the state after each acknowledged batch.

    ``after_batch`` is called once a batch's state is committed (progress displays; tests raise there
    to simulate a crash between batches). ``after_table(table, records acknowledged, error or None)`` is
    called once a table's push ended, also when it gave up (the sync's lineage run)."""
    run = PushRun()
    senders: dict[str, Any] = {}
    for p in plans:
        check_supported(p)
    todo = [p for p in plans if p.changes]
    if todo:
        state.ensure()
    for p in todo:
        system = p.destination.system
        if system not in SENDERS:
            run.skipped.append(skip_note(p))
            continue
        if system not in senders:
            senders[system] = SENDERS[system](policy or RetryPolicy(), sleep)
        acknowledged, failures = 0, 0
        try:
            for batch in p.batches():
                started = datetime.now(UTC)
                acked, failed = senders[system].send(batch)
                state.acknowledge(batch, acked, len(failed), started)
                result = BatchResult(table=p.table, destination=p.label, number=batch.number,
                                     batch_id=batch.batch_id, records=len(batch.changes), acknowledged=len(acked),
                                     failed_keys=sorted(failed))
                run.batches.append(result)
                acknowledged, failures = acknowledged + len(acked), failures + len(failed)
                if after_batch is not None:
                    after_batch(result)
        except SyncError as exc:
            if after_table is not None:
                after_table(p.table, acknowledged, exc.message)
            raise
        if after_table is not None:
            after_table(p.table, acknowledged, f"{failures} records failed" if failures else None)
    return run
