"""Zendesk Support (Fivetran Zendesk connector): organizations, users, tickets, CSAT, NPS.

Organizations are typed by support agents: the name does not always equal the HubSpot
name, their domains are rows of ``domain_name`` (matched to HubSpot by domain), and
``external_id`` holds the HubSpot company id only where the integration ran. A few
customers were created twice (two organizations, one domain).

The child tables are landed the way the connector lands them, one row per record (soft-delete
mode, no re-synced copies):

* ``domain_name``: an organization's domains by ``index`` (0 = the one typed first): about 85 %
  of organizations have one, 10 % two (the ``.io`` variant second), 4 % none; 1.5 % also keep a
  removed domain as a soft-deleted row after their live ones.
* ``ticket_tag``: one or two tags per ticket (cancellation tickets: ``churn_risk`` and ``billing``);
  1 % of tickets also keep a removed ``how_to`` tag as a soft-deleted row.
* ``ticket_field_history``: each ticket's ``status`` path (new, open, pending or hold, solved,
  closed or deleted), and ``group_id``, ``priority`` and ``assignee_id`` when set, between
  ``created_at`` and ``updated_at``; the last status change is the ticket's status.
* ``group``: the four support groups (Tier 1, Tier 2, Billing, Onboarding).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .common import (
    PERIOD_END,
    PERIOD_START,
    US_PER_DAY,
    US_PER_HOUR,
    Shape,
    between,
    bools,
    choice,
    concat,
    fivetran_mess,
    ints,
    messy_emails,
    num_str,
    pick,
    scaled,
    sync_delays,
    synced_after,
    synced_at,
    table_rng,
    ts,
    unique_ids,
)
from .world import COUNTRIES, FIRST, LAST, World

BASE_TICKETS = 20_000
BASE_NPS = 2_500
GROUPS = np.array([360001, 360002, 360003, 360004])  # Tier 1, Tier 2, Billing, Onboarding
GROUP_NAMES = ["Tier 1", "Tier 2", "Billing", "Onboarding"]
GROUP_DESCRIPTIONS = ["First line: every new ticket lands here", "Escalations from Tier 1 (bugs, data issues)",
                      "Invoices, payments, seats and cancellations", "New customers in their first 90 days"]
STATUSES = ["new", "open", "pending", "hold", "solved", "closed", "deleted"]
PRIORITIES = ["low", "normal", "high", "urgent"]
CHANNELS = ["email", "web", "chat", "api", "voice"]
N_AGENTS = 30
SUBJECTS = ["Cannot log in", "Import of contacts failed", "Question about my invoice", "How do I set up sequences?",
            "Email sync not working", "Add more seats", "Report shows wrong numbers", "Integration with Gmail",
            "Cancel my subscription", "Feature request: custom fields", "Password reset", "Slow pipeline view"]
TAGS = ["billing", "login", "import", "integration", "bug", "how_to", "churn_risk", "enterprise", "onboarding",
        "feature_request"]
CANCEL_SUBJECT = SUBJECTS.index("Cancel my subscription")
ROUTINE_SUBJECTS = [i for i in range(len(SUBJECTS)) if i != CANCEL_SUBJECT]
CHURN_TAG = TAGS.index("churn_risk")
ROUTINE_TAGS = [i for i in range(len(TAGS)) if i != CHURN_TAG]
# the true effects (see the package docstring)
TICKET_RISK = 1.2  # ticket rate × (0.6 + 1.2 × risk)
CANCEL_TICKET_SHARE = 0.7  # of full churners, the share who file a cancellation ticket before they go
CSAT_BAD_BASE, CSAT_BAD_RISK = 0.08, 0.45
NPS_RISK = 3.0  # points off every NPS answer at risk 1


def _world_ids(w: World) -> dict[str, Any]:
    """Zendesk ids shared by several tables, drawn once per world."""
    if "_zendesk" in w.arrays:
        return w.arrays["_zendesk"]
    rng = table_rng(w.seed, "zendesk-ids")
    cust = np.flatnonzero((w.acc_is_customer | w.acc_is_test) & (rng.random(w.n_accounts) < 0.92))
    org_of = np.full(w.n_accounts, -1, dtype=np.int64)
    org_ids = unique_ids(rng, len(cust) + len(cust) // 50 + 1, 360_000_000_000, 369_000_000_000)
    org_of[cust] = org_ids[: len(cust)]
    dup = rng.choice(cust, size=len(cust) // 50, replace=False)  # created twice
    # end users: contacts at accounts with an organization, plus requesters without one
    con_org = np.where(w.con_account >= 0, org_of[np.maximum(w.con_account, 0)], -1)
    end_user = np.flatnonzero(((con_org >= 0) & (rng.random(w.n_contacts) < 0.6))
                              | ((w.con_account < 0) & (rng.random(w.n_contacts) < 0.3)))
    n_users = N_AGENTS + 3 + len(end_user)
    user_ids = unique_ids(rng, n_users, 370_000_000_000, 399_000_000_000)
    out = dict(org_acc=cust, org_id=org_ids[: len(cust)], dup_acc=dup, dup_id=org_ids[len(cust):len(cust) + len(dup)],
               org_of=org_of, end_user=end_user, user_ids=user_ids, agent_ids=user_ids[:N_AGENTS],
               end_ids=user_ids[N_AGENTS + 3:], con_user=np.full(w.n_contacts, -1, dtype=np.int64))
    out["con_user"][end_user] = out["end_ids"]
    w.arrays["_zendesk"] = out
    return out


def _org_accounts(w: World) -> tuple[np.ndarray, np.ndarray]:
    """Each organization row's account and Zendesk id: the main organizations, then the duplicates."""
    z = _world_ids(w)
    return np.concatenate([z["org_acc"], z["dup_acc"]]), np.concatenate([z["org_id"], z["dup_id"]])


