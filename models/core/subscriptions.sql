-- core.subscriptions: one row per billed subscription period of a QuickBooks customer and product
-- (a recurring sales-item line of a live, non-voided invoice), priced as monthly recurring revenue
-- in USD, with its status as of the latest billing day the warehouse holds.
WITH
-- The account each QuickBooks customer is billed on, as core.accounts matched it (billing email's
-- domain first, then the website's: rebrands and subsidiaries included).
billing_accounts AS (
  SELECT
    a.account_key,
    customer_id
  FROM core.accounts AS a
  CROSS JOIN UNNEST(a.quickbooks_customer_ids) AS customer_id
),

products_by_sku AS (
  SELECT
    product_id,
    sku,
    product_name,
    term_months
  FROM stg.hubspot__products
  WHERE sku IS NOT NULL
  QUALIFY ROW_NUMBER() OVER (PARTITION BY sku ORDER BY updated_at DESC, product_id) = 1
),

products_by_name AS (
  SELECT
    product_id,
    sku,
    product_name,
    term_months,
    LOWER(product_name) AS name_key
  FROM stg.hubspot__products
  WHERE sku IS NOT NULL AND product_name IS NOT NULL
  QUALIFY ROW_NUMBER() OVER (PARTITION BY LOWER(product_name) ORDER BY updated_at DESC, product_id) = 1
),

live_invoices AS (
  SELECT
    i.invoice_id,
    i.customer_id,
    i.invoice_date,
    i.currency_code,
    i.exchange_rate,
    i.total_amount
  FROM stg.quickbooks__invoices AS i
),

invoice_line_totals AS (
  SELECT
    invoice_id,
    SUM(IF(line_type = 'sales_item', amount, 0)) AS subtotal_amount,
    SUM(IF(line_type = 'discount', amount, 0)) AS discount_amount
  FROM stg.quickbooks__invoice_lines
  GROUP BY invoice_id
),


sales_lines AS (
  -- Each sales-item line matched to the product library: on SKU (item_id is the SKU), else on
  -- the line text, which QuickBooks prints as "K CRM <product name>".
  SELECT
    l.invoice_id,
    l.quantity,
    l.amount,
    l.service_date,
    COALESCE(ps.product_id, pn.product_id) AS product_id,
    COALESCE(ps.sku, pn.sku) AS product_sku,
    COALESCE(ps.product_name, pn.product_name) AS product_name,
    COALESCE(ps.term_months, pn.term_months) AS product_term_months,
    CASE
      WHEN ps.sku IS NOT NULL THEN 'sku'
      WHEN pn.sku IS NOT NULL THEN 'line_description'
    END AS product_match
  FROM stg.quickbooks__invoice_lines AS l
  LEFT JOIN products_by_sku AS ps
    ON ps.sku = l.item_id
  LEFT JOIN products_by_name AS pn
    ON pn.name_key = REGEXP_REPLACE(LOWER(TRIM(l.line_description)), r'^k crm\s+', '')
  WHERE l.line_type = 'sales_item'
),

recurring AS (
  -- Recurring products only: one-off items (onboarding) have no term, and a line that matches no
  -- product cannot be priced per month.
  SELECT
    s.*,
    REGEXP_EXTRACT(s.product_sku, r'^(STARTER|GROWTH|PRO|ENTERPRISE)-SEAT-') AS seat_tier
  FROM sales_lines AS s
  WHERE s.product_term_months IS NOT NULL
),

recurring_totals AS (
  -- The loyalty discount applies to the subscription lines, not to one-off items (onboarding).
  SELECT
    invoice_id,
    SUM(amount) AS recurring_amount
  FROM recurring
  GROUP BY invoice_id
),

per_invoice_product AS (
  SELECT
    invoice_id,
    product_sku,
    MIN(product_id) AS product_id,
    MIN(product_name) AS product_name,
    MIN(product_match) AS product_match,
    MAX(product_term_months) AS product_term_months,
    MAX(seat_tier) AS seat_tier,
    SUM(quantity) AS quantity,
    SUM(amount) AS amount,
    MIN(service_date) AS service_date
  FROM recurring
  GROUP BY invoice_id, product_sku
),

priced AS (
  SELECT
    p.*,
    i.customer_id,
    i.invoice_date,
    i.currency_code,
    i.exchange_rate,
    -- The seat plan of the invoice: its tier names the plan, and add-ons billed on it are co-termed
    -- with it (a monthly add-on on an annual invoice is billed for the year).
    LOWER(MAX(p.seat_tier) OVER (PARTITION BY p.invoice_id)) AS plan,
    MAX(IF(p.seat_tier IS NOT NULL, p.product_term_months, NULL)) OVER (PARTITION BY p.invoice_id)
      AS plan_term_months,
    -- The discount line discounts the subscription (recurring) lines: share it out pro rata over
    -- them, never beyond the line's own amount; one-off lines (onboarding) take no share.
    IF(
      COALESCE(r.recurring_amount, 0) <= 0,
      0,
      LEAST(p.amount, COALESCE(t.discount_amount, 0) * p.amount / r.recurring_amount)
    ) AS discount_share
  FROM per_invoice_product AS p
  INNER JOIN live_invoices AS i
    ON i.invoice_id = p.invoice_id
  LEFT JOIN invoice_line_totals AS t
    ON t.invoice_id = p.invoice_id
  LEFT JOIN recurring_totals AS r
    ON r.invoice_id = p.invoice_id
  -- Voided invoices keep their lines with zero amounts: they bill nothing.
  WHERE NOT (i.total_amount = 0 AND COALESCE(t.subtotal_amount, 0) = 0)
),

periods AS (
  SELECT
    pr.*,
    CASE
      WHEN pr.seat_tier IS NOT NULL THEN pr.product_term_months
      ELSE GREATEST(pr.product_term_months, COALESCE(pr.plan_term_months, pr.product_term_months))
    END AS term_months,
    ROUND(CAST(pr.discount_share AS NUMERIC), 2) AS discount_amount,
    -- The period billed starts on the lines' service date when they state one (a corrected invoice
    -- bills the period of the invoice it replaces), else on the invoice date (billed in advance).
    COALESCE(pr.service_date, pr.invoice_date) AS period_start_date
  FROM priced AS pr
),

