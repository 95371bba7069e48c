-- core.marketing_touches: one row per visit (GA4 session) to the marketing site, every channel,
-- direct and anonymous visits included, with the HubSpot contact and account it belongs to once
-- known (signed-in user id, a HubSpot form submitted from the browser, or a later sign-in) and
-- whether the account was already a customer.
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
    form_id,
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
  -- The product (app.kcrm.io) is not the marketing site: its sessions are product use, not touches.
  WHERE COALESCE(hostname, '') <> 'app.kcrm.io'
),

visits AS (
  SELECT
    visit_key,
    CAST(COUNT(*) AS INT64) AS event_count,
    CAST(COUNTIF(event_name = 'page_view') AS INT64) AS page_view_count,
    LOGICAL_OR(event_name = 'form_submit') AS has_form_submit,
    LOGICAL_OR(event_name = 'sign_up') AS has_sign_up,
    LOGICAL_OR(event_name IN ('sign_up', 'generate_lead', 'form_submit')) AS has_conversion,
    MAX(user_id) AS visit_user_id,
    MAX(user_account_domain) AS visit_account_domain,
    MAX(loaded_at) AS loaded_at
  FROM events
  GROUP BY visit_key
),

landing AS (
  -- The visit's first event: when it started, on which page.
  SELECT *
  FROM events
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY visit_key
    ORDER BY event_at, CASE event_name WHEN 'session_start' THEN 0 WHEN 'first_visit' THEN 1 ELSE 2 END, event_id
  ) = 1
),

acquisition AS (
  -- The first event of the visit that carried acquisition information; none means direct.
  SELECT
    visit_key,
    source,
    medium,
    campaign,
    term,
    content,
    campaign_id,
    gclid
  FROM events
  WHERE source IS NOT NULL OR medium IS NOT NULL OR campaign IS NOT NULL
  QUALIFY ROW_NUMBER() OVER (PARTITION BY visit_key ORDER BY event_at, event_id) = 1
),

form_candidates AS (
  -- The identity join: a HubSpot submission is the GA4 form_submit on the same page (host and
  -- path) whose event HubSpot received 10 s before to 120 s after the browser's clock, of the
  -- same form when GA4 reports the embedded form's id (hsForm_<form guid>).
  SELECT
    e.event_id,
    e.event_at,
    e.user_pseudo_id,
    s.conversion_id,
    s.contact_id,
    ROW_NUMBER() OVER (
      PARTITION BY s.conversion_id
      ORDER BY ABS(TIMESTAMP_DIFF(s.submitted_at, e.event_at, MICROSECOND)), e.event_id
    ) AS rank_for_submission,
    ROW_NUMBER() OVER (
      PARTITION BY e.event_id
      ORDER BY ABS(TIMESTAMP_DIFF(s.submitted_at, e.event_at, MICROSECOND)), s.conversion_id
    ) AS rank_for_event
  FROM events AS e
  INNER JOIN stg.hubspot__contact_form_submissions AS s
    ON s.page_path = e.page_path
    AND s.page_host = e.hostname
    AND s.submitted_at BETWEEN TIMESTAMP_SUB(e.event_at, INTERVAL 10 SECOND)
    AND TIMESTAMP_ADD(e.event_at, INTERVAL 120 SECOND)
  WHERE e.event_name = 'form_submit'
    AND (e.form_id IS NULL OR LOWER(e.form_id) = CONCAT('hsform_', s.form_id))
),

browser_form_contact AS (
  -- A browser belongs to the (live) contact of its first matched form submission.
  SELECT
    user_pseudo_id,
    contact_id AS form_contact_id
  FROM form_candidates
  WHERE rank_for_submission = 1 AND rank_for_event = 1
    -- a submission of a contact since deleted in HubSpot identifies no one
    AND contact_id IN (SELECT contact_id FROM core.contacts)
  QUALIFY ROW_NUMBER() OVER (PARTITION BY user_pseudo_id ORDER BY event_at, conversion_id) = 1
),

browser_user AS (
  -- The first user id a browser signed in as, applied to its visits before and after.
  SELECT
    user_pseudo_id,
    user_id AS stitched_user_id
  FROM events
  WHERE user_id IS NOT NULL
  QUALIFY ROW_NUMBER() OVER (PARTITION BY user_pseudo_id ORDER BY event_at, event_id) = 1
),

contacts AS (
  SELECT
    contact_id,
    email,
    account_key,
    is_internal
  FROM core.contacts
),

contacts_by_email AS (
  -- One contact per email (the lowest id should two share one).
  SELECT *
  FROM contacts
  WHERE email IS NOT NULL
  QUALIFY ROW_NUMBER() OVER (PARTITION BY email ORDER BY contact_id) = 1
),

