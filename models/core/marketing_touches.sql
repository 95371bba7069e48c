-- core.marketing_touches: one row per GA4 visit (session) that carried acquisition information
-- (source, medium or campaign), attributed to the first event of the visit that carried it, with
-- the HubSpot contact and cross-source account the visitor belongs to once known.
WITH events AS (
  SELECT
    event_id,
    event_at,
    event_date,
    event_name,
    user_pseudo_id,
    user_id,
    session_key,
    ga_session_number,
    page_path,
    hostname,
    campaign,
    source,
    medium,
    term,
    content,
    campaign_id,
    gclid,
    user_account_domain,
    device_category,
    geo_country,
    loaded_at,
    -- An event without a session id is its own visit.
    COALESCE(session_key, event_id) AS visit_key
  FROM stg.ga4__events
),

visits AS (
  -- Per visit: did it convert, and the signed-in user, if any event of the visit had one.
  SELECT
    visit_key,
    LOGICAL_OR(event_name IN ('sign_up', 'generate_lead', 'form_submit')) AS has_conversion,
    MAX(user_id) AS visit_user_id
  FROM events
  GROUP BY visit_key
),

touches AS (
  -- The first event of each visit that carried acquisition information is the touch.
  SELECT *
  FROM events
  WHERE source IS NOT NULL OR medium IS NOT NULL OR campaign IS NOT NULL
  QUALIFY ROW_NUMBER() OVER (PARTITION BY visit_key ORDER BY event_at, event_id) = 1
),

browser_identity AS (
  -- Identity stitching: the first user id a browser (user_pseudo_id) signed in as, applied to its
  -- anonymous visits before and after.
  SELECT
    user_pseudo_id,
    user_id AS stitched_user_id
  FROM stg.ga4__events
  WHERE user_id IS NOT NULL
  QUALIFY ROW_NUMBER() OVER (PARTITION BY user_pseudo_id ORDER BY event_at, event_id) = 1
),

contacts AS (
  -- One contact per email (HubSpot keeps email unique; the oldest contact wins if it did not).
  SELECT
    contact_id,
    email,
    company_id,
    is_internal
  FROM stg.hubspot__contacts
  WHERE email IS NOT NULL
  QUALIFY ROW_NUMBER() OVER (PARTITION BY email ORDER BY created_at, contact_id) = 1
),

companies AS (
  SELECT
    company_id,
    domain,
    is_internal
  FROM stg.hubspot__companies
),

identified AS (
  SELECT
    t.*,
    v.has_conversion,
    COALESCE(t.user_id, v.visit_user_id, b.stitched_user_id) AS resolved_user_id,
    CASE
      WHEN COALESCE(t.user_id, v.visit_user_id) IS NOT NULL THEN 'user_id'
      WHEN b.stitched_user_id IS NOT NULL THEN 'stitched'
      ELSE 'anonymous'
    END AS identity_source,
    -- The GA4 account_domain user property, normalised like stg `domain` columns.
    NULLIF(RTRIM(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(
      t.user_account_domain,
      r'^[a-z][a-z0-9+.-]*://', ''),
      r'[/?#:].*$', ''),
      r'^www[0-9]*\.', ''), '.'), '') AS property_domain
  FROM touches AS t
  INNER JOIN visits AS v
    ON v.visit_key = t.visit_key
  LEFT JOIN browser_identity AS b
    ON b.user_pseudo_id = t.user_pseudo_id
),

matched AS (
  SELECT
    i.*,
    ct.contact_id,
    COALESCE(co.domain, i.property_domain) AS account_domain,
    CASE
      WHEN co.domain IS NOT NULL THEN 'hubspot_company'
      WHEN i.property_domain IS NOT NULL THEN 'ga4_user_property'
    END AS account_match,
    COALESCE(ct.is_internal, FALSE) OR COALESCE(co.is_internal, FALSE)
      OR COALESCE(REGEXP_CONTAINS(i.property_domain, r'^([a-z0-9-]+\.)*kcrm\.(io|com)$'), FALSE) AS is_internal
  FROM identified AS i
  LEFT JOIN contacts AS ct
    ON ct.email = i.resolved_user_id
  LEFT JOIN companies AS co
    ON co.company_id = ct.company_id
)

SELECT
  m.event_id AS touch_id,
  m.event_at AS touched_at,
  m.event_date AS touch_date,
  m.event_name AS landing_event_name,
  m.session_key,
  m.ga_session_number,
  m.user_pseudo_id,
  m.resolved_user_id AS user_email,
  m.identity_source,
  m.contact_id,
  -- The account whose domain this is (core.accounts computes the key); null when none is.
  acct.account_key,
  m.account_domain,
  m.account_match,
  m.is_internal,
  m.source,
  m.medium,
  m.campaign,
  m.term,
  m.content,
  m.campaign_id,
  m.gclid,
  CASE
    WHEN m.source = '(direct)' AND m.medium IN ('(none)', '(not set)') THEN 'direct'
    WHEN m.medium IN ('cpc', 'ppc', 'paid', 'paidsearch')
      AND m.source IN ('linkedin', 'facebook', 'instagram', 'twitter', 'x', 'reddit') THEN 'paid_social'
    WHEN m.medium IN ('cpc', 'ppc', 'paid', 'paidsearch') THEN 'paid_search'
    WHEN m.medium = 'organic' THEN 'organic_search'
    WHEN m.medium IN ('social', 'social-network', 'social-media', 'sm') THEN 'organic_social'
    WHEN m.medium = 'email' THEN 'email'
    WHEN m.medium = 'referral' THEN 'referral'
    ELSE 'other'
  END AS channel,
  m.page_path AS landing_page_path,
  m.hostname,
  m.device_category,
  m.geo_country,
  m.has_conversion,
  m.loaded_at
FROM matched AS m
LEFT JOIN core.accounts AS acct
  ON acct.domain = m.account_domain