def _org_domains(w: World) -> dict[str, Any]:
    """The rows of ``domain_name``: each organization's domains by index, and removed ones."""
    if "_zendesk_domains" in w.arrays:
        return w.arrays["_zendesk_domains"]
    rng = table_rng(w.seed, "zendesk-domains")
    acc, ids = _org_accounts(w)
    n = len(acc)
    r = rng.random(n)
    count = np.where(r < 0.04, 0, np.where(r < 0.14, 2, 1))  # 4 % none, 10 % two (the .io variant second)
    removed = (count > 0) & (rng.random(n) < 0.015)  # a domain the agent removed: a soft-deleted row
    per_org = count + removed
    org = np.repeat(np.arange(n), per_org)
    index = np.arange(len(org)) - np.repeat(np.cumsum(per_org) - per_org, per_org)
    deleted = index >= count[org]
    main = pick(w.acc_domain, acc[org])
    stem = pc.replace_substring_regex(main, r"\.[a-z.]+$", "")
    domain = pc.if_else(pa.array(deleted), concat(stem, "-old.net"),
                        pc.if_else(pa.array(index == 1), concat(stem, ".io"), main))
    out = dict(org=org, org_id=ids[org], index=index, deleted=deleted, domain=domain)
    w.arrays["_zendesk_domains"] = out
    return out


def _ticket_detail(w: World) -> dict[str, Any]:
    """Per ticket: tags, priority and channel, shared by ``ticket``, ``ticket_tag`` and the field history."""
    if "_zendesk_ticket_detail" in w.arrays:
        return w.arrays["_zendesk_ticket_detail"]
    tk = _tickets(w)
    n = len(tk["req"])
    rng = table_rng(w.seed, "zendesk-ticket-detail")
    # "Cancel my subscription" and the churn_risk tag belong to cancellation tickets only
    tag_a, tag_b = rng.choice(ROUTINE_TAGS, size=n), rng.choice(ROUTINE_TAGS, size=n)
    tag_a = np.where(tk["cancel"], CHURN_TAG, tag_a)
    tag_b = np.where(tk["cancel"], TAGS.index("billing"), tag_b)
    how_to = TAGS.index("how_to")
    removed_tag = (rng.random(n) < 0.01) & (tag_a != how_to) & (tag_b != how_to)
    priority = np.where(rng.random(n) < 0.15, -1, rng.choice(4, size=n, p=[0.2, 0.55, 0.2, 0.05]))
    channel = rng.choice(len(CHANNELS), size=n, p=[0.45, 0.3, 0.18, 0.04, 0.03])
    out = dict(tag_a=tag_a, tag_b=tag_b, removed_tag=removed_tag, priority=priority, channel=channel)
    w.arrays["_zendesk_ticket_detail"] = out
    return out


