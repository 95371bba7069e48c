"""Synthetic GTM source data shaped exactly like the raw contracts.

One company (``world``) is drawn from ``numpy.random.default_rng(seed)``; one module per
source (``hubspot``, ``ga4``, ``mixpanel``, ``quickbooks``, ``zendesk``, ``cs``) shapes it
into that source's raw tables, column for column as the contracts define them (names,
order, types, required-ness). Generation is vectorised (numpy + pyarrow, no per-row
Python, no Faker) and every table gets its own random stream
(``default_rng([seed, crc32(table), chunk])``), so the same seed and scale give the same
data byte for byte, whichever tables are generated and in whatever order. Dates are
anchored to 2022-01-01 .. 2023-12-31 with the last loader sync on 2024-01-02; nothing
reads the wall clock.

Volumes at scale 1 (distinct records, before the loader's re-sync duplicates):

=============================  =======  ====================================
object                          rows     raw table
=============================  =======  ====================================
accounts (companies)            2,000    hubspot__companies
contacts                        8,000    hubspot__contacts
leads                           5,000    hubspot__leads
opportunities (deals)           5,000    hubspot__deals
products                        12       hubspot__products (not scaled)
users (owners)                  120      hubspot__owners (not scaled)
usage events                    150,000  mixpanel__events (10 usage event names)
login events                    100,000  mixpanel__events ("Session Start")
feature-adoption events         50,000   mixpanel__events ("Feature Used")
marketing touches (sessions)    30,000   ga4__events (~4 events a session)
tickets                         20,000   zendesk__tickets
billing events                  24,000   quickbooks__invoices + quickbooks__payments
NPS responses                   2,500    zendesk__nps_responses
churn events                    300      cs__churn_events (full + partial)
=============================  =======  ====================================

``--scale F`` multiplies every row-bearing table except products, owners and the deal
pipeline stages. Other tables (customers, invoice lines, organizations, users, CSAT
ratings, CS notes) follow from the world.

How the sources line up (as they do in life, never through a shared id):

* a HubSpot company that pays is a QuickBooks customer (``website`` or the domain of
  ``primary_email_address`` = the company's domain, after normalising case, ``www.``,
  ``http(s)://`` and trailing ``/``) and usually a Zendesk organization (its rows of ``domain_name``);
* a contact who signed up to the product is a Mixpanel ``distinct_id`` and, after sign-up,
  a GA4 ``user_id``: both are the K CRM user id, the contact's email in lower case;
* every closed-won new-business deal closes on its company's subscription start, which
  is the date of its first invoice (for starts inside the period); plans and prices come
  from the 12 HubSpot products (SKUs in ``property_kcrm_product_sku``);
* a fully churned account gets a CS churn event, stops logging in (no Mixpanel events
  after ``churned_at``), stops being invoiced and raises no more tickets.

Cause and effect (the true effect sizes; ``kcrm_gov.seed.truth.ground_truth()`` returns them
with what they imply for the drawn world, and the tests of the built warehouse read it):

* **ICP fit** is observable: industry points (software and marketing 1.0, financial services
  and consulting 0.8, real estate and logistics 0.4), size points (20-500 employees 1.0, 10-2,000
  0.4) and market points (US and UK 0.5, Canada 0.4, Australia 0.3), plus unobservable noise
  (sd 0.35). Latent fit = logistic(1.5 × standardised points+noise).
* **Becoming a customer**: the customers (as many as before: ~56 % of real accounts) are drawn
  with weight exp(1.1 × fit_z + 0.7 × champion + 0.5 × log intent); a *champion* account
  (45 %) has buyer personas among 45 % of its contacts (CEO, founder, VP/head of sales, RevOps,
  sales ops, COO, VP marketing) against 12 % elsewhere. Customer rate by ICP tier at scale 1:
  A 86 %, B 56 %, C 36 %, D 15 % (tiers of enr.icp_tiers: 80, 60 and 40 of 100 points).
* **Churn**: latent risk = logistic(-1.2 × fit_z + N(0, 0.9)); the 195 full churners (scale 1)
  are drawn with weight exp(3 × risk) (mean risk 0.55 against 0.35). Before a churn: product
  usage declines convexly from its normal rate to 15 % at the churn date, starting 60-120 days
  before (the last 30 days hold ~19 % of the usage of days 90-120 before); CS notes in the 120
  days before are negative with P = 0.7 (elsewhere 0.04 + 0.16 × risk); 70 % of eligible
  churners file a "Cancel my subscription" ticket (tag ``churn_risk``) 10-60 days before, and no
  one else does; every NPS answer loses 3 × risk points and a churner's answers in its last six
  months 2-5 more; ticket volume × (0.6 + 1.2 × risk); P(bad CSAT | answered) = 0.08 + 0.45 × risk
  (0.7 on a cancellation ticket).
* **Trials**: 70 % of customers starting inside the period trialled for 14 days first, and
  prospects (0.8 × as many, the better-fitting and more interested) trialled without buying.
  Activation = contacts imported, a pipeline created and an activity logged in the first week
  of the trial (the Mixpanel events ``Contact Imported``, ``Pipeline Created``, ``Note Added``,
  in consecutive two-day slots from the first user's sign-up, so all three fall inside
  enr.activation's 7 days):
  P(activated | converted) = 0.8, P(activated | lost) = 0.25, so activated trials convert at
  ~80 % and the others at ~24 %.
* **Expansion**: 350 billed expansions (scale 1) on monthly plans, 30 % of them a tier upgrade,
  the rest 15-60 % more seats; expanders are drawn with weight exp(2 × seat utilisation +
  (1 - risk)) (utilisation = product users / seats: 0.77 against 0.31), and their usage grows
  linearly to 1.6 × over the 60 days before. Each is a won HubSpot expansion deal on the date
  it is billed from, worth the added list MRR.
* **Win-backs**: 8 % of full churners on monthly plans with 160 days left come back 60-150 days
  later on the same plan with 70 % of the seats (a won "Win-back" new-business deal); their
  users do not come back to the product in this world.

The mess the stg layer must clean (all present at scale 1):

* **the loader's grain**: Fivetran's default soft-delete mode, one row per record updated in
  place; about 2 % of the records of every Fivetran table changed after their first sync (a
  later ``_fivetran_synced`` and ``updated_at``/``lastmodifieddate``). HubSpot deal stages are
  in History Mode (``_fivetran_start``/``_end``/``_active``, one row per stage entry);
* **soft deletes**: about 1 % ``_fivetran_deleted = true`` (Mixpanel captures no deletes);
  removed organization domains and ticket tags stay as deleted rows; HubSpot companies, deals
  and leads also carry ``is_deleted = true`` (archived) on 0.6-1 %; paying customers and
  won deals are never deleted;
* **emails as typed**: HubSpot contact emails are Title- or UPPER-cased (~6 %) or padded
  with spaces (~2 %); Zendesk user and NPS recipient emails are mixed-case now and then;
  HubSpot domains sometimes carry ``www.`` or capitals, QuickBooks ``website`` comes as
  ``www.x``, ``https://x``, ``http://www.x/`` or ``x``, and CS churn domains as typed by CSMs;
* **null amounts**: QuickBooks payments with a null ``total_amount`` (~1 %), HubSpot
  deals without ``property_amount`` (open and lost ones), churn events without ``lost_mrr``;
* **late data**: GA4 ``_loaded_at`` is the next night for most days and up to 3 days
  after the day for restated shards (~6 %);
* **internal test accounts**: ``K CRM (internal)`` (kcrm.io), ``Test Co`` (test.kcrm.io),
  ``QA Sandbox`` and ``KCRM Demo Account`` live among the HubSpot companies, with contacts
  who use the product (Mixpanel, GA4) but are never billed;
* **currencies**: QuickBooks customers, invoices and payments are in USD, EUR or GBP by
  country, with ``exchange_rate`` to USD (EUR and GBP rates move monthly);
* **billing history**: a few invoices are voided (zero amounts) and replaced by a corrected
  invoice days later; annual plans sold before 2022 have their 2021 invoice; a few invoices
  are created twice and the copy deleted (with its lines); expansions, win-backs and a few
  monthly-to-annual switches are billed;
* **JSON text**: Mixpanel ``properties`` is a JSON document in a STRING column;
* **local time**: Mixpanel ``time`` is the project's wall-clock time (America/New_York) stored
  as if it were UTC, as the connector lands it; stg converts it once;
* **unknown accounts**: about 0.5 % of Mixpanel events come from workspaces of companies no
  other system knows (on ``$device:`` ids);
* **histories**: Zendesk ticket status, group, priority and assignee changes
  (``ticket_field_history``), HubSpot deal stages and contact lifecycle stages
  (``contact_property_history``), deal-company and deal-contact associations;
* **company matching** (``hubspot.company_plan``): ~3 % of real accounts have a duplicate
  HubSpot company (same, ``www.`` or upper-case domain, created later, few properties; about
  half take the later contacts, leads and deals); ~1 % of customers rebranded (QuickBooks
  ``website`` still the old domain, billing email at the new one); a few subsidiaries are billed
  with their parent's domain as ``website`` (billing email at their own);
* also: Zendesk organizations created twice for one domain, organizations without domains,
  GDPR-scrubbed Zendesk users, anonymous ``$device:`` Mixpanel ids before identify,
  free text with names, emails and phone numbers where the contracts say so.
"""

from __future__ import annotations

from .common import SeedError
from .world import World, build_world
from .write import FORMATS, SEED_MEMORY_LIMIT, SeedResult, generate, generators, seed, seed_to_files

__all__ = ["FORMATS", "SEED_MEMORY_LIMIT", "SeedError", "SeedResult", "World", "build_world", "generate",
           "generators", "seed", "seed_to_files"]
