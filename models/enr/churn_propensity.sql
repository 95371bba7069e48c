-- Churn propensity per paying account and month end: the logistic regression whose coefficients
-- `kcrm-gov train enr.churn_propensity` wrote to enr.churn_propensity_coefficients, applied to the
-- point-in-time features of enr.account_features_monthly in plain SQL, so DuckDB and BigQuery give
-- the same number and no Python runs in a build. Each input is standardised with its training mean
-- and scale; a null input counts as the mean (z = 0), as in training. The inputs below are the
-- contract's propensityModel inputs (lint KG019 holds them, this SQL and the coefficients together).
WITH inputs AS (
  SELECT f.account_key, f.month_end, v.term, v.value
  FROM enr.account_features_monthly AS f
  CROSS JOIN UNNEST([
    STRUCT('mrr_usd' AS term, CAST(f.mrr_usd AS FLOAT64) AS value),
    STRUCT('mrr_change_3m_usd' AS term, CAST(f.mrr_change_3m_usd AS FLOAT64) AS value),
    STRUCT('contractions_3m' AS term, CAST(f.contractions_3m AS FLOAT64) AS value),
    STRUCT('seats' AS term, CAST(f.seats AS FLOAT64) AS value),
    STRUCT('tenure_months' AS term, CAST(f.tenure_months AS FLOAT64) AS value),
    STRUCT('tenure_left_censored' AS term, CAST(f.tenure_left_censored AS FLOAT64) AS value),
    STRUCT('usage_events_28d' AS term, CAST(f.usage_events_28d AS FLOAT64) AS value),
    STRUCT('usage_ratio_28d' AS term, CAST(f.usage_ratio_28d AS FLOAT64) AS value),
    STRUCT('active_users_28d' AS term, CAST(f.active_users_28d AS FLOAT64) AS value),
    STRUCT('seat_utilisation_28d' AS term, CAST(f.seat_utilisation_28d AS FLOAT64) AS value),
    STRUCT('logins_28d' AS term, CAST(f.logins_28d AS FLOAT64) AS value),
    STRUCT('days_since_last_login' AS term, CAST(f.days_since_last_login AS FLOAT64) AS value),
    STRUCT('nps_latest_score_180d' AS term, CAST(f.nps_latest_score_180d AS FLOAT64) AS value),
    STRUCT('nps_detractor_180d' AS term, CAST(f.nps_detractor_180d AS FLOAT64) AS value),
    STRUCT('negative_notes_60d' AS term, CAST(f.negative_notes_60d AS FLOAT64) AS value),
    STRUCT('tickets_opened_30d' AS term, CAST(f.tickets_opened_30d AS FLOAT64) AS value),
    STRUCT('open_tickets' AS term, CAST(f.open_tickets AS FLOAT64) AS value),
    STRUCT('urgent_open_tickets' AS term, CAST(f.urgent_open_tickets AS FLOAT64) AS value),
    STRUCT('cancellation_tickets_90d' AS term, CAST(f.cancellation_tickets_90d AS FLOAT64) AS value),
    STRUCT('bad_csat_90d' AS term, CAST(f.bad_csat_90d AS FLOAT64) AS value),
    STRUCT('overdue_invoices' AS term, CAST(f.overdue_invoices AS FLOAT64) AS value),
    STRUCT('icp_points' AS term, CAST(f.icp_points AS FLOAT64) AS value)
  ]) AS v
),
contributions AS (
  -- log-odds each input adds to the account-month, against an account at every training mean
  SELECT i.account_key, i.month_end, i.term,
         COALESCE((i.value - c.feature_mean) / c.feature_scale, 0) * c.coefficient AS contribution
  FROM inputs AS i
  JOIN enr.churn_propensity_coefficients AS c ON c.term = i.term
),
summed AS (
  SELECT account_key, month_end, SUM(contribution) AS inputs_log_odds
  FROM contributions
  GROUP BY account_key, month_end
),
drivers AS (
  -- the three inputs that raise the risk most, for a CSM to read
  SELECT account_key, month_end, ARRAY_AGG(term ORDER BY contribution DESC, term) AS top_drivers
  FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY account_key, month_end ORDER BY contribution DESC, term) AS rank
    FROM contributions
    WHERE contribution > 0
  ) AS ranked
  WHERE rank <= 3
  GROUP BY account_key, month_end
),
intercept AS (
  SELECT coefficient AS b0 FROM enr.churn_propensity_coefficients WHERE term = 'intercept'
),
scored AS (
  SELECT f.account_key, f.month_end, f.churned_within_90d, f.label_complete,
         b.b0 + s.inputs_log_odds AS log_odds, d.top_drivers
  FROM enr.account_features_monthly AS f
  JOIN summed AS s ON s.account_key = f.account_key AND s.month_end = f.month_end
  CROSS JOIN intercept AS b
  LEFT JOIN drivers AS d ON d.account_key = f.account_key AND d.month_end = f.month_end
)
SELECT
  account_key,
  month_end,
  log_odds,
  1 / (1 + EXP(-log_odds)) AS churn_propensity,
  NTILE(10) OVER (PARTITION BY month_end ORDER BY log_odds DESC, account_key) AS propensity_decile,
  COALESCE(top_drivers, ARRAY<STRING>[]) AS top_drivers,
  month_end = MAX(month_end) OVER () AS is_latest,
  churned_within_90d,
  label_complete
FROM scored
