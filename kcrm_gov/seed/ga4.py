"""GA4 (Google's native BigQuery export): sessions of several events on www.kcrm.io.

The unit is the **session** (a visit): ``BASE_SESSIONS`` = 30,000 sessions at scale 1 — the
company's 30,000 marketing touches, counted at core — each of several events sharing the
``ga_session_id`` / ``ga_session_number`` event parameters and one ``user_pseudo_id`` (one
browser): ``session_start``, ``first_visit`` (a browser's first session), 1 + Geometric page
views, ``scroll`` and ``user_engagement`` on some pages, and ``form_submit`` (+ ``generate_lead``
for demo / contact-sales forms) or ``sign_up`` in conversion sessions (about 4 events a session).

Who visits, and when (the effects the tests read):

* **pre-sale engagement** (``PRE_SALE_SHARE`` of sessions): people of each real account browse
  in a window before the account's trial or subscription start (``PRE_SALE_DAYS``), or, for a
  prospect, in ``PROSPECT_DAYS`` from its creation (around its trial if it had one). The number of
  sessions is ``Poisson(K · acc_intent · share of the window inside the period)``: buying intent
  drives engagement, and since the world chose customers partly by intent
  (``CONVERSION_INTENT``), accounts with more pre-sale sessions become customers more often;
* **creation forms**: a contact created inside the period through the web (HubSpot analytics
  source other than offline), of a prospect or before its company's start, was created by a form
  submission: a session ending in ``form_submit`` a few minutes before ``con_created``
  (``FORM_SHARE`` of them); ``REPEAT_FORM`` of later pre-sale sessions submit a form again. The
  HubSpot ``contact_form_submission`` rows of these sessions are in ``hubspot_forms``;
  ``NO_CONSENT`` of the form sessions have no GA4 rows (the visitor refused analytics cookies);
* **trial sign-ups**: a contact signing up during a trial does so on www.kcrm.io/signup
  (``sign_up`` event); from sign-up on gtag sets ``user_id`` to the contact's email (the K CRM
  user id Mixpanel also uses) on that browser. Users invited after the start sign up in the app,
  which this property does not track;
* **post-sale visits** (``POST_SALE_SHARE``): signed-in users of customers read the blog and
  pricing pages (``user_id`` set);
* **anonymous visitors** (the rest, about a third): browsers that never identify, 1.5 sessions each.

A person has one main browser; ``SECOND_BROWSER`` of them use a second one (mobile) for part of
their sessions, which never identifies. Traffic: a browser's first session comes from organic
search, direct, referral, paid search, paid social or email (``VARIANTS``); returning sessions
are direct ``RETURN_DIRECT`` of the time. As the export did in 2022-2023, the landing events of a
non-direct session carry ``source`` / ``medium`` / ``campaign`` (``term`` for paid search)
event parameters and a ``page_referrer``; UTM-tagged landing URLs (paid, email) also fill
``collected_traffic_source`` from ``COLLECTED_FROM`` (when Google added it to the export).
``traffic_source`` is the browser's first session's source (user-scoped).
``session_traffic_source_last_click`` is not written: Google added it in July 2024 and did not
backfill older shards. ``_loaded_at`` (not a real export column, a known gap) is when the
day's shard was written: the next night, or up to 3 days later for restated days, and never
after the last loader sync.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .common import (
    PERIOD_END,
    PERIOD_START,
    SYNC_END,
    US_PER_DAY,
    US_PER_HOUR,
    US_PER_SEC,
    Shape,
    choice,
    concat,
    ints,
    nested_list,
    num_str,
    pick,
    scaled,
    strictly_increasing,
    table_rng,
    ts,
    us,
)
from .world import ANALYTICS_SOURCES, COUNTRIES, TIER_NAMES, TRIAL_DAYS, World

BASE_SESSIONS = 30_000
PRE_SALE_SHARE = 0.55  # pre-sale browsing, creation forms and trial sign-ups together
POST_SALE_SHARE = 0.10
PRE_SALE_DAYS = 150
PROSPECT_DAYS = 240
FORM_SHARE = 0.85
REPEAT_FORM = 0.10
NO_CONSENT = 0.06
SECOND_BROWSER = 0.2
RETURN_DIRECT = 0.45
COLLECTED_FROM = us("2023-06-01T00:00:00")
HOST = "https://www.kcrm.io"
STREAM_WWW = "3456789012"

# (source, medium, campaign, utm-tagged, gclid, referrer, landing page, share of first sessions)
VARIANTS: list[tuple[str, str, str, bool, bool, str | None, int, float]] = [
    ("google", "organic", "(organic)", False, False, "https://www.google.com/", 3, 28),
    ("bing", "organic", "(organic)", False, False, "https://www.bing.com/", 3, 5),
    ("(direct)", "(none)", "(direct)", False, False, None, 0, 18),
    ("g2.com", "referral", "(referral)", False, False, "https://www.g2.com/", 7, 7),
    ("capterra.com", "referral", "(referral)", False, False, "https://www.capterra.com/", 1, 3),
    ("google", "cpc", "brand_search_2022", True, True, "https://www.google.com/", 0, 9),
    ("google", "cpc", "nonbrand_crm_2023", True, True, "https://www.google.com/", 2, 6),
    ("linkedin", "cpc", "linkedin_abm_q3", True, False, "https://www.linkedin.com/", 4, 8),
    ("newsletter", "email", "newsletter_monthly", True, False, None, 3, 10),
    ("hubspot", "email", "webinar_pipeline", True, False, None, 9, 6),
]
DIRECT = 2
PAGES = [("/", "K CRM - the CRM for growing teams"), ("/pricing", "Pricing - K CRM"),
         ("/features", "Features - K CRM"), ("/blog/pipeline-hygiene", "Pipeline hygiene in 5 steps"),
         ("/demo", "Book a demo - K CRM"), ("/signup", "Start your free trial - K CRM"),
         ("/integrations", "Integrations - K CRM"), ("/customers", "Customer stories - K CRM"),
         ("/contact-sales", "Contact sales - K CRM"), ("/resources/crm-buyers-guide", "The CRM buyer's guide - K CRM"),
         ("/blog", "The K CRM blog")]
BROWSE_PAGES = np.array([0, 1, 2, 3, 6, 7, 10, 1, 2, 3])
SIGNUP_PAGE = 5
# HubSpot forms: (name, page index, HubSpot form guid, share, fires generate_lead)
FORMS: list[tuple[str, int, str, float, bool]] = [
    ("demo-request", 4, "5f1c2a9e-7b3d-4e8a-9c61-0d2e4f6a8b10", 30, True),
    ("contact-sales", 8, "a2d94c7b-1e6f-4b3a-8d52-7c9e0f1a2b34", 15, True),
    ("ebook-download", 9, "c7e3b1f8-2a4d-4c6e-9b07-3d5f7a9c1e58", 35, False),
    ("newsletter", 10, "e9b5d3a1-4c8f-4e2b-a6d9-5f7b9c1e3a72", 20, False),
]
OFFLINE = ANALYTICS_SOURCES.index("OFFLINE")
PARAM_STRUCT = pa.struct([("string_value", pa.string()), ("int_value", pa.int64()),
                          ("float_value", pa.float64()), ("double_value", pa.float64())])
USER_STRUCT = pa.struct([("string_value", pa.string()), ("int_value", pa.int64()), ("float_value", pa.float64()),
                         ("double_value", pa.float64()), ("set_timestamp_micros", pa.int64())])


@dataclass
class Sessions:
    """Every session of the property (GA4-visible or not), sorted by browser and start.

    ``contact`` is the person's contact index (-1: anonymous), ``kind`` 0 browse, 1 form, 2
    sign-up; ``form`` the FORMS index (-1); ``ga4`` False for sessions without analytics consent.
    """

    browser: np.ndarray
    start: np.ndarray
    contact: np.ndarray
    kind: np.ndarray
    form: np.ndarray
    ga4: np.ndarray
    variant: np.ndarray
    number: np.ndarray
    submit_at: np.ndarray  # when the session's form_submit / sign_up fires (its last moment)
    b_contact: np.ndarray  # per browser
    b_signup: np.ndarray  # per browser: when user_id starts being set (-1: never)
    b_pseudo: pa.Array  # per browser
    b_mobile: np.ndarray


_CACHE: dict[tuple[int, float, int], Sessions] = {}


def sessions(w: World) -> Sessions:
    """The sessions of world ``w`` (drawn once; ga4__events and the HubSpot forms share them)."""
    key = (w.seed, w.scale, id(w))
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = _draw_sessions(w, table_rng(w.seed, "ga4__sessions"))
    return _CACHE[key]


def _draw_sessions(w: World, rng: np.random.Generator) -> Sessions:
    total = scaled(BASE_SESSIONS, w.scale)
    n_acc, n_con = w.n_accounts, w.n_contacts
    cust, trial, start = w.acc_is_customer, w.acc_trial_start, w.acc_start
    real = ~w.acc_is_test
    # each account's pre-sale window and its decision point
    decision = np.where(cust, np.where(trial >= 0, trial, start), np.where(trial >= 0, trial, PERIOD_END))
    created = np.clip(w.acc_created, PERIOD_START, PERIOD_END - 30 * US_PER_DAY)
    hi = np.where(cust, decision, np.where(trial >= 0, trial + TRIAL_DAYS * US_PER_DAY,
                                           np.minimum(created + PROSPECT_DAYS * US_PER_DAY, PERIOD_END)))
    lo_nom = np.where(cust | (trial >= 0), hi - PRE_SALE_DAYS * US_PER_DAY, created)
    lo = np.maximum(lo_nom, PERIOD_START)
    frac = np.where(real & (hi > lo), (hi - lo) / np.maximum(hi - lo_nom, 1), 0.0)

    con_acc = w.con_account
    a0 = np.maximum(con_acc, 0)
    con_decision = np.where(con_acc >= 0, decision[a0], PERIOD_END)
    con_real = (con_acc < 0) | real[a0]
    # creation-form sessions: web-created contacts of prospects or before their company's start
    form_new = (con_real & (w.con_created >= PERIOD_START + US_PER_HOUR) & (w.con_created < PERIOD_END)
                & (w.con_source != OFFLINE) & (w.con_created < con_decision)
                & (rng.random(n_con) < FORM_SHARE))
    f_con = np.flatnonzero(form_new)
    f_t = w.con_created[f_con] - rng.integers(60, 15 * 60, len(f_con)) * US_PER_SEC
    # trial sign-ups on www.kcrm.io/signup
    signup = w.con_signup
    trial_su = (signup >= PERIOD_START) & (con_acc >= 0) & (trial[a0] >= 0) & (signup < con_decision
                                                                               + TRIAL_DAYS * US_PER_DAY)
    s_con = np.flatnonzero(trial_su)
    s_t = signup[s_con] - rng.integers(120, 600, len(s_con)) * US_PER_SEC
    # post-sale visits of signed-in customer users
    users = np.flatnonzero((signup >= 0) & (con_acc >= 0) & cust[a0] & real[a0])
    p_lo = np.maximum(np.maximum(signup[users], start[a0[users]]), PERIOD_START)
    ok = p_lo < w.con_end[users] - US_PER_DAY
    users, p_lo = users[ok], p_lo[ok]
    n_post = round(POST_SALE_SHARE * total)
    pick_u = rng.integers(0, len(users), n_post)
    p_con = users[pick_u]
    p_t = p_lo[pick_u] + (rng.random(n_post) * (w.con_end[p_con] - p_lo[pick_u])).astype(np.int64)

    # pre-sale browsing: Poisson(K · intent · frac) per account, spread over its people
    target = max(0.0, PRE_SALE_SHARE * total - len(f_con) - len(s_con))
    weight = w.acc_intent * frac
    k_rate = target / max(weight.sum(), 1e-9)
    n_sess = rng.poisson(k_rate * weight)
    b_acc = np.repeat(np.arange(n_acc), n_sess)
    b_t = lo[b_acc] + (rng.random(len(b_acc)) * (hi - lo)[b_acc]).astype(np.int64)
    order = np.argsort(con_acc, kind="stable")
    members = order[con_acc[order] >= 0]
    counts = np.bincount(con_acc[members], minlength=n_acc)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    has = counts[b_acc] > 0
    slot = np.minimum(first[b_acc] + (rng.random(len(b_acc)) * counts[b_acc]).astype(np.int64),
                      max(len(members) - 1, 0))
    b_con = np.where(has, members[slot], -1) if len(members) else np.full(len(b_acc), -1)
    # a later pre-sale session of a contact that already exists can submit another form
    again = (b_con >= 0) & (b_t > w.con_created[np.maximum(b_con, 0)]) & (rng.random(len(b_acc)) < REPEAT_FORM)

    # browsers: main of contact c = c, second of c = C + c, a company's anonymous reader = 2C + a
    second = rng.random(n_con) < SECOND_BROWSER
    b_con0 = np.maximum(b_con, 0)
    on_second = (b_con >= 0) & second[b_con0] & ~again & (rng.random(len(b_acc)) < 0.3)
    browse_browser = np.where(b_con < 0, 2 * n_con + b_acc, np.where(on_second, n_con + b_con0, b_con0))

    known_n = len(f_con) + len(s_con) + n_post + len(b_acc)
    contact = np.concatenate([f_con, s_con, p_con, b_con])
    kind = np.concatenate([np.ones(len(f_con), int), np.full(len(s_con), 2), np.zeros(n_post, int),
                           np.where(again, 1, 0)])
    browser = np.concatenate([f_con, s_con, p_con, browse_browser])
    t = np.concatenate([f_t, s_t, p_t, b_t])
    form_p = np.array([f[3] for f in FORMS])
    form = np.where(kind == 1, rng.choice(len(FORMS), size=known_n, p=form_p / form_p.sum()), -1)
    ga4 = ~((kind == 1) & (rng.random(known_n) < NO_CONSENT))
    # anonymous visitors fill the rest of the property's sessions
    n_anon = max(0, total - int(ga4.sum()))
    n_vis = max(1, round(n_anon / 1.5))
    vis = np.concatenate([np.arange(min(n_vis, n_anon)), rng.integers(0, n_vis, max(0, n_anon - n_vis))])
    anchor = rng.integers(PERIOD_START, PERIOD_END - US_PER_DAY, n_vis)
    a_t = np.minimum(anchor[vis] + (rng.exponential(20.0, n_anon) * US_PER_DAY).astype(np.int64) * (
        np.arange(n_anon) >= n_vis), PERIOD_END - US_PER_HOUR)
    base = 2 * n_con + n_acc
    contact = np.concatenate([contact, np.full(n_anon, -1)])
    kind = np.concatenate([kind, np.zeros(n_anon, int)])
    form = np.concatenate([form, np.full(n_anon, -1)])
    ga4 = np.concatenate([ga4, np.ones(n_anon, bool)])
    browser = np.concatenate([browser, base + vis])
    t = np.concatenate([t, a_t])
    # anonymous browsers of a person (second browser, company reader) belong to nobody in GA4
    contact = np.where(browser < n_con, contact, -1)

    # renumber the browsers that have sessions; sort sessions by browser and start
    used, browser = np.unique(browser, return_inverse=True)
    sec = t // US_PER_SEC
    order = np.lexsort((sec, browser))
    browser, t, sec, contact, kind, form, ga4 = (x[order] for x in (browser, t, sec, contact, kind, form, ga4))
    # one session start (ga_session_id, in seconds) per browser and second
    sec = strictly_increasing(browser.astype(np.int64) * 10**11 + sec) - browser.astype(np.int64) * 10**11
    t = sec * US_PER_SEC + t % US_PER_SEC
    n_b = len(used)
    b_first = np.concatenate([[0], np.flatnonzero(np.diff(browser)) + 1])
    number = np.arange(len(t)) - np.repeat(b_first, np.diff(np.append(b_first, len(t))))
    b_contact = np.where(used < n_con, used, -1)
    b_signup = np.where(b_contact >= 0, signup[np.maximum(b_contact, 0)], -1)
    b_mobile = (used >= n_con) & (used < 2 * n_con) | (rng.random(n_b) < 0.18)
    # traffic: a browser's first session by the mix, returning ones often direct
    vp = np.array([v[7] for v in VARIANTS])
    variant = rng.choice(len(VARIANTS), size=len(t), p=vp / vp.sum())
    variant = np.where((number > 0) & (rng.random(len(t)) < RETURN_DIRECT), DIRECT, variant)
    b_pseudo = concat(num_str(rng.integers(10**8, 2 * 10**9, n_b)), ".",
                      num_str(t[b_first] // US_PER_SEC - rng.integers(0, 3_600, n_b)))
    submit_at = t + rng.integers(60, 900, len(t)) * US_PER_SEC
    return Sessions(browser=browser, start=t, contact=contact, kind=kind, form=form, ga4=ga4, variant=variant,
                    number=number + 1, submit_at=submit_at, b_contact=b_contact, b_signup=b_signup,
                    b_pseudo=b_pseudo, b_mobile=b_mobile)


def events(w: World, rng: np.random.Generator, shape: Shape) -> Iterator[pa.Table]:
    """The GA4 export, block by block of ``BLOCK_SESSIONS`` sessions, in chunks of ``CHUNK_ROWS`` events.

    The sessions (shared with the HubSpot forms) and each browser's device, geo and traffic source
    are drawn whole, from ``rng``; the events of each block of sessions from the block's own random
    stream (``table_rng(seed, "ga4__events", block)``), so memory is bounded by a block, whatever
    the scale, and a block's values do not depend on the others. Within a block every random
    number is drawn first, as numbers (numpy arrays, indices into vocabularies); only the Arrow
    columns (strings, the nested ``event_params`` and ``user_properties``, device and geo
    records), which hold most of the bytes, are built chunk by chunk. So the values do not depend
    on the chunk size: a block of up to ``CHUNK_ROWS`` events is one chunk, exactly as built whole.
    """
    s = sessions(w)
    keep = np.flatnonzero(s.ga4)
    ga4 = {k: getattr(s, k)[keep] for k in ("browser", "start", "kind", "form", "variant", "number", "submit_at")}
    browsers = _browsers(w, s, rng)
    for block, lo in enumerate(range(0, len(keep), BLOCK_SESSIONS)):
        part = slice(lo, min(len(keep), lo + BLOCK_SESSIONS))
        ev = _block_events(w, s, {k: v[part] for k, v in ga4.items()}, table_rng(w.seed, "ga4__events", block + 1))
        ev["sess"] += lo  # the block's sessions, numbered in the whole table
        n = len(ev["sess"])
        for c in range(0, n, CHUNK_ROWS):
            rows = slice(c, min(n, c + CHUNK_ROWS))
            yield _events_chunk(w, s, shape, ga4, browsers, {k: v[rows] for k, v in ev.items()})
        del ev


BLOCK_SESSIONS = 50_000
"""Sessions whose events are drawn together (scale 1 has ~28,000 GA4 sessions: one block; scale 100 60)."""
CHUNK_ROWS = 250_000
"""GA4 events built into Arrow at a time (~350 MB of Arrow; a block has ~210,000 events: one chunk)."""
TERMS = ["crm software", "best crm for smb", "hubspot alternative"]
NAMES = ["session_start", "first_visit", "page_view", "scroll", "user_engagement", "form_submit", "generate_lead",
         "sign_up"]


@dataclass
class Browsers:
    """Per browser: the user-scoped records every event of the browser carries."""

    device: pa.StructArray
    geo: pa.StructArray
    traffic: pa.StructArray
    first_touch: np.ndarray


def _browsers(w: World, s: Sessions, rng: np.random.Generator) -> Browsers:
    """Device and geo of every browser, its first session's traffic source and its first touch."""
    n_b = len(s.b_contact)
    b_acc = np.where(s.b_contact >= 0, w.con_account[np.maximum(s.b_contact, 0)], -1)
    b_mob = s.b_mobile
    cat = np.where(b_mob, np.where(rng.random(n_b) < 0.85, 1, 2), 0)
    brand = pc.if_else(pa.array(b_mob), choice(rng, ["Apple", "Samsung", "Google"], n_b, [0.6, 0.3, 0.1]),
                       choice(rng, ["Microsoft", "Apple", "Google"], n_b, [0.55, 0.4, 0.05]))
    osys = pc.if_else(pa.array(b_mob), choice(rng, ["iOS", "Android"], n_b, [0.6, 0.4]),
                      choice(rng, ["Windows", "Macintosh", "Linux"], n_b, [0.55, 0.4, 0.05]))
    country = np.where(b_acc >= 0, w.acc_country[np.maximum(b_acc, 0)],
                       rng.choice(len(COUNTRIES), size=n_b, p=[0.5, 0.15, 0.1, 0.07, 0.05, 0.08, 0.05]))
    cities = [city for c in COUNTRIES for city in c["cities"]]
    regions = [r for c in COUNTRIES for r in c["regions"]]
    city_n = np.array([len(c["cities"]) for c in COUNTRIES])
    city = np.concatenate([[0], np.cumsum(city_n)[:-1]])[country] + rng.integers(0, 100, n_b) % city_n[country]
    web_info = pa.StructArray.from_arrays(
        [choice(rng, ["Chrome", "Safari", "Edge", "Firefox"], n_b, [0.6, 0.22, 0.12, 0.06]),
         concat(num_str(rng.integers(100, 121, n_b)), ".0.", num_str(rng.integers(1000, 6999, n_b))),
         pick(["www.kcrm.io"], np.zeros(n_b, dtype=np.int64))],
        names=["browser", "browser_version", "hostname"])
    device = pa.StructArray.from_arrays(
        [pick(["desktop", "mobile", "tablet"], cat), brand, osys, pick([c["lang"] for c in COUNTRIES], country),
         web_info], names=["category", "mobile_brand_name", "operating_system", "language", "web_info"])
    us_metro = pick(["New York NY", "Austin TX", "Chicago IL", "Denver CO", "Seattle-Tacoma WA", "Boston MA",
                     "Atlanta GA", "San Diego CA"], np.minimum(city, 7))
    geo = pa.StructArray.from_arrays(
        [pick(cities, city), pick([c["name"] for c in COUNTRIES], country),
         pick([c["cont"] for c in COUNTRIES], country), pick(regions, city),
         pick([c["sub"] for c in COUNTRIES], country), pc.if_else(pa.array(country == 0), us_metro, "(not set)")],
        names=["city", "country", "continent", "region", "sub_continent", "metro"])
    # traffic_source: the browser's first session (user-scoped); first touch: its start
    b_first = np.concatenate([[0], np.flatnonzero(np.diff(s.browser)) + 1])
    fv_var = s.variant[b_first]
    vs = VARIANTS
    traffic = pa.StructArray.from_arrays(
        [pick([x[2] for x in vs], fv_var), pick([x[1] for x in vs], fv_var), pick([x[0] for x in vs], fv_var)],
        names=["name", "medium", "source"])
    return Browsers(device=device, geo=geo, traffic=traffic, first_touch=s.start[b_first])


