"""Mixpanel (Fivetran Mixpanel connector): the product's events.

App users are the contacts who signed up; they log events from their sign-up (or
2022-01-01) until their account churns, so churned accounts go quiet. Once identified, an
event's ``distinct_id`` is the user's K CRM user id — their email address in lower case —
and before identify (a few sessions) it is ``$device:<device id>``. Generated in chunks so a
large scale never holds all events in memory at once.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .common import (
    PERIOD_START,
    SYNC_END,
    US_PER_DAY,
    US_PER_HOUR,
    Shape,
    bools,
    concat,
    fivetran_mess,
    hex_ids,
    ints,
    num_str,
    pick,
    scaled,
    table_rng,
    ts,
)
from .world import COUNTRIES, TIER_NAMES, World

CHUNK_ROWS = 400_000
USAGE_EVENTS = ["Report Created", "Contact Imported", "Deal Updated", "Email Sent", "Task Completed",
                "Pipeline Viewed", "Dashboard Viewed", "Invite Sent", "Note Added", "Integration Connected"]
USAGE_P = [10, 8, 22, 15, 14, 12, 9, 3, 6, 1]
USAGE_PATHS = ["reports", "contacts/import", "deals", "inbox", "tasks", "pipeline", "dashboards", "settings/team",
               "contacts", "settings/integrations"]
LOGIN_EVENT = "Session Start"
FEATURE_EVENT = "Feature Used"
FEATURES = ["forecasting", "sequences", "lead_scoring", "email_tracking", "custom_reports", "workflow_automation",
            "meeting_scheduler", "ai_assist"]
FEATURE_P = [12, 18, 10, 25, 14, 10, 8, 3]
CATEGORIES = [("usage", 150_000), ("login", 100_000), ("feature", 50_000)]
BROWSERS = ["Chrome", "Safari", "Edge", "Firefox"]
OSES = ["Windows", "Mac OS X", "Linux", "iOS", "Android"]


def events(w: World, rng: np.random.Generator, shape: Shape) -> Iterator[pa.Table]:
    users = w.app_users
    lo = np.maximum(w.con_signup[users], PERIOD_START)
    hi = w.con_end[users]
    keep = hi - lo > US_PER_DAY
    users, lo, hi = users[keep], lo[keep], hi[keep]
    n_users = len(users)
    weight = w.con_activity[users]
    weight = weight / weight.sum()
    acc = w.con_account[users]
    # per-user constants: device, browser, OS, location, plan
    device = hex_ids(rng, n_users, 8)
    browser = rng.choice(len(BROWSERS), n_users, p=[0.62, 0.2, 0.12, 0.06])
    os_ = rng.choice(len(OSES), n_users, p=[0.5, 0.38, 0.04, 0.05, 0.03])
    country = w.acc_country[acc]
    cities = [city for c in COUNTRIES for city in c["cities"]]
    regions = [r for c in COUNTRIES for r in c["regions"]]
    city_n = np.array([len(c["cities"]) for c in COUNTRIES])
    city = np.concatenate([[0], np.cumsum(city_n)[:-1]])[country] + rng.integers(0, 100, n_users) % city_n[country]
    user_id = pick(w.con_email, users)
    static = {
        "device": device, "browser": pick(BROWSERS, browser), "os": pick(OSES, os_), "city": pick(cities, city),
        "region": pick(regions, city), "country": pick([c["code"] for c in COUNTRIES], country),
        "domain": pick(w.acc_domain, acc), "plan": pick(TIER_NAMES, w.acc_tier[acc]), "user_id": user_id,
    }
    part = 0
    for category, base in CATEGORIES:
        total = scaled(base, w.scale)
        for start in range(0, total, CHUNK_ROWS):
            k = min(CHUNK_ROWS, total - start)
            crng = table_rng(w.seed, "mixpanel__events", part)
            part += 1
            yield _chunk(crng, shape, category, k, weight, lo, hi, static)


def _chunk(rng: np.random.Generator, shape: Shape, category: str, k: int, weight: np.ndarray, lo: np.ndarray,
           hi: np.ndarray, static: dict[str, pa.Array]) -> pa.Table:
    u = rng.choice(len(weight), size=k, p=weight)
    t = lo[u] + (rng.random(k) * (hi[u] - lo[u])).astype(np.int64)
    order = np.argsort(t, kind="stable")
    u, t = u[order], t[order]
    take = pa.array(u)
    s = {key: arr.take(take) for key, arr in static.items()}
    if category == "usage":
        ev = rng.choice(len(USAGE_EVENTS), size=k, p=np.array(USAGE_P) / sum(USAGE_P))
        name = pick(USAGE_EVENTS, ev)
        path = pick(USAGE_PATHS, ev)
        anonymous = np.zeros(k, dtype=bool)
    elif category == "login":
        name = pick([LOGIN_EVENT], np.zeros(k, dtype=np.int64))
        path = pick(["home"], np.zeros(k, dtype=np.int64))
        anonymous = rng.random(k) < 0.03  # sessions before identify carry the device id
    else:
        name = pick([FEATURE_EVENT], np.zeros(k, dtype=np.int64))
        path = pick(["features"], np.zeros(k, dtype=np.int64))
        anonymous = np.zeros(k, dtype=bool)
    feature = pick(FEATURES, rng.choice(len(FEATURES), size=k, p=np.array(FEATURE_P) / sum(FEATURE_P)))
    url = concat("https://app.kcrm.io/", path, "/", num_str(rng.integers(1_000, 999_999, k)))
    insert_id = hex_ids(rng, k, 8)
    distinct = pc.if_else(pa.array(anonymous), concat("$device:", s["device"]), s["user_id"])
    lib = pc.if_else(pa.array((category == "usage") & (rng.random(k) < 0.15)), "python", "web")
    props = concat(  # compact JSON, as the connector lands it
        '{"$browser":"', s["browser"], '","$os":"', s["os"], '","$city":"', s["city"],
        '","$region":"', s["region"], '","$current_url":"', url, '","$device_id":"', s["device"],
        '","$insert_id":"', insert_id, '","mp_lib":"', lib, '","account_domain":"', s["domain"],
        '","plan":"', s["plan"], '"',
        pc.if_else(pa.array(np.full(k, category == "feature")), concat(',"feature":"', feature, '"'), ""),
        "}")
    synced = np.minimum(t + rng.integers(US_PER_HOUR, 30 * US_PER_HOUR, k), SYNC_END - 2 * US_PER_HOUR)
    table = shape({
        "_fivetran_id": hex_ids(rng, k, 16),
        "name": name,
        "time": ts(t),
        "distinct_id": distinct,
        "properties": props,
        "insert_id": insert_id,
        "device_id": s["device"],
        "browser": s["browser"],
        "os": s["os"],
        "city": s["city"],
        "mp_country_code": s["country"],
        "current_url": url,
        "mp_lib": lib,
        "mp_processing_time_ms": ints(t // 1000 + rng.integers(40, 90_000, k)),
        "_fivetran_synced": ts(synced),
        "_fivetran_deleted": bools(np.zeros(k, dtype=bool)),
    })
    return fivetran_mess(rng, table, resync=0.02, deleted=0.005)


TABLES = {"mixpanel__events": events}
