-- marts.trial_conversion_monthly: the product-led funnel by sign-up month. Trials of the month
-- (enr.activation), how many were activated within their activation window, how many became PQLs
-- within their PQL window (enr.pql_accounts), and how many paid. Rates count only trials whose window
-- has closed (as of the data), so a month still in progress never looks worse than it is.
WITH trials AS (
  SELECT
    DATE_TRUNC(CAST(a.signed_up_at AS DATE), MONTH) AS month_start,
    a.is_window_open AS activation_window_open,
    a.is_activated,
    p.is_window_open AS pql_window_open,
    p.is_pql,
    a.paying_since IS NOT NULL AS converted
  FROM enr.activation AS a
  JOIN enr.pql_accounts AS p
    ON p.account_key = a.account_key
),

grouped AS (
  SELECT
    month_start,
    COUNT(*) AS trials,
    COUNTIF(NOT activation_window_open) AS activation_window_closed,
    COUNTIF(NOT activation_window_open AND is_activated) AS activated_trials,
    COUNTIF(NOT pql_window_open) AS pql_window_closed,
    COUNTIF(NOT pql_window_open AND is_pql) AS pqls,
    COUNTIF(converted) AS converted_trials,
    COUNTIF(NOT activation_window_open AND is_activated AND converted) AS activated_converted,
    COUNTIF(NOT activation_window_open AND NOT is_activated AND converted) AS not_activated_converted
  FROM trials
  GROUP BY month_start
)

SELECT
  month_start,
  LAST_DAY(month_start) AS month_end,
  CAST(trials AS INT64) AS trials,
  CAST(activation_window_closed AS INT64) AS activation_window_closed,
  CAST(activated_trials AS INT64) AS activated_trials,
  CAST(SAFE_DIVIDE(activated_trials, activation_window_closed) AS NUMERIC) AS activation_rate,
  CAST(pql_window_closed AS INT64) AS pql_window_closed,
  CAST(pqls AS INT64) AS pqls,
  CAST(SAFE_DIVIDE(pqls, pql_window_closed) AS NUMERIC) AS pql_rate,
  CAST(converted_trials AS INT64) AS converted_trials,
  CAST(SAFE_DIVIDE(converted_trials, trials) AS NUMERIC) AS trial_conversion_rate,
  CAST(SAFE_DIVIDE(activated_converted, activated_trials) AS NUMERIC) AS activated_conversion_rate,
  CAST(
    SAFE_DIVIDE(not_activated_converted, activation_window_closed - activated_trials) AS NUMERIC
  ) AS not_activated_conversion_rate
FROM grouped
