"""QuickBooks Online (Fivetran QuickBooks connector): customers, invoices, invoice lines, payments.

Billing follows the world's subscriptions: a customer is invoiced on its start day every
month (monthly plans) or every year (annual plans) from its start (or 2022-01-01) until it
churns; an annual plan sold before the period also has its last invoice before it (2021), the
one whose term covers 2022-01-01, so it is not new at its 2022 renewal. Partial churn lowers
the seats billed from its date on; a world expansion adds seats or moves the plan up a tier
(the upgraded plan's SKU and price) from the first invoice on or after ``exp_at``; a win-back
is billed again, monthly, from ``winback_at`` (after the gap) with the seats won back; about
2 % of monthly customers switch to the annual plan of their tier at a renewal (drawn from the
ledger's own stream). Invoices are in the customer's currency (USD, EUR or GBP).

Lines: the seat plan, the add-on, the 10 % loyalty discount (on the subscription lines only,
the line says so), the one-off onboarding package, a sub-total; every invoice's lines add up
to its total. Mess: 0.4 % of invoices are voided (zero amounts, lines kept at zero) and
replaced 2–6 days later by a corrected invoice (new id and number) whose lines carry the
voided period's first day as service date; 0.3 % are created twice by mistake and the copy
deleted at the source (the invoice carries ``_fivetran_deleted``; the connector captures no
deletes for its child table, so the copy's lines stay as last landed and go with their invoice in
stg). Billing events (invoices + payments) total exactly 24,000 × scale: the
number of payments is what is left after the invoices, reached by leaving some invoices unpaid
or by paying some in two instalments. A payment is applied to its invoice through a payment line
(``payment_line``: payment, index, invoice, amount); a prepayment has no line and its amount is
unapplied. Payments name their method by id (1 Credit Card, 2 ACH, 3 Wire, 4 Check); items are the
12 products of the catalog, keyed by SKU as billing lines reference them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .common import (
    HISTORY_START,
    PERIOD_END,
    PERIOD_START,
    US_PER_DAY,
    US_PER_HOUR,
    Shape,
    bools,
    choice,
    concat,
    date,
    fivetran_mess,
    hex_ids,
    ints,
    money,
    num_str,
    pick,
    scaled,
    synced_after,
    table_rng,
    ts,
)
from .world import COUNTRIES, ENRICHMENT, PRODUCTS, World, _dedupe, month_index, month_start_days

BASE_BILLING_EVENTS = 24_000
LIST_FACTOR = {"USD": 1.0, "EUR": 0.92, "GBP": 0.80}  # list prices in local currency per USD
FX_BASE = {"USD": 1.0, "EUR": 1.08, "GBP": 1.25}  # USD per unit of currency
ONBOARDING = 11
SWITCH_SHARE = 0.02  # of monthly customers, moving to the annual plan at a renewal
VOID_RATE = 0.004  # of invoices voided and replaced by a corrected invoice a few days later
DELETED_RATE = 0.003  # of invoices created twice by mistake; the copy is deleted at the source


def _fx(currency: np.ndarray, month: np.ndarray) -> np.ndarray:
    base = np.array([FX_BASE[c] for c in ("USD", "EUR", "GBP")])[currency]
    drift = 0.03 * np.sin(month / 3.0) * (currency > 0)
    return np.round(base + drift, 4)


def _currency(w: World) -> np.ndarray:
    """0 USD, 1 EUR, 2 GBP per account."""
    code = {"USD": 0, "EUR": 1, "GBP": 2}
    return np.array([code[c["cur"]] for c in COUNTRIES])[w.acc_country]


def _segments(count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(segment of each row, position of the row in its segment) for ``count`` rows per segment."""
    seg = np.repeat(np.arange(len(count)), count)
    offsets = np.cumsum(count) - count
    return seg, np.arange(int(count.sum())) - offsets[seg]


