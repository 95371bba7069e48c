-- stg.quickbooks__invoices: one row per live QuickBooks invoice, latest loader sync only (so the
-- balance after the latest payment), amounts kept as NUMERIC in the invoice currency.
WITH latest AS (
  SELECT *
  FROM raw.quickbooks__invoices
  -- An invoice edited or paid after its first sync is re-landed: keep the newest copy.
  QUALIFY ROW_NUMBER() OVER (PARTITION BY id ORDER BY _fivetran_synced DESC) = 1
),

live AS (
  -- Deleted invoices carry _fivetran_deleted on their latest copy; voided invoices stay (zero amounts).
  SELECT *
  FROM latest
  WHERE NOT COALESCE(_fivetran_deleted, FALSE)
)

SELECT
  CAST(id AS STRING) AS invoice_id,
  NULLIF(TRIM(doc_number), '') AS invoice_number,
  CAST(customer_id AS STRING) AS customer_id,
  CAST(transaction_date AS DATE) AS invoice_date,
  CAST(due_date AS DATE) AS due_date,
  CAST(total_amount AS NUMERIC) AS total_amount,
  CAST(balance AS NUMERIC) AS balance,
  UPPER(TRIM(currency_id)) AS currency_code,
  -- USD per unit of invoice currency; QuickBooks leaves it empty on home-currency invoices.
  CAST(COALESCE(exchange_rate, IF(UPPER(TRIM(currency_id)) = 'USD', 1, NULL)) AS NUMERIC) AS exchange_rate,
  NULLIF(TRIM(email_status), '') AS email_status,
  CAST(created_at AS TIMESTAMP) AS created_at,
  CAST(updated_at AS TIMESTAMP) AS updated_at,
  CAST(_fivetran_synced AS TIMESTAMP) AS synced_at
FROM live
