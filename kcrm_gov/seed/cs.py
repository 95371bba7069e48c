"""Customer Success (the CS tool, via Fivetran): churn events and CSM notes.

The churn log is typed by hand: accounts are identified by the domain the CSM typed
(sometimes with ``www.`` or in capitals), ``lost_mrr`` is the CSM's estimate and events
are sometimes logged weeks after ``churned_at``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .common import (
    PERIOD_END,
    PERIOD_START,
    SYNC_END,
    US_PER_DAY,
    US_PER_HOUR,
    Shape,
    between,
    bools,
    choice,
    concat,
    fivetran_mess,
    money,
    num_str,
    pick,
    scaled,
    synced_after,
    ts,
)
from .world import FIRST, LAST, World

BASE_NOTES = 6_000
REASONS = ["price", "product_gap", "competitor", "no_adoption", "business_closed", "champion_left", "other"]
REASON_P = [22, 18, 20, 18, 8, 10, 4]
NOTES_LEAD_DAYS = 120  # negative notes start this long before a full churn: P(negative) = 0.7 there
NOTES_NEG_BASE, NOTES_NEG_RISK = 0.04, 0.16
COMPETITORS = ["HubSpot Sales Hub", "Pipedrive", "Salesforce Essentials", "Zoho CRM", "Close"]


def _events(w: World) -> dict[str, np.ndarray]:
    full = np.flatnonzero(w.acc_churn >= 0)
    acc = np.concatenate([full, w.partial_account])
    at = np.concatenate([w.acc_churn[full], w.partial_at])
    kind = np.concatenate([np.zeros(len(full), int), np.ones(len(w.partial_account), int)])
    lost_seats = np.concatenate([w.acc_seats[full], w.partial_seats])
    order = np.argsort(at, kind="stable")
    return dict(acc=acc[order], at=at[order], kind=kind[order], seats=lost_seats[order])


def churn_events(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    ev = _events(w)
    acc, at, kind = ev["acc"], ev["at"], ev["kind"]
    n = len(acc)
    price = w.acc_mrr[acc] / np.maximum(w.acc_seats[acc], 1)
    lost = np.where(kind == 0, w.acc_mrr[acc], ev["seats"] * price) * rng.uniform(0.9, 1.1, n)
    reason = rng.choice(len(REASONS), size=n, p=np.array(REASON_P) / sum(REASON_P))
    r = rng.random(n)
    domain = pick(w.acc_domain, acc)
    domain = pc.if_else(pa.array(r < 0.2), concat("www.", domain), domain)
    domain = pc.if_else(pa.array((r >= 0.2) & (r < 0.3)), pc.utf8_upper(domain), domain)
    recorded = np.minimum(at + rng.integers(-20, 45, n) * US_PER_DAY, PERIOD_END - US_PER_HOUR)
    updated = np.minimum(recorded + rng.integers(0, 10, n) * US_PER_DAY, PERIOD_END - US_PER_HOUR)
    person = concat(pick(FIRST, rng.integers(0, len(FIRST), n)), " ", pick(LAST, rng.integers(0, len(LAST), n)))
    detail = concat("Spoke with ", person, ": ", pick(["budget cut for next year", "moving to a cheaper tool",
                                                        "team never adopted the pipeline",
                                                        "company acquired", "our champion left"],
                                                       rng.integers(0, 5, n)))
    t = shape({
        "churn_event_id": concat("CE-", num_str(1 + np.arange(n), 5)),
        "company_domain": domain,
        "company_name": pick(w.acc_name, acc),
        "churned_at": ts(at),
        "churn_type": pick(["full", "partial"], kind),
        "churn_reason": pick(REASONS, reason),
        "competitor_name": choice(rng, COMPETITORS, n, mask=reason != 2),
        "reason_detail": pc.if_else(pa.array(rng.random(n) < 0.7), detail, pa.nulls(n, pa.string())),
        "lost_mrr": money(lost, mask=rng.random(n) < 0.03),
        "recorded_by": pick(w.own_email, w.acc_csm[acc]),
        "recorded_at": ts(recorded),
        "updated_at": ts(updated),
        "_fivetran_synced": ts(np.minimum(synced_after(rng, np.maximum(updated, recorded), 1, 30),
                                          SYNC_END - 3 * US_PER_HOUR)),
        "_fivetran_deleted": bools(np.zeros(n, dtype=bool)),
    })
    return fivetran_mess(rng, t, deleted=0.01, resync=0.03, updated="updated_at")


def cs_notes(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    n = scaled(BASE_NOTES, w.scale)
    cust = np.flatnonzero(w.acc_is_customer)
    acc = rng.choice(cust, size=n, p=np.log1p(w.acc_seats[cust]) / np.log1p(w.acc_seats[cust]).sum())
    lo = np.maximum(w.acc_start[acc], PERIOD_START)
    hi = np.minimum(w.account_end()[acc] + 20 * US_PER_DAY, PERIOD_END - US_PER_HOUR)
    created = between(rng, lo, hi)
    order = np.argsort(created, kind="stable")
    acc, created = acc[order], created[order]
    churn = w.acc_churn[acc]
    # notes turn negative in the NOTES_LEAD_DAYS before a full churn (a lead, not an echo)
    near_churn = (churn >= 0) & (created >= churn - NOTES_LEAD_DAYS * US_PER_DAY) & (created < churn + 20 * US_PER_DAY)
    ntype = np.where(near_churn & (rng.random(n) < 0.5), 5, rng.choice(7, size=n, p=[0.3, 0.2, 0.1, 0.2, 0.05,
                                                                                      0.05, 0.1]))
    # elsewhere P(negative) = 0.04 + 0.16 × risk, P(positive) falls as much
    risk = np.nan_to_num(w.acc_risk[acc], nan=0.3)
    p_neg = NOTES_NEG_BASE + NOTES_NEG_RISK * risk
    r = rng.random(n)
    routine = np.where(r < p_neg, 2, np.where(r < p_neg + 0.45, 1, 0))
    sentiment = np.where(near_churn, rng.choice(3, size=n, p=[0.05, 0.25, 0.7]), routine)
    ev = _events(w)
    # notes about a full churn link to its event when the CSM bothered (about half of the time)
    ev_of = np.full(w.n_accounts, -1)
    full = ev["kind"] == 0
    ev_of[ev["acc"][full]] = np.flatnonzero(full) + 1
    link = near_churn & (ev_of[acc] > 0) & (rng.random(n) < 0.5)
    person = concat(pick(FIRST, rng.integers(0, len(FIRST), n)), " ", pick(LAST, rng.integers(0, len(LAST), n)))
    body = concat("Call with ", person, " (", pick(w.acc_domain, acc), "). ",
                  pick(["Happy with the product, asked about forecasting.", "Raised pricing concerns.",
                        "Adoption is low in the sales team.", "Planning to add seats next quarter.",
                        "Evaluating competitors."], sentiment * 2 % 5 + rng.integers(0, 1, n)))
    updated = np.minimum(created + rng.integers(0, 5, n) * US_PER_DAY, PERIOD_END - US_PER_HOUR)
    t = shape({
        "note_id": concat("N-", num_str(1 + np.arange(n), 6)),
        "company_domain": pick(w.acc_domain, acc),
        "author_email": pick(w.own_email, w.acc_csm[acc]),
        "note_type": pick(["call", "meeting", "qbr", "email", "escalation", "risk", "internal"], ntype),
        "subject": concat(pick(["Check-in", "QBR", "Escalation", "Renewal", "Risk review"],
                               rng.integers(0, 5, n)), " with ", person),
        "body": body,
        "sentiment": pick(["positive", "neutral", "negative"], sentiment),
        "related_churn_event_id": pc.if_else(pa.array(link), concat("CE-", num_str(np.maximum(ev_of[acc], 0), 5)),
                                             pa.nulls(n, pa.string())),
        "created_at": ts(created),
        "updated_at": ts(updated),
        "_fivetran_synced": ts(synced_after(rng, updated, 1, 30)),
        "_fivetran_deleted": bools(np.zeros(n, dtype=bool)),
    })
    return fivetran_mess(rng, t, deleted=0.01, updated="updated_at")


TABLES = {"cs__churn_events": churn_events, "cs__cs_notes": cs_notes}
