-- marts.funnel_monthly: the marketing funnel by month and channel. Top of the funnel is the month's
-- volume: marketing touches (visits) by their own channel and new contacts by their original channel.
-- From MQL down it is a cohort: the contacts whose first MQL (enr.lead_scores.mql_at) falls in the month,
-- by original channel, and how many of them went on, each stage inside a fixed window after mql_at
-- (marts.funnel_windows: SQL 30 days, opportunity 90 days, won 180 days as shipped), counted in the MQL's
-- month, never in the month the conversion happened. The stages are strictly sequential: a contact
-- reaches a stage only if it reached every stage above it, so the counts never rise down the funnel.
-- One row per month and channel, zeros included.
WITH windows AS (
  -- Windows are reference data a steward approves, never constants in this SQL.
  SELECT
    CAST(MAX(IF(window_name = 'sql_window_days', days, NULL)) AS FLOAT64) AS sql_days,
    CAST(MAX(IF(window_name = 'opportunity_window_days', days, NULL)) AS FLOAT64) AS opportunity_days,
    CAST(MAX(IF(window_name = 'won_window_days', days, NULL)) AS FLOAT64) AS won_days
  FROM marts.funnel_windows
),

as_of AS (
  -- The data's "now": enr.lead_scores' as-of moment (the latest touch), never the wall clock.
  SELECT MAX(score_as_of) AS as_of
  FROM enr.lead_scores
),

first_touch AS (
  -- The channel of the contact's first marketing-site visit GA4 saw: the fallback for a contact
  -- HubSpot has no original source for.
  SELECT
    contact_id,
    channel
  FROM core.marketing_touches
  WHERE contact_id IS NOT NULL AND NOT is_internal
  QUALIFY ROW_NUMBER() OVER (PARTITION BY contact_id ORDER BY touched_at, touch_id) = 1
),

contacts AS (
  -- Original channel: HubSpot's original source, set at the contact's first visit and kept since
  -- (GA4's history is shorter than HubSpot's), in core.marketing_touches' channel names.
  SELECT
    c.contact_id,
    c.created_at,
    COALESCE(
      CASE
        WHEN c.original_source IS NULL THEN NULL
        WHEN UPPER(c.original_source) = 'ORGANIC_SEARCH' THEN 'organic_search'
        WHEN UPPER(c.original_source) = 'PAID_SEARCH' THEN 'paid_search'
        WHEN UPPER(c.original_source) = 'DIRECT_TRAFFIC' THEN 'direct'
        WHEN UPPER(c.original_source) = 'REFERRALS' THEN 'referral'
        WHEN UPPER(c.original_source) = 'EMAIL_MARKETING' THEN 'email'
        WHEN UPPER(c.original_source) = 'SOCIAL_MEDIA' THEN 'organic_social'
        WHEN UPPER(c.original_source) = 'PAID_SOCIAL' THEN 'paid_social'
        WHEN UPPER(c.original_source) = 'OFFLINE' THEN 'offline'
        ELSE 'other'
      END,
      f.channel,
      'unknown'
    ) AS channel
  FROM core.contacts AS c
  LEFT JOIN first_touch AS f
    ON f.contact_id = c.contact_id
  WHERE NOT c.is_internal
),

mqls AS (
  -- The cohort: every real contact's first MQL, with its SQL inside the SQL window.
  SELECT
    l.contact_id,
    c.channel,
    l.mql_at,
    DATE_TRUNC(DATE(l.mql_at), MONTH) AS month_start,
    COALESCE(l.sql_at IS NOT NULL
      AND TIMESTAMP_DIFF(l.sql_at, l.mql_at, MICROSECOND) / 86400000000.0 <= w.sql_days, FALSE) AS is_sql,
    -- a contact HubSpot has no creation time for appears in the month it became an MQL
    COALESCE(c.created_at, l.mql_at) AS created_at
  FROM enr.lead_scores AS l
  JOIN contacts AS c
    ON c.contact_id = l.contact_id
  CROSS JOIN windows AS w
  WHERE l.is_mql
),