customer_since AS (
  -- An account becomes a customer when its first new-business deal is won.
  SELECT
    account_key,
    MIN(closed_at) AS became_customer_at
  FROM core.opportunities
  WHERE is_won AND deal_type = 'newbusiness' AND account_key IS NOT NULL
  GROUP BY account_key
),

identified AS (
  SELECT
    l.visit_key,
    l.event_id,
    l.event_at,
    l.event_date,
    l.event_name,
    l.session_key,
    l.ga_session_number,
    l.user_pseudo_id,
    l.page_path,
    l.hostname,
    l.device_category,
    l.geo_country,
    v.event_count,
    v.page_view_count,
    v.has_form_submit,
    v.has_sign_up,
    v.has_conversion,
    v.loaded_at,
    a.source,
    a.medium,
    a.campaign,
    a.term,
    a.content,
    a.campaign_id,
    a.gclid,
    CASE
      WHEN v.visit_user_id IS NOT NULL THEN 'user_id'
      WHEN f.form_contact_id IS NOT NULL THEN 'form_submission'
      WHEN b.stitched_user_id IS NOT NULL THEN 'stitched'
      ELSE 'anonymous'
    END AS identity_source,
    COALESCE(cv.contact_id, f.form_contact_id, cs.contact_id) AS contact_id,
    COALESCE(v.visit_user_id, fc.email, b.stitched_user_id) AS user_email,
    -- The GA4 account_domain user property, normalised like stg `domain` columns.
    NULLIF(RTRIM(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(
      v.visit_account_domain,
      r'^[a-z][a-z0-9+.-]*://', ''),
      r'[/?#:].*$', ''),
      r'^www[0-9]*\.', ''), '.'), '') AS property_domain
  FROM landing AS l
  INNER JOIN visits AS v
    ON v.visit_key = l.visit_key
  LEFT JOIN acquisition AS a
    ON a.visit_key = l.visit_key
  LEFT JOIN browser_form_contact AS f
    ON f.user_pseudo_id = l.user_pseudo_id
  LEFT JOIN contacts AS fc
    ON fc.contact_id = f.form_contact_id
  LEFT JOIN browser_user AS b
    ON b.user_pseudo_id = l.user_pseudo_id
  LEFT JOIN contacts_by_email AS cv
    ON cv.email = v.visit_user_id
  LEFT JOIN contacts_by_email AS cs
    ON cs.email = b.stitched_user_id
),

matched AS (
  SELECT
    i.*,
    ct.is_internal AS contact_is_internal,
    COALESCE(ct.account_key, pa.account_key) AS account_key,
    CASE
      WHEN ct.account_key IS NOT NULL THEN 'contact'
      WHEN pa.account_key IS NOT NULL THEN 'ga4_user_property'
    END AS account_match
  FROM identified AS i
  LEFT JOIN contacts AS ct
    ON ct.contact_id = i.contact_id
  LEFT JOIN core.accounts AS pa
    ON pa.domain = i.property_domain
)

SELECT
  TO_HEX(MD5(m.visit_key)) AS touch_id,
  m.event_at AS touched_at,
  m.event_date AS touch_date,
  m.event_name AS landing_event_name,
  m.session_key,
  m.ga_session_number,
  m.user_pseudo_id,
  IF(m.identity_source = 'anonymous', NULL, m.user_email) AS user_email,
  m.identity_source,
  IF(m.identity_source = 'anonymous', NULL, m.contact_id) AS contact_id,
  m.account_key,
  acct.domain AS account_domain,
  m.account_match,
  COALESCE(m.contact_is_internal, FALSE) OR COALESCE(acct.is_internal, FALSE)
    OR COALESCE(REGEXP_CONTAINS(m.property_domain, r'^([a-z0-9-]+\.)*kcrm\.(io|com)$'), FALSE) AS is_internal,
  CASE
    WHEN m.account_key IS NULL THEN NULL
    ELSE cs.became_customer_at IS NULL OR m.event_at < cs.became_customer_at
  END AS is_pre_sale,
  COALESCE(m.source, '(direct)') AS source,
  COALESCE(m.medium, '(none)') AS medium,
  COALESCE(m.campaign, IF(m.source IS NULL AND m.medium IS NULL, '(direct)', NULL)) AS campaign,
  m.term,
  m.content,
  m.campaign_id,
  m.gclid,
  CASE
    WHEN m.source IS NULL AND m.medium IS NULL THEN 'direct'
    WHEN m.source = '(direct)' AND COALESCE(m.medium, '(none)') IN ('(none)', '(not set)') THEN 'direct'
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
  m.event_count,
  m.page_view_count,
  m.has_form_submit,
  m.has_sign_up,
  m.has_conversion,
  m.loaded_at
FROM matched AS m
LEFT JOIN core.accounts AS acct
  ON acct.account_key = m.account_key
LEFT JOIN customer_since AS cs
  ON cs.account_key = m.account_key
