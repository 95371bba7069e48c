-- marts.revenue_retention_monthly: NRR, GRR and logo retention by month (point to point against the
-- accounts paying twelve months before), and the month's logo churn rate, from the constant-currency
-- account MRR of enr.account_mrr_monthly. One row per month of the data.
WITH account_months AS (
  SELECT
    account_key,
    month_start,
    closing_mrr_usd AS mrr,
    movement_type
  FROM enr.account_mrr_monthly
),

months AS (
  -- every month of the data (enr rows run without a gap from the first month to the last)
  SELECT
    month_start,
    DATE_SUB(month_start, INTERVAL 12 MONTH) AS base_month_start,
    DATE_SUB(month_start, INTERVAL 1 MONTH) AS previous_month_start,
    MIN(month_start) OVER () AS first_month
  FROM account_months
  GROUP BY month_start
),

cohort AS (
  -- the accounts paying at m-12, with what each pays at m (0 once it stopped; accounts new since m-12
  -- are not in the cohort)
  SELECT
    mo.month_start,
    b.account_key,
    b.mrr AS base_mrr,
    COALESCE(n.mrr, 0) AS current_mrr
  FROM months AS mo
  INNER JOIN account_months AS b
    ON b.month_start = mo.base_month_start
    AND b.mrr > 0
  LEFT JOIN account_months AS n
    ON n.account_key = b.account_key
    AND n.month_start = mo.month_start
),

retention AS (
  SELECT
    month_start,
    COUNT(*) AS cohort_accounts,
    SUM(IF(current_mrr > 0, 1, 0)) AS retained_accounts,
    SUM(base_mrr) AS base_mrr,
    SUM(current_mrr) AS current_mrr,
    SUM(LEAST(current_mrr, base_mrr)) AS retained_mrr_capped
  FROM cohort
  GROUP BY month_start
),

logos AS (
  -- customers at the end of the month before, and those of them whose MRR fell to 0 this month (SUM(IF()):
  -- DuckDB's COUNT_IF gives NULL, not BigQuery's 0, when no customer paid the month before)
  SELECT
    mo.month_start,
    SUM(IF(p.mrr > 0, 1, 0)) AS customers_at_start,
    SUM(IF(p.mrr > 0 AND c.movement_type = 'churn', 1, 0)) AS churned_customers
  FROM months AS mo
  LEFT JOIN account_months AS p
    ON p.month_start = mo.previous_month_start
  LEFT JOIN account_months AS c
    ON c.account_key = p.account_key
    AND c.month_start = mo.month_start
  GROUP BY mo.month_start
)

SELECT
  mo.month_start,
  LAST_DAY(mo.month_start) AS month_end,
  mo.base_month_start,
  mo.base_month_start >= mo.first_month AS has_full_year,
  CAST(COALESCE(r.cohort_accounts, 0) AS INT64) AS cohort_accounts,
  CAST(COALESCE(r.retained_accounts, 0) AS INT64) AS retained_accounts,
  CAST(COALESCE(r.base_mrr, 0) AS NUMERIC) AS base_mrr_usd,
  CAST(COALESCE(r.current_mrr, 0) AS NUMERIC) AS current_mrr_usd,
  CAST(COALESCE(r.retained_mrr_capped, 0) AS NUMERIC) AS retained_mrr_capped_usd,
  IF(r.base_mrr > 0, CAST(r.current_mrr / r.base_mrr AS NUMERIC), NULL) AS nrr,
  IF(r.base_mrr > 0, CAST(r.retained_mrr_capped / r.base_mrr AS NUMERIC), NULL) AS grr,
  IF(r.cohort_accounts > 0, CAST(r.retained_accounts / r.cohort_accounts AS NUMERIC), NULL) AS logo_retention,
  CAST(l.customers_at_start AS INT64) AS customers_at_start,
  CAST(l.churned_customers AS INT64) AS churned_customers,
  IF(l.customers_at_start > 0, CAST(l.churned_customers / l.customers_at_start AS NUMERIC), NULL)
    AS logo_churn_rate
FROM months AS mo
LEFT JOIN retention AS r
  ON r.month_start = mo.month_start
INNER JOIN logos AS l
  ON l.month_start = mo.month_start
