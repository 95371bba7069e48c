"""HubSpot form submissions as Fivetran lands them (``contact_form_submission``).

One row per submission of a HubSpot form by a contact: the form-submitting sessions that
``ga4`` draws (a web-created contact's creation form, later demo / contact-sales / e-book /
newsletter forms). ``timestamp`` is when HubSpot received the submission: the GA4 ``form_submit``
event's time plus the round trip (0.3–6 s); ``page_url`` is the form page without query string.
Sessions of visitors who refused analytics cookies (``ga4.NO_CONSENT``) are here but have no GA4
rows, so a few submissions match no GA4 event. The connector's table is an append-only child of
the contact object: one row per submission, no ``_fivetran_deleted`` column.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .common import US_PER_SEC, Shape, concat, hex_ids, ints, pick, synced_after, ts
from .ga4 import FORMS, HOST, PAGES, form_submissions
from .hubspot import PORTAL_ID
from .world import World

PAGE_IDS = [61_000_000_000 + 7_919 * i for i in range(len(PAGES))]


def contact_form_submission(w: World, rng: np.random.Generator, shape: Shape) -> pa.Table:
    f = form_submissions(w)
    n = len(f["contact"])
    received = f["submitted_at"] + rng.integers(300_000, 6 * US_PER_SEC, n)
    page = np.array([form[1] for form in FORMS])[f["form"]]
    uuid = hex_ids(rng, n)
    # HubSpot conversion ids are UUIDs: 8-4-4-4-12 hex digits
    conversion_id = concat(*(pc.utf8_slice_codeunits(uuid, a, b) if i % 2 == 0 else "-"
                             for i, (a, b) in enumerate([(0, 8), (0, 0), (8, 12), (0, 0), (12, 16), (0, 0),
                                                         (16, 20), (0, 0), (20, 32)])))
    return shape({
        "_fivetran_synced": ts(synced_after(rng, received)),
        "timestamp": ts(received),
        "form_id": pick([form[2] for form in FORMS], f["form"]),
        "contact_id": ints(w.con_id[f["contact"]]),
        "conversion_id": conversion_id,
        "page_id": ints(np.array(PAGE_IDS)[page]),
        "page_url": concat(HOST, pick([p for p, _ in PAGES], page)),
        "portal_id": ints(np.full(n, PORTAL_ID)),
        "title": pick([t for _, t in PAGES], page),
    })


TABLES = {"hubspot__contact_form_submissions": contact_form_submission}
