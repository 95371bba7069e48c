"""Mixpanel (Fivetran Mixpanel connector): the product's events.

App users are the contacts who signed up; they log events from their sign-up (or
2022-01-01) until their account churns, so churned accounts go quiet. Once identified, an
event's ``distinct_id`` is the user's K CRM user id — their email address in lower case —
and before identify (a few sessions) it is ``$device:<device id>``. Generated in chunks so a
large scale never holds all events in memory at once.

As the Fivetran connector lands them:

* ``event.time`` is the project's local wall-clock time (``PROJECT_TIME_ZONE``), not UTC: the
  Mixpanel API returns the project's local time as a Unix number and the connector stores it as
  if it were UTC. ``stg.mixpanel__events`` converts it back with the same time zone. Events in the
  repeated hour of the autumn clock change cannot be told apart from the hour before.
* no ``_fivetran_deleted``: the connector does not capture deletes.
* ``people``: one profile per identified app user (``distinct_id`` = the user's email), ``time``
  in UTC.
* about 0.5 % of usage, login and feature events come from workspaces of companies no other
  system knows (``UNKNOWN_DOMAINS``: self-serve sign-ups never synced to HubSpot); their users
  never identified, so ``distinct_id`` is a ``$device:`` id.
"""

from __future__ import annotations

from collections.abc import Iterator

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

PROJECT_TIME_ZONE = "America/New_York"  # the Mixpanel project's time zone, in which `time` lands
UNKNOWN_SHARE = 0.005  # events from workspaces of companies no other system knows
UNKNOWN_DOMAINS = ["brightlane-studio.com", "kovacs-hausverwaltung.de", "tidewater-logistics.us",
                   "maplewood-dental.ca", "oakridge-consulting.co.uk", "nordlicht-events.de",
                   "sunpeak-realty.com", "bluefin-analytics.io"]

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


def _users(w: World) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """App users who use the product for more than a day inside the period, and that window."""
    users = w.app_users
    lo = np.maximum(w.con_signup[users], PERIOD_START)
    hi = w.con_end[users]
    keep = hi - lo > US_PER_DAY
    return users[keep], lo[keep], hi[keep]


def events(w: World, rng: np.random.Generator, shape: Shape) -> Iterator[pa.Table]:
    users, lo, hi = _users(w)
    n_users = len(users)
    weight = w.con_activity[users]
    weight = weight / weight.sum()
    acc = w.con_account[users]
    # per-user constants: device, browser, OS, location, plan, the account's app workspace
    device = hex_ids(rng, n_users, 8)
    browser = rng.choice(len(BROWSERS), n_users, p=[0.62, 0.2, 0.12, 0.06])
    os_ = rng.choice(len(OSES), n_users, p=[0.5, 0.38, 0.04, 0.05, 0.03])
    country = w.acc_country[acc]
    cities = [city for c in COUNTRIES for city in c["cities"]]
    regions = [r for c in COUNTRIES for r in c["regions"]]
    city_n = np.array([len(c["cities"]) for c in COUNTRIES])
    city = np.concatenate([[0], np.cumsum(city_n)[:-1]])[country] + rng.integers(0, 100, n_users) % city_n[country]
    user_id = pick(w.con_email, users)
    workspace = concat("ws_", hex_ids(rng, w.n_accounts, 6))
    static = {
        "device": device, "browser": pick(BROWSERS, browser), "os": pick(OSES, os_), "city": pick(cities, city),
        "region": pick(regions, city), "country": pick([c["code"] for c in COUNTRIES], country),
        "domain": pick(w.acc_domain, acc), "plan": pick(TIER_NAMES, w.acc_tier[acc]), "user_id": user_id,
        "workspace": pick(workspace, acc),
    }
    intensity = intensity_of(w, acc)
    unknown = [d for d in UNKNOWN_DOMAINS if d not in set(w.acc_domain.to_pylist())]
    part = 0
    yield _trial_milestones(w, table_rng(w.seed, "mixpanel__events", 10_000), shape, users, static)
    for category, base in CATEGORIES:
        total = scaled(base, w.scale) - (_n_milestones(w) if category == "usage" else 0)
        for start in range(0, total, CHUNK_ROWS):
            k = min(CHUNK_ROWS, total - start)
            crng = table_rng(w.seed, "mixpanel__events", part)
            part += 1
            u, t = _draw(crng, k, weight, lo, hi, intensity)
            yield _chunk(crng, shape, category, u, t, static, unknown=unknown)


