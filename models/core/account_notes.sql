-- core.account_notes: one row per live Customer Success note, with its account and author as internal
-- user, and the sentiment the CSM picked. The note's subject and body stay in stg (restricted
-- free text): churn risk and health read the metadata only.
WITH owners AS (
  SELECT
    email,
    owner_id
  FROM stg.hubspot__owners
  WHERE email IS NOT NULL
  -- One user per work email: the active one, then the most recently created.
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY email
    ORDER BY IF(COALESCE(is_active, FALSE), 0, 1), created_at DESC NULLS LAST, owner_id
  ) = 1
)

SELECT
  CAST(n.note_id AS STRING) AS note_id,
  CAST(a.account_key AS STRING) AS account_key,
  CAST(n.domain AS STRING) AS domain,
  CAST(n.note_type AS STRING) AS note_type,
  CAST(n.sentiment AS STRING) AS sentiment,
  CAST(n.sentiment = 'negative' AS BOOL) AS is_negative,
  CAST(n.churn_event_id AS STRING) AS churn_event_id,
  CAST(o.owner_id AS INT64) AS author_user_id,
  CAST(n.is_internal OR COALESCE(a.is_internal, FALSE) AS BOOL) AS is_internal,
  CAST(n.created_at AS TIMESTAMP) AS created_at,
  CAST(n.updated_at AS TIMESTAMP) AS updated_at
FROM stg.cs__cs_notes AS n
-- The domain the CSM picked (normalised in stg) is the only link to the account.
LEFT JOIN core.accounts AS a
  ON a.domain = n.domain
LEFT JOIN owners AS o
  ON o.email = n.author_email
