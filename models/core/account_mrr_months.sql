-- core.account_mrr_months: the monthly MRR base. One row per billed QuickBooks customer (a billing
-- account) and calendar month whose last day a paid subscription period covers, or that is bridged
-- between two such months; MRR in the invoice currency, in USD at one constant rate per currency
-- and at the month's finance rate, the FX effect apart; left-censored customers and churn (dated at
-- the end of the last paid period, with the CS churn event as its reason) marked.
WITH data_window AS (
  -- The data's first month is the first month with a monthly-billed period (monthly plans are
  -- invoiced every month, so earlier invoices are annual terms carried into the window); its last
  -- is the month of the latest invoice the warehouse holds.
  SELECT
    DATE_TRUNC(MIN(IF(term_months = 1, period_start_date, NULL)), MONTH) AS first_month,
    DATE_TRUNC(MAX(as_of_date), MONTH) AS last_month
  FROM core.subscriptions
),

months AS (
  SELECT
    month_start,
    LAST_DAY(month_start) AS month_end
  FROM data_window
  CROSS JOIN UNNEST(GENERATE_DATE_ARRAY(data_window.first_month, data_window.last_month, INTERVAL 1 MONTH))
    AS month_start
),

monthly_rates AS (
  -- The finance rate of a month: the average exchange rate (USD per unit) of the invoices dated in it.
  SELECT
    currency_code,
    DATE_TRUNC(invoice_date, MONTH) AS month_start,
    AVG(exchange_rate) AS rate
  FROM stg.quickbooks__invoices
  WHERE exchange_rate IS NOT NULL
  GROUP BY currency_code, DATE_TRUNC(invoice_date, MONTH)
),

constant_rates AS (
  -- One fixed rate per currency: the finance rate of the data's first month.
  SELECT
    r.currency_code,
    r.rate AS constant_rate
  FROM monthly_rates AS r
  INNER JOIN data_window AS w
    ON r.month_start = w.first_month
),

covering AS (
  -- Each subscription period covering a month's last day; of overlapping periods of one product
  -- (an invoice billed twice for one period) the latest counts once.
  SELECT
    s.customer_id,
    s.account_key,
    s.is_internal,
    s.currency_code,
    s.product_kind,
    s.plan,
    s.seats,
    s.mrr,
    s.period_start_date,
    s.period_end_date,
    m.month_start,
    m.month_end
  FROM core.subscriptions AS s
  INNER JOIN months AS m
    ON s.period_start_date <= m.month_end
    AND s.period_end_date >= m.month_end
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY s.customer_id, s.product_sku, m.month_start ORDER BY s.period_start_date DESC, s.invoice_id DESC
  ) = 1
),

billed AS (
  SELECT
    customer_id,
    month_start,
    MIN(month_end) AS month_end,
    MAX(account_key) AS account_key,
    LOGICAL_OR(is_internal) AS is_internal,
    MAX(currency_code) AS currency_code,
    MAX(IF(product_kind = 'seat_plan', plan, NULL)) AS plan,
    SUM(IF(product_kind = 'seat_plan', seats, 0)) AS seats,
    SUM(mrr) AS mrr,
    MIN(period_start_date) AS first_period_start_date,
    MAX(period_end_date) AS paid_through_date
  FROM covering
  GROUP BY customer_id, month_start
),

full_churn_events AS (
  SELECT
    churn_event_id,
    account_key,
    churned_at,
    churn_reason,
    recorded_at
  FROM core.churn_events
  WHERE churn_type = 'full' AND account_key IS NOT NULL
),

gaps AS (
  -- A single unbilled month between two billed ones (a late, missing or voided invoice) is bridged
  -- with the month before's MRR, unless Customer Success logged a full churn of the account in it.
  SELECT
    b.customer_id,
    DATE_SUB(b.month_start, INTERVAL 1 MONTH) AS month_start,
    b.prev_month_start
  FROM (
    SELECT
      customer_id,
      account_key,
      month_start,
      LAG(month_start) OVER (PARTITION BY customer_id ORDER BY month_start) AS prev_month_start
    FROM billed
  ) AS b
  WHERE DATE_DIFF(b.month_start, b.prev_month_start, MONTH) = 2
    AND NOT EXISTS (
      SELECT 1
      FROM full_churn_events AS e
      WHERE e.account_key = b.account_key
        AND DATE(e.churned_at) >= b.prev_month_start
        AND DATE(e.churned_at) <= b.month_start
    )
),

bridged AS (
  SELECT
    g.customer_id,
    g.month_start,
    LAST_DAY(g.month_start) AS month_end,
    p.account_key,
    p.is_internal,
    p.currency_code,
    p.plan,
    p.seats,
    p.mrr,
    p.first_period_start_date,
    p.paid_through_date,
    FALSE AS is_billed
  FROM gaps AS g
  INNER JOIN billed AS p
    ON p.customer_id = g.customer_id
    AND p.month_start = g.prev_month_start
),