# How usage moves with the account's state (the true effects; see the package docstring):
DECLINE_FLOOR = 0.15  # a churner's event rate at its churn date, relative to its normal rate
DECLINE_DAYS = (60, 120)  # the decline starts this many days before churn (uniform per account)
GROWTH_PEAK = 1.6  # an expanding account's event rate at its expansion, relative to normal
GROWTH_DAYS = 60  # the growth starts this many days before the expansion
# Activation as RevOps defines it (enr.activation): contacts imported, a pipeline created and an
# activity logged, all in the first week of the trial (MILESTONE_DAYS apart, so the last falls
# before day 7 of the account's first sign-up).
MILESTONES = ["Contact Imported", "Pipeline Created", "Note Added"]
MILESTONE_DAYS = 2.0


def intensity_of(w: World, acc: np.ndarray) -> dict[str, np.ndarray]:
    """Per account in ``acc``: when the decline before churn and the growth before expansion start and end."""
    rng = table_rng(w.seed, "mixpanel-intensity")
    n = w.n_accounts
    decline_start = np.full(n, np.iinfo(np.int64).max)
    churn = w.acc_churn
    has = churn >= 0
    days = rng.integers(DECLINE_DAYS[0], DECLINE_DAYS[1] + 1, n)
    decline_start[has] = churn[has] - days[has] * US_PER_DAY
    grow_end = np.full(n, np.iinfo(np.int64).max)
    grow_end[w.exp_account] = w.exp_at
    return {"decline_start": decline_start[acc], "churn": np.where(has, churn, 0)[acc], "grow_end": grow_end[acc]}


def multiplier(u: np.ndarray, t: np.ndarray, it: dict[str, np.ndarray]) -> np.ndarray:
    """The event rate of row ``u`` of ``it`` at time ``t`` relative to its normal rate."""
    d0, churn, g1 = it["decline_start"][u], it["churn"][u], it["grow_end"][u]
    declining = t >= d0
    frac = np.clip((t - d0) / np.maximum(churn - d0, 1), 0.0, 1.0)
    # a convex decline: slow at first, most of it in the last weeks
    m = np.where(declining, DECLINE_FLOOR + (1.0 - DECLINE_FLOOR) * (1.0 - frac) ** 2, 1.0)
    g0 = g1 - GROWTH_DAYS * US_PER_DAY
    growing = (t >= g0) & (g1 < np.iinfo(np.int64).max)
    gfrac = np.clip((t - g0) / (GROWTH_DAYS * US_PER_DAY), 0.0, 1.0)
    return np.where(growing, m * (1.0 + (GROWTH_PEAK - 1.0) * gfrac), m)