def ledger(w: World) -> dict[str, Any]:
    """Invoices and payments of the whole period, computed once per world."""
    if "_ledger" in w.arrays:
        return w.arrays["_ledger"]
    rng = table_rng(w.seed, "quickbooks-ledger")
    never = np.iinfo(np.int64).max
    cust = np.flatnonzero(w.acc_is_customer & ~w.acc_is_test)
    start = w.acc_start[cust]
    annual0 = w.acc_annual[cust]
    step = np.where(annual0, 12, 1)
    m0 = month_index(start)
    d0 = np.minimum(((start // US_PER_DAY) - month_start_days(m0)) + 1, 28)
    end = w.account_end()[cust]
    m_end = month_index(end)
    d_end = (end // US_PER_DAY) - month_start_days(m_end) + 1
    m_max = np.where(d0 < d_end, m_end, m_end - 1)
    m_p = int(month_index(np.array([PERIOD_START]))[0])
    k_lo = np.maximum(0, -((m0 - m_p) // step))  # ceil((m_p - m0) / step)
    # an annual plan sold before the period: its last invoice before the period (2021) is there too
    k_lo = np.where(annual0 & (start < PERIOD_START), np.maximum(0, k_lo - 1), k_lo)
    k_hi = np.floor_divide(m_max - m0, step)
    # plan switches: a few monthly customers move to the annual plan at a renewal
    busy = np.zeros(w.n_accounts, dtype=bool)
    busy[w.exp_account] = True
    busy[w.winback_account] = True
    sw_lo = np.maximum(m_p, m0 + 3)
    pool = np.flatnonzero(~annual0 & (w.acc_churn[cust] < 0) & ~busy[cust] & (m_max - sw_lo >= 1))
    n_sw = min(len(pool), round(SWITCH_SHARE * int((~annual0).sum())))
    sw = np.sort(rng.choice(pool, size=n_sw, replace=False))
    sw_month = sw_lo[sw] + (rng.random(n_sw) * (m_max[sw] - sw_lo[sw])).astype(np.int64)
    k_hi[sw] = sw_month - m0[sw] - 1
    # win-backs: billing resumes on the win-back day, monthly, with the seats won back
    wb = w.winback_account
    wb_m0 = month_index(w.winback_at)
    wb_day = w.winback_at // US_PER_DAY
    wb_d0 = np.minimum(wb_day - month_start_days(wb_m0) + 1, 28)
    wb_hi = (int(month_index(np.array([PERIOD_END - US_PER_DAY]))[0]) - wb_m0)
    # segments of regular invoicing: 0 as sold, 1 annual after a switch, 2 after a win-back
    pos = np.full(w.n_accounts, -1, dtype=np.int64)
    pos[cust] = np.arange(len(cust))
    seg_acc = np.concatenate([cust, cust[sw], wb])
    seg_kind = np.repeat([0, 1, 2], [len(cust), n_sw, len(wb)])
    seg_m0 = np.concatenate([m0, sw_month, wb_m0])
    seg_d0 = np.concatenate([d0, d0[sw], wb_d0])
    seg_step = np.concatenate([step, np.full(n_sw, 12), np.ones(len(wb), dtype=np.int64)])
    seg_lo = np.concatenate([k_lo, np.zeros(n_sw + len(wb), dtype=np.int64)])
    seg_hi = np.concatenate([k_hi, (m_max[sw] - sw_month) // 12, wb_hi])
    seg_plan = np.concatenate([w.acc_plan[cust], w.acc_plan[cust[sw]] | 1, w.acc_plan[wb]])
    seg_seats = np.concatenate([w.acc_seats[cust], w.acc_seats[cust[sw]], w.winback_seats])
    seg_day0 = np.concatenate([np.full(len(cust) + n_sw, -1), wb_day])
    seg, j = _segments(np.maximum(0, seg_hi - seg_lo + 1))
    k = seg_lo[seg] + j
    month = seg_m0[seg] + k * seg_step[seg]
    day = np.where((k == 0) & (seg_day0[seg] >= 0), seg_day0[seg], month_start_days(month) + seg_d0[seg] - 1)
    acc = seg_acc[seg]
    nb = len(acc)
    # seats: expansions add seats (or move up a tier) from their date on, partial churn removes some
    exp_at = np.full(w.n_accounts, never)
    exp_at[w.exp_account] = w.exp_at
    exp_add = np.zeros(w.n_accounts, dtype=np.int64)
    exp_add[w.exp_account] = w.exp_seats_added
    exp_plan = np.full(w.n_accounts, -1, dtype=np.int64)
    exp_plan[w.exp_account] = w.exp_plan_after
    part_at = np.full(w.n_accounts, never)
    part_seats = np.zeros(w.n_accounts, dtype=np.int64)
    part_at[w.partial_account] = w.partial_at
    part_seats[w.partial_account] = w.partial_seats
    at = day * US_PER_DAY
    expanded = at >= exp_at[acc]
    plan = np.where(expanded, exp_plan[acc], seg_plan[seg])
    seats = seg_seats[seg] + np.where(expanded, exp_add[acc], 0)
    seats = np.where(at >= part_at[acc], np.maximum(1, seats - part_seats[acc]), seats)
    first = (seg_kind[seg] == 0) & (k == 0) & (w.acc_start[acc] >= PERIOD_START)
    onboarding = first & (rng.random(nb) < 0.25)
    # voided invoices are replaced a few days later by a corrected one for the same period; a few
    # invoices are created twice by mistake and the copy deleted at the source
    in_period = day * US_PER_DAY >= PERIOD_START
    void_src = np.flatnonzero(in_period & (rng.random(nb) < VOID_RATE))
    dup_src = np.flatnonzero(in_period & (rng.random(nb) < DELETED_RATE))
    src = np.concatenate([np.arange(nb), void_src, dup_src])
    kind = np.repeat([0, 2, 3], [nb, len(void_src), len(dup_src)])  # 1 voided, 2 its correction, 3 deleted copy
    kind[void_src] = 1
    service_day = day[src]  # the first day of the period billed: a correction bills the voided period
    day = np.concatenate([day, day[void_src] + rng.integers(2, 7, len(void_src)), day[dup_src]])
    acc, month = acc[src], month_index(day * US_PER_DAY)
    plan, seats, onboarding = plan[src], seats[src], onboarding[src]
    # order invoices by date: ids and document numbers follow it
    order = np.lexsort((kind, acc, day))
    acc, day, month, plan, seats, onboarding, kind, service_day = (
        x[order] for x in (acc, day, month, plan, seats, onboarding, kind, service_day))
    n = len(acc)
    voided = kind == 1
    deleted = kind == 3
    currency = _currency(w)[acc]
    factor = np.array([LIST_FACTOR[c] for c in ("USD", "EUR", "GBP")])[currency]
    annual = np.array([p["billing"] == "annually" for p in PRODUCTS])[plan]
    unit = np.round(np.array([p["price"] for p in PRODUCTS])[plan] * factor, 0)
    plan_amount = seats * unit
    addon = w.acc_addon[acc]
    addon_unit = np.round(PRODUCTS[ENRICHMENT]["price"] * factor * np.where(annual, 12, 1), 0)
    onboarding_amount = np.round(PRODUCTS[ONBOARDING]["price"] * factor, 0)
    # the loyalty discount is on the subscription lines (seat plan and add-on), not on onboarding
    discount = np.where(w.acc_discount[acc], np.round((plan_amount + addon * addon_unit) * 0.1, 2), 0.0)
    total_amount = plan_amount + addon * addon_unit + onboarding * onboarding_amount - discount
    total_amount = np.where(voided, 0.0, total_amount)
    # payments
    target = scaled(BASE_BILLING_EVENTS, w.scale) - n
    method = rng.choice(4, size=n, p=[0.6, 0.25, 0.1, 0.05])  # card, ACH, wire, check
    lag_lo = np.array([0, 4, 8, 12])[method]
    lag_hi = np.array([4, 20, 40, 45])[method]
    lag = lag_lo + (rng.random(n) * (lag_hi - lag_lo)).astype(np.int64)
    pay_day = day + lag
    payable = ~voided & ~deleted & ((pay_day + 1) * US_PER_DAY < PERIOD_END)
    cand = np.flatnonzero(payable)
    unapplied = max(0, round(0.01 * target))
    applied = max(0, target - unapplied)
    if applied <= len(cand):
        paid = np.sort(rng.choice(cand, size=applied, replace=False))
        split = np.zeros(0, dtype=np.int64)
    else:
        paid = cand
        split = np.sort(rng.choice(cand, size=min(applied - len(cand), len(cand)), replace=False))
        unapplied = target - len(paid) - len(split)
    is_paid = np.zeros(n, dtype=bool)
    is_paid[paid] = True
    balance = np.where(is_paid | deleted, 0.0, total_amount)
    # payment rows: full payments, then second instalments of split invoices, then prepayments
    split_first = np.round(total_amount[split] * rng.uniform(0.3, 0.7, len(split)), 2)
    pay_inv = np.concatenate([paid, split, np.full(unapplied, -1)])
    pay_amount = np.concatenate([total_amount[paid], total_amount[split] - split_first, np.zeros(unapplied)])
    if len(split):  # the first instalment of a split invoice is paid with the regular payment
        in_split = np.isin(paid, split)
        pay_amount[: len(paid)][in_split] = split_first[np.searchsorted(split, paid[in_split])]
    pay_day_all = np.concatenate([pay_day[paid], np.minimum(pay_day[split] + rng.integers(10, 30, len(split)),
                                                            PERIOD_END // US_PER_DAY - 1),
                                  np.zeros(unapplied, dtype=np.int64)])
    pay_acc = np.concatenate([acc[paid], acc[split], np.zeros(unapplied, dtype=np.int64)])
    if unapplied:
        pre = cand[rng.integers(0, len(cand), unapplied)]  # a prepayment by a customer around one of its invoices
        pay_acc[-unapplied:] = acc[pre]
        pay_day_all[-unapplied:] = np.maximum(day[pre] - rng.integers(1, 20, unapplied),
                                              PERIOD_START // US_PER_DAY)
        pay_amount[-unapplied:] = np.round(total_amount[pre] * rng.uniform(0.2, 1.0, unapplied), 2)
    pay_method = np.concatenate([method[paid], method[split], rng.integers(0, 4, unapplied)])
    result = dict(
        acc=acc, day=day, month=month, currency=currency, seats=seats, unit=unit, plan_amount=plan_amount,
        addon=addon, addon_unit=addon_unit, onboarding=onboarding, onboarding_amount=onboarding_amount,
        discount=discount, voided=voided, deleted=deleted, corrects=kind == 2, service_day=service_day, plan=plan,
        total=total_amount, balance=balance, is_paid=is_paid,
        annual=annual, pay_inv=pay_inv, pay_amount=pay_amount, pay_day=pay_day_all, pay_acc=pay_acc,
        pay_method=pay_method, pay_unapplied=pay_inv < 0, customers=cust,
    )
    w.arrays["_ledger"] = result
    return result


def _customer_ids(w: World) -> np.ndarray:
    """QuickBooks customer id (a number) per account; -1 for accounts that are not customers."""
    cust = np.flatnonzero(w.acc_is_customer & ~w.acc_is_test)
    order = np.argsort(w.acc_start[cust], kind="stable")
    ids = np.full(w.n_accounts, -1, dtype=np.int64)
    ids[cust[order]] = 58 + np.arange(len(cust))
    return ids


def _invoice_ids(n: int) -> np.ndarray:
    return 1_000 + np.arange(n)


def customers(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    led = ledger(w)
    cust = led["customers"]
    n = len(cust)
    ids = _customer_ids(w)[cust]
    # the billing contact: a random contact of the account, else accounts payable
    perm = rng.permutation(w.n_contacts)
    acc_of = w.con_account[perm]
    uniq, first = np.unique(acc_of, return_index=True)
    contact_of = np.full(w.n_accounts, -1, dtype=np.int64)
    valid = uniq >= 0
    contact_of[uniq[valid]] = perm[first[valid]]
    contact = contact_of[cust]
    has_contact = contact >= 0
    c0 = np.maximum(contact, 0)
    given = pc.if_else(pa.array(has_contact), pick(w.con_first, c0), "Accounts")
    family = pc.if_else(pa.array(has_contact), pick(w.con_last, c0), "Payable")
    domain = pick(w.acc_domain, cust)
    billing_box = rng.random(n) < 0.4
    email = pc.if_else(pa.array(has_contact & ~billing_box), pick(w.con_email, c0),
                       concat(choice(rng, ["billing@", "accounts@", "finance@", "ap@"], n), domain))
    individual = has_contact & (rng.random(n) < 0.05)
    display = pc.if_else(pa.array(individual), concat(given, " ", family), pick(w.acc_name, cust))
    display = _dedupe(display)
    legal = pick([c["legal"] for c in COUNTRIES], w.acc_country[cust])
    company = pc.if_else(pa.array(individual), pa.nulls(n, pa.string()), concat(pick(w.acc_name, cust), " ", legal))
    # the website is the account's domain, except (hubspot.company_plan) a rebranded customer's, still
    # the old domain (its billing email is at the new one), and a subsidiary's, its parent's domain
    from .hubspot import company_plan

    plan = company_plan(w)
    site_of = np.asarray(w.acc_domain.to_pylist(), dtype=object)
    site_of[plan["rebrand_account"]] = plan["rebrand_old_domain"].to_pylist()
    site_of[plan["subsidiary_account"]] = site_of[plan["subsidiary_parent"]]
    planted = np.isin(cust, np.concatenate([plan["rebrand_account"], plan["subsidiary_account"]]))
    site = pa.array(site_of[cust], pa.string())
    r = rng.random(n)
    website = pc.if_else(pa.array(r < 0.35), concat("www.", site),
                         pc.if_else(pa.array(r < 0.6), concat("https://", site),
                                    pc.if_else(pa.array(r < 0.7), concat("http://www.", site, "/"), site)))
    website = pc.if_else(pa.array((individual | (rng.random(n) < 0.03)) & ~planted), pa.nulls(n, pa.string()),
                         website)
    pos = np.searchsorted(cust, led["acc"])
    balance = np.bincount(pos, weights=led["balance"], minlength=n)
    currency = _currency(w)[cust]
    created = w.acc_start[cust] - rng.integers(1, 10, n) * US_PER_DAY
    last_inv = np.full(n, 0, dtype=np.int64)
    np.maximum.at(last_inv, pos, led["day"] * US_PER_DAY + 10 * US_PER_HOUR)
    updated = np.minimum(np.maximum(created + US_PER_HOUR, last_inv), PERIOD_END - US_PER_HOUR)
    churned = w.acc_churn[cust] >= 0
    phone = concat(pick([c["phone"] for c in COUNTRIES], w.acc_country[cust]), " ",
                   num_str(rng.integers(100, 999, n)), " ", num_str(rng.integers(100_000, 9_999_999, n)))
    t = shape({
        "id": pc.cast(ints(ids), pa.string()),
        "display_name": display,
        "company_name": company,
        "given_name": given,
        "family_name": family,
        "email": email,
        "phone_number": pc.if_else(pa.array(rng.random(n) < 0.4), pa.nulls(n, pa.string()), phone),
        "website": website,
        "balance": money(balance),
        "currency_id": pick(["USD", "EUR", "GBP"], currency),
        "active": bools(~(churned & (rng.random(n) < 0.6))),
        "taxable": bools((w.acc_country[cust] == 0) & (rng.random(n) < 0.7)),
        "created_at": ts(created),
        "updated_at": ts(updated),
        "_fivetran_synced": ts(synced_after(rng, updated, 1, 48)),
        "_fivetran_deleted": bools(np.zeros(n, dtype=bool)),
    })
    return fivetran_mess(rng, t, deleted=0.0, updated="updated_at")


def invoices(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    led = ledger(w)
    n = len(led["acc"])
    day = led["day"]
    created = day * US_PER_DAY + rng.integers(6, 20, n) * US_PER_HOUR
    pay_day = np.full(n, -1, dtype=np.int64)
    applied = led["pay_inv"] >= 0
    np.maximum.at(pay_day, led["pay_inv"][applied], led["pay_day"][applied])
    updated = np.where(pay_day >= 0, pay_day * US_PER_DAY + 15 * US_PER_HOUR, created + US_PER_HOUR)
    updated = np.minimum(np.maximum(updated, created + US_PER_HOUR), PERIOD_END - US_PER_HOUR)
    note = concat("PO required - contact ", pick(w.con_first, rng.integers(0, w.n_contacts, n)), " ",
                  pick(w.con_last, rng.integers(0, w.n_contacts, n)), " before sending")
    terms = np.where(rng.random(n) < 0.8, 30, 15)
    t = shape({
        "id": num_str(_invoice_ids(n)),
        "doc_number": num_str(10_001 + np.arange(n)),
        "customer_id": pc.cast(ints(_customer_ids(w)[led["acc"]]), pa.string()),
        "transaction_date": date(day),
        "due_date": date(day + terms),
        "total_amount": money(led["total"]),
        "balance": money(led["balance"]),
        "currency_id": pick(["USD", "EUR", "GBP"], led["currency"]),
        "exchange_rate": money(_fx(led["currency"], led["month"]), digits=4),
        "email_status": choice(rng, ["EmailSent", "NotSet", "NeedToSend"], n, [0.92, 0.05, 0.03]),
        "private_note": pc.if_else(pa.array(rng.random(n) < 0.04), note, pa.nulls(n, pa.string())),
        "created_at": ts(created),
        "updated_at": ts(updated),
        "_fivetran_synced": ts(synced_after(rng, updated, 0.5, 30)),
        # a copy created by mistake is deleted at the source; nothing else is
        "_fivetran_deleted": bools(led["deleted"]),
    })
    return fivetran_mess(rng, t, deleted=0.0, updated="updated_at")


def invoice_lines(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    led = ledger(w)
    n = len(led["acc"])
    idx = np.arange(n)
    voided = led["voided"]
    zero = np.where(voided, 0.0, 1.0)
    plan = led["plan"]
    parts = []  # (invoice, order, kind, item product or -1, quantity, unit price, amount)

    def add(sel: np.ndarray, order: int, kind: int, item: np.ndarray, qty: np.ndarray, unit: np.ndarray,
            amount: np.ndarray) -> None:
        parts.append((idx[sel], np.full(sel.sum(), order), np.full(sel.sum(), kind), item[sel], qty[sel],
                      unit[sel], amount[sel]))

    # the subscription lines, their discount, then the one-off onboarding line, then the sub-total
    everything = np.ones(n, dtype=bool)
    add(everything, 0, 0, plan, led["seats"].astype(float), led["unit"], led["plan_amount"] * zero)
    add(led["addon"], 1, 0, np.full(n, ENRICHMENT), np.ones(n), led["addon_unit"], led["addon_unit"] * zero)
    add(led["discount"] > 0, 2, 1, np.full(n, -1), np.full(n, np.nan), np.full(n, np.nan), led["discount"] * zero)
    add(led["onboarding"], 3, 0, np.full(n, ONBOARDING), np.ones(n), led["onboarding_amount"],
        led["onboarding_amount"] * zero)
    subtotal = (led["plan_amount"] + led["addon"] * led["addon_unit"]
                + led["onboarding"] * led["onboarding_amount"]) * zero
    add(everything, 4, 2, np.full(n, -1), np.full(n, np.nan), np.full(n, np.nan), subtotal)
    inv, order, kind, item, qty, unit, amount = (np.concatenate(x) for x in zip(*parts, strict=True))
    sort = np.lexsort((order, inv))
    inv, kind, item, qty, unit, amount = inv[sort], kind[sort], item[sort], qty[sort], unit[sort], amount[sort]
    m = len(inv)
    starts = np.concatenate([[0], np.flatnonzero(np.diff(inv)) + 1])
    counts = np.diff(np.concatenate([starts, [m]]))
    index = np.arange(m) - np.repeat(starts, counts)
    sales = kind == 0
    descr_vocab = [f"K CRM {p['name']}" for p in PRODUCTS]
    item0 = np.maximum(item, 0)
    descr = pc.if_else(pa.array(sales), pick(descr_vocab, item0),
                       pc.if_else(pa.array(kind == 1), "Loyalty discount 10% on subscription lines",
                                  pa.nulls(m, pa.string())))
    inv_day = led["day"][inv]
    # the service date is the first day of the period billed: always on a corrected invoice (it bills
    # the voided invoice's period), on a few other lines
    service = sales & (led["corrects"][inv] | (rng.random(m) < 0.05))
    synced = synced_after(rng, inv_day * US_PER_DAY + 20 * US_PER_HOUR, 0.5, 30)
    us_customer = w.acc_country[led["acc"][inv]] == 0
    t = shape({
        "invoice_id": num_str(_invoice_ids(n)[inv]),
        "index": ints(index),
        "detail_type": pick(["SalesItemLineDetail", "DiscountLineDetail", "SubTotalLineDetail"], kind),
        "description": descr,
        "amount": money(amount),
        # K CRM keys QuickBooks items by the product SKU, so billing lines join the product catalog
        "sales_item_item_id": pc.if_else(pa.array(sales), pick([p["sku"] for p in PRODUCTS], item0),
                                         pa.nulls(m, pa.string())),
        "sales_item_quantity": money(np.nan_to_num(qty), mask=~sales, digits=0),
        "sales_item_unit_price": money(np.nan_to_num(unit), mask=~sales),
        "sales_item_service_date": date(led["service_day"][inv], mask=~service),
        "sales_item_tax_code_id": pc.if_else(pa.array(sales), pc.if_else(pa.array(us_customer), "TAX", "NON"),
                                             pa.nulls(m, pa.string())),
        "_fivetran_synced": ts(synced),
        # no _fivetran_deleted: the connector does not capture deletes for this child table, so the
        # lines of a deleted invoice stay as last landed (stg drops them with their invoice)
    })
    return fivetran_mess(rng, t, deleted=0.0, resync=0.015)


PAYMENT_METHODS = ["Credit Card", "ACH", "Wire", "Check"]  # QuickBooks payment method ids 1..4


def _payment_ids(led: dict[str, Any]) -> np.ndarray:
    """QuickBooks payment id per ledger payment: numbered by date of receipt after the invoices."""
    acc, day = led["pay_acc"], led["pay_day"]
    order = np.lexsort((acc, day))
    ids = np.empty(len(acc), dtype=np.int64)
    ids[order] = 1_000 + len(led["acc"]) + np.arange(len(acc))
    return ids


def payments(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    led = ledger(w)
    n = len(led["pay_inv"])
    unapplied = led["pay_unapplied"]
    acc = led["pay_acc"]
    currency = _currency(w)[acc]
    day = led["pay_day"]
    created = day * US_PER_DAY + rng.integers(8, 20, n) * US_PER_HOUR
    updated = np.minimum(created + rng.integers(0, 72, n) * US_PER_HOUR, PERIOD_END - US_PER_HOUR)
    method = led["pay_method"]
    amount = led["pay_amount"]
    reference = pc.if_else(pa.array(method == 0), concat("ch_", hex_ids(rng, n, 12)),
                           concat("TRN", num_str(rng.integers(10**8, 10**9, n))))
    t = shape({
        "id": num_str(_payment_ids(led)),
        "customer_id": pc.cast(ints(_customer_ids(w)[acc]), pa.string()),
        # the invoices a payment settles are its payment lines (quickbooks__payment_lines)
        "transaction_date": date(day),
        # null amounts: the real export has payments whose amount sits only on their lines
        "total_amount": money(amount, mask=rng.random(n) < 0.012),
        "unapplied_amount": money(np.where(unapplied, amount, 0.0)),
        "currency_id": pick(["USD", "EUR", "GBP"], currency),
        "exchange_rate": money(_fx(currency, month_index(day * US_PER_DAY)), digits=4),
        "payment_method_id": num_str(method + 1),
        "reference_number": pc.if_else(pa.array(method == 3), pa.nulls(n, pa.string()), reference),
        "deposit_to_account_id": pc.if_else(pa.array(method == 0), "4", "35"),
        "created_at": ts(created),
        "updated_at": ts(updated),
        "_fivetran_synced": ts(synced_after(rng, updated, 0.5, 30)),
        "_fivetran_deleted": bools(np.zeros(n, dtype=bool)),
    })
    return fivetran_mess(rng, t, deleted=0.002, updated="updated_at")


def payment_lines(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    """How each payment is applied: one line per invoice it settles (an instalment settles part of one).

    A prepayment (unapplied amount) has no line; a payment's lines plus its unapplied amount make
    its total. No ``_fivetran_deleted``: deletes are not captured for this child table.
    """
    led = ledger(w)
    applied = np.flatnonzero(~led["pay_unapplied"])
    m = len(applied)
    synced = synced_after(rng, led["pay_day"][applied] * US_PER_DAY + 20 * US_PER_HOUR, 0.5, 30)
    t = shape({
        "payment_id": num_str(_payment_ids(led)[applied]),
        "index": ints(np.zeros(m, dtype=np.int64)),
        "invoice_id": num_str(_invoice_ids(len(led["acc"]))[led["pay_inv"][applied]]),
        "amount": money(led["pay_amount"][applied]),
        "_fivetran_synced": ts(synced),
    })
    return fivetran_mess(rng, t, deleted=0.0, resync=0.01)


def items(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    """The product catalog as QuickBooks items: one service item per SKU (K CRM keys items by SKU)."""
    n = len(PRODUCTS)
    sku = pa.array([p["sku"] for p in PRODUCTS])
    created = HISTORY_START - rng.integers(30, 400, n) * US_PER_DAY
    updated = PERIOD_START + rng.integers(0, 700, n) * US_PER_DAY  # descriptions and prices edited since
    t = shape({
        "id": sku,
        "name": pa.array([p["name"] for p in PRODUCTS]),
        "fully_qualified_name": pa.array([p["name"] for p in PRODUCTS]),
        "description": concat("K CRM ", pa.array([p["name"] for p in PRODUCTS])),
        "stock_keeping_unit": sku,
        "type": pa.array(["Service"] * n),
        "unit_price": money(np.array([p["price"] for p in PRODUCTS])),
        "income_account_id": pa.array(["79"] * n),
        "active": bools(np.ones(n, dtype=bool)),
        "taxable": bools(np.ones(n, dtype=bool)),
        "sub_item": bools(np.zeros(n, dtype=bool)),
        "sync_token": num_str(rng.integers(0, 4, n)),
        "created_at": ts(created),
        "updated_at": ts(updated),
        "_fivetran_synced": ts(synced_after(rng, updated, 0.5, 30)),
        "_fivetran_deleted": bools(np.zeros(n, dtype=bool)),
    })
    return t


TABLES = {
    "quickbooks__customers": customers,
    "quickbooks__invoices": invoices,
    "quickbooks__invoice_lines": invoice_lines,
    "quickbooks__payments": payments,
    "quickbooks__payment_lines": payment_lines,
    "quickbooks__items": items,
}