base AS (
  SELECT
    customer_id,
    month_start,
    month_end,
    account_key,
    is_internal,
    currency_code,
    plan,
    seats,
    mrr,
    first_period_start_date,
    paid_through_date,
    TRUE AS is_billed
  FROM billed
  UNION ALL
  SELECT * FROM bridged
),

runs AS (
  -- A run is a stretch of consecutive months with MRR; a new run after a gap is a return.
  SELECT
    x.*,
    SUM(IF(x.prev_month_start IS NULL OR DATE_DIFF(x.month_start, x.prev_month_start, MONTH) > 1, 1, 0))
      OVER (PARTITION BY x.customer_id ORDER BY x.month_start) AS run_number
  FROM (
    SELECT
      base.*,
      LAG(month_start) OVER (PARTITION BY customer_id ORDER BY month_start) AS prev_month_start,
      LEAD(month_start) OVER (PARTITION BY customer_id ORDER BY month_start) AS next_month_start,
      MIN(month_start) OVER (PARTITION BY customer_id) AS first_month_start,
      MIN(first_period_start_date) OVER (PARTITION BY customer_id) AS first_paid_date
    FROM base
  ) AS x
),

ends AS (
  -- The last month of a run that the data's last month does not end: churn, dated at the end of
  -- the run's last paid period.
  SELECT
    r.*,
    (r.next_month_start IS NULL OR DATE_DIFF(r.next_month_start, r.month_start, MONTH) > 1)
      AND r.month_start < w.last_month AS is_last_month_before_churn,
    w.first_month AS data_first_month
  FROM runs AS r
  CROSS JOIN data_window AS w
),

reasons AS (
  -- The CS log's full churn event behind a churn: the latest logged from 180 days before the
  -- paid service ended to 90 days after it.
  SELECT
    n.customer_id,
    n.month_start,
    e.churn_event_id,
    e.churn_reason,
    e.recorded_at
  FROM ends AS n
  INNER JOIN full_churn_events AS e
    ON e.account_key = n.account_key
    AND DATE(e.churned_at) >= DATE_SUB(n.paid_through_date, INTERVAL 180 DAY)
    AND DATE(e.churned_at) <= DATE_ADD(n.paid_through_date, INTERVAL 90 DAY)
  WHERE n.is_last_month_before_churn
  QUALIFY ROW_NUMBER() OVER (PARTITION BY n.customer_id, n.month_start ORDER BY e.churned_at DESC, e.churn_event_id) = 1
)

SELECT
  n.customer_id,
  n.month_start,
  n.month_end,
  n.account_key,
  COALESCE(n.is_internal, FALSE) AS is_internal,
  n.currency_code,
  n.plan,
  CAST(n.seats AS INT64) AS seats,
  CAST(n.mrr AS NUMERIC) AS mrr,
  CAST(c.constant_rate AS NUMERIC) AS constant_rate,
  CAST(COALESCE(r.rate, c.constant_rate) AS NUMERIC) AS finance_rate,
  CAST(ROUND(n.mrr * c.constant_rate, 2) AS NUMERIC) AS mrr_usd_constant,
  CAST(ROUND(n.mrr * COALESCE(r.rate, c.constant_rate), 2) AS NUMERIC) AS mrr_usd_finance,
  CAST(ROUND(n.mrr * COALESCE(r.rate, c.constant_rate), 2) - ROUND(n.mrr * c.constant_rate, 2) AS NUMERIC)
    AS fx_effect_usd,
  n.is_billed,
  NOT n.is_billed AS is_bridged,
  CAST(n.run_number AS INT64) AS run_number,
  n.month_start = n.first_month_start AS is_first_month,
  -- Already paying when the data starts: billed in its first month, or by a period that began before it.
  (n.first_month_start = n.data_first_month OR n.first_paid_date < n.data_first_month) AS is_left_censored,
  n.first_paid_date,
  n.paid_through_date,
  IF(n.is_last_month_before_churn, n.paid_through_date, NULL) AS churn_date,
  e.churn_event_id,
  e.churn_reason,
  CAST(e.recorded_at AS TIMESTAMP) AS churn_recorded_at
FROM ends AS n
LEFT JOIN constant_rates AS c
  ON c.currency_code = n.currency_code
LEFT JOIN monthly_rates AS r
  ON r.currency_code = n.currency_code
  AND r.month_start = n.month_start
LEFT JOIN reasons AS e
  ON e.customer_id = n.customer_id
  AND e.month_start = n.month_start
