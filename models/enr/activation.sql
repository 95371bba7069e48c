-- enr.activation: one row per trial sign-up of a real account, with the moment each activation
-- milestone (enr.activation_milestones) was first met within the activation window
-- (enr.trial_thresholds) and whether, and when, all of them were. As of the data's last product event.
WITH thresholds AS (
  SELECT MAX(IF(threshold = 'activation_window_days', value, NULL)) AS window_days
  FROM enr.trial_thresholds
),

accounts AS (
  SELECT account_key
  FROM core.accounts
  WHERE NOT is_internal
),

product_events AS (
  -- Every product event tied to an account: usage, logins and feature adoption (Mixpanel).
  SELECT account_key, event_at FROM core.usage_events WHERE NOT is_internal AND account_key IS NOT NULL
  UNION ALL
  SELECT account_key, event_at FROM core.login_events WHERE NOT is_internal AND account_key IS NOT NULL
  UNION ALL
  SELECT account_key, event_at FROM core.feature_adoption_events WHERE NOT is_internal AND account_key IS NOT NULL
),

data_end AS (
  -- As of the data: the last product event core holds, never the wall clock.
  SELECT MAX(event_at) AS as_of_at
  FROM product_events
),

first_moments AS (
  -- Two witnesses of a sign-up: the first visit that signed up for a trial (GA4, only with
  -- analytics consent) and the first product event (Mixpanel, from the first user's sign-up on).
  SELECT account_key, MIN(event_at) AS at, 'product_event' AS source
  FROM product_events
  GROUP BY account_key
  UNION ALL
  SELECT account_key, MIN(touched_at) AS at, 'sign_up_visit' AS source
  FROM core.marketing_touches
  WHERE has_sign_up AND NOT is_internal AND account_key IS NOT NULL
  GROUP BY account_key
),

sign_ups AS (
  -- The account's sign-up is the earlier of the two (the visit on a tie).
  SELECT f.account_key, f.at AS signed_up_at, f.source AS signup_source
  FROM first_moments AS f
  JOIN accounts AS a ON a.account_key = f.account_key
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY f.account_key ORDER BY f.at, IF(f.source = 'sign_up_visit', 0, 1)
  ) = 1
),

paying AS (
  -- When the account started to pay: the first day of its earliest paid period, and whether it was
  -- already paying when the billing data starts (left-censored: its sign-up is not in the data).
  SELECT
    account_key,
    MIN(first_paid_date) AS paying_since,
    LOGICAL_OR(is_left_censored) AS was_paying_at_data_start
  FROM core.account_mrr_months
  WHERE NOT is_internal AND account_key IS NOT NULL
  GROUP BY account_key
),

trials AS (
  -- A trial is a sign-up before the account paid: an account already paying on its sign-up day
  -- bought without a trial (its first product use is onboarding, not a sign-up).
  SELECT
    s.account_key,
    s.signed_up_at,
    s.signup_source,
    p.paying_since,
    TIMESTAMP_ADD(s.signed_up_at, INTERVAL t.window_days DAY) AS window_ends_at
  FROM sign_ups AS s
  LEFT JOIN paying AS p ON p.account_key = s.account_key
  CROSS JOIN thresholds AS t
  WHERE NOT COALESCE(p.was_paying_at_data_start, FALSE)
    AND (p.paying_since IS NULL OR s.signed_up_at < TIMESTAMP(p.paying_since))
),

milestones AS (
  -- The first event of each milestone in [sign-up, sign-up + window): a milestone met on the last
  -- day counts, one a second after the window does not.
  SELECT t.account_key, m.milestone, MIN(e.event_at) AS met_at
  FROM trials AS t
  JOIN core.usage_events AS e
    ON e.account_key = t.account_key
    AND e.event_at >= t.signed_up_at
    AND e.event_at < t.window_ends_at
  JOIN enr.activation_milestones AS m ON m.event_name = e.event_name
  WHERE NOT e.is_internal
  GROUP BY t.account_key, m.milestone
),

required AS (
  SELECT COUNT(DISTINCT milestone) AS milestones
  FROM enr.activation_milestones
),

met AS (
  SELECT
    account_key,
    MIN(IF(milestone = 'contacts_imported', met_at, NULL)) AS contacts_imported_at,
    MIN(IF(milestone = 'pipeline_worked', met_at, NULL)) AS pipeline_worked_at,
    MIN(IF(milestone = 'activity_logged', met_at, NULL)) AS activity_logged_at,
    ARRAY_AGG(milestone ORDER BY met_at, milestone) AS milestones_met,
    COUNT(*) AS milestones,
    MAX(met_at) AS last_met_at
  FROM milestones
  GROUP BY account_key
)

SELECT
  t.account_key,
  t.signed_up_at,
  t.signup_source,
  t.paying_since,
  t.window_ends_at AS activation_window_ends_at,
  m.contacts_imported_at,
  m.pipeline_worked_at,
  m.activity_logged_at,
  COALESCE(m.milestones_met, ARRAY<STRING>[]) AS milestones_met,
  COALESCE(m.milestones, 0) = r.milestones AS is_activated,
  IF(COALESCE(m.milestones, 0) = r.milestones, m.last_met_at, NULL) AS activated_at,
  d.as_of_at < t.window_ends_at AS is_window_open,
  d.as_of_at
FROM trials AS t
LEFT JOIN met AS m ON m.account_key = t.account_key
CROSS JOIN required AS r
CROSS JOIN data_end AS d
