-- retl.hubspot__lead_routing: the owner and priority of every open HubSpot lead, for the HubSpot lead
-- object. Routing, first rule that applies: a paying customer's lead goes to the account's owner; a
-- lead at an account owned by an account executive goes to that AE; every other lead goes to the
-- sales development reps in a stable round robin. Only active users (core.users.is_active) are ever
-- assigned: a rule whose owner is deactivated does not apply, and the lead falls through to the next.
-- Priority and response SLA come from the ordered rules of enr.lead_routing_priorities.
WITH sdrs AS (
  -- The round robin's seats: active SDRs numbered 0..n-1 by user id (a stable order that a new hire
  -- joins at its place).
  SELECT
    user_id,
    ROW_NUMBER() OVER (ORDER BY user_id) - 1 AS sdr_index,
    COUNT(*) OVER () AS sdr_count
  FROM core.users
  WHERE is_active
    AND department = 'sales_development'
),

sequenced AS (
  -- Every real lead ever created, open or closed, numbered by creation: the number never changes
  -- when a lead is closed or a later one is created, so neither moves another lead's SDR.
  SELECT
    lead_id,
    ROW_NUMBER() OVER (ORDER BY created_at, lead_id) AS lead_sequence
  FROM core.leads
  WHERE NOT is_internal
),

open_leads AS (
  SELECT
    l.lead_id,
    l.contact_id,
    l.account_key,
    l.created_at,
    s.lead_sequence,
    COALESCE(c.lifecycle = 'customer', FALSE) AS is_customer,
    a.owner_user_id AS account_owner_user_id,
    o.is_active AS owner_is_active,
    o.department AS owner_department,
    f.icp_tier,
    COALESCE(p.is_pql, FALSE) AS is_pql,
    COALESCE(ls.is_mql, FALSE) AS is_mql
  FROM core.leads AS l
  JOIN sequenced AS s
    ON s.lead_id = l.lead_id
  LEFT JOIN core.accounts AS a
    ON a.account_key = l.account_key
  LEFT JOIN enr.account_profile AS c  -- the one lifecycle rule: customer = paying in the latest month
    ON c.account_key = l.account_key
  LEFT JOIN core.users AS o
    ON o.user_id = a.owner_user_id
  LEFT JOIN enr.icp_fit AS f
    ON f.account_key = l.account_key
  LEFT JOIN enr.pql_accounts AS p
    ON p.account_key = l.account_key
  LEFT JOIN enr.lead_scores AS ls
    ON ls.contact_id = l.contact_id
  WHERE l.is_open
    AND NOT l.is_internal
),

routed AS (
  SELECT
    l.*,
    CASE
      WHEN l.is_customer AND COALESCE(l.owner_is_active, FALSE) THEN 'customer_owner'
      WHEN COALESCE(l.owner_is_active, FALSE) AND l.owner_department = 'sales' THEN 'account_ae'
      ELSE 'round_robin'
    END AS routing_reason
  FROM open_leads AS l
),

prioritised AS (
  -- The first rule of enr.lead_routing_priorities (by rule_order) whose conditions all hold.
  SELECT
    r.lead_id,
    p.rule_id,
    p.priority,
    p.response_sla_hours
  FROM routed AS r
  JOIN enr.lead_routing_priorities AS p
    ON (NOT p.requires_pql OR r.is_pql)
    AND (NOT p.requires_mql OR r.is_mql)
    AND (p.icp_tiers IS NULL OR STRPOS(CONCAT('|', p.icp_tiers, '|'), CONCAT('|', r.icp_tier, '|')) > 0)
  WHERE TRUE  -- older BigQuery rejects a QUALIFY without WHERE, GROUP BY or HAVING
  QUALIFY ROW_NUMBER() OVER (PARTITION BY r.lead_id ORDER BY p.rule_order) = 1
),

assigned AS (
  SELECT
    r.lead_id,
    r.account_key,
    r.created_at,
    r.lead_sequence,
    r.routing_reason,
    CASE
      WHEN r.routing_reason = 'round_robin' THEN sdr.user_id
      ELSE r.account_owner_user_id
    END AS owner_user_id,
    r.is_customer,
    r.is_mql,
    r.is_pql,
    r.icp_tier,
    p.rule_id AS priority_rule,
    p.priority,
    p.response_sla_hours
  FROM routed AS r
  JOIN prioritised AS p
    ON p.lead_id = r.lead_id
  -- the lead's seat of the round robin: its creation number modulo the number of active SDRs
  LEFT JOIN sdrs AS sdr
    ON r.routing_reason = 'round_robin'
    AND sdr.sdr_index = MOD(r.lead_sequence - 1, sdr.sdr_count)
)

SELECT
  CAST(lead_id AS INT64) AS hubspot_lead_id,
  CAST(account_key AS STRING) AS account_key,
  CAST(owner_user_id AS INT64) AS hubspot_owner_id,
  CAST(routing_reason AS STRING) AS routing_reason,
  CAST(lead_sequence AS INT64) AS lead_sequence,
  CAST(priority AS STRING) AS priority,
  CAST(priority_rule AS STRING) AS priority_rule,
  CAST(response_sla_hours AS INT64) AS response_sla_hours,
  CAST(TIMESTAMP_ADD(created_at, INTERVAL response_sla_hours HOUR) AS TIMESTAMP) AS response_due_at,
  CAST(is_customer AS BOOL) AS is_customer,
  CAST(is_mql AS BOOL) AS is_mql,
  CAST(is_pql AS BOOL) AS is_pql,
  CAST(icp_tier AS STRING) AS icp_tier,
  CAST(created_at AS TIMESTAMP) AS created_at,
  CAST(TO_HEX(MD5(TO_JSON_STRING(STRUCT(
    owner_user_id AS hubspot_owner_id,
    routing_reason,
    priority,
    response_sla_hours,
    TIMESTAMP_ADD(created_at, INTERVAL response_sla_hours HOUR) AS response_due_at
  )))) AS STRING) AS row_hash
FROM assigned
