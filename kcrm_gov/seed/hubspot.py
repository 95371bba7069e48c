"""HubSpot (Fivetran HubSpot connector): companies, contacts, leads, deals, owners, products, stages.

Company mess, in small documented doses (``company_plan``, its own stream ``hubspot__company_mess``;
tests read the plan's arrays):

* **Duplicate companies** (~3 % of the real accounts, 54 at scale 1): a second company record of
  the account, created 20-500 days after it by a rep, with the same domain, ``www.``-prefixed or
  upper-cased (one normalised domain), the name and owner but no industry, size, revenue, city or
  phone, and lifecycle ``lead`` or none. For about half of them (``dup_takes_new``) the contacts,
  leads and deals created after the duplicate are attached to it (``company_of``). Duplicates are
  never soft-deleted; the account's record stays the older, customer-stage one.
* **Rebrands** (~1 % of the customers, 9 at scale 1): HubSpot has the new domain (the world's);
  QuickBooks' ``website`` is still the old one (``get``/``try``/``use``/``join`` + the domain), while
  the billing email is at the new domain, the link a finance team would follow. Zendesk, the CS log
  and the product keep the new domain.
* **Subsidiaries** (~0.5 % of the accounts, 5 at scale 1): a customer, never churned, whose
  QuickBooks ``website`` is another never-churned customer's (its parent's) domain, while its billing
  email stays at its own domain (its contact or a billing mailbox there).
"""

from __future__ import annotations

from typing import Any

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
    full,
    ints,
    messy_emails,
    money,
    num_str,
    pick,
    scaled,
    synced_after,
    table_rng,
    ts,
    unique_ids,
    us,
)
from .world import ANALYTICS_SOURCES, COUNTRIES, INDUSTRIES, OWNER_TEAMS, PRODUCTS, TITLES, World, monthly_price

PORTAL_ID = 4_812_345
BASE_LEADS = 5_000
BASE_DEALS = 5_000

# (stage_id, pipeline, label, order, probability, closed_won, active)
STAGES = [
    ("appointmentscheduled", "default", "Discovery", 0, 0.1, False, True),
    ("qualifiedtobuy", "default", "Qualified", 1, 0.2, False, True),
    ("presentationscheduled", "default", "Demo", 2, 0.4, False, True),
    ("decisionmakerboughtin", "default", "Proposal", 3, 0.6, False, True),
    ("contractsent", "default", "Contract sent", 4, 0.8, False, True),
    ("closedwon", "default", "Closed won", 5, 1.0, True, True),
    ("closedlost", "default", "Closed lost", 6, 0.0, False, True),
    ("1029384", "default", "Legal review (old)", 7, 0.7, False, False),
    ("2211001", "2210990", "Renewal due", 0, 0.5, False, True),
    ("2211002", "2210990", "Renewed", 1, 1.0, True, True),
    ("2211003", "2210990", "Not renewed", 2, 0.0, False, True),
]
OPEN_STAGES = [0, 1, 2, 3, 4]
LOST_REASONS = ["Went with a competitor", "No budget this year", "Timing - revisit next quarter",
                "Champion left the company", "Chose to stay on spreadsheets", "Price too high",
                "Missing integration", "No decision"]
# HubSpot's default contact lifecycle stages, in order (internal values as landed in property history)
LIFECYCLE = ["lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer"]
# where each lifecycle change comes from (HubSpot property sources): the lead from a form, an import or
# a rep, MQL from a scoring workflow, SQL from the rep, opportunity from the deal, customer from the company
LIFECYCLE_SOURCES = ["FORM", "AUTOMATION_PLATFORM", "CRM_UI", "DEALS", "COMPANIES"]
# (pipeline_id, label, display_order, active)
PIPELINES = [("default", "Sales pipeline", 0, True), ("2210990", "Renewals and expansions", 1, True)]
FAR_FUTURE = us("9999-12-31T23:59:59.999")  # _fivetran_end of the active version of a History Mode row
# HubSpot association type ids (v4, HUBSPOT_DEFINED): deal -> company primary and unlabeled, deal -> contact
DEAL_COMPANY_PRIMARY, DEAL_COMPANY_UNLABELED, DEAL_CONTACT = 5, 341, 3


def _end_of_period_sync(rng: np.random.Generator, modified: np.ndarray) -> np.ndarray:
    """Snapshot objects are synced after their last change, at the latest just before the last sync."""
    return np.minimum(synced_after(rng, modified, 0.5, 72), SYNC_END - 3 * US_PER_HOUR)


