-- core.nps_responses: one row per answer to K CRM's quarterly NPS survey, with the respondent's
-- HubSpot contact and the account key of their company.
WITH contact_emails AS (
  SELECT
    email,
    contact_id,
    account_key
  FROM core.contacts
  WHERE email IS NOT NULL
  -- HubSpot keeps emails unique; should two contacts share one, the oldest id wins.
  QUALIFY ROW_NUMBER() OVER (PARTITION BY email ORDER BY contact_id) = 1
),

org_accounts AS (
  -- Zendesk organization -> account, as core.accounts matched them (by domain).
  SELECT
    org_id AS organization_id,
    a.account_key
  FROM core.accounts AS a
  CROSS JOIN UNNEST(a.zendesk_organization_ids) AS org_id
),

matched AS (
  SELECT
    n.*,
    ce.contact_id,
    ce.account_key AS contact_account_key,
    oa.account_key AS organization_account_key,
    -- A personal mailbox's domain identifies no company.
    IF(
      n.recipient_domain IN (
        'gmail.com', 'googlemail.com', 'outlook.com', 'hotmail.com', 'live.com', 'msn.com', 'yahoo.com',
        'icloud.com', 'me.com', 'aol.com', 'proton.me', 'protonmail.com', 'gmx.com', 'gmx.de', 'web.de'
      ),
      NULL,
      da.account_key
    ) AS domain_account_key
  FROM stg.zendesk__nps_responses AS n
  LEFT JOIN contact_emails AS ce
    ON ce.email = n.recipient_email
  LEFT JOIN stg.zendesk__users AS zu
    ON zu.user_id = n.user_id
  LEFT JOIN org_accounts AS oa
    ON oa.organization_id = zu.organization_id
  LEFT JOIN core.accounts AS da
    ON da.domain = n.recipient_domain
)

SELECT
  CAST(m.response_id AS INT64) AS nps_response_id,
  CAST(m.survey_id AS INT64) AS survey_id,
  CAST(COALESCE(m.contact_account_key, m.organization_account_key, m.domain_account_key) AS STRING) AS account_key,
  CAST(CASE
    WHEN m.contact_account_key IS NOT NULL THEN 'contact_email'
    WHEN m.organization_account_key IS NOT NULL THEN 'zendesk_organization'
    WHEN m.domain_account_key IS NOT NULL THEN 'email_domain'
  END AS STRING) AS account_match_method,
  CAST(m.contact_id AS INT64) AS contact_id,
  CAST(m.user_id AS INT64) AS zendesk_user_id,
  CAST(m.recipient_email AS STRING) AS recipient_email,
  CAST(m.score AS INT64) AS score,
  CAST(m.nps_category AS STRING) AS nps_category,
  -- +100 / 0 / -100 per answer, so AVG(nps_points) over any group is that group's NPS.
  CAST(CASE m.nps_category WHEN 'promoter' THEN 100 WHEN 'detractor' THEN -100 ELSE 0 END AS INT64) AS nps_points,
  CAST(m.comment AS STRING) AS comment,
  CAST(m.is_internal OR COALESCE(acc.is_internal, FALSE) AS BOOL) AS is_internal,
  CAST(m.responded_at AS TIMESTAMP) AS responded_at,
  CAST(m.updated_at AS TIMESTAMP) AS updated_at
FROM matched AS m
LEFT JOIN core.accounts AS acc
  ON acc.account_key = COALESCE(m.contact_account_key, m.organization_account_key, m.domain_account_key)
