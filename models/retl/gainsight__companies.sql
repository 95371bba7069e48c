-- retl.gainsight__companies: one Gainsight CS Company per account customer success manages (customers
-- and churned customers: an account that has paid), upserted by the external id KcrmAccountKey__gc.
-- Gainsight has no array type, so the churn risk reasons travel as one '; '-delimited string; row_hash
-- covers every written field so a sync sends only the companies that changed.
SELECT
  p.account_key,
  p.account_name,
  p.lifecycle,
  p.health_score,
  p.health_band,
  p.churn_risk_score,
  p.churn_risk_band,
  ARRAY_TO_STRING(p.churn_risk_reasons, '; ') AS churn_risk_reasons,
  p.renewal_date,
  p.plan,
  p.paid_seats,
  p.active_users,
  p.seat_utilisation,
  p.last_nps_score,
  p.last_nps_date,
  p.open_tickets,
  p.mrr_usd,
  p.arr_usd,
  p.csm_user_id,
  TO_HEX(MD5(TO_JSON_STRING(STRUCT(
    p.account_name AS account_name,
    p.lifecycle AS lifecycle,
    p.health_score AS health_score,
    p.health_band AS health_band,
    p.churn_risk_score AS churn_risk_score,
    p.churn_risk_band AS churn_risk_band,
    ARRAY_TO_STRING(p.churn_risk_reasons, '; ') AS churn_risk_reasons,
    p.renewal_date AS renewal_date,
    p.plan AS plan,
    p.paid_seats AS paid_seats,
    p.active_users AS active_users,
    p.seat_utilisation AS seat_utilisation,
    p.last_nps_score AS last_nps_score,
    p.last_nps_date AS last_nps_date,
    p.open_tickets AS open_tickets,
    p.mrr_usd AS mrr_usd,
    p.arr_usd AS arr_usd,
    p.csm_user_id AS csm_user_id
  )))) AS row_hash
FROM enr.account_profile AS p
WHERE p.lifecycle IN ('customer', 'churned')
  AND p.hubspot_company_id IS NOT NULL  -- the accounts HubSpot knows, as the other account tables