def _draw(rng: np.random.Generator, k: int, weight: np.ndarray, lo: np.ndarray, hi: np.ndarray,
          it: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``k`` (user, time) pairs from the users' rates, thinned by ``multiplier`` (time-sorted)."""
    us_, ts_ = [], []
    got = 0
    while got < k:  # a loop over batches, not rows: one or two passes
        m = int((k - got) * GROWTH_PEAK * 1.1) + 64
        u = rng.choice(len(weight), size=m, p=weight)
        t = lo[u] + (rng.random(m) * (hi[u] - lo[u])).astype(np.int64)
        accept = rng.random(m) * GROWTH_PEAK < multiplier(u, t, it)
        us_.append(u[accept])
        ts_.append(t[accept])
        got += int(accept.sum())
    u, t = np.concatenate(us_)[:k], np.concatenate(ts_)[:k]
    order = np.argsort(t, kind="stable")
    return u[order], t[order]


def _trial_accounts(w: World) -> tuple[np.ndarray, np.ndarray]:
    """Trial accounts with at least one app user, and how many milestones each reached."""
    trial = np.flatnonzero(w.acc_trial_start >= 0)
    has_user = np.isin(trial, w.con_account[_users(w)[0]])
    trial = trial[has_user]
    rng = table_rng(w.seed, "mixpanel-milestones")
    # activated trials reach all three milestones; the others at most one
    reached = np.where(w.acc_trial_activated[trial], 3, rng.integers(0, 2, len(trial)))
    return trial, reached


def _n_milestones(w: World) -> int:
    return int(_trial_accounts(w)[1].sum())


def _trial_milestones(w: World, rng: np.random.Generator, shape: Shape, users: np.ndarray,
                      static: dict[str, pa.Array]) -> pa.Table:
    """The activation milestones of each trial, done by one of the account's first users in the trial."""
    trial, reached = _trial_accounts(w)
    acc = np.repeat(trial, reached)
    step = np.arange(len(acc)) - np.repeat(np.cumsum(reached) - reached, reached)
    # the account's earliest app user does them (users is sorted by contact index, not time)
    pos = np.lexsort((w.con_signup[users], w.con_account[users]))
    by_acc = w.con_account[users][pos]
    first_user = pos[np.searchsorted(by_acc, acc)]
    start = np.maximum(w.acc_trial_start[acc], w.con_signup[users][first_user])
    t = start + US_PER_HOUR + ((step + rng.random(len(acc))) * MILESTONE_DAYS * US_PER_DAY).astype(np.int64)
    order = np.argsort(t, kind="stable")
    return _chunk(rng, shape, "milestone", first_user[order], t[order], static, step[order])


def local_time(t: np.ndarray) -> pa.Array:
    """UTC microseconds as the connector lands Mixpanel's `time`: the project's wall clock, labelled UTC."""
    local = pc.local_timestamp(pa.array(np.asarray(t, dtype=np.int64), type=pa.timestamp("us", tz=PROJECT_TIME_ZONE)))
    return ts(local.cast(pa.int64()).to_numpy(zero_copy_only=False))


def _chunk(rng: np.random.Generator, shape: Shape, category: str, u: np.ndarray, t: np.ndarray,
           static: dict[str, pa.Array], milestone: np.ndarray | None = None,
           unknown: list[str] | None = None) -> pa.Table:
    k = len(u)
    take = pa.array(u)
    s = {key: arr.take(take) for key, arr in static.items()}
    stranger = np.zeros(k, dtype=bool)
    if unknown:  # a workspace of a company no other system knows, its users never identified
        stranger = rng.random(k) < UNKNOWN_SHARE
        which = rng.integers(0, len(unknown), k)
        mask = pa.array(stranger)
        s["domain"] = pc.if_else(mask, pick(unknown, which), s["domain"])
        s["workspace"] = pc.if_else(mask, concat("ws_u", num_str(which, 5)), s["workspace"])
        s["device"] = pc.if_else(mask, hex_ids(rng, k, 8), s["device"])
    if category == "milestone":
        name = pick(MILESTONES, milestone if milestone is not None else np.zeros(k, dtype=np.int64))
        path = pick(["contacts/import", "pipeline/new", "contacts"],
                    milestone if milestone is not None else np.zeros(k, dtype=np.int64))
        anonymous = np.zeros(k, dtype=bool)
    elif category == "usage":
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
    distinct = pc.if_else(pa.array(anonymous | stranger), concat("$device:", s["device"]), s["user_id"])
    lib = pc.if_else(pa.array((category == "usage") & (rng.random(k) < 0.15)), "python", "web")
    props = concat(  # compact JSON, as the connector lands it
        '{"$browser":"', s["browser"], '","$os":"', s["os"], '","$city":"', s["city"],
        '","$region":"', s["region"], '","$current_url":"', url, '","$device_id":"', s["device"],
        '","$insert_id":"', insert_id, '","mp_lib":"', lib, '","account_domain":"', s["domain"],
        '","account_id":"', s["workspace"], '","plan":"', s["plan"], '"',
        pc.if_else(pa.array(np.full(k, category == "feature")), concat(',"feature":"', feature, '"'), ""),
        "}")
    synced = np.minimum(t + rng.integers(US_PER_HOUR, 30 * US_PER_HOUR, k), SYNC_END - 2 * US_PER_HOUR)
    table = shape({
        "_fivetran_id": hex_ids(rng, k, 16),
        "name": name,
        "time": local_time(t),
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
    })
    return fivetran_mess(rng, table, resync=0.02, deleted=0.0)


def people(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    """Fivetran ``people``: one profile per identified app user; ``time`` (UTC) is when it was last seen."""
    users, lo, hi = _users(w)
    n = len(users)
    last_seen = np.maximum(np.minimum(hi, PERIOD_END) - rng.integers(US_PER_HOUR, 72 * US_PER_HOUR, n), lo)
    return shape({
        "distinct_id": pick(w.con_email, users),
        "time": ts(last_seen),
        "_fivetran_synced": ts(np.minimum(last_seen + rng.integers(US_PER_HOUR, 30 * US_PER_HOUR, n),
                                          SYNC_END - 2 * US_PER_HOUR)),
    })


TABLES = {"mixpanel__events": events, "mixpanel__people": people}
