-- retl.salesforce__accounts: one Salesforce Account per real account, upserted by the external id
-- KCRM_Account_Key__c (the account_key). Picklist columns hold only the values the Account property
-- list declares; row_hash covers every written field so a sync sends only the accounts that changed.
SELECT
  p.account_key,
  p.account_name,
  CONCAT('https://', p.domain) AS website,
  p.lifecycle,
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
  p.renewal_date,
  p.hubspot_company_id,
  TO_HEX(MD5(TO_JSON_STRING(STRUCT(
    p.account_name AS account_name,
    CONCAT('https://', p.domain) AS website,
    p.lifecycle AS lifecycle,
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
    p.pql_at AS pql_at,
    p.renewal_date AS renewal_date,
    p.hubspot_company_id AS hubspot_company_id
  )))) AS row_hash
FROM enr.account_profile AS p
WHERE p.hubspot_company_id IS NOT NULL  -- the accounts HubSpot knows, as the other account tables