def _block_events(w: World, s: Sessions, ss: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The events of one block of GA4 sessions (``ss``: per-session arrays) as numbers, one array per
    event attribute; ``sess`` numbers the sessions inside the block."""
    browser, start, kind, form, variant, number, end = (ss[k] for k in ("browser", "start", "kind", "form", "variant",
                                                                        "number", "submit_at"))
    n_s = len(start)
    # page views: 1 + Geometric; conversion sessions end on their form / sign-up page
    n_pv = rng.geometric(0.6, n_s) + (kind > 0)
    sess_pv = np.repeat(np.arange(n_s), n_pv)
    pv_first = np.concatenate([[0], np.cumsum(n_pv)[:-1]])
    pos = np.arange(len(sess_pv)) - pv_first[sess_pv]
    # page views spread over the session, the last one 20+ s before its end (the conversion)
    span = (end - start - 20 * US_PER_SEC)[sess_pv]
    jitter = np.where(pos == 0, 0, rng.integers(0, US_PER_SEC, len(sess_pv)))
    pv_t = start[sess_pv] + span * pos // n_pv[sess_pv] + jitter
    is_last = pos == n_pv[sess_pv] - 1
    landing = np.array([v[6] for v in VARIANTS])[variant]
    page = BROWSE_PAGES[rng.integers(0, len(BROWSE_PAGES), len(sess_pv))]
    page = np.where(pos == 0, landing[sess_pv], page)
    form_page = np.array([f[1] for f in FORMS])[np.maximum(form, 0)]
    conv_page = np.where(kind == 2, SIGNUP_PAGE, form_page)
    page = np.where(is_last & (kind[sess_pv] > 0), conv_page[sess_pv], page)

    # the events: (session, time, name, page, page-view position), by name (NAMES)
    ss_ = np.arange(n_s)
    fv = np.flatnonzero(number == 1)
    sc = np.flatnonzero(rng.random(len(sess_pv)) < 0.2)
    ue = np.flatnonzero(rng.random(len(sess_pv)) < 0.25)
    last_pv = pv_first + n_pv - 1
    fs = np.flatnonzero(kind == 1)
    gl = fs[np.array([f[4] for f in FORMS])[form[fs]]]
    su = np.flatnonzero(kind == 2)
    ev_sess = np.concatenate([ss_, fv, sess_pv, sess_pv[sc], sess_pv[ue], fs, gl, su])
    ev_pv = np.concatenate([pv_first, pv_first[fv], np.arange(len(sess_pv)), sc, ue, last_pv[fs], last_pv[gl],
                            last_pv[su]])
    t = np.concatenate([start, start[fv], pv_t, pv_t[sc] + rng.integers(3, 40, len(sc)) * US_PER_SEC,
                        pv_t[ue] + rng.integers(10, 140, len(ue)) * US_PER_SEC, end[fs], end[gl], end[su]])
    ev_name = np.concatenate([np.zeros(n_s, int), np.ones(len(fv), int), np.full(len(sess_pv), 2),
                              np.full(len(sc), 3), np.full(len(ue), 4), np.full(len(fs), 5), np.full(len(gl), 6),
                              np.full(len(su), 7)])
    n = len(ev_sess)
    landing_ev = (pos[ev_pv] == 0) & (ev_name <= 2)
    v = variant[ev_sess]
    vs = VARIANTS
    tagged = np.array([x[3] for x in vs])[v] & landing_ev
    b = browser[ev_sess]
    su_at = s.b_signup[b]
    late = rng.random(n) < 0.06  # restated shards: up to 3 days after the day ends
    day = t // US_PER_DAY
    loaded = ((day + 1) * US_PER_DAY + rng.integers(2 * US_PER_HOUR, 6 * US_PER_HOUR, n)
              + np.where(late, rng.integers(US_PER_HOUR, 3 * US_PER_DAY - 6 * US_PER_HOUR, n), 0))
    return {
        "sess": ev_sess, "name": ev_name, "page": page[ev_pv], "landing": landing_ev, "variant": v, "tagged": tagged,
        "sourced": (v != DIRECT) & landing_ev, "cpc": np.array([x[4] for x in vs])[v],
        "referrer": np.array([x[5] is not None for x in vs])[v] & landing_ev & (ev_name == 2),
        "browser": b, "time": t, "contact": np.maximum(s.b_contact[b], 0), "signed_up": su_at,
        "identified": (su_at >= 0) & (t >= su_at), "engagement": rng.integers(200, 90_000, n),
        "term": _draw(rng, 3, n), "method": _draw(rng, 2, n, [0.7, 0.3]),
        "collected_on": tagged & (t >= COLLECTED_FROM), "manual_term": _draw(rng, 3, n),
        "manual_content": _draw(rng, 3, n), "day": day, "loaded": np.minimum(loaded, SYNC_END - US_PER_HOUR),
        "bundle": rng.integers(1, 10**9, n),
    }


def _draw(rng: np.random.Generator, k: int, n: int, p: Sequence[float] | None = None) -> np.ndarray:
    """The indices :func:`choice` draws (same call on ``rng``), picked from the vocabulary later."""
    probs = None if p is None else np.asarray(p, dtype=float) / np.sum(p)
    return rng.choice(k, size=n, p=probs)


def _events_chunk(w: World, s: Sessions, shape: Shape, ga4: dict[str, np.ndarray], browsers: Browsers,
                  ev: dict[str, np.ndarray]) -> pa.Table:
    """One chunk of GA4 events as Arrow, from the numbers :func:`_block_events` drew for its block
    (``ga4``: the per-session arrays of the whole table)."""
    ev_sess, ev_name, ev_page, v, b, t, c0 = (ev[k] for k in ("sess", "name", "page", "variant", "browser", "time",
                                                              "contact"))
    tagged, cpc, su_at, identified = ev["tagged"], ev["cpc"], ev["signed_up"], ev["identified"]
    browser, form, number = ga4["browser"], ga4["form"], ga4["number"]
    session_id = ga4["start"][ev_sess] // US_PER_SEC
    n = len(ev_sess)
    vs = VARIANTS
    src, med, cmp_ = pick([x[0] for x in vs], v), pick([x[1] for x in vs], v), pick([x[2] for x in vs], v)
    query = concat("?utm_source=", src, "&utm_medium=", med, "&utm_campaign=", cmp_)
    gclid = num_str(browser[ev_sess] * 7919 + ev_sess)
    query = pc.if_else(pa.array(cpc), concat(query, "&gclid=Cj0KCQ", gclid), query)
    location = concat(HOST, pick([p for p, _ in PAGES], ev_page))
    location = pc.if_else(pa.array(tagged), concat(location, query), location)

    # event_params: flattened (owner, rank, key, typed value), sorted by owner then rank
    keys: list[str] = []
    svals, ivals, dvals, owner, rank = [], [], [], [], []

    def param(sel: np.ndarray, key: str, pos_: int, sv: pa.Array | None = None, iv: np.ndarray | None = None,
              dv: np.ndarray | None = None) -> None:
        idx = np.flatnonzero(sel)
        m = len(idx)
        owner.append(idx)
        rank.append(np.full(m, pos_))
        keys.append(key)
        svals.append(sv.take(pa.array(idx)) if sv is not None else pa.nulls(m, pa.string()))
        ivals.append(pa.array(iv[idx], pa.int64()) if iv is not None else pa.nulls(m, pa.int64()))
        dvals.append(pa.array(dv[idx], pa.float64()) if dv is not None else pa.nulls(m, pa.float64()))

    every = np.ones(n, dtype=bool)
    param(every, "page_location", 0, sv=location)
    param(ev_name == 2, "page_title", 1, sv=pick([title for _, title in PAGES], ev_page))
    param(every, "ga_session_id", 2, iv=session_id)
    param(every, "ga_session_number", 3, iv=number[ev_sess])
    param(ev_name == 4, "engagement_time_msec", 4, iv=ev["engagement"])
    param(ev_name == 3, "percent_scrolled", 5, iv=np.full(n, 90))
    param(ev["referrer"], "page_referrer", 6, sv=pick([x[5] or "" for x in vs], v))
    param(ev["sourced"], "source", 7, sv=src)
    param(ev["sourced"], "medium", 8, sv=med)
    param(ev["sourced"], "campaign", 9, sv=cmp_)
    param(ev["sourced"] & cpc, "term", 10, sv=pick(TERMS, ev["term"]))
    f_idx = np.maximum(form[ev_sess], 0)
    param(ev_name == 5, "form_id", 11, sv=concat("hsForm_", pick([f[2] for f in FORMS], f_idx)))
    param(ev_name == 5, "form_name", 12, sv=pick([f[0] for f in FORMS], f_idx))
    param(ev_name == 7, "method", 13, sv=pick(["email", "google"], ev["method"]))
    # the lead's value, as K CRM configured generate_lead (GA4's recommended value + currency)
    param(ev_name == 6, "value", 14, dv=np.where(form[ev_sess] == 0, 250.0, 150.0))
    param(ev_name == 6, "currency", 15, sv=pick(["USD"], np.zeros(n, dtype=np.int64)))
    own, rnk = np.concatenate(owner), np.concatenate(rank)
    rnk_key = np.concatenate([np.full(len(o), i) for i, o in enumerate(owner)])
    sort = np.lexsort((rnk, own))
    m_all = len(own)
    value = pa.StructArray.from_arrays(
        [pa.concat_arrays(svals).take(sort), pa.concat_arrays(ivals).take(sort), pa.nulls(m_all, pa.float64()),
         pa.concat_arrays(dvals).take(sort)], fields=list(PARAM_STRUCT))
    offsets = np.concatenate([[0], np.cumsum(np.bincount(own, minlength=n))])
    event_params = nested_list(offsets, pa.StructArray.from_arrays(
        [pick(keys, rnk_key[sort]), value], names=["key", "value"]))

    # user_properties: plan, account domain and signed_up once the browser's person signed up
    acc = w.con_account[c0]
    acc0 = np.maximum(acc, 0)
    user_id = pc.if_else(pa.array(identified), pick(w.con_email, c0), pa.nulls(n, pa.string()))
    ident = np.flatnonzero(identified)
    k = len(ident)
    up_owner = np.repeat(ident, 3)
    up_keys = pa.array(["plan", "account_domain", "signed_up"] * k, pa.string())
    plan = pick(TIER_NAMES, w.acc_tier[acc0[ident]])
    dom = pick(w.acc_domain, acc0[ident])
    sv_up = pa.concat_arrays([plan, dom, pa.nulls(k, pa.string())]).take(
        pa.array(np.arange(3 * k).reshape(3, k).T.ravel()))
    iv_up = pa.array(np.where(np.tile([False, False, True], k), 1, 0), pa.int64(),
                     mask=np.tile([True, True, False], k))
    up_value = pa.StructArray.from_arrays(
        [sv_up, iv_up, pa.nulls(3 * k, pa.float64()), pa.nulls(3 * k, pa.float64()),
         pa.array(np.repeat(su_at[ident], 3), pa.int64())], fields=list(USER_STRUCT))
    up_offsets = np.concatenate([[0], np.cumsum(np.bincount(up_owner, minlength=n))])
    user_properties = nested_list(up_offsets, pa.StructArray.from_arrays([up_keys, up_value],
                                                                         names=["key", "value"]))

    take = pa.array(b)
    collected = pa.StructArray.from_arrays(
        [concat("cmp", num_str(v.astype(np.int64) + 100)), cmp_, src, med,
         pc.if_else(pa.array(cpc), pick(TERMS, ev["manual_term"]), pa.nulls(n, pa.string())),
         pick(["ad_a", "ad_b", "hero_link"], ev["manual_content"]),
         pc.if_else(pa.array(cpc), concat("Cj0KCQ", gclid), pa.nulls(n, pa.string()))],
        names=["manual_campaign_id", "manual_campaign_name", "manual_source", "manual_medium", "manual_term",
               "manual_content", "gclid"], mask=pa.array(~ev["collected_on"]))
    days, day_idx = np.unique(ev["day"], return_inverse=True)
    event_date = pick(pc.replace_substring(pa.array(np.datetime_as_string(days.astype("datetime64[D]"))), "-", ""),
                      day_idx)
    return shape({
        "event_date": event_date,
        "event_timestamp": ints(t),
        "event_name": pick(NAMES, ev_name),
        "event_params": event_params,
        "event_bundle_sequence_id": ints(ev["bundle"]),
        "user_id": user_id,
        "user_pseudo_id": s.b_pseudo.take(take),
        "user_first_touch_timestamp": ints(browsers.first_touch[b]),
        "user_properties": user_properties,
        "device": browsers.device.take(take),
        "geo": browsers.geo.take(take),
        "traffic_source": browsers.traffic.take(take),
        "collected_traffic_source": collected,
        "stream_id": pick([STREAM_WWW], np.zeros(n, dtype=np.int64)),
        "platform": pick(["WEB"], np.zeros(n, dtype=np.int64)),
        "_loaded_at": ts(ev["loaded"]),
    })


def form_submissions(w: World) -> dict[str, np.ndarray]:
    """The form-submitting sessions, with or without GA4 rows: contact, form, page and submit time.

    ``submitted_at`` is the session's ``form_submit`` event time in ga4__events.
    """
    s = sessions(w)
    idx = np.flatnonzero(s.kind == 1)
    return {"contact": s.contact[idx], "form": s.form[idx], "submitted_at": s.submit_at[idx],
            "in_ga4": s.ga4[idx]}


TABLES = {"ga4__events": events}