new_business AS (
  SELECT
    oc.contact_id,
    o.opportunity_id,
    COALESCE(o.amount_usd, 0) AS amount_usd,
    o.created_at,
    o.is_won,
    o.closed_at
  FROM core.opportunity_contacts AS oc
  JOIN core.opportunities AS o
    ON o.opportunity_id = oc.opportunity_id
  WHERE o.deal_type = 'newbusiness' AND NOT o.is_internal AND NOT oc.is_internal AND o.created_at IS NOT NULL
),

cohort_opportunities AS (
  -- The new-business opportunities of a cohort contact created inside the opportunity window (from
  -- mql_at on: a deal that came before the MQL was not caused by it), and whether each was won
  -- inside the won window.
  SELECT
    m.contact_id,
    m.mql_at,
    m.is_sql,
    n.opportunity_id,
    n.amount_usd,
    COALESCE(n.is_won AND n.closed_at IS NOT NULL
      AND TIMESTAMP_DIFF(n.closed_at, m.mql_at, MICROSECOND) / 86400000000.0 <= w.won_days, FALSE) AS is_won
  FROM mqls AS m
  CROSS JOIN windows AS w
  JOIN new_business AS n
    ON n.contact_id = m.contact_id
    AND n.created_at >= m.mql_at
    AND TIMESTAMP_DIFF(n.created_at, m.mql_at, MICROSECOND) / 86400000000.0 <= w.opportunity_days
),

contact_stages AS (
  SELECT
    contact_id,
    LOGICAL_OR(is_sql) AS has_opportunity,
    LOGICAL_OR(is_sql AND is_won) AS has_won,
    LOGICAL_OR(NOT is_sql) AS has_unqualified_opportunity
  FROM cohort_opportunities
  GROUP BY contact_id
),

sourced AS (
  -- Each opportunity's amount is counted once: in the cohort of the SQL contact on it that became an
  -- MQL first (several contacts of one deal would otherwise count it several times).
  SELECT
    contact_id,
    opportunity_id,
    amount_usd,
    is_won
  FROM cohort_opportunities
  WHERE is_sql
  QUALIFY ROW_NUMBER() OVER (PARTITION BY opportunity_id ORDER BY mql_at, contact_id) = 1
),

cohort AS (
  SELECT
    m.month_start,
    m.channel,
    COUNT(*) AS mql_contacts,
    COUNTIF(m.is_sql) AS sql_contacts,
    COUNTIF(COALESCE(s.has_opportunity, FALSE)) AS opportunity_contacts,
    COUNTIF(COALESCE(s.has_won, FALSE)) AS won_contacts,
    COUNTIF(COALESCE(s.has_unqualified_opportunity AND NOT m.is_sql, FALSE)) AS unqualified_opportunity_contacts
  FROM mqls AS m
  LEFT JOIN contact_stages AS s
    ON s.contact_id = m.contact_id
  GROUP BY m.month_start, m.channel
),

pipeline AS (
  SELECT
    m.month_start,
    m.channel,
    COUNT(*) AS pipeline_opportunities,
    SUM(p.amount_usd) AS pipeline_created_usd,
    COUNTIF(p.is_won) AS won_opportunities,
    SUM(IF(p.is_won, p.amount_usd, 0)) AS won_usd
  FROM sourced AS p
  JOIN mqls AS m
    ON m.contact_id = p.contact_id
  GROUP BY m.month_start, m.channel
),

touches AS (
  -- Every marketing-site visit of the month, anonymous ones included, by the visit's own channel.
  SELECT
    DATE_TRUNC(touch_date, MONTH) AS month_start,
    channel,
    COUNT(*) AS touches
  FROM core.marketing_touches
  WHERE NOT is_internal
  GROUP BY DATE_TRUNC(touch_date, MONTH), channel
),

