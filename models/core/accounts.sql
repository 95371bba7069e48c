-- core.accounts: one row per customer company, keyed by the cross-source account key
-- (computed once, in core.account_company_map). HubSpot companies are the spine; QuickBooks
-- customers (by billing email domain, else domain), Zendesk organizations and CS churn events are
-- matched to them by normalised domain.
WITH companies AS (
  SELECT
    c.*,
    m.account_key,
    m.is_primary_company
  FROM stg.hubspot__companies AS c
  INNER JOIN core.account_company_map AS m
    ON m.hubspot_company_id = c.company_id
),

company_spine AS (
  -- Two HubSpot companies can share a domain (a duplicate created by sales): they are one account,
  -- described by the primary company the map picked.
  SELECT
    account_key,
    company_id,
    company_name,
    domain,
    industry,
    employee_count,
    annual_revenue_usd,
    country,
    city,
    lifecycle_stage,
    owner_id,
    created_at,
    updated_at,
    COUNT(*) OVER (PARTITION BY account_key) AS company_count,
    LOGICAL_OR(is_internal) OVER (PARTITION BY account_key) AS any_company_internal
  FROM companies
  WHERE TRUE  -- older BigQuery rejects a QUALIFY without WHERE, GROUP BY or HAVING
  QUALIFY is_primary_company
),

invoice_totals AS (
  SELECT
    customer_id,
    MIN(invoice_date) AS first_invoice_date,
    MAX(invoice_date) AS last_invoice_date,
    COUNT(*) AS invoice_count,
    -- Invoice totals (tax included) converted at each invoice's own rate.
    SUM(total_amount * exchange_rate) AS billed_usd
  FROM stg.quickbooks__invoices
  GROUP BY customer_id
),

customers AS (
  SELECT
    c.customer_id,
    c.domain,
    -- The billing email's company domain (a personal mailbox matches no account).
    REGEXP_EXTRACT(c.billing_email, r'@([^@]+)$') AS email_domain,
    c.is_active,
    c.is_internal,
    i.first_invoice_date,
    i.last_invoice_date,
    COALESCE(i.invoice_count, 0) AS invoice_count,
    COALESCE(i.billed_usd, 0) AS billed_usd
  FROM stg.quickbooks__customers AS c
  LEFT JOIN invoice_totals AS i
    ON i.customer_id = c.customer_id
),

customer_accounts AS (
  -- Each QuickBooks customer goes to one account: the account of its billing email's domain (who
  -- receives and pays the invoices) if there is one, else the account of its domain (website, else
  -- billing email). So a customer rebranded in HubSpot whose website in billing is still the old
  -- domain, and a subsidiary whose website is its parent's, are billed on their own account. A
  -- customer matching neither has no account.
  SELECT
    c.*,
    COALESCE(by_email.account_key, by_domain.account_key) AS account_key
  FROM customers AS c
  LEFT JOIN company_spine AS by_domain
    ON by_domain.domain = c.domain
  LEFT JOIN company_spine AS by_email
    ON by_email.domain = c.email_domain
),

billing AS (
  -- Every QuickBooks customer of the account counts towards the totals; the primary one is the
  -- active customer invoiced most recently.
  SELECT
    account_key,
    ARRAY_AGG(
      customer_id
      ORDER BY IF(is_active, 0, 1), last_invoice_date DESC NULLS LAST, customer_id
    )[OFFSET(0)] AS primary_customer_id,
    ARRAY_AGG(customer_id ORDER BY customer_id) AS customer_ids,
    COUNT(*) AS customer_count,
    MIN(first_invoice_date) AS first_invoice_date,
    MAX(last_invoice_date) AS last_invoice_date,
    SUM(invoice_count) AS invoice_count,
    SUM(billed_usd) AS billed_usd,
    LOGICAL_OR(is_internal) AS any_customer_internal
  FROM customer_accounts
  WHERE account_key IS NOT NULL
  GROUP BY account_key
),

org_domains AS (
  -- Every (organization, domain) pair; the agent's first domain ranks first.
  SELECT
    o.organization_id,
    d AS domain,
    IF(d = o.primary_domain, 0, 1) AS domain_rank
  FROM stg.zendesk__organizations AS o
  CROSS JOIN UNNEST(o.domain_names) AS d
),

org_by_domain AS (
  -- Each organization goes to one account: the one its first domain belongs to, else the first
  -- of its other domains (alphabetically) that is an account domain.
  SELECT
    od.organization_id,
    cs.account_key
  FROM org_domains AS od
  INNER JOIN company_spine AS cs
    ON cs.domain = od.domain
  WHERE TRUE  -- older BigQuery rejects a QUALIFY without WHERE, GROUP BY or HAVING
  QUALIFY ROW_NUMBER() OVER (PARTITION BY od.organization_id ORDER BY od.domain_rank, od.domain) = 1
),

org_by_external_id AS (
  -- Fallback for organizations with no matching domain (usually an empty domain list): the HubSpot
  -- company id the HubSpot-Zendesk integration wrote into external_id.
  SELECT
    o.organization_id,
    c.account_key
  FROM stg.zendesk__organizations AS o
  INNER JOIN companies AS c
    ON c.company_id = o.hubspot_company_id
  WHERE o.organization_id NOT IN (SELECT organization_id FROM org_by_domain)
),

org_ticket_counts AS (
  SELECT
    organization_id,
    COUNT(*) AS ticket_count
  FROM stg.zendesk__tickets
  WHERE organization_id IS NOT NULL
  GROUP BY organization_id
),

