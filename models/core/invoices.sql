-- core.invoices: one row per live QuickBooks invoice, tied to the cross-source account key, with
-- amounts kept in the invoice currency and converted to USD at the invoice's exchange rate, the
-- discount and sales-item totals of its lines, and a payment status.
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

line_totals AS (
  -- Sub-total lines are already gone in stg, so the lines can be summed without double counting.
  SELECT
    invoice_id,
    COUNT(*) AS line_count,
    SUM(IF(line_type = 'sales_item', amount, 0)) AS subtotal_amount,
    -- QuickBooks stores a discount as a positive amount to subtract.
    SUM(IF(line_type = 'discount', amount, 0)) AS discount_amount
  FROM stg.quickbooks__invoice_lines
  GROUP BY invoice_id
),

customers AS (
  SELECT
    customer_id,
    domain,
    is_internal
  FROM stg.quickbooks__customers
)

SELECT
  CAST(i.invoice_id AS STRING) AS invoice_id,
  i.invoice_number,
  i.customer_id,
  -- The account core.accounts bills this customer on; null when none.
  acct.account_key,
  c.domain AS account_domain,
  COALESCE(c.is_internal, FALSE) AS is_internal,
  i.invoice_date,
  i.due_date,
  CASE
    -- QuickBooks zeroes the amounts of a voided invoice and keeps it; stg does not flag it.
    WHEN i.total_amount = 0 AND COALESCE(lt.subtotal_amount, 0) = 0 THEN 'voided'
    WHEN i.balance <= 0 THEN 'paid'
    WHEN i.balance < i.total_amount THEN 'partially_paid'
    ELSE 'unpaid'
  END AS invoice_status,
  i.currency_code,
  i.exchange_rate,
  CAST(COALESCE(lt.line_count, 0) AS INT64) AS line_count,
  CAST(COALESCE(lt.subtotal_amount, 0) AS NUMERIC) AS subtotal_amount,
  CAST(COALESCE(lt.discount_amount, 0) AS NUMERIC) AS discount_amount,
  -- The lines reconcile with the invoice: sales items minus discounts equal its total (to the cent),
  -- and an invoice with an amount has lines.
  COALESCE(ABS(COALESCE(lt.subtotal_amount, 0) - COALESCE(lt.discount_amount, 0) - i.total_amount) < 0.01
    AND (i.total_amount = 0 OR COALESCE(lt.line_count, 0) > 0), FALSE) AS lines_add_up,
  i.total_amount,
  i.balance AS balance_amount,
  CAST(i.total_amount - i.balance AS NUMERIC) AS paid_amount,
  CAST(i.total_amount * i.exchange_rate AS NUMERIC) AS total_amount_usd,
  CAST(i.balance * i.exchange_rate AS NUMERIC) AS balance_amount_usd,
  CAST((i.total_amount - i.balance) * i.exchange_rate AS NUMERIC) AS paid_amount_usd,
  i.created_at,
  i.updated_at,
  i.synced_at
FROM stg.quickbooks__invoices AS i
LEFT JOIN customers AS c
  ON c.customer_id = i.customer_id
LEFT JOIN billing_accounts AS acct
  ON acct.customer_id = i.customer_id
LEFT JOIN line_totals AS lt
  ON lt.invoice_id = i.invoice_id
