-- marts.executive_monthly: one row per month with the company's headline numbers, read only from the
-- other marts so every figure here is the same number the detailed dashboards show: ARR and MRR, net new
-- ARR, customers and ARPA (marts.revenue_mrr_monthly summed over segments and plans), NRR, GRR, logo
-- retention and logo churn (marts.revenue_retention_monthly), new-business pipeline created and win rate
-- (marts.sales_monthly), NPS and CSAT (marts.cs_health_monthly, re-aggregated from their counts) and the
-- trial activation rate (marts.trial_conversion_monthly). Rates are recomputed from summed counts, never
-- averaged.
WITH revenue AS (
  SELECT
    month_start,
    SUM(opening_mrr_usd) AS opening_mrr_usd,
    SUM(closing_mrr_usd) AS closing_mrr_usd,
    SUM(arr_usd) AS arr_usd,
    SUM(net_new_arr_usd) AS net_new_arr_usd,
    SUM(customers) AS customers
  FROM marts.revenue_mrr_monthly
  GROUP BY month_start
),

sales AS (
  -- New business only: renewals and expansions of existing customers are not pipeline created or won logos.
  SELECT
    month_start,
    SUM(pipeline_created_usd) AS pipeline_created_usd,
    SUM(pipeline_created_deals) AS pipeline_created_deals,
    SUM(won_deals) AS won_deals,
    SUM(closed_deals) AS closed_deals
  FROM marts.sales_monthly
  WHERE deal_type = 'newbusiness'
  GROUP BY month_start
),

customer_success AS (
  SELECT
    month_start,
    SUM(nps_responses) AS nps_responses,
    SUM(nps_promoters) AS nps_promoters,
    SUM(nps_detractors) AS nps_detractors,
    SUM(csat_ratings) AS csat_ratings,
    SUM(csat_good_ratings) AS csat_good_ratings
  FROM marts.cs_health_monthly
  GROUP BY month_start
)

SELECT
  r.month_start,
  r.month_end,
  CAST(COALESCE(v.closing_mrr_usd, 0) AS NUMERIC) AS mrr_usd,
  CAST(COALESCE(v.arr_usd, 0) AS NUMERIC) AS arr_usd,
  CAST(COALESCE(v.net_new_arr_usd, 0) AS NUMERIC) AS net_new_arr_usd,
  CAST(COALESCE(v.customers, 0) AS INT64) AS customers,
  CAST(SAFE_DIVIDE(v.closing_mrr_usd, v.customers) AS NUMERIC) AS arpa_usd,
  r.nrr,
  r.grr,
  r.logo_retention,
  r.logo_churn_rate,
  CAST(COALESCE(s.pipeline_created_usd, 0) AS NUMERIC) AS pipeline_created_usd,
  CAST(COALESCE(s.pipeline_created_deals, 0) AS INT64) AS pipeline_created_deals,
  CAST(COALESCE(s.won_deals, 0) AS INT64) AS won_deals,
  CAST(COALESCE(s.closed_deals, 0) AS INT64) AS closed_deals,
  CAST(SAFE_DIVIDE(s.won_deals, s.closed_deals) AS NUMERIC) AS win_rate,
  CAST(COALESCE(c.nps_responses, 0) AS INT64) AS nps_responses,
  CAST(SAFE_DIVIDE(100 * (c.nps_promoters - c.nps_detractors), c.nps_responses) AS NUMERIC) AS nps,
  CAST(COALESCE(c.csat_ratings, 0) AS INT64) AS csat_ratings,
  CAST(SAFE_DIVIDE(c.csat_good_ratings, c.csat_ratings) AS NUMERIC) AS csat,
  t.activation_rate
FROM marts.revenue_retention_monthly AS r
LEFT JOIN revenue AS v
  ON v.month_start = r.month_start
LEFT JOIN sales AS s
  ON s.month_start = r.month_start
LEFT JOIN customer_success AS c
  ON c.month_start = r.month_start
LEFT JOIN marts.trial_conversion_monthly AS t
  ON t.month_start = r.month_start
