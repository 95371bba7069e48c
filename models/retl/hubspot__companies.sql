-- retl.hubspot__companies: the K CRM properties of every HubSpot company of a real account, one row per
-- HubSpot company id (an account whose domain has duplicate companies gets the same values on each, so
-- whichever record a rep opens is right). Values come from enr.account_profile; row_hash covers every
-- written property so a sync sends only the companies whose values changed.
SELECT
  m.hubspot_company_id,
  p.account_key,
  p.icp_fit_score,
  p.icp_tier,
  p.health_score,
  p.health_band,
  p.churn_risk_score,
  p.churn_risk_band,
  p.mrr_usd,
  p.arr_usd,
  p.plan,
  p.paid_seats,
  p.active_users,
  p.seat_utilisation,
  p.last_active_date,
  p.is_pql,
  p.pql_at,
  TO_HEX(MD5(TO_JSON_STRING(STRUCT(
    p.account_key AS account_key,
    p.icp_fit_score AS icp_fit_score,
    p.icp_tier AS icp_tier,
    p.health_score AS health_score,
    p.health_band AS health_band,
    p.churn_risk_score AS churn_risk_score,
    p.churn_risk_band AS churn_risk_band,
    p.mrr_usd AS mrr_usd,
    p.arr_usd AS arr_usd,
    p.plan AS plan,
    p.paid_seats AS paid_seats,
    p.active_users AS active_users,
    p.seat_utilisation AS seat_utilisation,
    p.last_active_date AS last_active_date,
    p.is_pql AS is_pql,
    p.pql_at AS pql_at
  )))) AS row_hash
FROM core.account_company_map AS m
JOIN enr.account_profile AS p
  ON p.account_key = m.account_key
WHERE NOT m.is_internal
