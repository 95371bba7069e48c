-- core.account_notes: one row per live Customer Success note, with its account and author as internal
-- user, and the sentiment the CSM picked. The note's subject and body stay in stg (restricted
-- free text): churn risk and health read the metadata only.
SELECT
  CAST(n.note_id AS STRING) AS note_id,
  CAST(a.account_key AS STRING) AS account_key,
  CAST(n.domain AS STRING) AS domain,
  CAST(n.note_type AS STRING) AS note_type,
  CAST(n.sentiment AS STRING) AS sentiment,
  CAST(n.sentiment = 'negative' AS BOOL) AS is_negative,
  CAST(n.churn_event_id AS STRING) AS churn_event_id,
  CAST(u.user_id AS INT64) AS author_user_id,
  CAST(n.is_internal OR COALESCE(a.is_internal, FALSE) AS BOOL) AS is_internal,
  CAST(n.created_at AS TIMESTAMP) AS created_at,
  CAST(n.updated_at AS TIMESTAMP) AS updated_at
FROM stg.cs__cs_notes AS n
-- The domain the CSM picked (normalised in stg) is the only link to the account.
LEFT JOIN core.accounts AS a
  ON a.domain = n.domain
-- The CS tool names its user by work email: core.users resolves it to one user.
LEFT JOIN core.users AS u
  ON u.email = n.author_email
  AND u.is_email_primary
