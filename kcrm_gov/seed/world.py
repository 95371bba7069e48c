"""The company behind every source: accounts, people, products, deals and subscriptions.

The world is drawn once from ``numpy.random.default_rng(seed)`` and the source modules
only *shape* it, so the same account is a HubSpot company, a QuickBooks customer and a
Zendesk organization, and the same person is a HubSpot contact, a Mixpanel ``distinct_id``
and a GA4 ``user_id``. All arrays are indexed by the entity's position (account 0..A-1,
contact 0..C-1); ``-1`` means "none" in index arrays and in time arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .common import (
    HISTORY_START,
    PERIOD_END,
    PERIOD_START,
    US_PER_DAY,
    between,
    concat,
    pick,
    scaled,
    slug,
    unique_ids,
)

# --- vocabularies --------------------------------------------------------------------------
NAME_A = ["Blue", "North", "Silver", "Bright", "Green", "Red", "Iron", "Swift", "True", "Clear", "Nova",
          "Alpha", "Summit", "Cedar", "Harbor", "Pine", "River", "Stone", "Sun", "Oak", "Coral", "Amber",
          "Atlas", "Crest", "Delta", "Echo", "Falcon", "Golden", "Lumen", "Maple", "Orbit", "Polar",
          "Quantum", "Rapid", "Sage", "Terra", "Vertex", "Willow", "Zen", "Bold"]
NAME_B = ["field", "point", "wave", "path", "line", "bridge", "gate", "works", "loop", "forge", "leaf",
          "peak", "mark", "grid", "stack", "scale", "view", "ware", "labs", "base", "nest", "spark",
          "shift", "stream", "vale", "wind", "rock", "light", "tide", "core", "cloud", "port", "yard",
          "craft", "hub", "logic", "sight", "trail", "beam", "sphere"]
NAME_C = ["Analytics", "Consulting", "Logistics", "Health", "Software", "Solutions", "Partners", "Media",
          "Foods", "Energy", "Retail", "Capital", "Studio", "Systems", "Group", "Legal", "Dental",
          "Realty", "Travel", "Robotics"]
INDUSTRIES = ["COMPUTER_SOFTWARE", "MARKETING_AND_ADVERTISING", "FINANCIAL_SERVICES", "HOSPITAL_HEALTH_CARE",
              "REAL_ESTATE", "RETAIL", "LOGISTICS_AND_SUPPLY_CHAIN", "MANAGEMENT_CONSULTING",
              "CONSTRUCTION", "EDUCATION_MANAGEMENT", "LEGAL_SERVICES", "HOSPITALITY"]
INDUSTRY_P = [16, 12, 9, 8, 8, 8, 7, 9, 6, 6, 5, 6]
# country code, name, share, currency, tld, continent, sub-continent, legal suffix, cities
COUNTRIES: list[dict[str, Any]] = [
    dict(code="US", name="United States", p=52, cur="USD", tld=".com", cont="Americas",
         sub="Northern America", legal="Inc.", cities=["New York", "Austin", "Chicago", "Denver", "Seattle",
                                                       "Boston", "Atlanta", "San Diego"],
         regions=["New York", "Texas", "Illinois", "Colorado", "Washington", "Massachusetts", "Georgia",
                  "California"], tz="Eastern Time (US & Canada)", lang="en-us", phone="+1"),
    dict(code="GB", name="United Kingdom", p=15, cur="GBP", tld=".co.uk", cont="Europe",
         sub="Northern Europe", legal="Ltd", cities=["London", "Manchester", "Bristol", "Leeds", "Edinburgh"],
         regions=["England", "England", "England", "England", "Scotland"], tz="London", lang="en-gb",
         phone="+44"),
    dict(code="DE", name="Germany", p=10, cur="EUR", tld=".de", cont="Europe", sub="Western Europe",
         legal="GmbH", cities=["Berlin", "Munich", "Hamburg", "Cologne"],
         regions=["Berlin", "Bavaria", "Hamburg", "North Rhine-Westphalia"], tz="Berlin", lang="de",
         phone="+49"),
    dict(code="FR", name="France", p=7, cur="EUR", tld=".fr", cont="Europe", sub="Western Europe",
         legal="SAS", cities=["Paris", "Lyon", "Toulouse"], regions=["Ile-de-France", "Auvergne-Rhone-Alpes",
                                                                    "Occitanie"], tz="Paris", lang="fr",
         phone="+33"),
    dict(code="NL", name="Netherlands", p=5, cur="EUR", tld=".nl", cont="Europe", sub="Western Europe",
         legal="B.V.", cities=["Amsterdam", "Rotterdam", "Utrecht"],
         regions=["North Holland", "South Holland", "Utrecht"], tz="Amsterdam", lang="nl", phone="+31"),
    dict(code="CA", name="Canada", p=6, cur="USD", tld=".ca", cont="Americas", sub="Northern America",
         legal="Inc.", cities=["Toronto", "Vancouver", "Montreal"], regions=["Ontario", "British Columbia",
                                                                             "Quebec"],
         tz="Eastern Time (US & Canada)", lang="en-ca", phone="+1"),
    dict(code="AU", name="Australia", p=5, cur="USD", tld=".com.au", cont="Oceania",
         sub="Australasia", legal="Pty Ltd", cities=["Sydney", "Melbourne", "Brisbane"],
         regions=["New South Wales", "Victoria", "Queensland"], tz="Sydney", lang="en-au", phone="+61"),
]
FIRST = ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elena",
         "William", "Sarah", "Daniel", "Aisha", "Thomas", "Sofia", "Lucas", "Emma", "Noah", "Olivia",
         "Liam", "Mia", "Ethan", "Chloe", "Omar", "Fatima", "Hiroshi", "Yuki", "Wei", "Mei", "Raj", "Priya",
         "Carlos", "Lucia", "Pierre", "Camille", "Jonas", "Lena", "Finn", "Hannah", "Mateo", "Ava", "Samuel",
         "Grace", "Kwame", "Amara", "Ivan", "Anna", "Lars", "Ingrid", "Diego", "Valentina", "Ahmed", "Leila",
         "Tom", "Kate", "Ben", "Lucy", "Max", "Julia", "Oliver", "Isla", "Felix", "Clara", "Hugo", "Alice",
         "Arjun", "Nina", "Marco", "Giulia", "Sean", "Niamh", "Pablo", "Marta", "Jan", "Eva"]
LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Martinez", "Lopez",
        "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Jackson", "Martin", "Lee", "Thompson", "White",
        "Harris", "Clark", "Lewis", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Green", "Baker",
        "Adams", "Nelson", "Hill", "Campbell", "Mitchell", "Roberts", "Carter", "Phillips", "Evans",
        "Turner", "Parker", "Collins", "Edwards", "Stewart", "Morris", "Murphy", "Cook", "Rogers", "Morgan",
        "Schmidt", "Muller", "Schneider", "Fischer", "Weber", "Dubois", "Bernard", "Moreau", "Laurent",
        "Jansen", "DeVries", "Bakker", "Visser", "Nguyen", "Tanaka", "Suzuki", "Chen", "Wang", "Kim",
        "Patel", "Shah", "Khan", "Okafor", "Mensah", "Rossi", "Russo", "Novak", "Kowalski", "Silva",
        "Santos", "Olsen", "Hansen", "Larsen", "Murray", "Kelly", "Byrne", "OBrien", "Fernandez"]
TITLES = ["CEO", "Founder", "COO", "VP Sales", "Head of Sales", "Sales Manager", "Account Executive",
          "SDR", "VP Marketing", "Marketing Manager", "Growth Lead", "RevOps Manager", "Sales Operations",
          "CRM Administrator", "Customer Success Manager", "Office Manager", "CFO", "Controller", "CTO",
          "IT Manager", "Consultant", "Partner", "Operations Director", "Business Development Rep"]
FREEMAIL = ["gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "icloud.com"]
ANALYTICS_SOURCES = ["ORGANIC_SEARCH", "PAID_SEARCH", "EMAIL_MARKETING", "SOCIAL_MEDIA", "REFERRALS",
                     "OTHER_CAMPAIGNS", "DIRECT_TRAFFIC", "OFFLINE", "PAID_SOCIAL"]
ANALYTICS_P = [28, 16, 10, 8, 12, 4, 14, 5, 3]

# The 12 products: (sku, name, tier, billing, unit price USD per billing period, cogs, type)
PRODUCTS: list[dict[str, Any]] = [
    dict(sku="STARTER-SEAT-MONTHLY", name="Starter seat - monthly", tier=0, billing="monthly", price=25.0),
    dict(sku="STARTER-SEAT-ANNUAL", name="Starter seat - annual", tier=0, billing="annually", price=240.0),
    dict(sku="GROWTH-SEAT-MONTHLY", name="Growth seat - monthly", tier=1, billing="monthly", price=50.0),
    dict(sku="GROWTH-SEAT-ANNUAL", name="Growth seat - annual", tier=1, billing="annually", price=480.0),
    dict(sku="PRO-SEAT-MONTHLY", name="Pro seat - monthly", tier=2, billing="monthly", price=90.0),
    dict(sku="PRO-SEAT-ANNUAL", name="Pro seat - annual", tier=2, billing="annually", price=864.0),
    dict(sku="ENTERPRISE-SEAT-MONTHLY", name="Enterprise seat - monthly", tier=3, billing="monthly",
         price=150.0),
    dict(sku="ENTERPRISE-SEAT-ANNUAL", name="Enterprise seat - annual", tier=3, billing="annually",
         price=1440.0),
    dict(sku="ADDON-ENRICHMENT-MONTHLY", name="Data enrichment add-on - monthly", tier=-1, billing="monthly",
         price=99.0),
    dict(sku="ADDON-PREMIUM-SUPPORT-ANNUAL", name="Premium support - annual", tier=-1, billing="annually",
         price=2400.0),
    dict(sku="ADDON-SANDBOX-MONTHLY", name="Sandbox environment - monthly", tier=-1, billing="monthly",
         price=49.0),
    dict(sku="ONBOARDING-PACKAGE", name="Onboarding package", tier=-1, billing=None, price=1500.0),
]
TIER_NAMES = ["starter", "growth", "pro", "enterprise"]
ENRICHMENT = 8  # product index of the add-on most customers take
TEST_ACCOUNTS = [("K CRM (internal)", "kcrm.io"), ("Test Co", "test.kcrm.io"), ("QA Sandbox", "qa.kcrm.io"),
                 ("KCRM Demo Account", "demo.kcrm.io")]
OWNER_TEAMS = [("SDR", 30), ("SMB AE", 30), ("Mid-Market AE", 20), ("Enterprise AE", 10), ("CSM", 20),
               ("Sales Management", 5), ("Marketing", 5)]

# --- the latent state: ICP fit, risk, intent (effect sizes are in the package docstring) ---
# ICP fit is observable: these are the firmographics K CRM sells best to. enr.icp_fit can
# recover it; the world adds noise (``FIT_NOISE``) that no rule can see.
ICP_INDUSTRIES = {"COMPUTER_SOFTWARE": 1.0, "MARKETING_AND_ADVERTISING": 1.0, "FINANCIAL_SERVICES": 0.8,
                  "MANAGEMENT_CONSULTING": 0.8, "REAL_ESTATE": 0.4, "LOGISTICS_AND_SUPPLY_CHAIN": 0.4}
ICP_COUNTRIES = {"US": 0.5, "GB": 0.5, "CA": 0.4, "AU": 0.3}
ICP_SIZE_BEST, ICP_SIZE_OK = (20, 500), (10, 2_000)  # employees: 1.0 point, else 0.4 point
FIT_NOISE = 0.35
# Buyer personas: titles that sign. An account with a "champion" has more of them.
BUYER_TITLES = ["CEO", "Founder", "VP Sales", "Head of Sales", "RevOps Manager", "Sales Operations", "COO",
                "VP Marketing"]
CONVERSION_FIT = 1.1  # log-odds weight of fit (standardised) on becoming a customer
CONVERSION_CHAMPION = 0.7  # log-weight of having a champion
CONVERSION_INTENT = 0.5  # log-weight per unit of log intent
CHURN_RISK = 3.0  # log-weight of latent risk (0..1) on being chosen to churn
EXPANSION_UTILISATION = 2.0  # log-weight of seat utilisation on being chosen to expand
TRIAL_SHARE_NEW = 0.7  # of customers starting inside the period, the share that trialled first
TRIAL_DAYS = 14
WINBACK_SHARE = 0.08  # of full churners with room left in the period

BASE_ACCOUNTS = 2_000
BASE_CONTACTS = 8_000
CUSTOMER_SHARE = 0.58  # of non-test accounts, tuned so that invoices + payments ≈ billing events
BASE_CHURN_EVENTS = 300
FULL_CHURN_SHARE = 0.65
BASE_EXPANSIONS = 350  # billed expansions = HubSpot won expansion deals (7 % of 5,000 deals)


def month_index(micros: np.ndarray) -> np.ndarray:
    """Months since 1970-01 of a time."""
    return (np.asarray(micros, dtype=np.int64).astype("datetime64[us]").astype("datetime64[M]")
            .astype(np.int64))


def month_start_days(months: np.ndarray) -> np.ndarray:
    """Days since the epoch of the first day of month index ``months``."""
    return np.asarray(months, dtype=np.int64).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


@dataclass
class World:
    """One deterministic company; see the module docstring."""

    seed: int
    scale: float
    arrays: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["arrays"][name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def n_accounts(self) -> int:
        return len(self.acc_id)

    @property
    def n_contacts(self) -> int:
        return len(self.con_id)

    @cached_property
    def app_users(self) -> np.ndarray:
        """Contacts who signed up to the product, sorted."""
        return np.flatnonzero(self.con_signup >= 0)

    def account_end(self) -> np.ndarray:
        """When each account stops using the product: its churn date or the end of the period."""
        return np.where(self.acc_churn >= 0, self.acc_churn, PERIOD_END)


def build_world(seed: int = 42, scale: float = 1.0) -> World:
    """Draw the company. Cheap (a few ms at scale 1): source modules call it once per run."""
    rng = np.random.default_rng(seed)
    w = World(seed=seed, scale=scale)
    a = w.arrays
    _owners(rng, a)
    _accounts(rng, a, scaled(BASE_ACCOUNTS, scale), scale)
    _trials(rng, a, scale)
    _contacts(rng, a, scaled(BASE_CONTACTS, scale))
    _expansions(rng, a, scaled(BASE_EXPANSIONS, scale))
    _winbacks(rng, a)
    return w


def _weighted_sample(rng: np.random.Generator, pool: np.ndarray, log_weight: np.ndarray, k: int) -> np.ndarray:
    """``k`` members of ``pool`` without replacement, each drawn with probability ∝ exp(weight).

    Efraimidis–Spirakis: the k largest keys ``log(u) / w`` (here ``log(-log u)`` form, stable).
    """
    k = min(k, len(pool))
    keys = np.log(-np.log(rng.random(len(pool)))) - log_weight
    return pool[np.argsort(keys, kind="stable")[:k]]


def icp_points(industry: np.ndarray, employees: np.ndarray, country: np.ndarray) -> np.ndarray:
    """The observable part of ICP fit: industry, size and market points (0 .. 2.5).

    ``industry`` and ``country`` are indexes into ``INDUSTRIES`` and ``COUNTRIES``.
    """
    industry_pts = np.array([ICP_INDUSTRIES.get(i, 0.0) for i in INDUSTRIES])[industry]
    country_pts = np.array([ICP_COUNTRIES.get(c["code"], 0.0) for c in COUNTRIES])[country]
    size_pts = np.where((employees >= ICP_SIZE_BEST[0]) & (employees <= ICP_SIZE_BEST[1]), 1.0,
                        np.where((employees >= ICP_SIZE_OK[0]) & (employees <= ICP_SIZE_OK[1]), 0.4, 0.0))
    return industry_pts + size_pts + country_pts


def _owners(rng: np.random.Generator, a: dict[str, Any]) -> None:
    teams = np.repeat(np.arange(len(OWNER_TEAMS)), [n for _, n in OWNER_TEAMS])
    n = len(teams)
    a["own_id"] = unique_ids(rng, n, 10_000_000, 99_999_999)
    a["own_user_id"] = unique_ids(rng, n, 1_000_000, 9_999_999)
    first = rng.integers(0, len(FIRST), n)
    last = rng.integers(0, len(LAST), n)
    a["own_first"] = pick(FIRST, first)
    a["own_last"] = pick(LAST, last)
    local = pc.utf8_lower(concat(a["own_first"], ".", a["own_last"]))
    local = _dedupe(local)
    a["own_email"] = concat(local, "@kcrm.io")
    a["own_team"] = teams
    a["own_active"] = rng.random(n) > 0.1
    a["own_created"] = between(rng, HISTORY_START - 365 * US_PER_DAY, PERIOD_END - 60 * US_PER_DAY, n)


def _dedupe(local: pa.Array, after: pa.Array | None = None) -> pa.Array:
    """Make ``local + after`` unique by appending a counter to ``local`` in its 2nd, 3rd... occurrence
    (``after`` is an e-mail's ``@domain``: the counter belongs to the mailbox, ``ann2@x.com``)."""
    whole = local if after is None else concat(local, after)
    values = np.asarray(whole.to_numpy(zero_copy_only=False), dtype=object)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    if counts.max() == 1:
        return whole
    order = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(len(values), dtype=np.int64)
    rank[order] = np.arange(len(values)) - np.repeat(starts, counts)
    suffix = pc.if_else(pa.array(rank > 0), pc.cast(pa.array(rank + 1), pa.string()), "")
    return concat(local, suffix) if after is None else concat(local, suffix, after)


def _accounts(rng: np.random.Generator, a: dict[str, Any], n: int, scale: float) -> None:
    combos = len(NAME_A) * len(NAME_B) * len(NAME_C)
    pick_idx = rng.choice(combos, size=n, replace=False) if n <= combos else rng.integers(0, combos, n)
    ia, rest = np.divmod(pick_idx, len(NAME_B) * len(NAME_C))
    ib, ic = np.divmod(rest, len(NAME_C))
    stem = concat(pick(NAME_A, ia), pick(NAME_B, ib))
    name = concat(stem, " ", pick(NAME_C, ic))
    country = rng.choice(len(COUNTRIES), size=n, p=np.array([c["p"] for c in COUNTRIES]) / 100)
    tld = pick([c["tld"] for c in COUNTRIES], country)
    domain = concat(_dedupe(slug(concat(stem, pick(NAME_C, ic)))), tld)
    # internal test accounts live among the real ones (the stg layer has to filter them)
    is_test = np.zeros(n, dtype=bool)
    test_pos = rng.choice(n, size=min(len(TEST_ACCOUNTS), n), replace=False)
    is_test[test_pos] = True
    names = name.to_pylist()  # 2,000 strings: one small list, not a per-row generator
    domains = domain.to_pylist()
    for pos, (tname, tdomain) in zip(test_pos, TEST_ACCOUNTS, strict=False):
        names[pos], domains[pos] = tname, tdomain
        country[pos] = 0
    a["acc_id"] = unique_ids(rng, n, 5_000_000_000, 19_000_000_000)
    a["acc_name"] = pa.array(names)
    a["acc_domain"] = pa.array(domains)
    a["acc_country"] = country
    a["acc_city"] = rng.integers(0, 3, n)
    a["acc_is_test"] = is_test
    a["acc_industry"] = rng.choice(len(INDUSTRIES), size=n, p=np.array(INDUSTRY_P) / sum(INDUSTRY_P))
    employees = np.clip(np.round(rng.lognormal(3.6, 1.1, n)), 2, 5_000).astype(np.int64)
    a["acc_employees"] = employees
    a["acc_revenue"] = np.round(employees * rng.lognormal(11.6, 0.5, n), -3)
    # sales coverage by size: SMB AE, Mid-Market AE, Enterprise AE
    team = np.where(employees >= 500, 3, np.where(employees >= 50, 2, 1))
    a["acc_owner"] = _owner_in_team(rng, a, team)
    a["acc_created"] = between(rng, HISTORY_START - 180 * US_PER_DAY, PERIOD_END - 20 * US_PER_DAY, n)

    # the latent state: ICP fit from firmographics plus noise; a champion; buying intent
    fit_raw = icp_points(a["acc_industry"], employees, country) + rng.normal(0, FIT_NOISE, n)
    fit_z = (fit_raw - fit_raw.mean()) / fit_raw.std()
    a["acc_fit"] = 1 / (1 + np.exp(-1.5 * fit_z))  # 0..1
    a["acc_champion"] = rng.random(n) < 0.45
    a["acc_intent"] = rng.lognormal(0.0, 0.7, n)
    # customers: as many as before (about 56 % of the real accounts, bigger ones likelier), now
    # chosen by fit, champion and intent
    p_cust = np.clip(CUSTOMER_SHARE * (0.8 + 0.1 * np.log10(employees)), 0.05, 0.95)
    real = np.flatnonzero(~is_test)
    n_cust = round(float(p_cust[real].sum()))
    lw = (np.log(p_cust) + CONVERSION_FIT * fit_z + CONVERSION_CHAMPION * a["acc_champion"]
          + CONVERSION_INTENT * np.log(a["acc_intent"]))
    is_customer = np.zeros(n, dtype=bool)
    is_customer[_weighted_sample(rng, real, lw[real], n_cust)] = True
    # start: a quarter signed before the period, the rest through 2022-2023 with quarter-end peaks
    months = np.arange(24)
    weights = np.where(months % 3 == 2, 1.6, 1.0) * np.linspace(0.85, 1.15, 24)
    start_month = rng.choice(24, size=n, p=weights / weights.sum())
    start = (month_start_days(month_index(np.full(n, PERIOD_START)) + start_month) * US_PER_DAY
             + rng.integers(0, 28, n) * US_PER_DAY + rng.integers(8, 19, n) * 3_600_000_000)
    legacy = rng.random(n) < 0.3
    start = np.where(legacy, between(rng, HISTORY_START, PERIOD_START - 15 * US_PER_DAY, n), start)
    start = np.minimum(start, PERIOD_END - 45 * US_PER_DAY)
    a["acc_is_customer"] = is_customer
    a["acc_start"] = np.where(is_customer, start, -1)
    a["acc_created"] = np.where(is_customer, np.minimum(a["acc_created"], start - 30 * US_PER_DAY),
                                a["acc_created"])
    tier = np.clip(np.digitize(np.log10(employees) + rng.normal(0, 0.35, n), [1.25, 1.9, 2.6]), 0, 3)
    annual = rng.random(n) < 0.2
    a["acc_plan"] = tier * 2 + annual.astype(np.int64)
    a["acc_tier"] = tier
    a["acc_annual"] = annual
    a["acc_seats"] = np.clip(np.round(employees * rng.uniform(0.08, 0.35, n)), 2, 400).astype(np.int64)
    a["acc_addon"] = rng.random(n) < 0.2
    a["acc_discount"] = rng.random(n) < 0.1
    a["acc_mrr"] = a["acc_seats"] * monthly_price(a["acc_plan"]) + a["acc_addon"] * PRODUCTS[ENRICHMENT]["price"]
    a["acc_mrr"] = np.where(a["acc_discount"], a["acc_mrr"] * 0.9, a["acc_mrr"])

    # churn: full churn for some customers (they stop logging in and paying), partial for others
    n_events = scaled(BASE_CHURN_EVENTS, scale)
    n_full = round(n_events * FULL_CHURN_SHARE)
    eligible = np.flatnonzero(is_customer & (start < PERIOD_END - 150 * US_PER_DAY))
    # latent risk: poor fit plus bad luck; churners are drawn by it
    risk = 1 / (1 + np.exp(1.2 * fit_z - rng.normal(0, 0.9, n)))
    a["acc_risk"] = np.where(is_customer, risk, np.nan)
    full = np.sort(_weighted_sample(rng, eligible, CHURN_RISK * risk[eligible], n_full))
    churn = np.full(n, -1, dtype=np.int64)
    lo = np.maximum(start[full] + 90 * US_PER_DAY, PERIOD_START + 20 * US_PER_DAY)
    churn[full] = between(rng, lo, PERIOD_END - 10 * US_PER_DAY)
    a["acc_churn"] = churn
    # partial churn: seats removed at a date while the account stays
    stay = np.setdiff1d(eligible, full)
    part = rng.choice(stay, size=min(n_events - len(full), len(stay)), replace=False)
    part_at = between(rng, np.maximum(start[part] + 60 * US_PER_DAY, PERIOD_START), PERIOD_END - 5 * US_PER_DAY)
    lost = np.maximum(1, np.round(a["acc_seats"][part] * rng.uniform(0.1, 0.4, len(part)))).astype(np.int64)
    lost = np.minimum(lost, a["acc_seats"][part] - 1)
    a["partial_account"] = part
    a["partial_at"] = part_at
    a["partial_seats"] = np.maximum(lost, 1)
    a["acc_csm"] = _owner_in_team(rng, a, np.full(n, 4))


def _owner_in_team(rng: np.random.Generator, a: dict[str, Any], team: np.ndarray) -> np.ndarray:
    """A random owner index from ``team`` (index into OWNER_TEAMS) per row."""
    bounds = np.concatenate([[0], np.cumsum([k for _, k in OWNER_TEAMS])])
    lo, hi = bounds[team], bounds[team + 1]
    return lo + (rng.random(len(team)) * (hi - lo)).astype(np.int64)


def monthly_price(product: np.ndarray) -> np.ndarray:
    """USD list price per seat (or per add-on) and month of each product index."""
    prices = np.array([p["price"] / (12 if p["billing"] == "annually" else 1) for p in PRODUCTS])
    return prices[product]


def _contacts(rng: np.random.Generator, a: dict[str, Any], n: int) -> None:
    n_acc = len(a["acc_id"])
    weight = np.log1p(a["acc_employees"]) * np.where(a["acc_is_customer"], 2.2, 1.0)
    weight = np.where(a["acc_is_test"], 3.0, weight)
    has_company = rng.random(n) < 0.93
    account = np.where(has_company, rng.choice(n_acc, size=n, p=weight / weight.sum()), -1)
    first = rng.integers(0, len(FIRST), n)
    last = rng.integers(0, len(LAST), n)
    a["con_id"] = unique_ids(rng, n, 100_001, 40_000_000)
    a["con_account"] = account
    a["con_first"] = pick(FIRST, first)
    a["con_last"] = pick(LAST, last)
    dom_idx = np.maximum(account, 0)
    freemail = pick(FREEMAIL, rng.integers(0, len(FREEMAIL), n))
    domain = pc.if_else(pa.array(account >= 0), pick(a["acc_domain"], dom_idx), freemail)
    style = rng.random(n)
    f_low, l_low = pc.utf8_lower(a["con_first"]), pc.utf8_lower(a["con_last"])
    local = pc.if_else(pa.array(style < 0.7), concat(f_low, ".", l_low),
                       pc.if_else(pa.array(style < 0.9), concat(pc.utf8_slice_codeunits(f_low, 0, 1), l_low),
                                  f_low))
    a["con_email"] = _dedupe(local, concat("@", domain))  # the normalised address (lower case)
    # titles: a champion's account has more buyer personas among its contacts
    buyer = np.array([t in BUYER_TITLES for t in TITLES])
    buyer_idx, other_idx = np.flatnonzero(buyer), np.flatnonzero(~buyer)
    champion = (account >= 0) & a["acc_champion"][dom_idx]
    is_buyer = rng.random(n) < np.where(champion, 0.45, 0.12)
    a["con_title"] = np.where(is_buyer, buyer_idx[rng.integers(0, len(buyer_idx), n)],
                              other_idx[rng.integers(0, len(other_idx), n)])
    a["con_source"] = rng.choice(len(ANALYTICS_SOURCES), size=n, p=np.array(ANALYTICS_P) / sum(ANALYTICS_P))
    a["con_owner"] = _owner_in_team(rng, a, np.zeros(n, dtype=np.int64))
    start = np.where(account >= 0, a["acc_start"][dom_idx], -1)
    customer = (start >= 0) | ((account >= 0) & a["acc_is_test"][dom_idx])
    start = np.where((account >= 0) & a["acc_is_test"][dom_idx], HISTORY_START, start)
    # the product is used from the trial (if any) or the start of the subscription
    trial = np.where(account >= 0, a["acc_trial_start"][dom_idx], -1)
    has_trial = trial >= 0
    lost_trial = has_trial & ~customer
    start = np.where(has_trial, trial, start)
    created = between(rng, HISTORY_START, PERIOD_END - 2 * US_PER_DAY, n)
    around = start + rng.integers(-200, 260, n) * US_PER_DAY + rng.integers(0, US_PER_DAY, n)
    created = np.where(customer | has_trial, np.clip(around, HISTORY_START, PERIOD_END - 2 * US_PER_DAY), created)
    a["con_created"] = created
    end = np.where(account >= 0, np.where(a["acc_churn"][dom_idx] >= 0, a["acc_churn"][dom_idx], PERIOD_END),
                   PERIOD_END)
    end = np.where(lost_trial, trial + TRIAL_DAYS * US_PER_DAY + rng.integers(0, 3 * US_PER_DAY, n), end)
    signup = np.maximum(created, start) + rng.integers(US_PER_DAY // 24, 14 * US_PER_DAY, n)
    # in a trial, the first users sign up in its first days
    signup = np.where(has_trial & (created < start + 3 * US_PER_DAY),
                      start + rng.integers(US_PER_DAY // 24, 4 * US_PER_DAY, n), signup)
    is_user = ((customer | has_trial) & (rng.random(n) < 0.85)
               & (signup < end - np.where(lost_trial, 2, 7) * US_PER_DAY))
    a["con_signup"] = np.where(is_user, signup, -1)
    a["con_end"] = end
    a["con_activity"] = rng.lognormal(0.0, 0.9, n)


def _trials(rng: np.random.Generator, a: dict[str, Any], scale: float) -> None:
    """14-day trials: most new customers trialled first; some prospects trialled and did not buy.

    Activation (contacts imported, a pipeline created, an activity logged in the trial's first week)
    drives conversion: ``P(activated | converted) = 0.8`` and ``P(activated | not) = 0.25``.
    """
    n = len(a["acc_id"])
    start = a["acc_start"]
    new = a["acc_is_customer"] & (start >= PERIOD_START + (TRIAL_DAYS + 1) * US_PER_DAY)
    converted = new & (rng.random(n) < TRIAL_SHARE_NEW)
    prospects = np.flatnonzero(~a["acc_is_customer"] & ~a["acc_is_test"])
    n_lost = min(len(prospects), round(float(converted.sum()) * 0.8))
    # prospects that trial are the better-fitting, more interested ones too
    lost = _weighted_sample(rng, prospects, 1.0 * a["acc_fit"][prospects] + 0.5 * np.log(a["acc_intent"][prospects]),
                            n_lost)
    trial = np.full(n, -1, dtype=np.int64)
    trial[converted] = start[converted] - TRIAL_DAYS * US_PER_DAY - rng.integers(0, 3, converted.sum()) * US_PER_DAY
    trial[lost] = between(rng, PERIOD_START, PERIOD_END - (TRIAL_DAYS + 2) * US_PER_DAY, len(lost))
    activated = np.where(converted, rng.random(n) < 0.8, rng.random(n) < 0.25) & (trial >= 0)
    a["acc_trial_start"] = trial
    a["acc_trial_activated"] = activated
    # a prospect that trialled was in the CRM before it
    a["acc_created"] = np.where(trial >= 0, np.minimum(a["acc_created"], trial - 20 * US_PER_DAY),
                                a["acc_created"])


def _expansions(rng: np.random.Generator, a: dict[str, Any], n_exp: int) -> None:
    """Billed expansions: seats added, or an upgrade to the next tier, on monthly plans.

    Accounts whose seats are well used expand: drawn with weight ∝ exp(2 × utilisation),
    utilisation = product users / seats billed. Annual plans do not expand mid-term here.
    """
    n = len(a["acc_id"])
    users = np.bincount(np.maximum(a["con_account"], 0), weights=(a["con_signup"] >= 0) & (a["con_account"] >= 0),
                        minlength=n)
    util = np.minimum(users / a["acc_seats"], 2.0)
    a["acc_utilisation"] = util
    start = a["acc_start"]
    eligible = np.flatnonzero(a["acc_is_customer"] & ~a["acc_annual"] & (a["acc_churn"] < 0)
                              & (start < PERIOD_END - 150 * US_PER_DAY))
    chosen = np.sort(_weighted_sample(rng, eligible, EXPANSION_UTILISATION * util[eligible]
                                      + 1.0 * (1 - a["acc_risk"][eligible]), n_exp))
    m = len(chosen)
    lo = np.maximum(start[chosen] + 90 * US_PER_DAY, PERIOD_START + 30 * US_PER_DAY)
    at = between(rng, lo, PERIOD_END - 20 * US_PER_DAY)
    upgrade = (rng.random(m) < 0.3) & (a["acc_tier"][chosen] < 3)
    seats = a["acc_seats"][chosen]
    added = np.where(upgrade, 0, np.maximum(1, np.round(seats * rng.uniform(0.15, 0.6, m)))).astype(np.int64)
    a["exp_account"] = chosen
    a["exp_at"] = at
    a["exp_seats_added"] = added
    a["exp_plan_after"] = a["acc_plan"][chosen] + np.where(upgrade, 2, 0)


def _winbacks(rng: np.random.Generator, a: dict[str, Any]) -> None:
    """A few full churners come back (same plan, fewer seats) 2–5 months after they left.

    Their users do not return to the product in this world: only billing and a new deal do.
    """
    churn = a["acc_churn"]
    pool = np.flatnonzero((churn >= 0) & (churn < PERIOD_END - 160 * US_PER_DAY) & ~a["acc_annual"])
    k = round(WINBACK_SHARE * len(pool))
    chosen = np.sort(rng.choice(pool, size=k, replace=False)) if k else pool[:0]
    a["winback_account"] = chosen
    a["winback_at"] = churn[chosen] + rng.integers(60, 150, k) * US_PER_DAY
    a["winback_seats"] = np.maximum(1, np.round(a["acc_seats"][chosen] * 0.7)).astype(np.int64)