def organizations(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    z = _world_ids(w)
    acc, ids = _org_accounts(w)
    n, n_main = len(acc), len(z["org_acc"])
    dup = np.arange(n) >= n_main
    legal = pick([c["legal"] for c in COUNTRIES], w.acc_country[acc])
    r = rng.random(n)
    name = pick(w.acc_name, acc)
    name = pc.if_else(pa.array(r < 0.25), concat(name, " ", legal), name)
    name = pc.if_else(pa.array(dup), concat(pick(w.acc_name, acc), " (old)"), name)
    created = np.clip(np.maximum(w.acc_start[acc], PERIOD_START - 400 * US_PER_DAY) + rng.integers(0, 30, n)
                      * US_PER_DAY, PERIOD_START - 500 * US_PER_DAY, PERIOD_END - 2 * US_PER_DAY)
    updated = np.minimum(created + rng.integers(1, 500, n) * US_PER_DAY, PERIOD_END - US_PER_HOUR)
    t = shape({
        "id": ints(ids),
        "name": name,
        "external_id": pc.if_else(pa.array(rng.random(n) < 0.6), pc.cast(ints(w.acc_id[acc]), pa.string()),
                                  pa.nulls(n, pa.string())),
        "group_id": ints(GROUPS[rng.integers(0, 4, n)]),
        "shared_tickets": bools(rng.random(n) < 0.3),
        "details": pc.if_else(pa.array(rng.random(n) < 0.2),
                              concat("Escalate to ", pick(FIRST, rng.integers(0, len(FIRST), n)), " ",
                                     pick(LAST, rng.integers(0, len(LAST), n))), pa.nulls(n, pa.string())),
        "notes": pc.if_else(pa.array(rng.random(n) < 0.1), "VIP - handle with care", pa.nulls(n, pa.string())),
        "created_at": ts(created),
        "updated_at": ts(updated),
        "_fivetran_synced": ts(synced_after(rng, updated, 0.1, 2)),
        "_fivetran_deleted": bools(np.zeros(n, dtype=bool)),
    })
    return fivetran_mess(rng, t, deleted=0.005, updated="updated_at")


def users(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    z = _world_ids(w)
    eu = z["end_user"]
    n_staff = N_AGENTS + 3
    n = n_staff + len(eu)
    staff_first = rng.integers(0, len(FIRST), n_staff)
    staff_last = rng.integers(0, len(LAST), n_staff)
    staff_name = concat(pick(FIRST, staff_first), " ", pick(LAST, staff_last))
    staff_email = concat(pc.utf8_lower(pick(FIRST, staff_first)), ".", pc.utf8_lower(pick(LAST, staff_last)),
                         num_str(np.arange(n_staff)), "@kcrm.io")
    full_name = concat(pick(w.con_first, eu), " ", pick(w.con_last, eu))
    email = pick(w.con_email, eu)
    local_part = pc.extract_regex(email, r"^(?P<local>[^@]+)@").field("local")
    name = pc.if_else(pa.array(rng.random(len(eu)) < 0.3), local_part, full_name)  # auto-created from email
    gdpr = rng.random(len(eu)) < 0.003
    name = pc.if_else(pa.array(gdpr), "Permanently deleted user", name)
    email = pc.if_else(pa.array(gdpr), pa.nulls(len(eu), pa.string()), messy_emails(rng, email, 0.02, 0.0))
    acc = w.con_account[eu]
    country = np.where(acc >= 0, w.acc_country[np.maximum(acc, 0)], 0)
    created_eu = np.clip(w.con_created[eu] + rng.integers(0, 200, len(eu)) * US_PER_DAY,
                         PERIOD_START - 300 * US_PER_DAY, PERIOD_END - 3 * US_PER_DAY)
    created = np.concatenate([PERIOD_START - rng.integers(30, 900, n_staff) * US_PER_DAY, created_eu])
    updated = np.minimum(created + rng.integers(1, 400, n) * US_PER_DAY, PERIOD_END - US_PER_HOUR)
    org = np.concatenate([np.full(n_staff, -1), np.where(acc >= 0, z["org_of"][np.maximum(acc, 0)], -1)])
    churned = np.concatenate([np.zeros(n_staff, bool), (acc >= 0) & (w.acc_churn[np.maximum(acc, 0)] >= 0)])
    active = ~(churned & (rng.random(n) < 0.3)) & ~np.concatenate([np.zeros(n_staff, bool), gdpr])
    login = np.minimum(updated + rng.integers(0, 30, n) * US_PER_DAY, PERIOD_END - US_PER_HOUR)
    t = shape({
        "id": ints(z["user_ids"]),
        "name": pa.concat_arrays([staff_name, name]),
        "email": pa.concat_arrays([staff_email, email]),
        "phone": pc.if_else(pa.array(rng.random(n) < 0.8), pa.nulls(n, pa.string()),
                            concat("+1 555 ", num_str(rng.integers(1_000_000, 9_999_999, n)))),
        "role": pick(["agent", "admin", "end-user"], np.concatenate([np.zeros(N_AGENTS, int), np.ones(3, int),
                                                                       np.full(len(eu), 2)])),
        "organization_id": ints(np.maximum(org, 0), mask=org < 0),
        "time_zone": pick([c["tz"] for c in COUNTRIES], np.concatenate([np.zeros(n_staff, int), country])),
        "locale": pick(["en-US", "en-GB", "de", "fr", "nl", "en-US", "en-US"],
                       np.concatenate([np.zeros(n_staff, int), country])),
        "active": bools(active),
        "suspended": bools(rng.random(n) < 0.005),
        "created_at": ts(created),
        "updated_at": ts(updated),
        "last_login_at": ts(login, mask=rng.random(n) < 0.5),
        "_fivetran_synced": ts(synced_after(rng, updated, 0.1, 2)),
        "_fivetran_deleted": bools(np.zeros(n, dtype=bool)),
    })
    return fivetran_mess(rng, t, deleted=0.002, updated="updated_at")


def _tickets(w: World) -> dict[str, Any]:
    if "_tickets" in w.arrays:
        return w.arrays["_tickets"]
    z = _world_ids(w)
    rng = table_rng(w.seed, "zendesk-tickets")
    n = scaled(BASE_TICKETS, w.scale)
    eu = z["end_user"]
    acc = w.con_account[eu]
    a0 = np.maximum(acc, 0)
    lo = np.maximum(np.where(acc >= 0, np.maximum(w.acc_start[a0], w.con_created[eu]), PERIOD_START), PERIOD_START)
    hi = np.where(acc >= 0, w.account_end()[a0], PERIOD_END)
    ok = hi - lo > 2 * US_PER_DAY
    cand = np.flatnonzero(ok)
    # customers at risk need more help (and say so): ticket rate × (0.6 + 1.2 × risk)
    risk = np.where(acc[cand] >= 0, np.nan_to_num(w.acc_risk[a0[cand]], nan=0.3), 0.3)
    weight = (w.con_activity[eu[cand]] + 0.2) * (0.6 + TICKET_RISK * risk)
    # cancellation tickets: most full churners ask to cancel 10-60 days before they go
    churner = (acc[cand] >= 0) & (w.acc_churn[a0[cand]] >= 0) & (w.acc_churn[a0[cand]] - lo[cand] > 70 * US_PER_DAY)
    first = np.unique(acc[cand][churner], return_index=True)[1]
    cancel_req = cand[churner][first]
    cancel_req = cancel_req[rng.random(len(cancel_req)) < CANCEL_TICKET_SHARE]
    n_cancel = min(len(cancel_req), n)
    cancel_req = cancel_req[:n_cancel]
    req = cand[rng.choice(len(cand), size=n - n_cancel, p=weight / weight.sum())]
    churn_at = w.acc_churn[a0[cancel_req]]
    cancel_at = churn_at - rng.integers(10, 61, n_cancel) * US_PER_DAY
    created = np.concatenate([between(rng, lo[req], hi[req]), cancel_at])
    req = np.concatenate([req, cancel_req])
    cancel = np.concatenate([np.zeros(n - n_cancel, dtype=bool), np.ones(n_cancel, dtype=bool)])
    order = np.argsort(created, kind="stable")
    req, created, cancel = req[order], created[order], cancel[order]
    age = PERIOD_END - created
    recent = age < 14 * US_PER_DAY
    status = np.where(recent, rng.choice(4, size=n, p=[0.2, 0.4, 0.25, 0.15]),
                      np.where(age < 40 * US_PER_DAY, 4, 5))
    status = np.where(rng.random(n) < 0.005, 6, status)
    solved_at = created + rng.integers(US_PER_HOUR, 10 * US_PER_DAY, n)
    # half of the recent tickets whose resolution time has come are solved already (and rated)
    status = np.where(recent & (status < 4) & (solved_at < PERIOD_END - 2 * US_PER_HOUR)
                      & (rng.random(n) < 0.5), 4, status)
    updated = np.where(status >= 4, solved_at + np.where(status == 5, 4 * US_PER_DAY, 0),
                       created + rng.integers(60_000_000, 3 * US_PER_DAY, n))
    # never after the period, never before the ticket was opened (a ticket opened in the last hour)
    updated = np.maximum(np.minimum(updated, PERIOD_END - US_PER_HOUR), created + 60_000_000)
    out = dict(req=req, created=created, updated=updated, status=status, cancel=cancel,
               assignee=rng.integers(0, N_AGENTS, n), assigned=(status > 0),
               group=rng.integers(0, 4, n), org=np.where(acc[req] >= 0, z["org_of"][a0[req]], -1))
    w.arrays["_tickets"] = out
    return out


def tickets(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    z = _world_ids(w)
    tk = _tickets(w)
    n = len(tk["req"])
    # "Cancel my subscription" and the churn_risk tag belong to cancellation tickets only
    subject = np.where(tk["cancel"], CANCEL_SUBJECT, rng.choice(ROUTINE_SUBJECTS, size=n))
    eu = z["end_user"][tk["req"]]
    descr = concat("Hi, this is ", pick(w.con_first, eu), " ", pick(w.con_last, eu), " (", pick(w.con_email, eu),
                   "). ", pick(SUBJECTS, subject), " - can you help? Call me on +1 555 ",
                   num_str(rng.integers(1_000_000, 9_999_999, n)), ".")
    d = _ticket_detail(w)
    t = shape({
        "id": ints(1_001 + np.arange(n)),
        "created_at": ts(tk["created"]),
        "updated_at": ts(tk["updated"]),
        "subject": pick(SUBJECTS, subject),
        "description": descr,
        "status": pick(STATUSES, tk["status"]),
        "priority": pick(PRIORITIES, np.maximum(d["priority"], 0), mask=d["priority"] < 0),
        "type": choice(rng, ["question", "incident", "problem", "task"], n, [0.5, 0.3, 0.1, 0.1],
                       mask=rng.random(n) < 0.2),
        "requester_id": ints(z["end_ids"][tk["req"]]),
        "assignee_id": ints(z["agent_ids"][tk["assignee"]], mask=~tk["assigned"]),
        "group_id": ints(GROUPS[tk["group"]]),
        "organization_id": ints(np.maximum(tk["org"], 0), mask=tk["org"] < 0),
        "via_channel": pick(CHANNELS, d["channel"]),
        "_fivetran_synced": ts(synced_after(rng, tk["updated"], 0.05, 2)),
        "_fivetran_deleted": bools(np.zeros(n, dtype=bool)),
    })
    return fivetran_mess(rng, t, deleted=0.002, updated="updated_at")


def satisfaction_ratings(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    z = _world_ids(w)
    tk = _tickets(w)
    rated = np.flatnonzero((tk["status"] >= 4) & (tk["status"] <= 5) & (rng.random(len(tk["req"])) < 0.3))
    n = len(rated)
    # bad CSAT is likelier where the account is at risk: P(bad | rated) = 0.08 + 0.45 × risk
    acc = w.con_account[z["end_user"][tk["req"][rated]]]
    risk = np.where(acc >= 0, np.nan_to_num(w.acc_risk[np.maximum(acc, 0)], nan=0.3), 0.3)
    p_bad = np.where(tk["cancel"][rated], 0.7, CSAT_BAD_BASE + CSAT_BAD_RISK * risk) * 0.65
    r = rng.random(n)
    score = np.where(r < 0.35, 0, np.where(r < 0.35 + p_bad, 2, 1))
    created = np.minimum(tk["updated"][rated] + US_PER_HOUR, PERIOD_END - 2 * US_PER_HOUR)
    updated = np.where(score > 0, np.minimum(created + rng.integers(US_PER_HOUR, 3 * US_PER_DAY, n),
                                             PERIOD_END - US_PER_HOUR), created)
    t = shape({
        "id": ints(unique_ids(rng, n, 400_000_000_000, 499_000_000_000)),
        "ticket_id": ints(1_001 + rated),
        "requester_id": ints(z["end_ids"][tk["req"][rated]]),
        "assignee_id": ints(z["agent_ids"][tk["assignee"][rated]], mask=~tk["assigned"][rated]),
        "group_id": ints(GROUPS[tk["group"][rated]]),
        "score": pick(["offered", "good", "bad"], score),
        "comment": pc.if_else(pa.array((score > 0) & (rng.random(n) < 0.4)),
                              choice(rng, ["Quick and helpful, thanks!", "Took too long",
                                           "Agent was great", "Still not fixed"], n), pa.nulls(n, pa.string())),
        "reason": pc.if_else(pa.array(score == 2),
                             choice(rng, ["The issue took too long to resolve", "The issue was not resolved",
                                          "The agent's knowledge is unsatisfactory"], n),
                             pa.nulls(n, pa.string())),
        "created_at": ts(created),
        "updated_at": ts(updated),
        "_fivetran_synced": ts(synced_after(rng, updated, 0.05, 2)),
        "_fivetran_deleted": bools(np.zeros(n, dtype=bool)),
    })
    return fivetran_mess(rng, t, deleted=0.002, updated="updated_at")


def nps_responses(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    z = _world_ids(w)
    n = scaled(BASE_NPS, w.scale)
    quarters = np.arange(8)
    send = np.array([np.datetime64(f"{2022 + q // 4}-{1 + 3 * (q % 4):02d}-15", "us").astype(np.int64)
                     for q in quarters])
    users = w.app_users
    draw = 4 * n
    u = rng.choice(users, size=draw)
    q = rng.integers(0, 8, draw)
    active = (w.con_signup[u] < send[q]) & (w.con_end[u] > send[q] + 30 * US_PER_DAY)
    pair = u.astype(np.int64) * 8 + q
    _, first = np.unique(pair, return_index=True)
    keep = np.zeros(draw, dtype=bool)
    keep[first] = True
    sel = np.flatnonzero(active & keep)[:n]
    if len(sel) < n:  # pragma: no cover - only at tiny scales
        sel = np.concatenate([sel, rng.choice(np.flatnonzero(keep), size=n - len(sel))])
    u, q = u[sel], q[sel]
    acc = np.maximum(w.con_account[u], 0)
    churn = w.acc_churn[acc]
    at_risk = (churn >= 0) & (churn - send[q] < 180 * US_PER_DAY)
    base = rng.choice(11, size=n, p=np.array([1, 1, 1, 2, 2, 4, 6, 12, 20, 26, 25]) / 100)
    # latent risk lowers every answer (by up to NPS_RISK points); a churner 6 months out, more
    risk = np.nan_to_num(w.acc_risk[acc], nan=0.3)
    base = np.maximum(0, base - np.round(NPS_RISK * risk + rng.normal(0, 0.5, n)).astype(np.int64))
    score = np.minimum(10, np.where(at_risk, np.maximum(0, base - rng.integers(2, 6, n)), base))
    created = np.minimum(send[q] + rng.integers(US_PER_HOUR, 25 * US_PER_DAY, n), PERIOD_END - US_PER_DAY)
    commented = rng.random(n) < 0.35
    updated = np.where(commented & (rng.random(n) < 0.3), created + rng.integers(US_PER_HOUR, US_PER_DAY, n), created)
    t = shape({
        "id": ints(unique_ids(rng, n, 10_000_000, 99_000_000)),
        "survey_id": ints(5_000 + q),
        "user_id": ints(np.maximum(z["con_user"][u], 0), mask=z["con_user"][u] < 0),
        "recipient_email": messy_emails(rng, pick(w.con_email, u), 0.03, 0.0),
        "score": ints(score),
        "comment": pc.if_else(pa.array(commented),
                              pc.if_else(pa.array(score >= 9), "Love the pipeline view",
                                         pc.if_else(pa.array(score >= 7), "Good, but reporting could be better",
                                                    "Too expensive for what we use")),
                              pa.nulls(n, pa.string())),
        "created_at": ts(created),
        "updated_at": ts(updated, mask=~commented),
        "_fivetran_synced": ts(synced_after(rng, updated, 0.1, 3)),
        "_fivetran_deleted": bools(np.zeros(n, dtype=bool)),
    })
    return fivetran_mess(rng, t, deleted=0.004)


def domain_names(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    """Fivetran ``domain_name``: one row per organization and domain index (removed domains soft-deleted)."""
    dm = _org_domains(w)
    acc, _ = _org_accounts(w)
    n = len(dm["org"])
    # written when the organization was last changed in Zendesk, synced soon after
    changed = np.clip(w.acc_start[acc[dm["org"]]] + rng.integers(1, 500, n) * US_PER_DAY,
                      PERIOD_START - 400 * US_PER_DAY, PERIOD_END - US_PER_HOUR)
    return shape({
        "index": ints(dm["index"]),
        "organization_id": ints(dm["org_id"]),
        "domain_name": dm["domain"],
        "_fivetran_synced": ts(synced_after(rng, changed, 0.1, 2)),
        "_fivetran_deleted": bools(dm["deleted"]),
    })


def ticket_tags(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    """Fivetran ``ticket_tag``: one row per ticket and tag (a removed tag stays as a soft-deleted row)."""
    tk = _tickets(w)
    d = _ticket_detail(w)
    n = len(tk["req"])
    two = d["tag_a"] != d["tag_b"]
    ticket = np.concatenate([np.arange(n), np.flatnonzero(two), np.flatnonzero(d["removed_tag"])])
    tag = np.concatenate([d["tag_a"], d["tag_b"][two], np.full(int(d["removed_tag"].sum()), TAGS.index("how_to"))])
    deleted = np.arange(len(ticket)) >= n + int(two.sum())
    order = np.lexsort((tag, ticket))
    ticket, tag, deleted = ticket[order], tag[order], deleted[order]
    return shape({
        "tag": pick(TAGS, tag),
        "ticket_id": ints(1_001 + ticket),
        "_fivetran_synced": ts(synced_after(rng, tk["updated"][ticket], 0.05, 2)),
        "_fivetran_deleted": bools(deleted),
    })


def ticket_field_history(w: World, rng: np.random.Generator, shape: Shape) -> Iterator[pa.Table]:
    """Fivetran ``ticket_field_history``: every change of status, group, priority and assignee.

    The status walks new -> open -> (pending) -> solved -> closed, or stops at open, pending or
    hold, or ends deleted; each change lies between ``created_at`` and ``updated_at`` and the last
    one is the ticket's status. Group and priority are set on creation, the assignee when the
    ticket is opened.

    Rows are sorted by ticket, so the table comes in chunks of ``HISTORY_TICKETS`` tickets: the
    random numbers are drawn for all tickets first (per ticket, then one sync delay per row, as
    when the table was built whole) and only the rows (most of the bytes) are built chunk by chunk.
    """
    tk = _tickets(w)
    d = _ticket_detail(w)
    n = len(tk["req"])
    st, c = tk["status"], tk["created"]
    end = np.maximum(tk["updated"], c)
    solved_path = st >= 4
    # the solve happens 4 days before the automatic close (updated_at of a closed ticket)
    t_solved = np.where(st == 4, end, np.where(st == 5, np.maximum(end - 4 * US_PER_DAY, c + (end - c) // 2),
                                               c + (end - c) * 4 // 5))
    before = np.where(solved_path, t_solved, end)  # the last change before the solve
    t_open = np.where(st == 1, end, c + ((before - c) * rng.uniform(0.05, 0.3, n)).astype(np.int64))
    t_wait = np.where((st == 2) | (st == 3), end,
                      c + ((before - c) * rng.uniform(0.35, 0.6, n)).astype(np.int64))
    waited = (st == 2) | (st == 3) | (solved_path & (rng.random(n) < 0.4))
    tickets = {"status": st, "created": c, "end": end, "t_solved": t_solved, "t_open": t_open, "t_wait": t_wait,
               "waited": waited}
    rows_per_ticket = sum(m.astype(np.int64) for m in _history_masks(tickets, tk, d))
    first_row = np.concatenate([[0], np.cumsum(rows_per_ticket)])
    delay = sync_delays(rng, int(first_row[-1]), 0.05, 2)
    for lo in range(0, n, HISTORY_TICKETS):
        hi = min(n, lo + HISTORY_TICKETS)
        yield _history_chunk(w, shape, slice(lo, hi), tickets, tk, d, delay[first_row[lo]:first_row[hi]])


HISTORY_TICKETS = 100_000
"""Tickets whose field history is built into Arrow at a time (scale 1 has 20,000: one chunk)."""


def _history_masks(tickets: dict[str, np.ndarray], tk: dict[str, Any], d: dict[str, Any]) -> list[np.ndarray]:
    """Which tickets have each of the history's row kinds (the parts of :func:`_history_chunk`)."""
    st = tickets["status"]
    every = np.ones(len(st), dtype=bool)
    return [every, every, d["priority"] >= 0, st >= 1, tk["assigned"], tickets["waited"], st >= 4, st == 5, st == 6]


def _history_chunk(w: World, shape: Shape, part: slice, tickets: dict[str, np.ndarray], tk: dict[str, Any],
                   d: dict[str, Any], delay: np.ndarray) -> pa.Table:
    """The field-history rows of the tickets in ``part``, sorted by ticket, time and kind of change."""
    z = _world_ids(w)
    tickets = {k: v[part] for k, v in tickets.items()}
    tk = {k: tk[k][part] for k in ("req", "assignee", "group", "assigned", "updated")}
    d = {k: d[k][part] for k in ("channel", "priority")}
    lo = part.start or 0
    n = len(tk["req"])
    st, c, end = tickets["status"], tickets["created"], tickets["end"]
    t_open, t_wait, t_solved = tickets["t_open"], tickets["t_wait"], tickets["t_solved"]
    wait_status = np.where(st == 3, 3, 2)
    agent = z["agent_ids"][tk["assignee"]]
    requester = z["end_ids"][tk["req"]]
    masks = _history_masks(tickets, tk, d)
    # (field, value, time, user, channel) of each row kind; user -1 = none (an automation)
    parts = [
        ("status", pick(STATUSES, np.zeros(n, dtype=np.int64)), c, requester, d["channel"]),
        ("group_id", pc.cast(ints(GROUPS[tk["group"]]), pa.string()), c, requester, d["channel"]),
        ("priority", pick(PRIORITIES, np.maximum(d["priority"], 0)), c, requester, d["channel"]),
        ("status", pick(STATUSES, np.ones(n, dtype=np.int64)), t_open, agent, np.full(n, 1)),
        ("assignee_id", pc.cast(ints(agent), pa.string()), t_open, agent, np.full(n, 1)),
        ("status", pick(STATUSES, wait_status), t_wait, agent, np.full(n, 1)),
        ("status", pick(STATUSES, np.full(n, 4)), t_solved, agent, np.full(n, 1)),
        ("status", pick(STATUSES, np.full(n, 5)), end, np.full(n, -1), np.full(n, -1)),
        ("status", pick(STATUSES, np.full(n, 6)), end, agent, np.full(n, 1)),
    ]
    rows = list(zip(masks, parts, strict=True))
    ticket = np.concatenate([np.flatnonzero(m) for m in masks])
    field = pa.concat_arrays([pick([f], np.zeros(int(m.sum()), dtype=np.int64)) for m, (f, *_) in rows])
    value = pa.concat_arrays([v.filter(pa.array(m)) for m, (_, v, *_) in rows])
    when = np.concatenate([t[m] for m, (_, _, t, *_) in rows])
    user = np.concatenate([u[m] for m, (_, _, _, u, _) in rows])
    channel = np.concatenate([ch[m] for m, (*_, ch) in rows])
    kind = np.concatenate([np.full(int(m.sum()), i) for i, m in enumerate(masks)])
    order = np.lexsort((kind, when, ticket))
    ticket, when, user, channel = ticket[order], when[order], user[order], channel[order]
    take = pa.array(order)
    k = len(ticket)
    return shape({
        "updated": ts(when),
        "field_name": field.take(take),
        "ticket_id": ints(1_001 + lo + ticket),
        "user_id": ints(np.maximum(user, 0), mask=user < 0),
        "value": value.take(take),
        "via_channel": pc.if_else(pa.array(channel < 0), "rule", pick(CHANNELS, np.maximum(channel, 0))),
        "_fivetran_synced": ts(synced_at(np.maximum(tk["updated"][ticket], when), delay)),
        "_fivetran_deleted": bools(np.zeros(k, dtype=bool)),
    })


def groups(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    """Fivetran ``group``: the four support groups tickets are routed to."""
    n = len(GROUPS)
    created = PERIOD_START - (900 - 120 * np.arange(n)) * US_PER_DAY
    updated = created + rng.integers(30, 400, n) * US_PER_DAY
    return shape({
        "id": ints(GROUPS),
        "name": pa.array(GROUP_NAMES),
        "description": pa.array(GROUP_DESCRIPTIONS),
        "is_public": bools(np.ones(n, dtype=bool)),
        "created_at": ts(created),
        "updated_at": ts(updated),
        "url": concat("https://kcrm.zendesk.com/api/v2/groups/", num_str(GROUPS), ".json"),
        "_fivetran_synced": ts(synced_after(rng, np.full(n, PERIOD_END - 3 * US_PER_DAY), 0.1, 2)),
        "_fivetran_deleted": bools(np.zeros(n, dtype=bool)),
    })


TABLES = {
    "zendesk__organizations": organizations,
    "zendesk__users": users,
    "zendesk__tickets": tickets,
    "zendesk__satisfaction_ratings": satisfaction_ratings,
    "zendesk__nps_responses": nps_responses,
    "zendesk__domain_names": domain_names,
    "zendesk__ticket_tags": ticket_tags,
    "zendesk__ticket_field_history": ticket_field_history,
    "zendesk__groups": groups,
}
