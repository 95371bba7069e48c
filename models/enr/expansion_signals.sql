-- enr.expansion_signals: one row per paying account and expansion signal it shows as of the as-of date of
-- enr.account_health, with the play the signal suggests. Each metric is measured per paying account;
-- a signal of enr.expansion_rules fires when its metric reaches min_value. An account with no signal
-- has no row.
WITH health AS (
  -- The paying accounts, their as-of date, plan, seat utilisation and latest NPS, as account health has them.
  SELECT account_key, as_of_date, plan, seat_utilisation, latest_nps_score
  FROM enr.account_health
),

params AS (
  SELECT
    (SELECT MAX(as_of_date) FROM enr.account_health) AS as_of_date,
    (SELECT MAX(window_days) FROM enr.expansion_rules WHERE metric = 'invites_sent') AS invite_days,
    (SELECT MAX(window_days) FROM enr.expansion_rules WHERE metric = 'higher_tier_features') AS feature_days,
    (SELECT MAX(window_days) FROM enr.expansion_rules WHERE metric = 'add_seats_tickets') AS ticket_days,
    (SELECT MAX(match_value) FROM enr.expansion_rules WHERE metric = 'add_seats_tickets') AS ticket_phrase
),

invites AS (
  SELECT d.account_key, SUM(d.invites_sent) AS invites_sent
  FROM enr.account_usage_daily AS d
  CROSS JOIN params AS x
  WHERE d.activity_date > DATE_SUB(x.as_of_date, INTERVAL x.invite_days DAY)
    AND d.activity_date <= x.as_of_date
  GROUP BY d.account_key
),

plan_tiers AS (
  SELECT plan_family AS plan, MIN(plan_tier) AS plan_tier
  FROM core.products
  WHERE plan_tier IS NOT NULL
  GROUP BY plan_family
),

higher_features AS (
  -- Features used in the window whose minimum plan ranks above the account's plan.
  SELECT
    d.account_key,
    COUNT(DISTINCT used_feature) AS features,
    ARRAY_AGG(DISTINCT used_feature ORDER BY used_feature) AS feature_names
  FROM enr.account_usage_daily AS d
  CROSS JOIN params AS x
  CROSS JOIN UNNEST(d.features_used) AS used_feature
  JOIN health AS h ON h.account_key = d.account_key
  JOIN plan_tiers AS account_tier ON account_tier.plan = h.plan
  JOIN enr.feature_plans AS f ON f.feature_name = used_feature
  JOIN plan_tiers AS feature_tier ON feature_tier.plan = f.min_plan
  WHERE d.activity_date > DATE_SUB(x.as_of_date, INTERVAL x.feature_days DAY)
    AND d.activity_date <= x.as_of_date
    AND feature_tier.plan_tier > account_tier.plan_tier
  GROUP BY d.account_key
),

seat_tickets AS (
  -- Tickets opened in the window whose subject asks for more seats.
  SELECT
    t.account_key,
    COUNT(*) AS tickets,
    ARRAY_AGG(CAST(t.ticket_id AS STRING) ORDER BY t.ticket_id) AS ticket_ids
  FROM core.tickets AS t
  CROSS JOIN params AS x
  WHERE NOT t.is_internal
    AND STRPOS(LOWER(t.subject), LOWER(x.ticket_phrase)) > 0
    AND DATE(t.created_at) > DATE_SUB(x.as_of_date, INTERVAL x.ticket_days DAY)
    AND DATE(t.created_at) <= x.as_of_date
  GROUP BY t.account_key
),

metric_values AS (
  SELECT h.account_key, 'seat_utilisation' AS metric, h.seat_utilisation AS value, ARRAY<STRING>[] AS evidence
  FROM health AS h
  UNION ALL
  SELECT h.account_key, 'invites_sent' AS metric, CAST(i.invites_sent AS NUMERIC) AS value, ARRAY<STRING>[] AS evidence
  FROM health AS h
  JOIN invites AS i ON i.account_key = h.account_key
  UNION ALL
  SELECT h.account_key, 'higher_tier_features' AS metric, CAST(f.features AS NUMERIC) AS value, f.feature_names AS evidence
  FROM health AS h
  JOIN higher_features AS f ON f.account_key = h.account_key
  UNION ALL
  SELECT h.account_key, 'add_seats_tickets' AS metric, CAST(s.tickets AS NUMERIC) AS value, s.ticket_ids AS evidence
  FROM health AS h
  JOIN seat_tickets AS s ON s.account_key = h.account_key
  UNION ALL
  SELECT h.account_key, 'latest_nps' AS metric, CAST(h.latest_nps_score AS NUMERIC) AS value, ARRAY<STRING>[] AS evidence
  FROM health AS h
)

SELECT
  v.account_key,
  r.signal_id,
  h.as_of_date,
  r.play,
  v.value AS signal_value,
  r.min_value AS threshold,
  v.evidence,
  h.plan
FROM metric_values AS v
JOIN enr.expansion_rules AS r ON r.metric = v.metric AND v.value >= r.min_value
JOIN health AS h ON h.account_key = v.account_key
