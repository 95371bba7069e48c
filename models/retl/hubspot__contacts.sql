-- retl.hubspot__contacts: the lead-scoring properties K CRM writes on each real HubSpot contact: lead
-- score and its fit and engagement parts, persona, the account's ICP tier, the MQL and SQL dates and
-- the rules behind the score. Never the lifecycle stage: HubSpot owns it (its own workflows move it),
-- and this table has no column for it so no sync can overwrite it.
SELECT
  CAST(s.contact_id AS INT64) AS hubspot_contact_id,
  CAST(s.account_key AS STRING) AS account_key,
  -- one decimal: HubSpot shows scores as numbers, and float noise must not change the row hash
  CAST(ROUND(s.lead_score, 1) AS FLOAT64) AS lead_score,
  CAST(ROUND(s.fit_points, 1) AS FLOAT64) AS fit_score,
  CAST(ROUND(s.engagement_points, 1) AS FLOAT64) AS engagement_score,
  CAST(p.persona AS STRING) AS persona,
  CAST(f.icp_tier AS STRING) AS icp_tier,
  CAST(ARRAY_TO_STRING(s.score_reasons, ';') AS STRING) AS score_reasons,
  CAST(s.is_mql AS BOOL) AS is_mql,
  CAST(DATE(s.mql_at) AS DATE) AS mql_date,
  CAST(DATE(s.sql_at) AS DATE) AS sql_date,
  CAST(DATE(s.score_as_of) AS DATE) AS score_as_of_date,
  CAST(TO_HEX(MD5(TO_JSON_STRING(STRUCT(
    ROUND(s.lead_score, 1) AS lead_score,
    ROUND(s.fit_points, 1) AS fit_score,
    ROUND(s.engagement_points, 1) AS engagement_score,
    p.persona AS persona,
    f.icp_tier AS icp_tier,
    ARRAY_TO_STRING(s.score_reasons, ';') AS score_reasons,
    s.is_mql AS is_mql,
    DATE(s.mql_at) AS mql_date,
    DATE(s.sql_at) AS sql_date,
    DATE(s.score_as_of) AS score_as_of_date
  )))) AS STRING) AS row_hash
FROM enr.lead_scores AS s
JOIN enr.contact_personas AS p
  ON p.contact_id = s.contact_id
LEFT JOIN enr.icp_fit AS f
  ON f.account_key = s.account_key
