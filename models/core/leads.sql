-- core.leads: one row per live HubSpot lead (the SDR work item), with its contact resolved through
-- HubSpot merges, its account key and status flags.
WITH company_accounts AS (
  -- HubSpot company -> account: the map holds every company of every account.
  SELECT
    hubspot_company_id AS company_id,
    account_key
  FROM core.account_company_map
),

merged_ids AS (
  -- A contact merged away lives on in the surviving contact's merged_contact_ids.
  SELECT
    m AS merged_contact_id,
    c.contact_id
  FROM core.contacts AS c
  CROSS JOIN UNNEST(c.merged_contact_ids) AS m
  WHERE TRUE  -- older BigQuery rejects a QUALIFY without WHERE, GROUP BY or HAVING
  QUALIFY ROW_NUMBER() OVER (PARTITION BY m ORDER BY c.contact_id) = 1
),

leads AS (
  SELECT
    l.*,
    COALESCE(live.contact_id, merged.contact_id) AS resolved_contact_id
  FROM stg.hubspot__leads AS l
  LEFT JOIN core.contacts AS live
    ON live.contact_id = l.contact_id
  -- only for a lead whose contact is not live; one equality (the key is NULL otherwise), so it is a
  -- hash join: an AND of conditions on both sides made DuckDB compare every lead with every merged id
  LEFT JOIN merged_ids AS merged
    ON merged.merged_contact_id = IF(live.contact_id IS NULL, l.contact_id, NULL)
)

SELECT
  CAST(l.lead_id AS INT64) AS lead_id,
  CAST(l.lead_name AS STRING) AS lead_name,
  CAST(l.resolved_contact_id AS INT64) AS contact_id,
  CAST(l.contact_id AS INT64) AS hubspot_contact_id,
  -- The lead's own company first, else the account of its contact.
  CAST(COALESCE(ca.account_key, ct.account_key) AS STRING) AS account_key,
  CAST(l.company_id AS INT64) AS hubspot_company_id,
  CAST(l.owner_id AS INT64) AS owner_user_id,
  CAST(l.lead_status AS STRING) AS lead_status,
  CAST(l.pipeline_stage_id AS STRING) AS pipeline_stage_id,
  CAST(l.lead_type AS STRING) AS lead_type,
  CAST(l.lead_label AS STRING) AS lead_label,
  CAST(l.lead_source AS STRING) AS lead_source,
  CAST(COALESCE(l.lead_status IN ('NEW', 'ATTEMPTING', 'CONNECTED'), FALSE) AS BOOL) AS is_open,
  CAST(COALESCE(l.lead_status = 'QUALIFIED', FALSE) AS BOOL) AS is_qualified,
  CAST(COALESCE(l.lead_status = 'UNQUALIFIED', FALSE) AS BOOL) AS is_disqualified,
  CAST(COALESCE(ct.is_internal, FALSE) OR COALESCE(acc.is_internal, FALSE) AS BOOL) AS is_internal,
  CAST(l.created_at AS TIMESTAMP) AS created_at,
  CAST(l.updated_at AS TIMESTAMP) AS updated_at
FROM leads AS l
LEFT JOIN company_accounts AS ca
  ON ca.company_id = l.company_id
LEFT JOIN core.contacts AS ct
  ON ct.contact_id = l.resolved_contact_id
LEFT JOIN core.accounts AS acc
  ON acc.account_key = COALESCE(ca.account_key, ct.account_key)