def company_plan(w: World) -> dict[str, Any]:
    """The company mess of the world, computed once: duplicates, rebrands and subsidiaries.

    Drawn from its own stream (``hubspot__company_mess``), so the companies, contacts, deals and
    QuickBooks tables read the same plan whichever asks first; tests read it too.

    * ``dup_account`` / ``dup_id`` / ``dup_created`` / ``dup_takes_new``: ~3 % of the real accounts
      have a second HubSpot company, created later by a rep; where ``dup_takes_new``, the contacts
      and deals created after it are attached to the duplicate.
    * ``rebrand_account`` / ``rebrand_old_domain``: ~1 % of the customers were billed before a
      rebrand: HubSpot has the new domain, QuickBooks' website still the old one.
    * ``subsidiary_account`` / ``subsidiary_parent``: ~0.5 % of the accounts are customers whose
      QuickBooks website is their parent customer's domain (billing email at their own).
    """
    if "_company_plan" in w.arrays:
        return w.arrays["_company_plan"]
    rng = table_rng(w.seed, "hubspot__company_mess")
    n = w.n_accounts
    real = ~w.acc_is_test
    dup_account = np.flatnonzero(real & (rng.random(n) < 0.03))
    k = len(dup_account)
    dup_id = unique_ids(rng, k, 20_000_000_000, 29_000_000_000)  # outside the world's company id range
    dup_created = np.minimum(w.acc_created[dup_account] + rng.integers(20, 500, k) * US_PER_DAY,
                             PERIOD_END - 2 * US_PER_DAY)
    dup_takes_new = rng.random(k) < 0.5
    steady = real & w.acc_is_customer & (w.acc_churn < 0)  # billed throughout, never churned
    r = rng.random(n)
    old = concat(choice(rng, ["get", "try", "use", "join"], n), w.acc_domain)
    # a hash lookup (numpy's isin compares object arrays pair by pair: quadratic in the scale)
    taken = pc.is_in(old, value_set=w.acc_domain).to_numpy(zero_copy_only=False)
    rebrand = np.flatnonzero(real & w.acc_is_customer & (r < 0.01) & ~taken)
    subsidiary = np.flatnonzero(steady & (r >= 0.5) & (r < 0.5 + 0.005 * n / max(1, int(steady.sum()))))
    parents = np.setdiff1d(np.flatnonzero(steady), np.concatenate([subsidiary, rebrand]))
    parent = rng.choice(parents, size=len(subsidiary), replace=False) if len(parents) >= len(subsidiary) else (
        np.zeros(0, np.int64))
    subsidiary = subsidiary[: len(parent)]
    plan = dict(dup_account=dup_account, dup_id=dup_id, dup_created=dup_created, dup_takes_new=dup_takes_new,
                dup_variant=rng.integers(0, 3, k), rebrand_account=rebrand,
                rebrand_old_domain=old.take(pa.array(rebrand, pa.int64())),
                subsidiary_account=subsidiary, subsidiary_parent=parent)
    w.arrays["_company_plan"] = plan
    return plan


def company_of(w: World, account: np.ndarray, created: np.ndarray) -> np.ndarray:
    """The HubSpot company id a record of ``account`` created at ``created`` is attached to.

    The account's own company, or its duplicate for records created after a duplicate that took over.
    """
    p = company_plan(w)
    dup_of = np.full(w.n_accounts, -1, dtype=np.int64)
    takes = p["dup_account"][p["dup_takes_new"]]
    dup_of[takes] = np.flatnonzero(p["dup_takes_new"])
    a0 = np.maximum(account, 0)
    d = dup_of[a0]
    use = (account >= 0) & (d >= 0) & (created > p["dup_created"][np.maximum(d, 0)])
    return np.where(use, p["dup_id"][np.maximum(d, 0)], w.acc_id[a0])