dated AS (
  SELECT
    d.*,
    CAST(DATE_SUB(CAST(DATE_ADD(d.period_start_date, INTERVAL d.term_months MONTH) AS DATE), INTERVAL 1 DAY) AS DATE)
      AS period_end_date,
    LEAD(d.period_start_date) OVER (
      PARTITION BY d.customer_id, d.product_sku ORDER BY d.period_start_date, d.invoice_id
    ) AS next_period_start_date,
    ROW_NUMBER() OVER (
      PARTITION BY d.customer_id, d.product_sku ORDER BY d.period_start_date, d.invoice_id
    ) AS period_number
  FROM periods AS d
),

as_of AS (
  -- The latest billing day the warehouse holds: invoices are issued on the first day of each
  -- period, so a period that ended before it and has no successor was not renewed.
  SELECT MAX(invoice_date) AS as_of_date
  FROM stg.quickbooks__invoices
),

customers AS (
  SELECT
    customer_id,
    domain,
    is_internal
  FROM stg.quickbooks__customers
)

SELECT
  TO_HEX(MD5(CONCAT(d.invoice_id, '|', d.product_sku))) AS subscription_id,
  -- The account core.accounts bills this customer on; null when none.
  acct.account_key,
  d.customer_id,
  COALESCE(c.is_internal, FALSE) AS is_internal,
  d.invoice_id,
  d.product_sku,
  d.product_id,
  d.product_name,
  IF(d.seat_tier IS NOT NULL, 'seat_plan', 'add_on') AS product_kind,
  d.product_match,
  d.plan,
  CASE d.term_months WHEN 1 THEN 'monthly' WHEN 12 THEN 'annual' ELSE 'other' END AS billing_period,
  CAST(d.term_months AS INT64) AS term_months,
  d.invoice_date,
  d.period_start_date,
  d.period_end_date,
  CAST(d.period_number AS INT64) AS period_number,
  CAST(d.quantity AS NUMERIC) AS quantity,
  IF(d.seat_tier IS NOT NULL, SAFE_CAST(d.quantity AS INT64), NULL) AS seats,
  d.currency_code,
  d.exchange_rate,
  CAST(d.amount AS NUMERIC) AS amount,
  CAST(d.discount_amount AS NUMERIC) AS discount_amount,
  CAST(d.amount - d.discount_amount AS NUMERIC) AS net_amount,
  CAST((d.amount - d.discount_amount) / d.term_months AS NUMERIC) AS mrr,
  CAST((d.amount - d.discount_amount) / d.term_months * d.exchange_rate AS NUMERIC) AS mrr_usd,
  CASE
    WHEN d.period_end_date >= a.as_of_date
      AND (d.next_period_start_date IS NULL OR d.next_period_start_date > a.as_of_date) THEN 'active'
    WHEN d.next_period_start_date IS NULL THEN 'churned'
    ELSE 'ended'
  END AS status,
  a.as_of_date
FROM dated AS d
CROSS JOIN as_of AS a
LEFT JOIN customers AS c
  ON c.customer_id = d.customer_id
LEFT JOIN billing_accounts AS acct
  ON acct.customer_id = d.customer_id