new_contacts AS (
  SELECT
    DATE_TRUNC(DATE(COALESCE(c.created_at, m.created_at)), MONTH) AS month_start,
    c.channel,
    COUNT(*) AS new_contacts
  FROM contacts AS c
  LEFT JOIN mqls AS m
    ON m.contact_id = c.contact_id
  WHERE COALESCE(c.created_at, m.created_at) IS NOT NULL
  GROUP BY DATE_TRUNC(DATE(COALESCE(c.created_at, m.created_at)), MONTH), c.channel
),

months AS (
  -- Every month from the first to the last one of any touch, contact or MQL.
  SELECT month_start
  FROM (
    SELECT
      MIN(month_start) AS first_month,
      MAX(month_start) AS last_month
    FROM (
      SELECT month_start FROM touches
      UNION ALL
      SELECT month_start FROM new_contacts
      UNION ALL
      SELECT month_start FROM cohort
    )
  ) AS bounds
  CROSS JOIN UNNEST(GENERATE_DATE_ARRAY(bounds.first_month, bounds.last_month, INTERVAL 1 MONTH)) AS month_start
),

channels AS (
  SELECT channel FROM touches
  UNION DISTINCT
  SELECT channel FROM contacts
)

SELECT
  CAST(mo.month_start AS DATE) AS month_start,
  CAST(ch.channel AS STRING) AS channel,
  CAST(COALESCE(t.touches, 0) AS INT64) AS touches,
  CAST(COALESCE(nc.new_contacts, 0) AS INT64) AS new_contacts,
  CAST(COALESCE(c.mql_contacts, 0) AS INT64) AS mql_contacts,
  CAST(COALESCE(c.sql_contacts, 0) AS INT64) AS sql_contacts,
  CAST(COALESCE(c.opportunity_contacts, 0) AS INT64) AS opportunity_contacts,
  CAST(COALESCE(c.won_contacts, 0) AS INT64) AS won_contacts,
  CAST(COALESCE(c.unqualified_opportunity_contacts, 0) AS INT64) AS unqualified_opportunity_contacts,
  CAST(SAFE_DIVIDE(c.sql_contacts, c.mql_contacts) AS NUMERIC) AS mql_to_sql_rate,
  CAST(SAFE_DIVIDE(c.opportunity_contacts, c.sql_contacts) AS NUMERIC) AS sql_to_opportunity_rate,
  CAST(SAFE_DIVIDE(c.won_contacts, c.opportunity_contacts) AS NUMERIC) AS opportunity_to_won_rate,
  CAST(SAFE_DIVIDE(c.won_contacts, c.mql_contacts) AS NUMERIC) AS mql_to_won_rate,
  CAST(COALESCE(p.pipeline_opportunities, 0) AS INT64) AS pipeline_opportunities,
  CAST(COALESCE(p.pipeline_created_usd, 0) AS NUMERIC) AS pipeline_created_usd,
  CAST(COALESCE(p.won_opportunities, 0) AS INT64) AS won_opportunities,
  CAST(COALESCE(p.won_usd, 0) AS NUMERIC) AS won_usd,
  -- The cohort is final once its last possible MQL (the month's last moment) has had the whole won window.
  CAST(TIMESTAMP_ADD(TIMESTAMP(DATE_ADD(mo.month_start, INTERVAL 1 MONTH)), INTERVAL CAST(w.won_days AS INT64) DAY)
    <= a.as_of AS BOOL) AS is_cohort_complete
FROM months AS mo
CROSS JOIN channels AS ch
CROSS JOIN windows AS w
CROSS JOIN as_of AS a
LEFT JOIN touches AS t
  ON t.month_start = mo.month_start AND t.channel = ch.channel
LEFT JOIN new_contacts AS nc
  ON nc.month_start = mo.month_start AND nc.channel = ch.channel
LEFT JOIN cohort AS c
  ON c.month_start = mo.month_start AND c.channel = ch.channel
LEFT JOIN pipeline AS p
  ON p.month_start = mo.month_start AND p.channel = ch.channel
