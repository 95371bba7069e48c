"""HubSpot line items (Fivetran ``line_item``) and their deal associations (``line_item_deal``).

The products quoted on each deal of :func:`hubspot.deal_plan`, consistent with the deal:

* **won new business**: the seat plan (SKU = the deal's ``property_kcrm_product_sku``, quantity =
  the account's seats, price = list price per seat per billing period), the enrichment add-on
  (quantity 1) where the account has it, the onboarding package (one-off, list price, never
  discounted) on ~40 % of them; the account's 10 % discount as ``hs_discount_percentage`` on the
  recurring lines;
* **won expansion**: the added seats of the plan (list price, the account's discount), or for an
  upgrade the new plan on every seat with a unit discount of the old plan's price (the credit for the
  plan it replaces) plus the account's 10 % of the difference;
* **win-back**: the returning seats at list price;
* **open and lost deals**: ~85 % have lines: the deal's SKU on the account's seats at the rep's
  quoted unit price (the deal's MRR per seat and billing period, not necessarily the list price), and
  the onboarding package on ~25 % of those with prospects.

The rule, tested on the built core: for every deal with lines, the sum over its recurring lines of
``quantity × price − discount`` divided by the billing period in months (1 monthly, 12 annually;
``hs_recurring_billing_period`` P1M / P12M) equals the deal's ``property_hs_mrr`` within 1 %
(rounding to cents). ``discount`` is HubSpot's *unit* discount (currency per unit), so a line's total
discount is ``quantity × discount`` or ``quantity × price × hs_discount_percentage / 100``.

Loader mess: one row per line item (updated in place); ~1 % of the lines of lost or open deals
deleted at the source (``_fivetran_deleted``), 2 % rewritten later (``hs_lastmodifieddate``). Lines
of won deals are never deleted. The association table lands every line's deal (type 20, line item
to deal) and has no ``_fivetran_deleted`` column in the evidence.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from .common import (
    PERIOD_END,
    SYNC_END,
    US_PER_DAY,
    US_PER_HOUR,
    US_PER_SEC,
    Shape,
    bools,
    fivetran_mess,
    floats,
    full,
    ints,
    money,
    pick,
    synced_after,
    table_rng,
    ts,
    unique_ids,
)
from .hubspot import deal_plan
from .world import ENRICHMENT, PRODUCTS, World

PRODUCT_ID_BASE, PRODUCT_ID_STEP = 1_500_000_000, 7919  # hubspot.products: id = base + index * step
ONBOARDING = len(PRODUCTS) - 1
LINE_ITEM_TO_DEAL = 20  # HubSpot v4 association type id, HUBSPOT_DEFINED "line item to deal"
_PERIOD_MONTHS = np.array([12 if p["billing"] == "annually" else 1 for p in PRODUCTS])
_PRICE = np.array([p["price"] for p in PRODUCTS])


def line_item_plan(w: World) -> dict[str, Any]:
    """Every line item: its deal (index into the deal plan), product, quantity, price and discounts."""
    if "_line_item_plan" in w.arrays:
        return w.arrays["_line_item_plan"]
    rng = table_rng(w.seed, "hubspot__line_items-plan")
    p = deal_plan(w)
    n, account, kind, n_exp = p["n"], p["account"], p["kind"], p["n_exp"]
    plan = w.acc_plan[account].copy()
    plan[kind == 1] = w.exp_plan_after[:n_exp]
    seats = w.acc_seats[account].copy()
    disc = w.acc_discount[account] & (kind <= 1)  # the account's negotiated discount on what it bought
    has_lines = (kind != 2) | (rng.random(n) < 0.85)
    exp_idx = np.flatnonzero(kind == 1)
    upgrade = np.zeros(n, dtype=bool)
    upgrade[exp_idx] = w.exp_plan_after[:n_exp] != w.acc_plan[account[exp_idx]]
    old_plan = w.acc_plan[account]
    added = np.zeros(n, dtype=np.int64)
    added[exp_idx] = w.exp_seats_added[:n_exp]
    seats = np.where((kind == 1) & ~upgrade, added, seats)
    wb_idx = np.flatnonzero(kind == 3)
    seats[wb_idx] = w.winback_seats[: len(wb_idx)]
    months = _PERIOD_MONTHS[plan]
    list_price = _PRICE[plan]
    # open and lost deals: the rep's quoted price per seat and billing period, from the deal's MRR
    quoted = np.round(p["mrr"] * months / np.maximum(seats, 1), 2)
    price = np.where(kind == 2, quoted, list_price)
    unit_discount = np.where(upgrade, _PRICE[old_plan] + np.where(disc, 0.1 * (list_price - _PRICE[old_plan]), 0),
                             0.0)
    pct = np.where(disc & ~upgrade, 10.0, 0.0)

    # seat line of every deal with lines; add-on and onboarding lines of some
    seat = np.flatnonzero(has_lines)
    addon = np.flatnonzero(has_lines & (kind == 0) & w.acc_addon[account])
    onboard = np.flatnonzero(has_lines & (((kind == 0) & (rng.random(n) < 0.4))
                                          | ((kind == 2) & ~w.acc_is_customer[account] & (rng.random(n) < 0.25))))
    deal = np.concatenate([seat, addon, onboard])
    product = np.concatenate([plan[seat], np.full(len(addon), ENRICHMENT), np.full(len(onboard), ONBOARDING)])
    quantity = np.concatenate([seats[seat], np.ones(len(addon) + len(onboard), np.int64)])
    line_price = np.concatenate([price[seat], _PRICE[[ENRICHMENT] * len(addon)],
                                 _PRICE[[ONBOARDING] * len(onboard)]])
    line_unit_discount = np.concatenate([unit_discount[seat], np.zeros(len(addon) + len(onboard))])
    line_pct = np.concatenate([pct[seat], pct[addon], np.zeros(len(onboard))])
    position = np.concatenate([np.zeros(len(seat), np.int64), np.ones(len(addon), np.int64),
                               np.full(len(onboard), 2)])
    order = np.lexsort((position, deal))
    out: dict[str, Any] = dict(deal=deal[order], product=product[order], quantity=quantity[order],
                               price=line_price[order], unit_discount=line_unit_discount[order],
                               pct=line_pct[order], position=position[order])
    m = len(deal)
    # created with the deal (a few minutes to 2 days later), never after the period
    created = np.minimum(p["created"][out["deal"]] + rng.integers(60, 2 * 86_400, m) * US_PER_SEC,
                         PERIOD_END - 2 * US_PER_HOUR)
    out["created"] = created
    out["modified"] = np.minimum(np.maximum(created, p["modified"][out["deal"]]), PERIOD_END - US_PER_HOUR)
    out["id"] = unique_ids(rng, m, 30_000_000_000, 39_000_000_000)
    out["n"] = m
    w.arrays["_line_item_plan"] = out
    return out


def line_items(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    li = line_item_plan(w)
    p = deal_plan(w)
    m, product = li["n"], li["product"]
    billing = [pr["billing"] for pr in PRODUCTS]
    period = [None if b is None else ("P12M" if b == "annually" else "P1M") for b in billing]
    start = p["close"][li["deal"]]
    recurring = np.array([b is not None for b in billing])[product]
    currency = pick(["USD"], np.zeros(m, np.int64), mask=rng.random(m) >= 0.7)  # often left unset
    users = np.array([9_100_001, 9_100_002, 9_100_003, 9_100_005, 9_100_008, 9_100_013])
    creator = users[rng.integers(0, len(users), m)]
    updater = np.where(rng.random(m) < 0.7, creator, users[rng.integers(0, len(users), m)])
    t = shape({
        "id": ints(li["id"]),
        "product_id": ints(PRODUCT_ID_BASE + product * PRODUCT_ID_STEP),
        "is_deleted": bools(np.zeros(m, dtype=bool)),
        "property_name": pick([pr["name"] for pr in PRODUCTS], product),
        "property_price": money(li["price"]),
        "property_quantity": floats(li["quantity"].astype(float)),
        "property_discount": money(li["unit_discount"], mask=li["unit_discount"] == 0),
        "property_hs_discount_percentage": floats(li["pct"], mask=li["pct"] == 0),
        "property_hs_sku": pick([pr["sku"] for pr in PRODUCTS], product),
        "property_hs_cost_of_goods_sold": money(_PRICE[product] * 0.18),
        "property_recurringbillingfrequency": pick(billing, product),
        "property_hs_recurring_billing_period": pick(period, product),
        "property_hs_recurring_billing_start_date": ts(np.maximum(start, 0), mask=~recurring | (start <= 0)),
        "property_hs_line_item_currency_code": currency,
        "property_hs_position_on_quote": ints(li["position"]),
        "property_hs_object_id": ints(li["id"]),
        "property_createdate": ts(li["created"]),
        "property_hs_lastmodifieddate": ts(li["modified"]),
        "property_hs_created_by_user_id": ints(creator),
        "property_hs_updated_by_user_id": ints(updater),
        "_fivetran_synced": ts(np.minimum(synced_after(rng, li["modified"], 0.5, 72), SYNC_END - 3 * US_PER_HOUR)),
        "_fivetran_deleted": bools(np.zeros(m, dtype=bool)),
    })
    return fivetran_mess(rng, t, deleted=0.01, protect=p["won"][li["deal"]], updated="property_hs_lastmodifieddate")


def line_item_deals(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    li = line_item_plan(w)
    p = deal_plan(w)
    m = li["n"]
    return shape({
        "line_item_id": ints(li["id"]),
        "deal_id": ints(p["deal_id"][li["deal"]]),
        "type_id": full(LINE_ITEM_TO_DEAL, m, pa.int64()),
        "category": full("HUBSPOT_DEFINED", m, pa.string()),
        "_fivetran_synced": ts(synced_after(rng, np.minimum(li["created"], PERIOD_END - US_PER_DAY))),
    })


TABLES = {"hubspot__line_items": line_items, "hubspot__line_item_deals": line_item_deals}
