"""GA4 (Google's native BigQuery export): marketing-site and sign-up events with nested records.

Visitors are HubSpot contacts (who browse before and after they become contacts) and
anonymous visitors who never convert. Before sign-up a hit has no ``user_id``; from
sign-up on gtag sets ``user_id`` to the K CRM user id (the lower-case email, the same value
Mixpanel uses as ``distinct_id``). ``_loaded_at`` is when the day's shard was written:
the next night, or up to 3 days later for restated days, and never after the last loader sync
(``SYNC_END``): the sources hold nothing from the future of their own clock.
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
    choice,
    concat,
    ints,
    nested_list,
    num_str,
    pick,
    scaled,
    strictly_increasing,
    ts,
)
from .world import COUNTRIES, TIER_NAMES, World

BASE_EVENTS = 30_000
EVENTS = ["page_view", "session_start", "first_visit", "scroll", "click", "form_submit", "generate_lead"]
EVENT_P = [52, 20, 6, 9, 4, 5, 4]
PAGES = [("/", "K CRM - the CRM for growing teams"), ("/pricing", "Pricing - K CRM"),
         ("/features", "Features - K CRM"), ("/blog/pipeline-hygiene", "Pipeline hygiene in 5 steps"),
         ("/demo", "Book a demo - K CRM"), ("/signup", "Start your free trial - K CRM"),
         ("/integrations", "Integrations - K CRM"), ("/customers", "Customer stories - K CRM")]
CAMPAIGNS = [("(organic)", "organic", "google"), ("brand_search_2022", "cpc", "google"),
             ("(referral)", "referral", "g2.com"), ("newsletter_monthly", "email", "newsletter"),
             ("(direct)", "(none)", "(direct)"), ("linkedin_abm_q3", "cpc", "linkedin"),
             ("webinar_pipeline", "email", "hubspot")]
CAMPAIGN_P = [35, 15, 10, 10, 18, 8, 4]
STREAM_WWW, STREAM_APP = "3456789012", "3456789013"
PARAM_STRUCT = pa.struct([("string_value", pa.string()), ("int_value", pa.int64()),
                          ("float_value", pa.float64()), ("double_value", pa.float64())])
USER_STRUCT = pa.struct([("string_value", pa.string()), ("int_value", pa.int64()), ("float_value", pa.float64()),
                         ("double_value", pa.float64()), ("set_timestamp_micros", pa.int64())])


def events(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    n = scaled(BASE_EVENTS, w.scale)
    # visitors: every contact, plus anonymous visitors (about a third of the hits)
    n_anon = max(1, w.n_contacts // 2)
    n_vis = w.n_contacts + n_anon
    contact = np.concatenate([np.arange(w.n_contacts), np.full(n_anon, -1)])
    c0 = np.maximum(contact, 0)
    is_contact = contact >= 0
    anchor = np.where(is_contact, w.con_created[c0],
                      rng.integers(PERIOD_START, PERIOD_END, n_vis))
    v_lo = np.clip(anchor - 60 * US_PER_DAY, PERIOD_START, PERIOD_END - US_PER_DAY)
    v_hi = np.clip(anchor + 300 * US_PER_DAY, v_lo + US_PER_DAY, PERIOD_END)
    signup = np.where(is_contact, w.con_signup[c0], -1)
    pseudo = concat(num_str(rng.integers(10**8, 2 * 10**9, n_vis)), ".",
                    num_str(v_lo // 1_000_000 - rng.integers(0, 3_600, n_vis)))
    vis_weight = np.where(is_contact, 1.0, 0.55)
    # sign_up hits: one per app user signing up within the period, the rest drawn by event mix
    su = np.flatnonzero((signup >= PERIOD_START) & (signup < PERIOD_END))
    su = su[: n // 8]
    n_rest = n - len(su)
    vis = np.concatenate([su, rng.choice(n_vis, size=n_rest, p=vis_weight / vis_weight.sum())])
    t = np.concatenate([signup[su], v_lo[vis[len(su):]] + (rng.random(n_rest) * (v_hi - v_lo)[vis[len(su):]])
                        .astype(np.int64)])
    ev = np.concatenate([np.full(len(su), len(EVENTS)),
                         rng.choice(len(EVENTS), size=n_rest, p=np.array(EVENT_P) / sum(EVENT_P))])
    t = strictly_increasing(t)  # keeps the (pseudo id, timestamp, name, bundle) key unique
    order = np.argsort(t, kind="stable")
    vis, t, ev = vis[order], t[order], ev[order]
    names = [*EVENTS, "sign_up"]
    identified = (signup[vis] >= 0) & (t >= signup[vis])
    user_id = pc.if_else(pa.array(identified), pick(w.con_email, c0[vis]), pa.nulls(n, pa.string()))
    acc = w.con_account[c0[vis]]
    acc0 = np.maximum(acc, 0)
    in_app = identified & (rng.random(n) < 0.6)
    page = rng.integers(0, len(PAGES), n)
    host = pc.if_else(pa.array(in_app), "app.kcrm.io", "www.kcrm.io")
    location = concat("https://", host, pick([p for p, _ in PAGES], page))
    utm = rng.random(n) < 0.3
    campaign_v = rng.choice(len(CAMPAIGNS), size=n_vis, p=np.array(CAMPAIGN_P) / sum(CAMPAIGN_P))
    camp = campaign_v[vis]
    location = pc.if_else(pa.array(utm), concat(location, "?utm_source=", pick([c[2] for c in CAMPAIGNS], camp),
                                                "&utm_campaign=", pick([c[0] for c in CAMPAIGNS], camp)), location)
    session_id = t // 1_000_000 - rng.integers(0, 1_800, n)
    session_no = 1 + rng.integers(0, 40, n)

    # event_params: base params for every event, extras per event, flattened then sorted
    keys, svals, ivals, dvals, owner, rank = [], [], [], [], [], []

    def param(sel: np.ndarray, key: str, pos: int, s: pa.Array | None = None, i: np.ndarray | None = None,
              d: np.ndarray | None = None) -> None:
        idx = np.flatnonzero(sel)
        m = len(idx)
        owner.append(idx)
        rank.append(np.full(m, pos))
        keys.append(pa.array([key] * m, pa.string()) if m else pa.array([], pa.string()))
        svals.append(s.take(pa.array(idx)) if s is not None else pa.nulls(m, pa.string()))
        ivals.append(pa.array(i[idx], pa.int64()) if i is not None else pa.nulls(m, pa.int64()))
        dvals.append(pa.array(d[idx], pa.float64()) if d is not None else pa.nulls(m, pa.float64()))

    every = np.ones(n, dtype=bool)
    param(every, "page_location", 0, s=location)
    param(every, "page_title", 1, s=pick([title for _, title in PAGES], page))
    param(every, "ga_session_id", 2, i=session_id)
    param(every, "ga_session_number", 3, i=session_no)
    engaged = ~np.isin(ev, [1, 2])
    param(engaged, "engagement_time_msec", 4, i=rng.integers(50, 120_000, n))
    param((ev == 0) & (rng.random(n) < 0.35), "page_referrer", 5,
          s=choice(rng, ["https://www.google.com/", "https://www.linkedin.com/", "https://www.g2.com/"], n))
    param(ev == 5, "form_id", 6, s=choice(rng, ["demo-request", "newsletter", "contact-sales"], n))
    param(ev == 6, "value", 7, d=np.round(rng.uniform(50, 500, n), 2))
    param(ev == 6, "currency", 8, s=pick(["USD"], np.zeros(n, dtype=np.int64)))
    param(ev == len(EVENTS), "method", 9, s=choice(rng, ["email", "google"], n, [0.7, 0.3]))
    own, rnk = np.concatenate(owner), np.concatenate(rank)
    sort = np.lexsort((rnk, own))
    value = pa.StructArray.from_arrays(
        [pa.concat_arrays(svals).take(sort), pa.concat_arrays(ivals).take(sort), pa.nulls(len(own), pa.float64()),
         pa.concat_arrays(dvals).take(sort)], fields=list(PARAM_STRUCT))
    offsets = np.concatenate([[0], np.cumsum(np.bincount(own, minlength=n))])
    event_params = nested_list(offsets, pa.StructArray.from_arrays(
        [pa.concat_arrays(keys).take(sort), value], names=["key", "value"]))

    # user_properties: plan, account domain and signed_up once the visitor is a user
    ident = np.flatnonzero(identified)
    k = len(ident)
    up_owner = np.repeat(ident, 3)
    up_keys = pa.array(["plan", "account_domain", "signed_up"] * k, pa.string())
    plan = pick(TIER_NAMES, w.acc_tier[acc0[ident]])
    dom = pick(w.acc_domain, acc0[ident])
    sv = pa.concat_arrays([plan, dom, pa.nulls(k, pa.string())]).take(
        pa.array(np.arange(3 * k).reshape(3, k).T.ravel()))
    iv = pa.array(np.where(np.tile([False, False, True], k), 1, 0), pa.int64(),
                  mask=np.tile([True, True, False], k))
    set_ts = np.repeat(signup[vis[ident]], 3)
    up_value = pa.StructArray.from_arrays(
        [sv, iv, pa.nulls(3 * k, pa.float64()), pa.nulls(3 * k, pa.float64()), pa.array(set_ts, pa.int64())],
        fields=list(USER_STRUCT))
    up_offsets = np.concatenate([[0], np.cumsum(np.bincount(up_owner, minlength=n))])
    user_properties = nested_list(up_offsets, pa.StructArray.from_arrays([up_keys, up_value],
                                                                         names=["key", "value"]))

    # device, geo and traffic source are per visitor
    cat = rng.choice(3, size=n_vis, p=[0.74, 0.22, 0.04])[vis]
    mobile = cat > 0
    brand = pc.if_else(pa.array(mobile), choice(rng, ["Apple", "Samsung", "Google"], n, [0.6, 0.3, 0.1]),
                       choice(rng, ["Microsoft", "Apple", "Google"], n, [0.55, 0.4, 0.05]))
    osys = pc.if_else(pa.array(mobile), choice(rng, ["iOS", "Android"], n, [0.6, 0.4]),
                      choice(rng, ["Windows", "Macintosh", "Linux"], n, [0.55, 0.4, 0.05]))
    country = np.where(acc >= 0, w.acc_country[acc0], rng.choice(len(COUNTRIES), size=n, p=[0.5, 0.15, 0.1, 0.07,
                                                                                          0.05, 0.08, 0.05]))
    cities = [city for c in COUNTRIES for city in c["cities"]]
    regions = [r for c in COUNTRIES for r in c["regions"]]
    city_n = np.array([len(c["cities"]) for c in COUNTRIES])
    city = np.concatenate([[0], np.cumsum(city_n)[:-1]])[country] + rng.integers(0, 100, n) % city_n[country]
    web_info = pa.StructArray.from_arrays(
        [choice(rng, ["Chrome", "Safari", "Edge", "Firefox"], n, [0.6, 0.22, 0.12, 0.06]),
         concat(num_str(rng.integers(100, 121, n)), ".0.", num_str(rng.integers(1000, 6999, n))), host],
        names=["browser", "browser_version", "hostname"])
    device = pa.StructArray.from_arrays(
        [pick(["desktop", "mobile", "tablet"], cat), brand, osys,
         pick([c["lang"] for c in COUNTRIES], country), web_info],
        names=["category", "mobile_brand_name", "operating_system", "language", "web_info"])
    us_metro = pick(["New York NY", "Austin TX", "Chicago IL", "Denver CO", "Seattle-Tacoma WA", "Boston MA",
                     "Atlanta GA", "San Diego CA"], np.minimum(city, 7))
    geo = pa.StructArray.from_arrays(
        [pick(cities, city), pick([c["name"] for c in COUNTRIES], country), pick([c["cont"] for c in COUNTRIES],
                                                                                 country),
         pick(regions, city), pick([c["sub"] for c in COUNTRIES], country),
         pc.if_else(pa.array(country == 0), us_metro, "(not set)")],
        names=["city", "country", "continent", "region", "sub_continent", "metro"])
    traffic = pa.StructArray.from_arrays(
        [pick([c[0] for c in CAMPAIGNS], camp), pick([c[1] for c in CAMPAIGNS], camp),
         pick([c[2] for c in CAMPAIGNS], camp)], names=["name", "medium", "source"])
    cpc = np.isin(camp, [1, 5])
    collected = pa.StructArray.from_arrays(
        [concat("cmp", num_str(camp + 100)), pick([c[0] for c in CAMPAIGNS], camp),
         pick([c[2] for c in CAMPAIGNS], camp), pick([c[1] for c in CAMPAIGNS], camp),
         pc.if_else(pa.array(cpc), choice(rng, ["crm software", "best crm for smb", "hubspot alternative"], n),
                    pa.nulls(n, pa.string())),
         choice(rng, ["ad_a", "ad_b", "hero_link"], n),
         pc.if_else(pa.array(cpc & (camp == 1)), concat("Cj0KCQ", num_str(rng.integers(10**9, 10**10, n))),
                    pa.nulls(n, pa.string()))],
        names=["manual_campaign_id", "manual_campaign_name", "manual_source", "manual_medium", "manual_term",
               "manual_content", "gclid"], mask=pa.array(~utm))
    first_touch = np.full(n_vis, np.iinfo(np.int64).max)
    np.minimum.at(first_touch, vis, t)
    day = t // US_PER_DAY
    event_date = pc.replace_substring(pa.array(np.datetime_as_string(day.astype("datetime64[D]"))), "-", "")
    late = rng.random(n) < 0.06  # restated shards: up to 3 days after the day ends
    loaded = ((day + 1) * US_PER_DAY + rng.integers(2 * US_PER_HOUR, 6 * US_PER_HOUR, n)
              + np.where(late, rng.integers(US_PER_HOUR, 3 * US_PER_DAY - 6 * US_PER_HOUR, n), 0))
    # nothing is loaded after the last sync: the days restated later have not been re-exported yet
    loaded = np.minimum(loaded, SYNC_END - US_PER_HOUR)
    prev = rng.random(n) < 0.25
    return shape({
        "event_date": event_date,
        "event_timestamp": ints(t),
        "event_name": pick(names, ev),
        "event_params": event_params,
        "event_previous_timestamp": ints(t - rng.integers(US_PER_HOUR, 30 * US_PER_DAY, n), mask=~prev),
        "event_bundle_sequence_id": ints(rng.integers(1, 10**9, n)),
        "user_id": user_id,
        "user_pseudo_id": pseudo.take(pa.array(vis)),
        "user_first_touch_timestamp": ints(first_touch[vis]),
        "user_properties": user_properties,
        "device": device,
        "geo": geo,
        "traffic_source": traffic,
        "collected_traffic_source": collected,
        "stream_id": pc.if_else(pa.array(in_app), STREAM_APP, STREAM_WWW),
        "platform": pick(["WEB"], np.zeros(n, dtype=np.int64)),
        "_loaded_at": ts(loaded),
    })


TABLES = {"ga4__events": events}
