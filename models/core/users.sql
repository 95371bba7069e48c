-- core.users: one row per internal K CRM user, i.e. every HubSpot owner (the employees who own
-- companies, contacts, leads and deals), with the team turned into a department and a sales segment.
SELECT
  CAST(owner_id AS INT64) AS user_id,
  CAST(user_id AS INT64) AS hubspot_user_id,
  CAST(email AS STRING) AS email,
  CAST(first_name AS STRING) AS first_name,
  CAST(last_name AS STRING) AS last_name,
  CAST(NULLIF(TRIM(CONCAT(COALESCE(first_name, ''), ' ', COALESCE(last_name, ''))), '') AS STRING) AS full_name,
  CAST(team_name AS STRING) AS team_name,
  -- HubSpot teams grouped into the departments GTM reporting uses.
  CAST(CASE
    WHEN team_name IS NULL THEN NULL
    WHEN REGEXP_CONTAINS(LOWER(team_name), r'\bsdr\b|\bbdr\b|sales development') THEN 'sales_development'
    WHEN REGEXP_CONTAINS(LOWER(team_name), r'\bae\b|account executive') THEN 'sales'
    WHEN REGEXP_CONTAINS(LOWER(team_name), r'\bcsm\b|customer success') THEN 'customer_success'
    WHEN REGEXP_CONTAINS(LOWER(team_name), r'management|leadership') THEN 'sales_management'
    WHEN REGEXP_CONTAINS(LOWER(team_name), r'marketing') THEN 'marketing'
    ELSE 'other'
  END AS STRING) AS department,
  -- The customer segment an account executive team covers (core.accounts.segment).
  CAST(CASE
    WHEN REGEXP_CONTAINS(LOWER(team_name), r'^smb\b') THEN 'smb'
    WHEN REGEXP_CONTAINS(LOWER(team_name), r'^mid[- ]?market\b') THEN 'mid_market'
    WHEN REGEXP_CONTAINS(LOWER(team_name), r'^enterprise\b') THEN 'enterprise'
  END AS STRING) AS sales_segment,
  CAST(COALESCE(is_active, FALSE) AS BOOL) AS is_active,
  -- Tools that name a user by work email (the CS log) resolve it to one user: the active one, then
  -- the most recently created.
  CAST(
    email IS NOT NULL
    AND ROW_NUMBER() OVER (
      PARTITION BY email
      ORDER BY IF(COALESCE(is_active, FALSE), 0, 1), created_at DESC NULLS LAST, owner_id
    ) = 1
    AS BOOL
  ) AS is_email_primary,
  CAST(created_at AS TIMESTAMP) AS created_at,
  CAST(updated_at AS TIMESTAMP) AS updated_at
FROM stg.hubspot__owners
