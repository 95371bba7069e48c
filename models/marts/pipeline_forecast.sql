-- marts.pipeline_forecast: the sales forecast as it stood at each month end, by close quarter, owner and
-- deal type (new business apart from existing business: renewals and expansions). Each deal's stage at the
-- snapshot is rebuilt from core.deal_stage_history (the stage it had entered by the end of the snapshot day
-- and not yet left), so a deal that moved later counts in its earlier stage. A row holds the open amount,
-- the weighted amount (each open deal's amount x its stage's probability of marts.stage_probabilities,
-- rounded to cents), the commit (open deals whose stage probability is at least commit_probability of
-- marts.forecast_parameters), the deals won to date in the quarter and the forecast = won + weighted.
WITH params AS (
  -- The snapshots run over the data's history: from the month of the first deal to the data's latest date
  -- (the last snapshot is that date, not a month end still to come), never the wall clock.
  SELECT
    CAST((SELECT MAX(value) FROM marts.forecast_parameters WHERE parameter = 'commit_probability') AS NUMERIC)
      AS commit_probability,
    CAST((SELECT MIN(created_at) FROM core.opportunities) AS DATE) AS first_day,
    (SELECT MAX(as_of_date) FROM marts.stage_probabilities) AS as_of_date
),

snapshots AS (
  SELECT
    LEAST(LAST_DAY(month_start), p.as_of_date) AS snapshot_date,
    DATE_TRUNC(month_start, QUARTER) AS snapshot_quarter,
    -- The state at the end of the snapshot day: everything entered before the next midnight (UTC).
    TIMESTAMP(DATE_ADD(LEAST(LAST_DAY(month_start), p.as_of_date), INTERVAL 1 DAY)) AS cutoff
  FROM params AS p
  CROSS JOIN UNNEST(GENERATE_DATE_ARRAY(DATE_TRUNC(p.first_day, MONTH), p.as_of_date, INTERVAL 1 MONTH)) AS month_start
),

deals AS (
  -- Amount, owner, type and close date are HubSpot's as of the latest sync (no history of them is kept);
  -- the close date is the actual one once closed, else the expected one. Internal deals are out.
  SELECT
    opportunity_id,
    COALESCE(amount_usd, 0) AS amount_usd,
    owner_user_id,
    deal_type,
    CAST(COALESCE(closed_at, expected_close_at) AS DATE) AS close_date
  FROM core.opportunities
  WHERE NOT is_internal
),

at_snapshot AS (
  -- Each deal's stage at each snapshot: the history entry entered before the cutoff and left after it.
  SELECT
    sn.snapshot_date,
    sn.snapshot_quarter,
    d.opportunity_id,
    d.amount_usd,
    d.owner_user_id,
    d.deal_type,
    d.close_date,
    h.stage_id,
    h.is_closed_stage,
    h.is_won_stage,
    h.entered_at
  FROM snapshots AS sn
  INNER JOIN core.deal_stage_history AS h
    ON h.entered_at < sn.cutoff
    AND (h.exited_at IS NULL OR h.exited_at >= sn.cutoff)
  INNER JOIN deals AS d
    ON d.opportunity_id = h.opportunity_id
),

facts AS (
  -- Open deals in their close quarter; a deal still open past its close date is forecast into the
  -- snapshot's own quarter, where it can still close.
  SELECT
    a.snapshot_date,
    GREATEST(COALESCE(DATE_TRUNC(a.close_date, QUARTER), a.snapshot_quarter), a.snapshot_quarter) AS close_quarter,
    a.owner_user_id,
    a.deal_type,
    1 AS open_deals,
    a.amount_usd AS open_amount_usd,
    ROUND(a.amount_usd * s.probability, 2) AS weighted_amount_usd,
    IF(s.probability >= p.commit_probability, 1, 0) AS commit_deals,
    IF(s.probability >= p.commit_probability, a.amount_usd, 0) AS commit_amount_usd,
    0 AS won_deals,
    0 AS won_amount_usd
  FROM at_snapshot AS a
  INNER JOIN marts.stage_probabilities AS s
    ON s.stage_id = a.stage_id
  CROSS JOIN params AS p
  WHERE NOT a.is_closed_stage
  UNION ALL
  -- Deals won in the snapshot's quarter up to the snapshot (in a won stage at the snapshot, entered in the
  -- quarter).
  SELECT
    snapshot_date,
    snapshot_quarter AS close_quarter,
    owner_user_id,
    deal_type,
    0 AS open_deals,
    0 AS open_amount_usd,
    0 AS weighted_amount_usd,
    0 AS commit_deals,
    0 AS commit_amount_usd,
    1 AS won_deals,
    amount_usd AS won_amount_usd
  FROM at_snapshot
  WHERE is_won_stage
    AND CAST(entered_at AS DATE) >= snapshot_quarter
),

grouped AS (
  SELECT
    snapshot_date,
    close_quarter,
    owner_user_id,
    deal_type,
    SUM(open_deals) AS open_deals,
    SUM(open_amount_usd) AS open_amount_usd,
    SUM(weighted_amount_usd) AS weighted_amount_usd,
    SUM(commit_deals) AS commit_deals,
    SUM(commit_amount_usd) AS commit_amount_usd,
    SUM(won_deals) AS won_deals,
    SUM(won_amount_usd) AS won_amount_usd
  FROM facts
  GROUP BY snapshot_date, close_quarter, owner_user_id, deal_type
)

SELECT
  CAST(g.snapshot_date AS DATE) AS snapshot_date,
  CAST(g.close_quarter AS DATE) AS close_quarter,
  CAST(FORMAT_DATE('%Y', g.close_quarter) || '-Q' || CAST(EXTRACT(QUARTER FROM g.close_quarter) AS STRING) AS STRING)
    AS close_quarter_label,
  CAST(COALESCE(CAST(g.owner_user_id AS STRING), 'unassigned') AS STRING) AS owner_key,
  CAST(g.owner_user_id AS INT64) AS owner_user_id,
  CAST(u.full_name AS STRING) AS owner_name,
  -- Deactivated owners keep their rows: their deals are still in the pipeline until reassigned.
  CAST(u.is_active AS BOOL) AS owner_is_active,
  CAST(g.deal_type AS STRING) AS deal_type,
  CAST(g.open_deals AS INT64) AS open_deals,
  CAST(g.open_amount_usd AS NUMERIC) AS open_amount_usd,
  CAST(g.weighted_amount_usd AS NUMERIC) AS weighted_amount_usd,
  CAST(g.commit_deals AS INT64) AS commit_deals,
  CAST(g.commit_amount_usd AS NUMERIC) AS commit_amount_usd,
  CAST(g.won_deals AS INT64) AS won_deals,
  CAST(g.won_amount_usd AS NUMERIC) AS won_amount_usd,
  CAST(g.won_amount_usd + g.weighted_amount_usd AS NUMERIC) AS forecast_amount_usd
FROM grouped AS g
LEFT JOIN core.users AS u
  ON u.user_id = g.owner_user_id
