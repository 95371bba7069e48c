-- core.tickets: one row per live Zendesk ticket in its current state, with the account key of the
-- customer (through its organization, else its requester), the requester's contact and the CSAT answer.
WITH org_accounts AS (
  -- Zendesk organization -> account, as core.accounts matched them (by domain).
  SELECT
    org_id AS organization_id,
    a.account_key
  FROM core.accounts AS a
  CROSS JOIN UNNEST(a.zendesk_organization_ids) AS org_id
),

requesters AS (
  SELECT
    user_id,
    email,
    organization_id,
    is_internal
  FROM stg.zendesk__users
),

contact_emails AS (
  SELECT
    email,
    contact_id,
    account_key
  FROM core.contacts
  WHERE email IS NOT NULL
  -- HubSpot keeps emails unique; should two contacts share one, the oldest id wins.
  QUALIFY ROW_NUMBER() OVER (PARTITION BY email ORDER BY contact_id) = 1
),

first_solve AS (
  -- The first time the ticket's status became solved (or closed, when it skipped solved): the
  -- field history dates it, so a ticket's state at a past date can be told (core keeps no history).
  SELECT
    ticket_id,
    MIN(changed_at) AS solved_at
  FROM stg.zendesk__ticket_field_history
  WHERE field_name = 'status' AND value IN ('solved', 'closed')
  GROUP BY ticket_id
),

latest_rating AS (
  -- A ticket rated twice keeps its latest answer.
  SELECT
    ticket_id,
    score,
    is_satisfied,
    rated_at
  FROM stg.zendesk__satisfaction_ratings
  WHERE TRUE  -- older BigQuery rejects a QUALIFY without WHERE, GROUP BY or HAVING
  QUALIFY ROW_NUMBER() OVER (PARTITION BY ticket_id ORDER BY rated_at DESC, rating_id DESC) = 1
),

matched AS (
  SELECT
    t.*,
    r.email AS requester_email,
    r.is_internal AS requester_is_internal,
    ce.contact_id AS requester_contact_id,
    ticket_org.account_key AS ticket_org_account_key,
    requester_org.account_key AS requester_org_account_key,
    ce.account_key AS contact_account_key
  FROM stg.zendesk__tickets AS t
  LEFT JOIN requesters AS r
    ON r.user_id = t.requester_id
  LEFT JOIN org_accounts AS ticket_org
    ON ticket_org.organization_id = t.organization_id
  LEFT JOIN org_accounts AS requester_org
    ON requester_org.organization_id = r.organization_id
  LEFT JOIN contact_emails AS ce
    ON ce.email = r.email
)

SELECT
  CAST(m.ticket_id AS INT64) AS ticket_id,
  CAST(COALESCE(m.ticket_org_account_key, m.requester_org_account_key, m.contact_account_key) AS STRING) AS account_key,
  CAST(CASE
    WHEN m.ticket_org_account_key IS NOT NULL THEN 'ticket_organization'
    WHEN m.requester_org_account_key IS NOT NULL THEN 'requester_organization'
    WHEN m.contact_account_key IS NOT NULL THEN 'requester_contact'
  END AS STRING) AS account_match_method,
  CAST(m.organization_id AS INT64) AS zendesk_organization_id,
  CAST(m.requester_id AS INT64) AS requester_id,
  CAST(m.requester_contact_id AS INT64) AS requester_contact_id,
  CAST(m.assignee_id AS INT64) AS assignee_id,
  CAST(m.group_id AS INT64) AS group_id,
  CAST(m.subject AS STRING) AS subject,
  CAST(m.description AS STRING) AS description,
  CAST(m.status AS STRING) AS status,
  CAST(m.is_solved AS BOOL) AS is_solved,
  CAST(fs.solved_at AS TIMESTAMP) AS solved_at,
  CAST(m.priority AS STRING) AS priority,
  CAST(m.ticket_type AS STRING) AS ticket_type,
  CAST(m.channel AS STRING) AS channel,
  m.tags,
  CAST(r.score AS STRING) AS csat_score,
  CAST(r.is_satisfied AS BOOL) AS is_satisfied,
  CAST(r.rated_at AS TIMESTAMP) AS rated_at,
  CAST(
    COALESCE(m.requester_is_internal, FALSE) OR COALESCE(acc.is_internal, FALSE)
    AS BOOL
  ) AS is_internal,
  CAST(m.created_at AS TIMESTAMP) AS created_at,
  CAST(m.updated_at AS TIMESTAMP) AS updated_at
FROM matched AS m
LEFT JOIN first_solve AS fs
  ON fs.ticket_id = m.ticket_id
LEFT JOIN latest_rating AS r
  ON r.ticket_id = m.ticket_id
LEFT JOIN core.accounts AS acc
  ON acc.account_key = COALESCE(m.ticket_org_account_key, m.requester_org_account_key, m.contact_account_key)
