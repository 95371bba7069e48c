-- enr.account_features_monthly: point-in-time churn features per paying account and month end, and
-- the forward label. Every feature of a row reads only core/enr rows stamped on or before its
-- month_end (dates are UTC: a row of the day after the month end is out), through windows that end
-- at the month end: "the last N days" is month_end and the N - 1 days before it. Only the label
-- (churned_within_90d) looks forward. Internal accounts are out.
WITH data_window AS (
  -- The data's last month: the latest month enr.account_mrr_monthly holds (as of the data).
  SELECT MAX(month_start) AS last_month
  FROM enr.account_mrr_monthly
),

history AS (
  -- MRR history per account, looking back only (every window ends at the current row).
  SELECT
    m.account_key,
    m.month_start,
    m.month_end,
    m.closing_mrr_usd,
    m.seats,
    -- 3 months back; an account younger than that is compared with its first month
    COALESCE(
      LAG(m.closing_mrr_usd, 3) OVER (PARTITION BY m.account_key ORDER BY m.month_start),
      FIRST_VALUE(m.closing_mrr_usd) OVER (
        PARTITION BY m.account_key ORDER BY m.month_start ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
      )
    ) AS mrr_3m_ago_usd,
    SUM(IF(m.movement_type = 'contraction', 1, 0)) OVER (
      PARTITION BY m.account_key ORDER BY m.month_start ROWS BETWEEN 2 PRECEDING AND CURRENT ROW
    ) AS contractions_3m,
    -SUM(m.contraction_mrr) OVER (
      PARTITION BY m.account_key ORDER BY m.month_start ROWS BETWEEN 2 PRECEDING AND CURRENT ROW
    ) AS contraction_mrr_3m_usd,
    MIN(IF(m.closing_mrr_usd > 0, m.month_start, NULL)) OVER (
      PARTITION BY m.account_key ORDER BY m.month_start ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    ) AS first_paid_month,
    LOGICAL_OR(m.movement_type = 'opening') OVER (
      PARTITION BY m.account_key ORDER BY m.month_start ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    ) AS is_left_censored
  FROM enr.account_mrr_monthly AS m
),

population AS (
  -- Paying real accounts at the month end.
  SELECT h.*
  FROM history AS h
  JOIN core.accounts AS a
    ON a.account_key = h.account_key
  WHERE h.closing_mrr_usd > 0 AND NOT a.is_internal
),

usage_days AS (
  SELECT
    account_key,
    event_date AS day,
    COUNT(*) AS events
  FROM core.usage_events
  WHERE NOT is_internal AND account_key IS NOT NULL
  GROUP BY account_key, event_date
),

login_days AS (
  SELECT
    account_key,
    event_date AS day,
    COUNT(*) AS logins
  FROM core.login_events
  WHERE NOT is_internal AND account_key IS NOT NULL
  GROUP BY account_key, event_date
),

user_days AS (
  -- An active user: an identified user with a usage or a login event that day.
  SELECT DISTINCT
    account_key,
    event_date AS day,
    user_email
  FROM core.usage_events
  WHERE NOT is_internal AND account_key IS NOT NULL AND user_email IS NOT NULL
  UNION DISTINCT
  SELECT DISTINCT
    account_key,
    event_date AS day,
    user_email
  FROM core.login_events
  WHERE NOT is_internal AND account_key IS NOT NULL AND user_email IS NOT NULL
),

usage AS (
  -- Usage events of the last 28 days (days 0-27 before the month end) and of the 28 before (28-55).
  SELECT
    p.account_key,
    p.month_start,
    SUM(IF(DATE_DIFF(p.month_end, u.day, DAY) < 28, u.events, 0)) AS usage_events_28d,
    SUM(IF(DATE_DIFF(p.month_end, u.day, DAY) >= 28, u.events, 0)) AS usage_events_prior_28d
  FROM population AS p
  JOIN usage_days AS u
    ON u.account_key = p.account_key
    AND u.day <= p.month_end
    AND u.day > DATE_SUB(p.month_end, INTERVAL 56 DAY)
  GROUP BY p.account_key, p.month_start
),

logins AS (
  -- Logins in the same two windows, and the latest login day of the last 180 days.
  SELECT
    p.account_key,
    p.month_start,
    SUM(IF(DATE_DIFF(p.month_end, l.day, DAY) < 28, l.logins, 0)) AS logins_28d,
    SUM(IF(DATE_DIFF(p.month_end, l.day, DAY) BETWEEN 28 AND 55, l.logins, 0)) AS logins_prior_28d,
    MIN(DATE_DIFF(p.month_end, l.day, DAY)) AS days_since_last_login
  FROM population AS p
  JOIN login_days AS l
    ON l.account_key = p.account_key
    AND l.day <= p.month_end
    AND l.day > DATE_SUB(p.month_end, INTERVAL 180 DAY)
  GROUP BY p.account_key, p.month_start
),

