-- core.payments: one row per live QuickBooks customer payment, tied to the cross-source account
-- key, amounts kept in the payment currency and converted to USD at the payment's exchange rate.
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

customers AS (
  SELECT
    customer_id,
    domain,
    is_internal
  FROM stg.quickbooks__customers
)

SELECT
  p.payment_id,
  p.customer_id,
  -- The account core.accounts bills this customer on; null when none.
  acct.account_key,
  c.domain AS account_domain,
  COALESCE(c.is_internal, FALSE) AS is_internal,
  p.invoice_id,
  p.invoice_id IS NULL AS is_unapplied,
  p.payment_date,
  p.payment_method,
  p.currency_code,
  p.exchange_rate,
  p.amount,
  p.is_amount_missing,
  p.unapplied_amount,
  CAST(p.amount * p.exchange_rate AS NUMERIC) AS amount_usd,
  CAST(p.unapplied_amount * p.exchange_rate AS NUMERIC) AS unapplied_amount_usd,
  p.reference_number,
  p.created_at,
  p.updated_at,
  p.synced_at
FROM stg.quickbooks__payments AS p
LEFT JOIN customers AS c
  ON c.customer_id = p.customer_id
LEFT JOIN billing_accounts AS acct
  ON acct.customer_id = p.customer_id
