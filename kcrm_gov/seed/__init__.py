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
marketing touches               30,000   ga4__events
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
  ``http(s)://`` and trailing ``/``) and usually a Zendesk organization (``domain_names``);
* a contact who signed up to the product is a Mixpanel ``distinct_id`` and, after sign-up,
  a GA4 ``user_id``: both are the K CRM user id, the contact's email in lower case;
* every closed-won new-business deal closes on its company's subscription start, which
  is the date of its first invoice (for starts inside the period); plans and prices come
  from the 12 HubSpot products (SKUs in ``property_kcrm_product_sku``);
* a fully churned account gets a CS churn event, stops logging in (no Mixpanel events
  after ``churned_at``), stops being invoiced and raises no more tickets.

The mess the stg layer must clean (all present at scale 1):

* **loader re-syncs**: about 2 % of the rows of every Fivetran table appear twice, the
  copy with a later ``_fivetran_synced`` (and ``updated_at``/``lastmodifieddate``) — the
  primary keys include ``_fivetran_synced`` and hold;
* **soft deletes**: about 1 % ``_fivetran_deleted = true``; HubSpot companies, deals
  and leads also carry ``is_deleted = true`` (archived) on about 1 %; paying customers and
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
  country, with ``exchange_rate`` to USD; a few invoices are voided (zero amounts);
* **JSON text**: Mixpanel ``properties`` is a JSON document in a STRING column;
* also: Zendesk organizations created twice for one domain, empty ``domain_names``,
  GDPR-scrubbed Zendesk users, anonymous ``$device:`` Mixpanel ids before identify,
  free text with names, emails and phone numbers where the contracts say so.
"""

from __future__ import annotations

from .common import SeedError
from .world import World, build_world
from .write import FORMATS, SeedResult, generate, generators, seed, seed_to_files

__all__ = ["FORMATS", "SeedError", "SeedResult", "World", "build_world", "generate", "generators", "seed",
           "seed_to_files"]
