-- marts.revenue_attribution: the amount of every won new-business opportunity credited to the marketing
-- touches of its journey under two models. The journey is the marketing-site visits of the opportunity's
-- contacts from attribution_lookback_days (marts.funnel_windows) before the opportunity's creation up to
-- that creation. First touch: all of it to the journey's first touch. W-shaped (K CRM's reporting model):
-- 30 points to the first touch, 30 to the lead-creation touch (the journey's first visit with a conversion:
-- form submit, sign-up or lead), 30 to the opportunity-creation touch (the last visit before the
-- opportunity was created) and 10 shared equally by the other touches; a touch in two roles adds their
-- points, and the points are scaled to sum to 1 (a role no touch holds, or no other touch, leaves its
-- points out). A won opportunity without any touch gets one 'unattributed' row holding all its amount,
-- so every model's credits add up to the won new-business revenue.
WITH windows AS (
  SELECT CAST(MAX(IF(window_name = 'attribution_lookback_days', days, NULL)) AS FLOAT64) AS lookback_days
  FROM marts.funnel_windows
),

won AS (
  SELECT
    opportunity_id,
    account_key,
    COALESCE(amount_usd, 0) AS amount_usd,
    created_at,
    closed_at
  FROM core.opportunities
  WHERE is_won AND deal_type = 'newbusiness' AND NOT is_internal AND closed_at IS NOT NULL AND created_at IS NOT NULL
),

journey_touches AS (
  -- A touch belongs to one contact, so DISTINCT only merges the same visit reached twice.
  SELECT DISTINCT
    w.opportunity_id,
    t.touch_id,
    t.touched_at,
    t.contact_id,
    t.channel,
    t.source,
    t.medium,
    t.campaign,
    t.has_conversion
  FROM won AS w
  CROSS JOIN windows AS p
  JOIN core.opportunity_contacts AS oc
    ON oc.opportunity_id = w.opportunity_id
  JOIN core.marketing_touches AS t
    ON t.contact_id = oc.contact_id
    AND t.touched_at <= w.created_at
    AND TIMESTAMP_DIFF(w.created_at, t.touched_at, MICROSECOND) / 86400000000.0 <= p.lookback_days
  WHERE NOT oc.is_internal AND NOT t.is_internal
),

numbered AS (
  SELECT
    j.*,
    ROW_NUMBER() OVER (PARTITION BY j.opportunity_id ORDER BY j.touched_at, j.touch_id) AS touch_number,
    COUNT(*) OVER (PARTITION BY j.opportunity_id) AS journey_touches
  FROM journey_touches AS j
),

lead_creation AS (
  SELECT
    opportunity_id,
    MIN(IF(has_conversion, touch_number, NULL)) AS lead_touch_number
  FROM numbered
  GROUP BY opportunity_id
),

roles AS (
  SELECT
    n.*,
    n.touch_number = 1 AS is_first_touch,
    COALESCE(n.touch_number = l.lead_touch_number, FALSE) AS is_lead_creation_touch,
    n.touch_number = n.journey_touches AS is_opportunity_creation_touch
  FROM numbered AS n
  JOIN lead_creation AS l
    ON l.opportunity_id = n.opportunity_id
),

counted AS (
  -- How many touches hold none of the three roles: they share the 10 points.
  SELECT
    r.*,
    r.is_first_touch OR r.is_lead_creation_touch OR r.is_opportunity_creation_touch AS is_key_touch,
    SUM(IF(r.is_first_touch OR r.is_lead_creation_touch OR r.is_opportunity_creation_touch, 0, 1))
      OVER (PARTITION BY r.opportunity_id) AS other_touches
  FROM roles AS r
),

points AS (
  SELECT
    c.*,
    IF(c.is_first_touch, 30, 0) + IF(c.is_lead_creation_touch, 30, 0) + IF(c.is_opportunity_creation_touch, 30, 0)
      + IF(c.is_key_touch, 0, SAFE_DIVIDE(10.0, c.other_touches)) AS w_points
  FROM counted AS c
),

weighted AS (
  SELECT
    p.*,
    p.w_points / SUM(p.w_points) OVER (PARTITION BY p.opportunity_id) AS w_shaped_weight
  FROM points AS p
)

SELECT
  CAST(w.opportunity_id AS INT64) AS opportunity_id,
  CAST(COALESCE(x.touch_number, 1) AS INT64) AS touch_number,
  CAST(DATE_TRUNC(DATE(w.closed_at), MONTH) AS DATE) AS won_month,
  CAST(w.closed_at AS TIMESTAMP) AS won_at,
  CAST(w.created_at AS TIMESTAMP) AS opportunity_created_at,
  CAST(w.account_key AS STRING) AS account_key,
  CAST(w.amount_usd AS NUMERIC) AS amount_usd,
  CAST(COALESCE(x.journey_touches, 0) AS INT64) AS journey_touches,
  CAST(x.touch_id AS STRING) AS touch_id,
  CAST(x.touched_at AS TIMESTAMP) AS touched_at,
  CAST(x.contact_id AS INT64) AS contact_id,
  CAST(COALESCE(x.channel, 'unattributed') AS STRING) AS channel,
  CAST(x.source AS STRING) AS source,
  CAST(x.medium AS STRING) AS medium,
  CAST(x.campaign AS STRING) AS campaign,
  CAST(COALESCE(x.is_first_touch, FALSE) AS BOOL) AS is_first_touch,
  CAST(COALESCE(x.is_lead_creation_touch, FALSE) AS BOOL) AS is_lead_creation_touch,
  CAST(COALESCE(x.is_opportunity_creation_touch, FALSE) AS BOOL) AS is_opportunity_creation_touch,
  CAST(IF(x.touch_id IS NULL OR x.is_first_touch, 1, 0) AS NUMERIC) AS first_touch_weight,
  CAST(IF(x.touch_id IS NULL OR x.is_first_touch, w.amount_usd, 0) AS NUMERIC) AS first_touch_credit_usd,
  CAST(COALESCE(x.w_shaped_weight, 1) AS NUMERIC) AS w_shaped_weight,
  CAST(COALESCE(x.w_shaped_weight, 1) * w.amount_usd AS NUMERIC) AS w_shaped_credit_usd
FROM won AS w
LEFT JOIN weighted AS x
  ON x.opportunity_id = w.opportunity_id
