-- core.marketing_touch_events: one row per GA4 event on the marketing site (page views, form
-- submissions, sign-ups, ...) with the visit of core.marketing_touches it belongs to and that
-- visit's person and account: which pages a known contact viewed and which forms they sent, each at
-- its own time (core.marketing_touches keeps one row per visit, at its start).
SELECT
  CAST(e.event_id AS STRING) AS event_id,
  CAST(t.touch_id AS STRING) AS touch_id,
  CAST(e.event_at AS TIMESTAMP) AS event_at,
  CAST(e.event_date AS DATE) AS event_date,
  CAST(e.event_name AS STRING) AS event_name,
  CAST(e.page_path AS STRING) AS page_path,
  CAST(e.hostname AS STRING) AS hostname,
  CAST(e.form_id AS STRING) AS form_id,
  CAST(t.contact_id AS INT64) AS contact_id,
  CAST(t.account_key AS STRING) AS account_key,
  CAST(t.identity_source AS STRING) AS identity_source,
  CAST(t.is_internal AS BOOL) AS is_internal,
  CAST(e.loaded_at AS TIMESTAMP) AS loaded_at
FROM stg.ga4__events AS e
-- The visit key is core.marketing_touches' own: the session, or the event itself without one.
INNER JOIN core.marketing_touches AS t
  ON t.touch_id = TO_HEX(MD5(COALESCE(e.session_key, e.event_id)))
-- The product (app.kcrm.io) is not the marketing site, as in core.marketing_touches.
WHERE COALESCE(e.hostname, '') <> 'app.kcrm.io'
