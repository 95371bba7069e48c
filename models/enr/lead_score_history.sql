-- enr.lead_score_history: the lead score of every real contact at each moment it was touched, the
-- score just before the moment and just after it, and whether the moment crossed the MQL threshold.
-- Score = fit + engagement. Fit = the enr.lead_score_points of the account's ICP tier (enr.icp_fit)
-- and of the contact's persona (enr.contact_personas). Engagement at a time t = the sum over the
-- contact's touches u in (t - window_days, t] of points(u) * 0.5 ^ (age_days / half_life_days),
-- age_days = (t - u) in fractional days of 86,400 s from the timestamps, capped at engagement_cap
-- (enr.lead_score_parameters). The score only rises at a touch and decays in between, so it first
-- reaches the threshold at a touch moment: the first crossing is the MQL (is_mql).
WITH parameters AS (
  SELECT
    CAST(half_life_days AS FLOAT64) AS half_life_days,
    CAST(window_days AS FLOAT64) AS window_days,
    CAST(engagement_cap AS FLOAT64) AS engagement_cap,
    CAST(mql_threshold AS FLOAT64) AS mql_threshold
  FROM enr.lead_score_parameters
),

contacts AS (
  SELECT
    p.contact_id,
    p.persona,
    f.icp_tier
  FROM enr.contact_personas AS p
  LEFT JOIN enr.icp_fit AS f
    ON f.account_key = p.account_key
),

fit AS (
  -- A contact without an account (or whose account has no ICP fit) gets no ICP tier points.
  SELECT
    c.contact_id,
    CAST(COALESCE(SUM(r.points), 0) AS FLOAT64) AS fit_points
  FROM contacts AS c
  LEFT JOIN enr.lead_score_points AS r
    ON (r.rule_kind = 'icp_tier' AND r.match_value = c.icp_tier)
    OR (r.rule_kind = 'persona' AND r.match_value = c.persona)
  GROUP BY c.contact_id
),

touches AS (
  -- The touch types of the definition; other GA4 events (scroll, session_start, content forms
  -- beyond their page view...) are not touches.
  SELECT
    contact_id,
    event_at AS touched_at,
    CASE
      WHEN event_name = 'sign_up' THEN 'sign_up'
      WHEN event_name = 'form_submit' AND page_path IN ('/demo', '/contact-sales') THEN 'sales_form'
      WHEN event_name = 'page_view' AND page_path = '/pricing' THEN 'pricing_page_view'
      WHEN event_name = 'page_view' THEN 'page_view'
    END AS touch_type
  FROM core.marketing_touch_events
  WHERE contact_id IS NOT NULL AND NOT is_internal
  UNION ALL
  SELECT
    contact_id,
    created_at AS touched_at,
    'lead_created' AS touch_type
  FROM core.leads
  WHERE contact_id IS NOT NULL AND NOT is_internal AND created_at IS NOT NULL
),

moments AS (
  -- Touches of one contact at one instant are one moment: their points arrive together.
  SELECT
    t.contact_id,
    t.touched_at,
    ARRAY_AGG(DISTINCT r.rule_id ORDER BY r.rule_id) AS touch_rules,
    COUNT(*) AS touch_count,
    CAST(SUM(r.points) AS FLOAT64) AS moment_points
  FROM touches AS t
  JOIN enr.lead_score_points AS r
    ON r.rule_kind = 'touch' AND r.match_value = t.touch_type
  JOIN contacts AS c
    ON c.contact_id = t.contact_id
  GROUP BY t.contact_id, t.touched_at
),

decayed AS (
  -- Each moment m with the moments u of the same contact at or before it inside the window.
  SELECT
    m.contact_id,
    m.touched_at,
    u.touched_at AS earlier_at,
    u.moment_points * POW(0.5, TIMESTAMP_DIFF(m.touched_at, u.touched_at, MICROSECOND) / 86400000000.0
                               / p.half_life_days) AS points_now
  FROM moments AS m
  CROSS JOIN parameters AS p
  JOIN moments AS u
    ON u.contact_id = m.contact_id
    AND u.touched_at <= m.touched_at
    AND TIMESTAMP_DIFF(m.touched_at, u.touched_at, MICROSECOND) / 86400000000.0 < p.window_days
),

engagement AS (
  SELECT
    contact_id,
    touched_at,
    SUM(IF(earlier_at < touched_at, points_now, 0)) AS raw_engagement_before,
    SUM(points_now) AS raw_engagement_after
  FROM decayed
  GROUP BY contact_id, touched_at
),

scored AS (
  SELECT
    m.contact_id,
    m.touched_at,
    m.touch_rules,
    m.touch_count,
    m.moment_points,
    f.fit_points,
    e.raw_engagement_after,
    LEAST(e.raw_engagement_before, p.engagement_cap) AS engagement_before,
    LEAST(e.raw_engagement_after, p.engagement_cap) AS engagement_after,
    f.fit_points + LEAST(e.raw_engagement_before, p.engagement_cap) AS score_before,
    f.fit_points + LEAST(e.raw_engagement_after, p.engagement_cap) AS score_after,
    p.mql_threshold
  FROM moments AS m
  CROSS JOIN parameters AS p
  JOIN engagement AS e
    ON e.contact_id = m.contact_id AND e.touched_at = m.touched_at
  JOIN fit AS f
    ON f.contact_id = m.contact_id
),

crossings AS (
  SELECT
    *,
    score_before < mql_threshold AND score_after >= mql_threshold AS crosses_threshold
  FROM scored
)

SELECT
  CAST(contact_id AS INT64) AS contact_id,
  CAST(touched_at AS TIMESTAMP) AS touched_at,
  touch_rules,
  CAST(touch_count AS INT64) AS touch_count,
  CAST(moment_points AS FLOAT64) AS moment_points,
  CAST(fit_points AS FLOAT64) AS fit_points,
  CAST(engagement_before AS FLOAT64) AS engagement_before,
  CAST(engagement_after AS FLOAT64) AS engagement_after,
  CAST(raw_engagement_after AS FLOAT64) AS raw_engagement_after,
  CAST(score_before AS FLOAT64) AS score_before,
  CAST(score_after AS FLOAT64) AS score_after,
  CAST(crosses_threshold AS BOOL) AS crosses_threshold,
  -- The first crossing is the MQL; a later one (after decaying below the threshold) is not.
  CAST(crosses_threshold AND touched_at = MIN(IF(crosses_threshold, touched_at, NULL)) OVER (
    PARTITION BY contact_id
  ) AS BOOL) AS is_mql
FROM crossings
