-- enr.churn_risk: churn risk per paying account and month end, from the point-in-time features of
-- enr.account_features_monthly and the named rules of enr.churn_risk_rules (feature, comparison,
-- threshold, points): the score is the sum of the points of the rules that fire, capped at 100, the
-- band comes from enr.churn_risk_bands (the highest min_score the score reaches) and risk_reasons
-- names the rules that fired. One row per features row, so every past month can be backtested;
-- is_current marks the latest month end (the snapshot CS acts on).
WITH snapshot AS (
  SELECT MAX(month_end) AS latest_month_end
  FROM enr.account_features_monthly
),

evaluated AS (
  -- Every rule against every account-month: the value of the feature the rule names.
  SELECT
    f.account_key,
    f.month_end,
    r.rule_id,
    r.comparison,
    CAST(r.threshold AS FLOAT64) AS threshold,
    r.points,
    CASE r.feature
      WHEN 'nps_detractor_180d' THEN CAST(f.nps_detractor_180d AS FLOAT64)
      WHEN 'nps_latest_score_180d' THEN CAST(f.nps_latest_score_180d AS FLOAT64)
      WHEN 'nps_responses_180d' THEN CAST(f.nps_responses_180d AS FLOAT64)
      WHEN 'negative_notes_60d' THEN CAST(f.negative_notes_60d AS FLOAT64)
      WHEN 'usage_ratio_28d' THEN CAST(f.usage_ratio_28d AS FLOAT64)
      WHEN 'usage_events_28d' THEN CAST(f.usage_events_28d AS FLOAT64)
      WHEN 'usage_events_prior_28d' THEN CAST(f.usage_events_prior_28d AS FLOAT64)
      WHEN 'logins_28d' THEN CAST(f.logins_28d AS FLOAT64)
      WHEN 'logins_prior_28d' THEN CAST(f.logins_prior_28d AS FLOAT64)
      WHEN 'active_users_28d' THEN CAST(f.active_users_28d AS FLOAT64)
      WHEN 'active_users_prior_28d' THEN CAST(f.active_users_prior_28d AS FLOAT64)
      WHEN 'seat_utilisation_28d' THEN CAST(f.seat_utilisation_28d AS FLOAT64)
      WHEN 'days_since_last_login' THEN CAST(f.days_since_last_login AS FLOAT64)
      WHEN 'contractions_3m' THEN CAST(f.contractions_3m AS FLOAT64)
      WHEN 'contraction_mrr_3m_usd' THEN CAST(f.contraction_mrr_3m_usd AS FLOAT64)
      WHEN 'mrr_change_3m_usd' THEN CAST(f.mrr_change_3m_usd AS FLOAT64)
      WHEN 'mrr_usd' THEN CAST(f.mrr_usd AS FLOAT64)
      WHEN 'seats' THEN CAST(f.seats AS FLOAT64)
      WHEN 'tenure_months' THEN CAST(f.tenure_months AS FLOAT64)
      WHEN 'tenure_left_censored' THEN CAST(f.tenure_left_censored AS FLOAT64)
      WHEN 'overdue_invoices' THEN CAST(f.overdue_invoices AS FLOAT64)
      WHEN 'cancellation_tickets_90d' THEN CAST(f.cancellation_tickets_90d AS FLOAT64)
      WHEN 'tickets_opened_30d' THEN CAST(f.tickets_opened_30d AS FLOAT64)
      WHEN 'open_tickets' THEN CAST(f.open_tickets AS FLOAT64)
      WHEN 'urgent_open_tickets' THEN CAST(f.urgent_open_tickets AS FLOAT64)
      WHEN 'bad_csat_90d' THEN CAST(f.bad_csat_90d AS FLOAT64)
      WHEN 'icp_points' THEN CAST(f.icp_points AS FLOAT64)
    END AS value
  FROM enr.account_features_monthly AS f
  CROSS JOIN enr.churn_risk_rules AS r
),

fired AS (
  -- A null feature (no prior usage, no NPS answer) fires nothing.
  SELECT *
  FROM evaluated
  WHERE (comparison = 'at_least' AND value >= threshold)
    OR (comparison = 'below' AND value < threshold)
),

scored AS (
  SELECT
    account_key,
    month_end,
    SUM(points) AS points,
    -- the strongest reason first: what a CSM reads first in an alert
    ARRAY_AGG(rule_id ORDER BY points DESC, rule_id) AS risk_reasons
  FROM fired
  GROUP BY account_key, month_end
),

scores AS (
  SELECT
    f.account_key,
    f.month_end,
    f.month_start,
    LEAST(COALESCE(s.points, CAST(0 AS NUMERIC)), CAST(100 AS NUMERIC)) AS churn_risk_score,
    COALESCE(s.risk_reasons, ARRAY<STRING>[]) AS risk_reasons,
    f.month_end = w.latest_month_end AS is_current
  FROM enr.account_features_monthly AS f
  CROSS JOIN snapshot AS w
  LEFT JOIN scored AS s
    ON s.account_key = f.account_key
    AND s.month_end = f.month_end
)

SELECT
  s.account_key,
  s.month_end,
  s.month_start,
  CAST(s.churn_risk_score AS NUMERIC) AS churn_risk_score,
  b.band AS risk_band,
  s.risk_reasons,
  s.is_current
FROM scores AS s
JOIN enr.churn_risk_bands AS b
  ON b.min_score <= s.churn_risk_score
QUALIFY ROW_NUMBER() OVER (PARTITION BY s.account_key, s.month_end ORDER BY b.min_score DESC) = 1
