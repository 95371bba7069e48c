-- core.opportunity_contacts: one row per live opportunity and associated live contact (the deal's
-- buying group), with the contact's account and whether it is the deal's account.
SELECT
  CAST(o.opportunity_id AS INT64) AS opportunity_id,
  CAST(c.contact_id AS INT64) AS contact_id,
  CAST(o.account_key AS STRING) AS account_key,
  CAST(c.account_key AS STRING) AS contact_account_key,
  CAST(COALESCE(c.account_key = o.account_key, FALSE) AS BOOL) AS is_at_opportunity_account,
  CAST(c.job_title AS STRING) AS job_title,
  CAST(o.is_internal OR c.is_internal AS BOOL) AS is_internal,
  CAST(a.synced_at AS TIMESTAMP) AS associated_synced_at
FROM stg.hubspot__deal_contacts AS a
INNER JOIN core.opportunities AS o
  ON o.opportunity_id = a.deal_id
INNER JOIN core.contacts AS c
  ON c.contact_id = a.contact_id