def companies(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    n = w.n_accounts
    country = w.acc_country
    cities = [city for c in COUNTRIES for city in c["cities"]]
    city_n = np.array([len(c["cities"]) for c in COUNTRIES])
    city_base = np.concatenate([[0], np.cumsum(city_n)[:-1]])
    city = city_base[country] + w.acc_city % city_n[country]
    has_open_deal = rng.random(n) < 0.15
    stage = np.where(w.acc_is_customer | w.acc_is_test, 3,
                     np.where(has_open_deal, 2, rng.choice(3, size=n, p=[0.5, 0.3, 0.2])))
    stage_names = ["lead", "marketingqualifiedlead", "opportunity", "customer"]
    stage_vals = pick(stage_names, np.minimum(stage, 3))
    stage_vals = pc.if_else(pa.array((stage < 2) & (rng.random(n) < 0.33)), "salesqualifiedlead", stage_vals)
    modified = np.maximum(w.acc_created, np.where(w.acc_churn >= 0, w.acc_churn, w.acc_start))
    modified = np.clip(modified + rng.integers(0, 120, n) * US_PER_DAY, w.acc_created + US_PER_HOUR,
                       PERIOD_END - US_PER_HOUR)
    phone = concat(pick([c["phone"] for c in COUNTRIES], country), " ", num_str(rng.integers(200, 999, n)),
                   " ", num_str(rng.integers(1_000_000, 9_999_999, n)))
    # domains mostly clean; some typed with www. or in mixed case by sales
    r = rng.random(n)
    domain = pc.if_else(pa.array(r < 0.04), concat("www.", w.acc_domain), w.acc_domain)
    domain = pc.if_else(pa.array((r >= 0.04) & (r < 0.07)), pc.utf8_capitalize(domain), domain)
    t = shape({
        "id": ints(w.acc_id),
        "portal_id": full(PORTAL_ID, n, pa.int64()),
        "is_deleted": bools(np.zeros(n, dtype=bool)),
        "property_name": w.acc_name,
        "property_domain": domain,
        "property_industry": pick(INDUSTRIES, w.acc_industry, mask=rng.random(n) < 0.08),
        "property_numberofemployees": ints(w.acc_employees, mask=rng.random(n) < 0.05),
        "property_annualrevenue": money(w.acc_revenue, mask=rng.random(n) < 0.2, digits=0),
        "property_country": pick([c["name"] for c in COUNTRIES], country),
        "property_city": pick(cities, city),
        "property_phone": pc.if_else(pa.array(rng.random(n) < 0.3), pa.nulls(n, pa.string()), phone),
        "property_lifecyclestage": stage_vals,
        "property_hubspot_owner_id": ints(w.own_id[w.acc_owner]),
        "property_createdate": ts(w.acc_created),
        "property_hs_lastmodifieddate": ts(modified),
        "_fivetran_synced": ts(_end_of_period_sync(rng, modified)),
        "_fivetran_deleted": bools(np.zeros(n, dtype=bool)),
    })
    # the duplicates: a second record of the account, typed later by a rep with few properties
    p = company_plan(w)
    acc, k = p["dup_account"], len(p["dup_account"])
    dup_domain = pick(w.acc_domain, acc)
    variant = pa.array(p["dup_variant"])
    dup_domain = pc.if_else(pc.equal(variant, 1), concat("www.", dup_domain), dup_domain)
    dup_domain = pc.if_else(pc.equal(variant, 2), pc.utf8_upper(dup_domain), dup_domain)
    dup_modified = np.minimum(p["dup_created"] + rng.integers(0, 60, k) * US_PER_DAY, PERIOD_END - US_PER_HOUR)
    dups = shape({
        "id": ints(p["dup_id"]),
        "portal_id": full(PORTAL_ID, k, pa.int64()),
        "is_deleted": bools(np.zeros(k, dtype=bool)),
        "property_name": pick(w.acc_name, acc),
        "property_domain": dup_domain,
        "property_industry": pa.nulls(k, pa.string()),
        "property_numberofemployees": pa.nulls(k, pa.int64()),
        "property_annualrevenue": money(np.zeros(k), mask=np.ones(k, dtype=bool), digits=0),
        "property_country": pick([c["name"] for c in COUNTRIES], country[acc], mask=rng.random(k) < 0.5),
        "property_city": pa.nulls(k, pa.string()),
        "property_phone": pa.nulls(k, pa.string()),
        "property_lifecyclestage": choice(rng, ["lead"], k, mask=rng.random(k) < 0.4),
        "property_hubspot_owner_id": ints(w.own_id[w.acc_owner[acc]]),
        "property_createdate": ts(p["dup_created"]),
        "property_hs_lastmodifieddate": ts(dup_modified),
        "_fivetran_synced": ts(_end_of_period_sync(rng, dup_modified)),
        "_fivetran_deleted": bools(np.zeros(k, dtype=bool)),
    })
    t = pa.concat_tables([t, dups])
    # paying customers are never deleted (QuickBooks customers must map to a live company), nor are
    # the duplicates (contacts and deals are attached to some)
    protect = np.concatenate([w.acc_is_customer | w.acc_is_test, np.ones(k, dtype=bool)])
    return fivetran_mess(rng, t, deleted=0.006, archived=0.01, protect=protect,
                         updated="property_hs_lastmodifieddate")


def contacts(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    n = w.n_contacts
    acc = w.con_account
    has = acc >= 0
    acc0 = np.maximum(acc, 0)
    customer = has & (w.acc_start[acc0] >= 0)
    # the current stage is the last one the contact's lifecycle history reached
    lifecycle = np.max(np.where(lifecycle_times(w) >= 0, np.arange(1, 1 + len(LIFECYCLE)), 0), axis=1)
    lifecycle_names = ["subscriber", *LIFECYCLE]
    lead_status = ["NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT",
                   "CONNECTED", "BAD_TIMING"]
    modified = np.clip(w.con_created + rng.integers(0, 400, n) * US_PER_DAY, w.con_created + US_PER_HOUR,
                       PERIOD_END - US_PER_HOUR)
    typed_company = pc.if_else(pa.array(has & (rng.random(n) < 0.6)), pick(w.acc_name, acc0),
                               pa.nulls(n, pa.string()))
    merged = rng.random(n) < 0.01
    merged_vids = concat(num_str(rng.integers(100_001, 40_000_000, n)), ":",
                         num_str((w.con_created // 1000) - rng.integers(0, 10**9, n)))
    country = np.where(has, w.acc_country[acc0], 0)
    phone = concat(pick([c["phone"] for c in COUNTRIES], country), " ", num_str(rng.integers(20, 99, n)),
                   "-", num_str(rng.integers(100, 999, n)), "-", num_str(rng.integers(1000, 9999, n)))
    t = shape({
        "id": ints(w.con_id),
        "property_email": messy_emails(rng, w.con_email),
        "property_firstname": w.con_first,
        "property_lastname": pc.if_else(pa.array(rng.random(n) < 0.03), pa.nulls(n, pa.string()), w.con_last),
        "property_phone": pc.if_else(pa.array(rng.random(n) < 0.45), pa.nulls(n, pa.string()), phone),
        "property_jobtitle": pick(TITLES, w.con_title, mask=rng.random(n) < 0.12),
        "property_company": typed_company,
        "property_associatedcompanyid": ints(company_of(w, acc, w.con_created), mask=~has),
        "property_hubspot_owner_id": ints(w.own_id[w.con_owner]),
        "property_lifecyclestage": pick(lifecycle_names, lifecycle),
        "property_hs_lead_status": choice(rng, lead_status, n, mask=customer | (rng.random(n) < 0.2)),
        "property_hs_analytics_source": pick(ANALYTICS_SOURCES, w.con_source),
        "property_hs_calculated_merged_vids": pc.if_else(pa.array(merged), merged_vids, pa.nulls(n, pa.string())),
        "property_createdate": ts(w.con_created),
        "property_lastmodifieddate": ts(modified),
        "_fivetran_synced": ts(_end_of_period_sync(rng, modified)),
        "_fivetran_deleted": bools(np.zeros(n, dtype=bool)),
    })
    return fivetran_mess(rng, t, deleted=0.01, protect=w.con_signup >= 0, updated="property_lastmodifieddate")


def leads(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    n = scaled(BASE_LEADS, w.scale)
    contact = rng.integers(0, w.n_contacts, n)
    acc = w.con_account[contact]
    created = np.clip(w.con_created[contact] + rng.integers(0, 90, n) * US_PER_DAY, w.con_created[contact],
                      PERIOD_END - US_PER_DAY)
    status = rng.choice(5, size=n, p=[0.12, 0.18, 0.15, 0.3, 0.25])
    status_names = ["NEW", "ATTEMPTING", "CONNECTED", "QUALIFIED", "UNQUALIFIED"]
    stage_ids = ["new-stage-id", "attempting-stage-id", "connected-stage-id", "qualified-stage-id",
                 "unqualified-stage-id"]
    name = concat(pick(w.con_first, contact), " ", pick(w.con_last, contact))
    renamed = rng.random(n) < 0.1
    name = pc.if_else(pa.array(renamed), concat(name, " - ", pick(w.acc_name, np.maximum(acc, 0))), name)
    modified = np.minimum(created + rng.integers(1, 60, n) * US_PER_DAY, PERIOD_END - US_PER_HOUR)
    t = shape({
        "id": ints(unique_ids(rng, n, 1_000_000_000, 9_000_000_000)),
        "is_deleted": bools(np.zeros(n, dtype=bool)),
        "property_hs_lead_name": name,
        "property_hs_lead_status": pick(status_names, status),
        "property_hs_pipeline_stage": pick(stage_ids, status),
        "property_hs_lead_type": choice(rng, ["NEW_BUSINESS", "UPSELL", "RE_ATTEMPTING"], n, [0.75, 0.15, 0.1]),
        "property_hs_lead_label": choice(rng, ["COLD", "WARM", "HOT"], n, [0.4, 0.4, 0.2],
                                         mask=rng.random(n) < 0.3),
        "property_hs_lead_source": pick(ANALYTICS_SOURCES, w.con_source[contact]),
        "property_hs_associated_contact_id": ints(w.con_id[contact]),
        "property_hs_associated_company_id": ints(company_of(w, acc, created), mask=acc < 0),
        "property_hubspot_owner_id": ints(w.own_id[w.con_owner[contact]], mask=rng.random(n) < 0.05),
        "property_createdate": ts(created),
        "property_hs_lastmodifieddate": ts(modified),
        "_fivetran_synced": ts(_end_of_period_sync(rng, modified)),
        "_fivetran_deleted": bools(np.zeros(n, dtype=bool)),
    })
    return fivetran_mess(rng, t, deleted=0.006, archived=0.006, updated="property_hs_lastmodifieddate")


def deal_plan(w: World) -> dict[str, Any]:
    """Every deal's account, kind, created / close times and current stage, computed once per world.

    Drawn from the ``hubspot__deals`` table stream, so ``deals()`` lands the same bytes whichever
    table asks first; the stream's state after the plan is kept for the rest of ``deals()``.
    """
    if "_deal_plan" in w.arrays:
        return w.arrays["_deal_plan"]
    rng = table_rng(w.seed, "hubspot__deals")
    n = scaled(BASE_DEALS, w.scale)
    customers = np.flatnonzero(w.acc_is_customer)
    # every customer has one won new-business deal closing on its start date ...
    won_nb = customers[: min(len(customers), n)]
    # ... one won expansion per billed expansion of the world, on its date (existing business) ...
    exp_acc = w.exp_account[: max(0, n - len(won_nb))]
    # ... one won new-business deal per win-back, on its return ...
    wb_acc = w.winback_account[: max(0, n - len(won_nb) - len(exp_acc))]
    n_exp, n_wb = len(exp_acc), len(wb_acc)
    n_other = n - len(won_nb) - n_exp - n_wb  # ... and lost or still open deals with prospects and customers
    prospects = np.flatnonzero(~w.acc_is_customer & ~w.acc_is_test)
    other_acc = np.where(rng.random(n_other) < 0.8, rng.choice(prospects, size=n_other),
                         rng.choice(customers, size=n_other))
    account = np.concatenate([won_nb, exp_acc, other_acc, wb_acc])
    kind = np.concatenate([np.zeros(len(won_nb), int), np.ones(n_exp, int), np.full(n_other, 2),
                           np.full(n_wb, 3)])
    open_ = (kind == 2) & (rng.random(n) < 0.18)
    won = (kind < 2) | (kind == 3)
    close = np.where(kind == 0, w.acc_start[account], 0)
    exp_at = np.concatenate([np.zeros(len(won_nb), np.int64), w.exp_at[:n_exp], np.zeros(n_other + n_wb, np.int64)])
    close = np.where(kind == 1, exp_at, close)
    wb_at = np.concatenate([np.zeros(n - n_wb, np.int64), w.winback_at[:n_wb]])
    close = np.where(kind == 3, wb_at, close)
    close = np.where(kind == 2, between(rng, PERIOD_START - 120 * US_PER_DAY, PERIOD_END - US_PER_DAY, n), close)
    close = np.where(open_, between(rng, PERIOD_END - 10 * US_PER_DAY, PERIOD_END + 120 * US_PER_DAY, n), close)
    cycle = rng.integers(10, 150, n) * US_PER_DAY
    created = close - cycle
    created = np.where(open_, np.minimum(created, PERIOD_END - 3 * US_PER_DAY), created)
    stage = np.where(won, 5, np.where(open_, rng.choice(OPEN_STAGES, size=n), 6))
    renewal_pipe = (kind == 1) & (rng.random(n) < 0.3)
    stage = np.where(renewal_pipe, 9, stage)
    # an expansion deal is worth the MRR it adds to the bill (list price, discount kept)
    price = monthly_price(np.arange(len(PRODUCTS)))
    exp_delta = np.zeros(n)
    e = kind == 1
    seats_now = w.acc_seats[account[e]]
    exp_delta[e] = ((seats_now + w.exp_seats_added[:n_exp]) * price[w.exp_plan_after[:n_exp]]
                    - seats_now * price[w.acc_plan[account[e]]]) * np.where(w.acc_discount[account[e]], 0.9, 1.0)
    mrr = np.where(kind == 0, w.acc_mrr[account], np.round(exp_delta, 2))
    wb = kind == 3
    mrr[wb] = np.round(w.winback_seats[:n_wb] * price[w.acc_plan[account[wb]]], 2)
    mrr = np.where(kind == 2, np.round(w.acc_seats[account] * rng.choice([25, 50, 90, 150], size=n)), mrr)
    modified = np.minimum(np.where(open_, created, close) + rng.integers(0, 30, n) * US_PER_DAY,
                          PERIOD_END - US_PER_HOUR)
    deal_id = unique_ids(rng, n, 2_000_000_000, 19_000_000_000)
    plan = dict(n=n, account=account, kind=kind, open=open_, won=won, close=close, created=created, stage=stage,
                mrr=mrr, modified=modified, deal_id=deal_id, n_exp=n_exp, n_wb=n_wb,
                rng_state=rng.bit_generator.state)
    w.arrays["_deal_plan"] = plan
    return plan


def deals(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    p = deal_plan(w)
    rng = np.random.default_rng()
    rng.bit_generator.state = p["rng_state"]  # the table stream, continued after the plan
    n, account, kind, open_, won = p["n"], p["account"], p["kind"], p["open"], p["won"]
    n_exp, stage, mrr, modified = p["n_exp"], p["stage"], p["mrr"], p["modified"]
    amount = mrr * 12
    closed = won | ~open_
    plan = w.acc_plan[account].copy()
    plan[kind == 1] = w.exp_plan_after[:n_exp]
    plan_sku = pick([p["sku"] for p in PRODUCTS], plan)
    dealtype = pick(["newbusiness", "existingbusiness", "newbusiness", "newbusiness"], kind)
    dealtype = pc.if_else(pa.array((kind == 2) & w.acc_is_customer[account]), "existingbusiness", dealtype)
    t = shape({
        "deal_id": ints(p["deal_id"]),
        "portal_id": full(PORTAL_ID, n, pa.int64()),
        "is_deleted": bools(np.zeros(n, dtype=bool)),
        "deal_pipeline_id": pick([s[1] for s in STAGES], stage),
        "deal_pipeline_stage_id": pick([s[0] for s in STAGES], stage),
        "owner_id": ints(w.own_id[w.acc_owner[account]], mask=rng.random(n) < 0.02),
        "property_dealname": concat(w.acc_name.take(pa.array(account)),
                                    pick([" - New business", " - Expansion", " - Deal", " - Win-back"], kind)),
        "property_dealtype": dealtype,
        # reps leave the amount empty on some open and lost deals
        "property_amount": money(amount, mask=~won & (rng.random(n) < 0.08)),
        "property_hs_mrr": money(mrr, mask=~won & (rng.random(n) < 0.3)),
        "property_kcrm_product_sku": plan_sku,
        "property_createdate": ts(p["created"]),
        "property_closedate": ts(p["close"]),
        "property_hs_is_closed": bools(closed),
        "property_hs_is_closed_won": bools(won),
        "property_closed_lost_reason": choice(rng, LOST_REASONS, n, mask=won | open_ | (rng.random(n) < 0.3)),
        "property_hs_lastmodifieddate": ts(modified),
        "_fivetran_synced": ts(_end_of_period_sync(rng, modified)),
        "_fivetran_deleted": bools(np.zeros(n, dtype=bool)),
    })
    return fivetran_mess(rng, t, deleted=0.005, archived=0.01, protect=won,
                         updated="property_hs_lastmodifieddate")


def owners(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    n = len(w.own_id)
    modified = np.minimum(w.own_created + rng.integers(1, 600, n) * US_PER_DAY, PERIOD_END - US_PER_HOUR)
    t = shape({
        "owner_id": ints(w.own_id),
        "portal_id": full(PORTAL_ID, n, pa.int64()),
        "active_user_id": ints(w.own_user_id, mask=~w.own_active),
        "user_id_including_inactive": ints(w.own_user_id),
        "email": w.own_email,
        "first_name": w.own_first,
        "last_name": w.own_last,
        "is_active": bools(w.own_active),
        "created_at": ts(w.own_created),
        "updated_at": ts(modified),
        "_fivetran_synced": ts(_end_of_period_sync(rng, modified)),
        "_fivetran_deleted": bools(np.zeros(n, dtype=bool)),
    })
    return fivetran_mess(rng, t, deleted=0.0, resync=0.025, updated="updated_at")


def products(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    n = len(PRODUCTS)
    created = us("2019-03-01T09:00:00") + np.arange(n) * 40 * US_PER_DAY
    modified = us("2021-11-15T10:00:00") + rng.integers(0, 700, n) * US_PER_DAY
    billing = [p["billing"] for p in PRODUCTS]
    descr = [f"{p['name']}: K CRM {p['sku'].split('-')[0].title()} for growing sales teams." for p in PRODUCTS]
    return shape({
        "id": ints(1_500_000_000 + np.arange(n) * 7919),
        "is_deleted": bools(np.zeros(n, dtype=bool)),
        "property_name": pa.array([p["name"] for p in PRODUCTS]),
        "property_hs_sku": pa.array([p["sku"] for p in PRODUCTS]),
        "property_hs_product_type": pa.array(["service"] * 11 + ["non_inventory"]),
        "property_price": money(np.array([p["price"] for p in PRODUCTS])),
        "property_recurringbillingfrequency": pa.array(billing),
        "property_hs_recurring_billing_period": pa.array(
            [None if b is None else ("P12M" if b == "annually" else "P1M") for b in billing]),
        "property_hs_cost_of_goods_sold": money(np.array([p["price"] for p in PRODUCTS]) * 0.18),
        "property_description": pa.array(descr),
        "property_createdate": ts(created),
        "property_hs_lastmodifieddate": ts(modified),
        "_fivetran_synced": ts(_end_of_period_sync(rng, modified)),
        "_fivetran_deleted": bools(np.zeros(n, dtype=bool)),
    })


def deal_pipeline_stages(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    n = len(STAGES)
    created = us("2019-03-01T09:00:00") + np.arange(n) * US_PER_DAY
    modified = us("2021-06-01T09:00:00") + rng.integers(0, 900, n) * US_PER_DAY
    return shape({
        "stage_id": pa.array([s[0] for s in STAGES]),
        "pipeline_id": pa.array([s[1] for s in STAGES]),
        "label": pa.array([s[2] for s in STAGES]),
        "display_order": ints(np.array([s[3] for s in STAGES])),
        "probability": pa.array([s[4] for s in STAGES], pa.float64()),
        "closed_won": pa.array([s[5] for s in STAGES]),
        "active": pa.array([s[6] for s in STAGES]),
        "created_at": ts(created),
        "updated_at": ts(modified),
        "_fivetran_synced": ts(_end_of_period_sync(rng, modified)),
        "_fivetran_deleted": bools(np.zeros(n, dtype=bool)),
    })


def lifecycle_times(w: World) -> np.ndarray:
    """When each contact entered each of ``LIFECYCLE`` (contacts x stages, -1 = never), computed once.

    Every contact is a lead at creation; engaged ones become MQL, then SQL; a contact becomes an
    opportunity when its company's first deal is created (or at its own creation when it joins an
    open deal later) and a customer when the account's subscription starts (at creation when the
    contact is added after). Stages are never out of order and never skipped backwards.
    """
    if "_lifecycle" in w.arrays:
        return w.arrays["_lifecycle"]
    rng = table_rng(w.seed, "hubspot-lifecycle")
    plan = deal_plan(w)
    n = w.n_contacts
    acc = w.con_account
    has = acc >= 0
    acc0 = np.maximum(acc, 0)
    created = w.con_created
    never = np.iinfo(np.int64).max
    first_deal = np.full(w.n_accounts, never, dtype=np.int64)
    np.minimum.at(first_deal, plan["account"], plan["created"])
    first_close = np.full(w.n_accounts, never, dtype=np.int64)
    np.minimum.at(first_close, plan["account"], np.where(plan["open"], never, plan["close"]))
    start = np.where(has, w.acc_start[acc0], -1)
    cust = start >= 0
    cust_at = np.where(cust, np.maximum(start, created + 2 * US_PER_HOUR), -1)
    fdc = np.where(has, first_deal[acc0], never)
    opp_at = np.maximum(created + US_PER_HOUR, fdc)
    # the opportunity stage needs a deal of the company, while it is still being worked
    opp = (has & (fdc < never) & (opp_at < PERIOD_END - US_PER_HOUR)
           & (created < np.where(has, first_close[acc0], never))
           & (~cust | (opp_at < cust_at)))
    opp_at = np.where(opp, opp_at, -1)
    nxt = np.where(opp, opp_at, np.where(cust, cust_at, PERIOD_END - US_PER_HOUR))
    room = nxt - created
    p_mql = np.clip(0.25 + 0.15 * np.log(w.con_activity) + 0.4 * (opp | cust), 0.05, 0.95)
    mql = (rng.random(n) < p_mql) & (room > US_PER_DAY)
    mql_at = created + (room * rng.uniform(0.05, 0.5, n)).astype(np.int64)
    sql = mql & (opp | (rng.random(n) < 0.4))
    sql_at = mql_at + ((nxt - mql_at) * rng.uniform(0.1, 0.8, n)).astype(np.int64)
    out = np.stack([created, np.where(mql, mql_at, -1), np.where(sql, sql_at, -1), opp_at, cust_at], axis=1)
    w.arrays["_lifecycle"] = out
    return out


def contact_property_history(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    """Fivetran ``contact_property_history``: one row per change of ``lifecyclestage`` (the only property seeded)."""
    times = lifecycle_times(w)
    row, stage = np.nonzero(times >= 0)  # row-major: per contact, stages in order
    at = times[row, stage]
    n = len(row)
    source = np.array(LIFECYCLE_SOURCES)[stage]
    # the lead of a contact created by a rep or an import
    r = rng.random(n)
    source = np.where((stage == 0) & (r < 0.3), "CRM_UI", np.where((stage == 0) & (r < 0.4), "IMPORT", source))
    owner_user = pc.cast(ints(w.own_user_id[w.con_owner[row]]), pa.string())
    workflow = concat("workflow:", num_str(rng.choice([41_200_117, 41_200_118, 41_205_560], size=n)))
    source_id = pc.if_else(pa.array(source == "CRM_UI"), concat("userId:", owner_user),
                           pc.if_else(pa.array(source == "AUTOMATION_PLATFORM"), workflow,
                                      pa.nulls(n, pa.string())))
    t = shape({
        "contact_id": ints(w.con_id[row]),
        "name": full("lifecyclestage", n, pa.string()),
        "timestamp": ts(at),
        "value": pick(LIFECYCLE, stage),
        "source": pa.array(source),
        "source_id": source_id,
        "_fivetran_synced": ts(synced_after(rng, at)),
        "_fivetran_deleted": bools(np.zeros(n, dtype=bool)),
    })
    return fivetran_mess(rng, t, deleted=0.0, resync=0.01)


def deal_stages(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    """Fivetran ``deal_stage`` (History Mode): one row per stage a deal entered, walking its pipeline in order.

    Sales deals enter Discovery at creation and move up (some stages skipped) to their current
    stage; a closed one then enters Closed won or Closed lost on its close date. Deals in the
    renewal pipeline go Renewal due -> Renewed. The last row of a deal is its active version.
    """
    p = deal_plan(w)
    n, stage = p["n"], p["stage"]
    slots = np.array([0, 1, 2, 3, 4, 5, 6, 8, 9])  # stage indexes of STAGES, in walking order
    renewal = stage >= 8
    closed = ~p["open"]
    # highest open stage reached: lost deals stop at some stage, won ones reached Contract sent
    top = np.where(p["open"], stage, np.where(p["won"], 4, rng.choice(OPEN_STAGES, size=n, p=[.3, .25, .2, .15, .1])))
    col = np.arange(len(slots))
    keep = rng.random((n, len(slots))) < 0.75  # reps skip some stages
    walk = (col[None, :] <= top[:, None]) & ((col[None, :] == 0) | (col[None, :] == top[:, None]) | keep)
    walk &= (col[None, :] < 5) & ~renewal[:, None]
    walk |= (slots[None, :] == stage[:, None]) & closed[:, None]
    walk |= (slots[None, :] == 8) & renewal[:, None]
    deal, slot = np.nonzero(walk)
    value = slots[slot]
    count = np.bincount(deal, minlength=n)
    first = np.concatenate([[0], np.cumsum(count)[:-1]])
    pos = np.arange(len(deal)) - first[deal]
    # entry times: the first at creation; the rest spread over the deal's life, the closing one on its close date
    gap = np.where(pos == 0, 0.0, rng.uniform(0.3, 1.0, len(deal)))
    cum = np.cumsum(gap)
    cum -= cum[first][deal]
    total = cum[first + count - 1][deal]
    frac = np.where(closed[deal], cum / np.maximum(total, 1e-9), cum / (total + rng.uniform(0.3, 1.0, len(deal))))
    end = np.where(closed, p["close"], PERIOD_END - US_PER_DAY)
    created = p["created"][deal]
    entered = created + ((end[deal] - created) * frac).astype(np.int64)
    last = pos == count[deal] - 1
    nxt = np.concatenate([entered[1:], [0]])
    exited = np.where(last, FAR_FUTURE, nxt - 1000)  # Fivetran ends a version 1 ms before the next starts
    m = len(deal)
    source = rng.choice(["CRM_UI", "AUTOMATION_PLATFORM", "API"], size=m, p=[0.8, 0.15, 0.05])
    owner_user = pc.cast(ints(w.own_user_id[w.acc_owner[p["account"][deal]]]), pa.string())
    source_id = pc.if_else(pa.array(source == "CRM_UI"), concat("userId:", owner_user),
                           pc.if_else(pa.array(source == "AUTOMATION_PLATFORM"),
                                      concat("workflow:", num_str(rng.choice([41_300_201, 41_300_202], size=m))),
                                      pa.nulls(m, pa.string())))
    synced = synced_after(rng, np.where(last, entered, nxt))
    return shape({
        "_fivetran_start": ts(entered),
        "deal_id": ints(p["deal_id"][deal]),
        "_fivetran_active": bools(last),
        "_fivetran_end": ts(exited),
        "_fivetran_synced": ts(np.maximum(synced, np.where(last, entered, nxt) + 1)),
        "date_entered": ts(entered),
        "source": pa.array(source),
        "source_id": source_id,
        "value": pick([s[0] for s in STAGES], value),
    })


def _association(rng: np.random.Generator, deal_id: np.ndarray, created: np.ndarray) -> dict[str, Any]:
    """Loader columns every association row shares: synced after the deal was created, never deleted here."""
    n = len(deal_id)
    return {"deal_id": ints(deal_id), "category": full("HUBSPOT_DEFINED", n, pa.string()),
            "_fivetran_synced": ts(synced_after(rng, np.minimum(created, PERIOD_END - US_PER_DAY))),
            "_fivetran_deleted": bools(np.zeros(n, dtype=bool))}


def deal_companies(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    """Fivetran ``deal_company``: each deal's company, once as primary (type 5) and once unlabeled (341)."""
    p = deal_plan(w)
    n = p["n"]
    company = np.tile(company_of(w, p["account"], p["created"]), 2)  # a duplicate company takes later deals
    type_id = np.repeat([DEAL_COMPANY_PRIMARY, DEAL_COMPANY_UNLABELED], n)
    t = shape({**_association(rng, np.tile(p["deal_id"], 2), np.tile(p["created"], 2)),
               "company_id": ints(company), "type_id": ints(type_id)})
    return t.take(pa.array(np.argsort(np.tile(np.arange(n), 2), kind="stable")))


def deal_contacts(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    """Fivetran ``deal_contact``: 1-3 contacts of the deal's company (none when the company has no contact)."""
    p = deal_plan(w)
    acc = w.con_account
    by_acc = np.argsort(acc, kind="stable")
    counts = np.bincount(np.maximum(acc, 0), weights=acc >= 0, minlength=w.n_accounts).astype(np.int64)
    offset = np.searchsorted(acc[by_acc], np.arange(w.n_accounts))
    have = counts[p["account"]]
    k = np.minimum(rng.choice([1, 2, 3], size=p["n"], p=[0.5, 0.3, 0.2]), have)
    deal = np.repeat(np.arange(p["n"]), k)
    j = np.arange(len(deal)) - np.repeat(np.cumsum(k) - k, k)
    a = p["account"][deal]
    r0 = rng.integers(0, np.maximum(have, 1))[deal]  # consecutive contacts from a random one: distinct
    contact = by_acc[offset[a] + (r0 + j) % counts[a]]
    return shape({**_association(rng, p["deal_id"][deal], p["created"][deal]),
                  "contact_id": ints(w.con_id[contact]), "type_id": full(DEAL_CONTACT, len(deal), pa.int64())})


def deal_pipelines(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    n = len(PIPELINES)
    created = us("2019-03-01T09:00:00") + np.arange(n) * 400 * US_PER_DAY
    modified = us("2021-06-01T09:00:00") + rng.integers(0, 900, n) * US_PER_DAY
    return shape({
        "pipeline_id": pa.array([q[0] for q in PIPELINES]),
        "label": pa.array([q[1] for q in PIPELINES]),
        "display_order": ints(np.array([q[2] for q in PIPELINES])),
        "active": bools(np.array([q[3] for q in PIPELINES])),
        "created_at": ts(created),
        "updated_at": ts(modified),
        "_fivetran_synced": ts(_end_of_period_sync(rng, modified)),
        "_fivetran_deleted": bools(np.zeros(n, dtype=bool)),
    })


TEAM_ID_BASE = 6_100_000


def teams(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    n = len(OWNER_TEAMS)
    return shape({
        "id": ints(TEAM_ID_BASE + np.arange(n) * 17),
        "name": pa.array([name for name, _ in OWNER_TEAMS]),
        "_fivetran_synced": ts(_end_of_period_sync(rng, us("2021-06-01T09:00:00")
                                                   + rng.integers(0, 900, n) * US_PER_DAY)),
        "_fivetran_deleted": bools(np.zeros(n, dtype=bool)),
    })


def owner_teams(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    """Fivetran ``owner_team``: every owner in its team, as its primary team."""
    n = len(w.own_id)
    return shape({
        "owner_id": ints(w.own_id),
        "team_id": ints(TEAM_ID_BASE + w.own_team * 17),
        "is_team_primary": bools(np.ones(n, dtype=bool)),
        "_fivetran_synced": ts(_end_of_period_sync(rng, w.own_created)),
        "_fivetran_deleted": bools(np.zeros(n, dtype=bool)),
    })


TABLES = {
    "hubspot__companies": companies,
    "hubspot__contacts": contacts,
    "hubspot__leads": leads,
    "hubspot__deals": deals,
    "hubspot__owners": owners,
    "hubspot__products": products,
    "hubspot__deal_pipeline_stages": deal_pipeline_stages,
    "hubspot__deal_stages": deal_stages,
    "hubspot__contact_property_history": contact_property_history,
    "hubspot__deal_companies": deal_companies,
    "hubspot__deal_contacts": deal_contacts,
    "hubspot__deal_pipelines": deal_pipelines,
    "hubspot__teams": teams,
    "hubspot__owner_teams": owner_teams,
}