active_users AS (
  SELECT
    p.account_key,
    p.month_start,
    COUNT(DISTINCT IF(DATE_DIFF(p.month_end, d.day, DAY) < 28, d.user_email, NULL)) AS active_users_28d,
    COUNT(DISTINCT IF(DATE_DIFF(p.month_end, d.day, DAY) >= 28, d.user_email, NULL)) AS active_users_prior_28d
  FROM population AS p
  JOIN user_days AS d
    ON d.account_key = p.account_key
    AND d.day <= p.month_end
    AND d.day > DATE_SUB(p.month_end, INTERVAL 56 DAY)
  GROUP BY p.account_key, p.month_start
),

nps AS (
  -- The account's latest NPS answer of the last 180 days (ties: the lower score), and the count.
  SELECT
    p.account_key,
    p.month_start,
    r.score AS nps_latest_score_180d,
    COUNT(*) OVER (PARTITION BY p.account_key, p.month_start) AS nps_responses_180d
  FROM population AS p
  JOIN core.nps_responses AS r
    ON r.account_key = p.account_key
    AND DATE(r.responded_at) <= p.month_end
    AND DATE(r.responded_at) > DATE_SUB(p.month_end, INTERVAL 180 DAY)
  WHERE NOT r.is_internal
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY p.account_key, p.month_start ORDER BY r.responded_at DESC, r.score, r.nps_response_id
  ) = 1
),

notes AS (
  SELECT
    p.account_key,
    p.month_start,
    COUNT(*) AS negative_notes_60d
  FROM population AS p
  JOIN core.account_notes AS n
    ON n.account_key = p.account_key
    AND DATE(n.created_at) <= p.month_end
    AND DATE(n.created_at) > DATE_SUB(p.month_end, INTERVAL 60 DAY)
  WHERE n.is_negative AND NOT n.is_internal
  GROUP BY p.account_key, p.month_start
),

ticket_facts AS (
  SELECT
    account_key,
    DATE(created_at) AS opened_on,
    DATE(solved_at) AS solved_on,
    priority = 'urgent' AS is_urgent,
    -- a cancellation request: tagged churn_risk by the agent, or a subject asking to cancel
    (
      STRPOS(CONCAT(',', ARRAY_TO_STRING(tags, ','), ','), ',churn_risk,') > 0
      OR LOWER(subject) LIKE '%cancel%'
    ) AS is_cancellation,
    IF(DATE(rated_at) IS NOT NULL AND csat_score = 'bad', DATE(rated_at), NULL) AS bad_csat_on
  FROM core.tickets
  WHERE NOT is_internal AND account_key IS NOT NULL
),

tickets AS (
  -- Open at the month end = opened on or before it and not solved by it (solved_at, not the
  -- current status, so a ticket solved later still counts as open then).
  SELECT
    p.account_key,
    p.month_start,
    COUNTIF(DATE_DIFF(p.month_end, t.opened_on, DAY) < 30) AS tickets_opened_30d,
    COUNTIF(t.solved_on IS NULL OR t.solved_on > p.month_end) AS open_tickets,
    COUNTIF((t.solved_on IS NULL OR t.solved_on > p.month_end) AND t.is_urgent) AS urgent_open_tickets,
    COUNTIF(t.is_cancellation AND DATE_DIFF(p.month_end, t.opened_on, DAY) < 90) AS cancellation_tickets_90d,
    COUNTIF(t.bad_csat_on <= p.month_end AND DATE_DIFF(p.month_end, t.bad_csat_on, DAY) < 90) AS bad_csat_90d
  FROM population AS p
  JOIN ticket_facts AS t
    ON t.account_key = p.account_key
    AND t.opened_on <= p.month_end
  GROUP BY p.account_key, p.month_start
),

payments_by_day AS (
  -- What was paid on each invoice, by payment day; a payment whose amount the export lost is taken
  -- to settle the invoice (it is not zero, and its size is unknown).
  SELECT
    invoice_id,
    payment_date,
    SUM(amount) AS paid,
    LOGICAL_OR(is_amount_missing) AS settles
  FROM core.payments
  WHERE invoice_id IS NOT NULL
  GROUP BY invoice_id, payment_date
),

overdue AS (
  -- Invoices issued by the month end, due before it, and not paid in full by it.
  SELECT
    i.account_key,
    p.month_start,
    i.invoice_id
  FROM population AS p
  JOIN core.invoices AS i
    ON i.account_key = p.account_key
    AND i.invoice_date <= p.month_end
    AND i.due_date < p.month_end
  LEFT JOIN payments_by_day AS pay
    ON pay.invoice_id = i.invoice_id
    AND pay.payment_date <= p.month_end
  WHERE NOT i.is_internal AND i.total_amount > 0
  GROUP BY i.account_key, p.month_start, i.invoice_id, i.total_amount
  HAVING NOT COALESCE(LOGICAL_OR(pay.settles), FALSE) AND COALESCE(SUM(pay.paid), 0) < i.total_amount
),

overdue_counts AS (
  SELECT
    account_key,
    month_start,
    COUNT(*) AS overdue_invoices
  FROM overdue
  GROUP BY account_key, month_start
),

