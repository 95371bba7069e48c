-- enr.lead_scores: the lead score of every real contact as of the latest touch in the data (the
-- newest moment of enr.lead_score_history), its fit and engagement parts and the rules behind them,
-- when it first became an MQL (the first threshold crossing of the history) and whether it became an
-- SQL: a lead of the contact qualified, or an opportunity with the contact created, within
-- sql_window_days after the MQL. Engagement as of the as-of time t is the history's touches in
-- (t - window_days, t], each points * 0.5 ^ (age_days / half_life_days) in fractional days, capped.
WITH parameters AS (
  SELECT
    CAST(half_life_days AS FLOAT64) AS half_life_days,
    CAST(window_days AS FLOAT64) AS window_days,
    CAST(engagement_cap AS FLOAT64) AS engagement_cap,
    CAST(sql_window_days AS FLOAT64) AS sql_window_days
  FROM enr.lead_score_parameters
),

as_of AS (
  -- The data's "now": the latest touch of any contact, never the wall clock.
  SELECT MAX(touched_at) AS score_as_of
  FROM enr.lead_score_history
),

contacts AS (
  SELECT
    p.contact_id,
    p.account_key,
    p.persona,
    f.icp_tier
  FROM enr.contact_personas AS p
  LEFT JOIN enr.icp_fit AS f
    ON f.account_key = p.account_key
),

fit AS (
  SELECT
    c.contact_id,
    CAST(COALESCE(SUM(r.points), 0) AS FLOAT64) AS fit_points,
    COALESCE(ARRAY_AGG(r.rule_id IGNORE NULLS ORDER BY r.rule_kind, r.rule_id), ARRAY<STRING>[]) AS fit_rules
  FROM contacts AS c
  LEFT JOIN enr.lead_score_points AS r
    ON (r.rule_kind = 'icp_tier' AND r.match_value = c.icp_tier)
    OR (r.rule_kind = 'persona' AND r.match_value = c.persona)
  GROUP BY c.contact_id
),

in_window AS (
  -- The touch moments still inside the window at the as-of time, decayed to it.
  SELECT
    h.contact_id,
    h.touch_rules,
    h.moment_points * POW(0.5, TIMESTAMP_DIFF(a.score_as_of, h.touched_at, MICROSECOND) / 86400000000.0
                               / p.half_life_days) AS points_now
  FROM enr.lead_score_history AS h
  CROSS JOIN as_of AS a
  CROSS JOIN parameters AS p
  WHERE TIMESTAMP_DIFF(a.score_as_of, h.touched_at, MICROSECOND) / 86400000000.0 < p.window_days
),

engagement AS (
  SELECT
    contact_id,
    SUM(points_now) AS raw_engagement_points
  FROM in_window
  GROUP BY contact_id
),

touch_reasons AS (
  SELECT
    w.contact_id,
    ARRAY_AGG(DISTINCT rule_id ORDER BY rule_id) AS touch_rules
  FROM in_window AS w
  CROSS JOIN UNNEST(w.touch_rules) AS rule_id
  GROUP BY w.contact_id
),

history AS (
  SELECT
    contact_id,
    MAX(touched_at) AS last_touch_at,
    MIN(IF(is_mql, touched_at, NULL)) AS mql_at
  FROM enr.lead_score_history
  GROUP BY contact_id
),

sql_signals AS (
  -- A qualified lead: core.leads keeps no status history, so the time is the lead's last change
  -- (updated_at), when it was qualified at the latest.
  SELECT
    contact_id,
    updated_at AS signal_at,
    'lead_qualified' AS signal
  FROM core.leads
  WHERE is_qualified AND NOT is_internal AND contact_id IS NOT NULL AND updated_at IS NOT NULL
  UNION ALL
  -- An opportunity (HubSpot deal) the contact is associated with, at its creation.
  SELECT
    oc.contact_id,
    o.created_at AS signal_at,
    'opportunity_created' AS signal
  FROM core.opportunity_contacts AS oc
  JOIN core.opportunities AS o
    ON o.opportunity_id = oc.opportunity_id
  WHERE NOT o.is_internal AND NOT oc.is_internal AND o.created_at IS NOT NULL
),

sqls AS (
  -- The first signal from the MQL moment to sql_window_days after it.
  SELECT
    h.contact_id,
    s.signal_at AS sql_at,
    s.signal AS sql_reason
  FROM history AS h
  CROSS JOIN parameters AS p
  JOIN sql_signals AS s
    ON s.contact_id = h.contact_id
    AND s.signal_at >= h.mql_at
    AND TIMESTAMP_DIFF(s.signal_at, h.mql_at, MICROSECOND) / 86400000000.0 <= p.sql_window_days
  WHERE h.mql_at IS NOT NULL
  QUALIFY ROW_NUMBER() OVER (PARTITION BY h.contact_id ORDER BY s.signal_at, s.signal) = 1
)

SELECT
  CAST(c.contact_id AS INT64) AS contact_id,
  CAST(c.account_key AS STRING) AS account_key,
  CAST(c.persona AS STRING) AS persona,
  CAST(c.icp_tier AS STRING) AS icp_tier,
  CAST(f.fit_points AS FLOAT64) AS fit_points,
  CAST(LEAST(COALESCE(e.raw_engagement_points, 0), p.engagement_cap) AS FLOAT64) AS engagement_points,
  CAST(COALESCE(e.raw_engagement_points, 0) AS FLOAT64) AS raw_engagement_points,
  CAST(f.fit_points + LEAST(COALESCE(e.raw_engagement_points, 0), p.engagement_cap) AS FLOAT64) AS lead_score,
  CAST(COALESCE(e.raw_engagement_points, 0) > p.engagement_cap AS BOOL) AS is_engagement_capped,
  ARRAY_CONCAT(f.fit_rules, COALESCE(tr.touch_rules, ARRAY<STRING>[])) AS score_reasons,
  CAST(a.score_as_of AS TIMESTAMP) AS score_as_of,
  CAST(h.last_touch_at AS TIMESTAMP) AS last_touch_at,
  CAST(h.mql_at AS TIMESTAMP) AS mql_at,
  CAST(h.mql_at IS NOT NULL AS BOOL) AS is_mql,
  CAST(s.sql_at AS TIMESTAMP) AS sql_at,
  CAST(s.sql_reason AS STRING) AS sql_reason,
  CAST(s.sql_at IS NOT NULL AS BOOL) AS is_sql
FROM contacts AS c
CROSS JOIN as_of AS a
CROSS JOIN parameters AS p
JOIN fit AS f
  ON f.contact_id = c.contact_id
LEFT JOIN engagement AS e
  ON e.contact_id = c.contact_id
LEFT JOIN touch_reasons AS tr
  ON tr.contact_id = c.contact_id
LEFT JOIN history AS h
  ON h.contact_id = c.contact_id
LEFT JOIN sqls AS s
  ON s.contact_id = c.contact_id
