"""HubSpot (Fivetran HubSpot connector): companies, contacts, leads, deals, owners, products, stages."""

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
    full,
    ints,
    messy_emails,
    money,
    num_str,
    pick,
    scaled,
    synced_after,
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


def _end_of_period_sync(rng: np.random.Generator, modified: np.ndarray) -> np.ndarray:
    """Snapshot objects are synced after their last change, at the latest just before the last sync."""
    return np.minimum(synced_after(rng, modified, 0.5, 72), SYNC_END - 3 * US_PER_HOUR)


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
    # paying customers are never deleted: QuickBooks customers must map to a live company
    return fivetran_mess(rng, t, deleted=0.006, archived=0.01, protect=w.acc_is_customer | w.acc_is_test,
                         updated="property_hs_lastmodifieddate")


def contacts(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    n = w.n_contacts
    acc = w.con_account
    has = acc >= 0
    acc0 = np.maximum(acc, 0)
    customer = has & (w.acc_start[acc0] >= 0)
    lifecycle = np.where(customer, 5, rng.choice(5, size=n, p=[0.15, 0.35, 0.25, 0.15, 0.10]))
    lifecycle_names = ["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity",
                       "customer"]
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
        "property_associatedcompanyid": ints(w.acc_id[acc0], mask=~has),
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
        "property_hs_associated_company_id": ints(w.acc_id[np.maximum(acc, 0)], mask=acc < 0),
        "property_hubspot_owner_id": ints(w.own_id[w.con_owner[contact]], mask=rng.random(n) < 0.05),
        "property_createdate": ts(created),
        "property_hs_lastmodifieddate": ts(modified),
        "_fivetran_synced": ts(_end_of_period_sync(rng, modified)),
        "_fivetran_deleted": bools(np.zeros(n, dtype=bool)),
    })
    return fivetran_mess(rng, t, deleted=0.008, archived=0.01, updated="property_hs_lastmodifieddate")


def deals(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
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
    amount = mrr * 12
    closed = won | ~open_
    modified = np.minimum(np.where(open_, created, close) + rng.integers(0, 30, n) * US_PER_DAY,
                          PERIOD_END - US_PER_HOUR)
    plan = w.acc_plan[account].copy()
    plan[kind == 1] = w.exp_plan_after[:n_exp]
    plan_sku = pick([p["sku"] for p in PRODUCTS], plan)
    dealtype = pick(["newbusiness", "existingbusiness", "newbusiness", "newbusiness"], kind)
    dealtype = pc.if_else(pa.array((kind == 2) & w.acc_is_customer[account]), "existingbusiness", dealtype)
    t = shape({
        "deal_id": ints(unique_ids(rng, n, 2_000_000_000, 19_000_000_000)),
        "portal_id": full(PORTAL_ID, n, pa.int64()),
        "is_deleted": bools(np.zeros(n, dtype=bool)),
        "deal_pipeline_id": pick([s[1] for s in STAGES], stage),
        "deal_pipeline_stage_id": pick([s[0] for s in STAGES], stage),
        "owner_id": ints(w.own_id[w.acc_owner[account]], mask=rng.random(n) < 0.02),
        "associated_company_id": ints(w.acc_id[account]),
        "property_dealname": concat(w.acc_name.take(pa.array(account)),
                                    pick([" - New business", " - Expansion", " - Deal", " - Win-back"], kind)),
        "property_dealtype": dealtype,
        # reps leave the amount empty on some open and lost deals
        "property_amount": money(amount, mask=~won & (rng.random(n) < 0.08)),
        "property_hs_mrr": money(mrr, mask=~won & (rng.random(n) < 0.3)),
        "property_kcrm_product_sku": plan_sku,
        "property_createdate": ts(created),
        "property_closedate": ts(close),
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
        "user_id": ints(w.own_user_id),
        "email": w.own_email,
        "first_name": w.own_first,
        "last_name": w.own_last,
        "team_name": pick([name for name, _ in OWNER_TEAMS], w.own_team),
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


TABLES = {
    "hubspot__companies": companies,
    "hubspot__contacts": contacts,
    "hubspot__leads": leads,
    "hubspot__deals": deals,
    "hubspot__owners": owners,
    "hubspot__products": products,
    "hubspot__deal_pipeline_stages": deal_pipeline_stages,
}