label AS (
  -- The forward label: a churn movement in the 3 months after the month end.
  SELECT
    p.account_key,
    p.month_start,
    LOGICAL_OR(f.movement_type = 'churn') AS churned
  FROM population AS p
  JOIN enr.account_mrr_monthly AS f
    ON f.account_key = p.account_key
    AND f.month_start > p.month_start
    AND f.month_start <= DATE_ADD(p.month_start, INTERVAL 3 MONTH)
  GROUP BY p.account_key, p.month_start
)

SELECT
  p.account_key,
  p.month_end,
  p.month_start,
  CAST(p.closing_mrr_usd AS NUMERIC) AS mrr_usd,
  CAST(p.closing_mrr_usd - p.mrr_3m_ago_usd AS NUMERIC) AS mrr_change_3m_usd,
  CAST(p.contractions_3m AS INT64) AS contractions_3m,
  CAST(p.contraction_mrr_3m_usd AS NUMERIC) AS contraction_mrr_3m_usd,
  CAST(p.seats AS INT64) AS seats,
  CAST(DATE_DIFF(p.month_start, p.first_paid_month, MONTH) AS INT64) AS tenure_months,
  CAST(IF(p.is_left_censored, 1, 0) AS INT64) AS tenure_left_censored,
  CAST(COALESCE(u.usage_events_28d, 0) AS INT64) AS usage_events_28d,
  CAST(COALESCE(u.usage_events_prior_28d, 0) AS INT64) AS usage_events_prior_28d,
  -- usage = usage events and logins: more events than usage alone, so a small account's ratio is less noisy
  CAST(SAFE_DIVIDE(
    COALESCE(u.usage_events_28d, 0) + COALESCE(l.logins_28d, 0),
    COALESCE(u.usage_events_prior_28d, 0) + COALESCE(l.logins_prior_28d, 0)
  ) AS FLOAT64) AS usage_ratio_28d,
  CAST(COALESCE(au.active_users_28d, 0) AS INT64) AS active_users_28d,
  CAST(COALESCE(au.active_users_prior_28d, 0) AS INT64) AS active_users_prior_28d,
  CAST(SAFE_DIVIDE(COALESCE(au.active_users_28d, 0), p.seats) AS FLOAT64) AS seat_utilisation_28d,
  CAST(COALESCE(l.logins_28d, 0) AS INT64) AS logins_28d,
  CAST(COALESCE(l.logins_prior_28d, 0) AS INT64) AS logins_prior_28d,
  CAST(COALESCE(l.days_since_last_login, 180) AS INT64) AS days_since_last_login,
  CAST(COALESCE(n.nps_responses_180d, 0) AS INT64) AS nps_responses_180d,
  CAST(n.nps_latest_score_180d AS INT64) AS nps_latest_score_180d,
  CAST(IF(n.nps_latest_score_180d <= 6, 1, 0) AS INT64) AS nps_detractor_180d,
  CAST(COALESCE(nt.negative_notes_60d, 0) AS INT64) AS negative_notes_60d,
  CAST(COALESCE(t.tickets_opened_30d, 0) AS INT64) AS tickets_opened_30d,
  CAST(COALESCE(t.open_tickets, 0) AS INT64) AS open_tickets,
  CAST(COALESCE(t.urgent_open_tickets, 0) AS INT64) AS urgent_open_tickets,
  CAST(COALESCE(t.cancellation_tickets_90d, 0) AS INT64) AS cancellation_tickets_90d,
  CAST(COALESCE(t.bad_csat_90d, 0) AS INT64) AS bad_csat_90d,
  CAST(COALESCE(o.overdue_invoices, 0) AS INT64) AS overdue_invoices,
  CAST(f.icp_points AS NUMERIC) AS icp_points,
  CAST(IF(
    DATE_ADD(p.month_start, INTERVAL 3 MONTH) <= w.last_month,
    IF(COALESCE(lb.churned, FALSE), 1, 0),
    NULL
  ) AS INT64) AS churned_within_90d,
  DATE_ADD(p.month_start, INTERVAL 3 MONTH) <= w.last_month AS label_complete
FROM population AS p
CROSS JOIN data_window AS w
LEFT JOIN usage AS u
  ON u.account_key = p.account_key AND u.month_start = p.month_start
LEFT JOIN logins AS l
  ON l.account_key = p.account_key AND l.month_start = p.month_start
LEFT JOIN active_users AS au
  ON au.account_key = p.account_key AND au.month_start = p.month_start
LEFT JOIN nps AS n
  ON n.account_key = p.account_key AND n.month_start = p.month_start
LEFT JOIN notes AS nt
  ON nt.account_key = p.account_key AND nt.month_start = p.month_start
LEFT JOIN tickets AS t
  ON t.account_key = p.account_key AND t.month_start = p.month_start
LEFT JOIN overdue_counts AS o
  ON o.account_key = p.account_key AND o.month_start = p.month_start
LEFT JOIN label AS lb
  ON lb.account_key = p.account_key AND lb.month_start = p.month_start
LEFT JOIN enr.icp_fit AS f
  ON f.account_key = p.account_key
