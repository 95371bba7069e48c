-- stg.quickbooks__payments: one row per live QuickBooks customer payment, latest loader sync
-- only, amounts kept as NUMERIC in the payment currency, missing amounts flagged, the invoice it
-- settles taken from its payment lines.
WITH latest AS (
  SELECT *
  FROM raw.quickbooks__payments
  -- A payment edited after its first sync is re-landed: keep the newest copy.
  QUALIFY ROW_NUMBER() OVER (PARTITION BY id ORDER BY _fivetran_synced DESC) = 1
),

live AS (
  -- Deleted payments carry _fivetran_deleted on their latest copy.
  SELECT *
  FROM latest
  WHERE NOT COALESCE(_fivetran_deleted, FALSE)
),

applied AS (
  -- A payment settles invoices through its lines (a prepayment has none); the seeded payments
  -- settle one invoice each, so the smallest invoice id is the invoice.
  SELECT
    payment_id,
    MIN(NULLIF(TRIM(invoice_id), '')) AS invoice_id
  FROM raw.quickbooks__payment_lines
  GROUP BY payment_id
)

SELECT
  CAST(id AS STRING) AS payment_id,
  CAST(customer_id AS STRING) AS customer_id,
  applied.invoice_id,
  CAST(transaction_date AS DATE) AS payment_date,
  CAST(total_amount AS NUMERIC) AS amount,
  CAST(unapplied_amount AS NUMERIC) AS unapplied_amount,
  total_amount IS NULL AS is_amount_missing,
  UPPER(TRIM(currency_id)) AS currency_code,
  -- USD per unit of payment currency; QuickBooks leaves it empty on home-currency payments.
  CAST(COALESCE(exchange_rate, IF(UPPER(TRIM(currency_id)) = 'USD', 1, NULL)) AS NUMERIC) AS exchange_rate,
  NULLIF(TRIM(live.payment_method_id), '') AS payment_method_id,
  -- The name of the method: K CRM's QuickBooks company has four (ids 1-4). The connector's
  -- payment_method table is not landed (no cited column list), so the list is written here.
  CASE TRIM(live.payment_method_id)
    WHEN '1' THEN 'Credit Card'
    WHEN '2' THEN 'ACH'
    WHEN '3' THEN 'Wire'
    WHEN '4' THEN 'Check'
  END AS payment_method,
  NULLIF(TRIM(reference_number), '') AS reference_number,
  NULLIF(TRIM(deposit_to_account_id), '') AS deposit_to_account_id,
  CAST(created_at AS TIMESTAMP) AS created_at,
  CAST(updated_at AS TIMESTAMP) AS updated_at,
  CAST(_fivetran_synced AS TIMESTAMP) AS synced_at
FROM live
LEFT JOIN applied
  ON applied.payment_id = live.id
