-- enr.account_mrr_monthly: MRR movements per account and month (ChartMogul-style). One row per account
-- and calendar month from the account's first billed month to the month after its last (the churn
-- month, unless the data ends first); constant-currency USD moves, the FX effect apart.
WITH data_window AS (
  -- The data's last month: the latest month core.account_mrr_months holds (as of the data).
  SELECT MAX(month_start) AS last_month
  FROM core.account_mrr_months
),

billed AS (
  -- The account's MRR of a month: the sum over its QuickBooks customers, internal customers out.
  SELECT
    account_key,
    month_start,
    SUM(COALESCE(mrr_usd_constant, 0)) AS mrr_usd,
    SUM(COALESCE(mrr_usd_finance, 0)) AS mrr_usd_finance,
    SUM(COALESCE(fx_effect_usd, 0)) AS fx_effect_usd,
    SUM(seats) AS seats,
    LOGICAL_OR(is_left_censored) AS is_left_censored,
    LOGICAL_OR(is_bridged) AS is_bridged
  FROM core.account_mrr_months
  WHERE NOT is_internal AND account_key IS NOT NULL
  GROUP BY account_key, month_start
),

plans AS (
  -- The plan of the account's largest customer in the month (ties: the higher plan name).
  SELECT
    account_key,
    month_start,
    plan
  FROM core.account_mrr_months
  WHERE NOT is_internal AND account_key IS NOT NULL AND plan IS NOT NULL
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY account_key, month_start ORDER BY mrr_usd_constant DESC, plan DESC, customer_id
  ) = 1
),

spans AS (
  SELECT
    b.account_key,
    MIN(b.month_start) AS first_month,
    LEAST(DATE_ADD(MAX(b.month_start), INTERVAL 1 MONTH), MAX(w.last_month)) AS end_month
  FROM billed AS b
  CROSS JOIN data_window AS w
  GROUP BY b.account_key
),

grid AS (
  SELECT
    s.account_key,
    s.first_month,
    month_start
  FROM spans AS s
  CROSS JOIN UNNEST(GENERATE_DATE_ARRAY(s.first_month, s.end_month, INTERVAL 1 MONTH)) AS month_start
),

balances AS (
  SELECT
    g.account_key,
    g.month_start,
    g.month_start = g.first_month AS is_first_month,
    COALESCE(b.is_left_censored, FALSE) AS is_left_censored,
    COALESCE(b.is_bridged, FALSE) AS is_bridged,
    COALESCE(b.mrr_usd, 0) AS closing,
    COALESCE(b.mrr_usd_finance, 0) AS mrr_usd_finance,
    COALESCE(b.fx_effect_usd, 0) AS fx_effect_usd,
    CAST(COALESCE(b.seats, 0) AS INT64) AS seats,
    p.plan
  FROM grid AS g
  LEFT JOIN billed AS b
    ON b.account_key = g.account_key
    AND b.month_start = g.month_start
  LEFT JOIN plans AS p
    ON p.account_key = g.account_key
    AND p.month_start = g.month_start
),

moves AS (
  SELECT
    x.*,
    CASE
      WHEN x.previous = 0 AND x.closing > 0 AND x.was_positive THEN 'reactivation'
      WHEN x.previous = 0 AND x.closing > 0 AND x.is_account_left_censored THEN 'opening'
      WHEN x.previous = 0 AND x.closing > 0 THEN 'new'
      WHEN x.previous > 0 AND x.closing = 0 THEN 'churn'
      WHEN x.previous > 0 AND x.closing > x.previous THEN 'expansion'
      WHEN x.previous > 0 AND x.closing < x.previous THEN 'contraction'
      ELSE 'unchanged'
    END AS movement_type
  FROM (
    SELECT
      bal.*,
      COALESCE(LAG(bal.closing) OVER (PARTITION BY bal.account_key ORDER BY bal.month_start), 0) AS previous,
      COALESCE(MAX(bal.closing) OVER (
        PARTITION BY bal.account_key ORDER BY bal.month_start ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
      ), 0) > 0 AS was_positive,
      LOGICAL_OR(bal.is_first_month AND bal.is_left_censored) OVER (PARTITION BY bal.account_key)
        AS is_account_left_censored
    FROM balances AS bal
  ) AS x
)

SELECT
  m.month_start,
  LAST_DAY(m.month_start) AS month_end,
  m.account_key,
  CAST(IF(m.movement_type = 'opening', m.closing, m.previous) AS NUMERIC) AS opening_mrr_usd,
  CAST(IF(m.movement_type = 'new', m.closing, 0) AS NUMERIC) AS new_mrr,
  CAST(IF(m.movement_type = 'expansion', m.closing - m.previous, 0) AS NUMERIC) AS expansion_mrr,
  CAST(IF(m.movement_type = 'contraction', m.closing - m.previous, 0) AS NUMERIC) AS contraction_mrr,
  CAST(IF(m.movement_type = 'churn', -m.previous, 0) AS NUMERIC) AS churned_mrr,
  CAST(IF(m.movement_type = 'reactivation', m.closing, 0) AS NUMERIC) AS reactivation_mrr,
  CAST(m.closing AS NUMERIC) AS closing_mrr_usd,
  m.movement_type,
  CAST(m.fx_effect_usd AS NUMERIC) AS fx_effect_usd,
  CAST(m.mrr_usd_finance AS NUMERIC) AS mrr_usd_finance,
  m.seats,
  m.plan,
  m.is_left_censored,
  m.is_bridged
FROM moves AS m
