-- core.contacts: one row per live HubSpot contact (a person at a customer or prospect), with the
-- account key of their company, the matching Zendesk end user, personal-mailbox flag and the dates the
-- contact first entered each lifecycle stage.
WITH company_accounts AS (
  -- HubSpot company -> account: the map holds every company of every account.
  SELECT
    hubspot_company_id AS company_id,
    account_key
  FROM core.account_company_map
),

contacts AS (
  SELECT
    ct.*,
    COALESCE(ct.email_domain IN (
      'gmail.com', 'googlemail.com', 'outlook.com', 'hotmail.com', 'live.com', 'msn.com', 'yahoo.com',
      'icloud.com', 'me.com', 'aol.com', 'proton.me', 'protonmail.com', 'gmx.com', 'gmx.de', 'web.de'
    ), FALSE) AS is_personal_mailbox
  FROM stg.hubspot__contacts AS ct
),

lifecycle AS (
  -- HubSpot's "became a ... date": the first time lifecyclestage took each value.
  SELECT
    contact_id,
    MIN(IF(property_value = 'lead', changed_at, NULL)) AS became_lead_at,
    MIN(IF(property_value = 'marketingqualifiedlead', changed_at, NULL)) AS became_mql_at,
    MIN(IF(property_value = 'salesqualifiedlead', changed_at, NULL)) AS became_sql_at,
    MIN(IF(property_value = 'opportunity', changed_at, NULL)) AS became_opportunity_at,
    MIN(IF(property_value = 'customer', changed_at, NULL)) AS became_customer_at
  FROM stg.hubspot__contact_property_history
  WHERE property_name = 'lifecyclestage'
  GROUP BY contact_id
),

zendesk_end_users AS (
  -- One Zendesk end user per email address: the most recently updated one.
  SELECT
    email,
    user_id
  FROM stg.zendesk__users
  WHERE email IS NOT NULL
    AND NOT is_agent
  QUALIFY ROW_NUMBER() OVER (PARTITION BY email ORDER BY updated_at DESC, user_id DESC) = 1
)

SELECT
  CAST(ct.contact_id AS INT64) AS contact_id,
  CAST(COALESCE(ca.account_key, ea.account_key) AS STRING) AS account_key,
  CAST(CASE
    WHEN ca.account_key IS NOT NULL THEN 'hubspot_company'
    WHEN ea.account_key IS NOT NULL THEN 'email_domain'
  END AS STRING) AS account_match_method,
  CAST(ct.company_id AS INT64) AS hubspot_company_id,
  CAST(ct.email AS STRING) AS email,
  CAST(ct.email_domain AS STRING) AS email_domain,
  CAST(ct.is_personal_mailbox AS BOOL) AS is_personal_mailbox,
  CAST(ct.first_name AS STRING) AS first_name,
  CAST(ct.last_name AS STRING) AS last_name,
  CAST(ct.phone AS STRING) AS phone,
  CAST(ct.job_title AS STRING) AS job_title,
  CAST(ct.company_name AS STRING) AS company_name,
  CAST(ct.owner_id AS INT64) AS owner_user_id,
  CAST(ct.lifecycle_stage AS STRING) AS lifecycle_stage,
  CAST(ct.lead_status AS STRING) AS lead_status,
  CAST(ct.original_source AS STRING) AS original_source,
  ct.merged_contact_ids,
  CAST(zu.user_id AS INT64) AS zendesk_user_id,
  CAST(ct.is_internal OR COALESCE(acc.is_internal, FALSE) AS BOOL) AS is_internal,
  CAST(lc.became_lead_at AS TIMESTAMP) AS became_lead_at,
  CAST(lc.became_mql_at AS TIMESTAMP) AS became_mql_at,
  CAST(lc.became_sql_at AS TIMESTAMP) AS became_sql_at,
  CAST(lc.became_opportunity_at AS TIMESTAMP) AS became_opportunity_at,
  CAST(lc.became_customer_at AS TIMESTAMP) AS became_customer_at,
  CAST(ct.created_at AS TIMESTAMP) AS created_at,
  CAST(ct.updated_at AS TIMESTAMP) AS updated_at
FROM contacts AS ct
LEFT JOIN company_accounts AS ca
  ON ca.company_id = ct.company_id
-- Fallback when the associated company is missing (none, or deleted since): the email's company
-- domain, unless it is a personal mailbox.
-- One equality (the key is NULL when there is no fallback), so it is a hash join: written as an AND
-- of conditions on both sides, DuckDB compared every contact with every account (185 s at scale 100).
LEFT JOIN core.accounts AS ea
  ON ea.domain = IF(ca.account_key IS NULL AND NOT ct.is_personal_mailbox, ct.email_domain, NULL)
LEFT JOIN core.accounts AS acc
  ON acc.account_key = COALESCE(ca.account_key, ea.account_key)
LEFT JOIN zendesk_end_users AS zu
  ON zu.email = ct.email
LEFT JOIN lifecycle AS lc
  ON lc.contact_id = ct.contact_id
