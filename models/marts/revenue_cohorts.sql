-- marts.revenue_cohorts: logo and revenue retention of each cohort of customers (the month of their
-- first paid MRR) by months since that start, in constant-currency USD from enr.account_mrr_monthly.
-- Accounts already paying when the data starts (left-censored) have no known first month: out.
WITH account_months AS (
  SELECT
    account_key,
    month_start,
    closing_mrr_usd AS mrr,
    movement_type
  FROM enr.account_mrr_monthly
),

data_window AS (
  -- the data's last month (as of the data, never the wall clock)
  SELECT MAX(month_start) AS last_month
  FROM account_months
),

starts AS (
  -- each account's first paid month and what it paid then; an account whose first month is an opening
  -- (already a customer before the data) has no cohort
  SELECT
    account_key,
    month_start AS cohort_month,
    mrr AS start_mrr
  FROM account_months
  WHERE mrr > 0
  QUALIFY ROW_NUMBER() OVER (PARTITION BY account_key ORDER BY month_start) = 1
    AND movement_type = 'new'
),

cohort_months AS (
  -- every account of a cohort in every month from its start to the data's last month, with what it paid
  -- then (0 after a churn, when enr has no row or a 0 row)
  SELECT
    s.cohort_month,
    months_since,
    s.account_key,
    s.start_mrr,
    COALESCE(m.mrr, 0) AS mrr
  FROM starts AS s
  CROSS JOIN data_window AS w
  CROSS JOIN UNNEST(GENERATE_ARRAY(0, DATE_DIFF(w.last_month, s.cohort_month, MONTH))) AS months_since
  LEFT JOIN account_months AS m
    ON m.account_key = s.account_key
    AND m.month_start = DATE_ADD(s.cohort_month, INTERVAL months_since MONTH)
),

cohorts AS (
  SELECT
    cohort_month,
    months_since,
    COUNT(*) AS cohort_accounts,
    SUM(IF(mrr > 0, 1, 0)) AS active_accounts,
    SUM(start_mrr) AS start_mrr,
    SUM(mrr) AS mrr
  FROM cohort_months
  GROUP BY cohort_month, months_since
)

SELECT
  c.cohort_month,
  CAST(c.months_since AS INT64) AS months_since,
  DATE_ADD(c.cohort_month, INTERVAL c.months_since MONTH) AS month_start,
  CAST(c.cohort_accounts AS INT64) AS cohort_accounts,
  CAST(c.active_accounts AS INT64) AS active_accounts,
  CAST(c.active_accounts / c.cohort_accounts AS NUMERIC) AS logo_retention,
  CAST(c.start_mrr AS NUMERIC) AS start_mrr_usd,
  CAST(c.mrr AS NUMERIC) AS mrr_usd,
  CAST(c.mrr / c.start_mrr AS NUMERIC) AS revenue_retention
FROM cohorts AS c
