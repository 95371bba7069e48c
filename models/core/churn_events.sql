-- core.churn_events: one row per churn event logged by Customer Success (full cancellations and
-- partial churn), with the account key of the churned company and the CSM as an internal user.
SELECT
  CAST(e.churn_event_id AS STRING) AS churn_event_id,
  CAST(a.account_key AS STRING) AS account_key,
  CAST(e.domain AS STRING) AS domain,
  CAST(e.company_name AS STRING) AS company_name,
  CAST(e.churned_at AS TIMESTAMP) AS churned_at,
  CAST(e.churn_type AS STRING) AS churn_type,
  CAST(e.churn_reason AS STRING) AS churn_reason,
  CAST(e.competitor_name AS STRING) AS competitor_name,
  CAST(e.reason_detail AS STRING) AS reason_detail,
  CAST(e.lost_mrr_usd AS NUMERIC) AS lost_mrr_usd,
  CAST(u.user_id AS INT64) AS recorded_by_user_id,
  CAST(e.recorded_by_email AS STRING) AS recorded_by_email,
  -- How late the CSM logged the event (negative when logged ahead of the effective date).
  CAST(DATE_DIFF(DATE(e.recorded_at), DATE(e.churned_at), DAY) AS INT64) AS days_to_record,
  CAST(e.is_internal OR COALESCE(a.is_internal, FALSE) AS BOOL) AS is_internal,
  CAST(e.recorded_at AS TIMESTAMP) AS recorded_at,
  CAST(e.updated_at AS TIMESTAMP) AS updated_at
FROM stg.cs__churn_events AS e
-- The hand-typed domain (normalised in stg) is the only link to the account.
LEFT JOIN core.accounts AS a
  ON a.domain = e.domain
-- The CS tool names its user by work email: core.users resolves it to one user.
LEFT JOIN core.users AS u
  ON u.email = e.recorded_by_email
  AND u.is_email_primary