orgs AS (
  SELECT
    m.account_key,
    o.organization_id,
    o.is_internal,
    o.updated_at,
    COALESCE(t.ticket_count, 0) AS ticket_count
  FROM (
    SELECT organization_id, account_key FROM org_by_domain
    UNION ALL
    SELECT organization_id, account_key FROM org_by_external_id
  ) AS m
  INNER JOIN stg.zendesk__organizations AS o
    ON o.organization_id = m.organization_id
  LEFT JOIN org_ticket_counts AS t
    ON t.organization_id = m.organization_id
),

support AS (
  -- A customer created twice in Zendesk has two organizations; the primary one is the one support
  -- works in (most tickets), then the most recently updated.
  SELECT
    account_key,
    ARRAY_AGG(organization_id ORDER BY ticket_count DESC, updated_at DESC NULLS LAST, organization_id)[OFFSET(0)]
      AS primary_organization_id,
    ARRAY_AGG(organization_id ORDER BY organization_id) AS organization_ids,
    LOGICAL_OR(is_internal) AS any_organization_internal
  FROM orgs
  GROUP BY account_key
),

account_churn_events AS (
  SELECT
    cs.account_key,
    e.churn_event_id,
    e.churn_type,
    e.churned_at,
    ROW_NUMBER() OVER (
      PARTITION BY cs.account_key
      ORDER BY e.churned_at DESC NULLS LAST, e.churn_event_id DESC
    ) AS recency_rank
  FROM stg.cs__churn_events AS e
  INNER JOIN company_spine AS cs
    ON cs.domain = e.domain
),

churn AS (
  SELECT
    account_key,
    COUNT(*) AS churn_event_count,
    MAX(IF(churn_type = 'full', churned_at, NULL)) AS full_churned_at,
    MAX(IF(recency_rank = 1, churned_at, NULL)) AS last_churn_event_at,
    MAX(IF(recency_rank = 1, churn_type, NULL)) AS last_churn_type
  FROM account_churn_events
  GROUP BY account_key
)

SELECT
  CAST(cs.account_key AS STRING) AS account_key,
  CAST(cs.domain AS STRING) AS domain,
  CAST(cs.company_name AS STRING) AS account_name,
  CAST(cs.company_id AS INT64) AS hubspot_company_id,
  CAST(cs.company_count AS INT64) AS hubspot_company_count,
  CAST(b.primary_customer_id AS STRING) AS quickbooks_customer_id,
  CAST(COALESCE(b.customer_count, 0) AS INT64) AS quickbooks_customer_count,
  COALESCE(b.customer_ids, ARRAY<STRING>[]) AS quickbooks_customer_ids,
  CAST(s.primary_organization_id AS INT64) AS zendesk_organization_id,
  COALESCE(s.organization_ids, ARRAY<INT64>[]) AS zendesk_organization_ids,
  CAST(cs.owner_id AS INT64) AS owner_user_id,
  CAST(cs.lifecycle_stage AS STRING) AS lifecycle_stage,
  CAST(cs.industry AS STRING) AS industry,
  CAST(cs.employee_count AS INT64) AS employee_count,
  CAST(CASE
    WHEN cs.employee_count IS NULL THEN NULL
    WHEN cs.employee_count < 50 THEN 'smb'
    WHEN cs.employee_count < 500 THEN 'mid_market'
    ELSE 'enterprise'
  END AS STRING) AS segment,
  CAST(cs.annual_revenue_usd AS NUMERIC) AS annual_revenue_usd,
  CAST(cs.country AS STRING) AS country,
  CAST(cs.city AS STRING) AS city,
  CAST(COALESCE(b.invoice_count, 0) > 0 AS BOOL) AS is_billed,
  CAST(b.first_invoice_date AS DATE) AS first_invoice_date,
  CAST(b.last_invoice_date AS DATE) AS last_invoice_date,
  CAST(COALESCE(b.invoice_count, 0) AS INT64) AS invoice_count,
  CAST(ROUND(COALESCE(b.billed_usd, 0), 2) AS NUMERIC) AS lifetime_billed_usd,
  CAST(ch.full_churned_at AS TIMESTAMP) AS churned_at,
  CAST(ch.last_churn_type AS STRING) AS churn_type,
  CAST(ch.last_churn_event_at AS TIMESTAMP) AS last_churn_event_at,
  CAST(COALESCE(ch.churn_event_count, 0) AS INT64) AS churn_event_count,
  -- Fully churned and not invoiced again after the churn date (a win-back re-opens the account).
  CAST(
    ch.full_churned_at IS NOT NULL
    AND (b.last_invoice_date IS NULL OR b.last_invoice_date <= DATE(ch.full_churned_at))
    AS BOOL
  ) AS is_churned,
  CAST(
    cs.any_company_internal
    OR COALESCE(b.any_customer_internal, FALSE)
    OR COALESCE(s.any_organization_internal, FALSE)
    AS BOOL
  ) AS is_internal,
  CAST(cs.created_at AS TIMESTAMP) AS created_at,
  CAST(cs.updated_at AS TIMESTAMP) AS updated_at
FROM company_spine AS cs
LEFT JOIN billing AS b
  ON b.account_key = cs.account_key
LEFT JOIN support AS s
  ON s.account_key = cs.account_key
LEFT JOIN churn AS ch
  ON ch.account_key = cs.account_key
