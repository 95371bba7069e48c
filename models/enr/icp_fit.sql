-- ICP fit per account: the sum of the points of the enr.icp_points rules its firmographics match,
-- the tier from enr.icp_tiers (the highest min_points the sum reaches), the rules that fired and
-- the firmographics that are unknown (an unknown input fires no rule and scores 0 for it).
WITH accounts AS (
  SELECT account_key, industry, employee_count, country
  FROM core.accounts
  WHERE NOT is_internal
),
fired AS (
  SELECT a.account_key, r.rule_id, r.points
  FROM accounts AS a
  JOIN enr.icp_points AS r
    ON (r.attribute = 'industry' AND a.industry = r.match_value)
    OR (r.attribute = 'country' AND a.country = r.match_value)
    OR (r.attribute = 'employee_band' AND a.employee_count BETWEEN r.min_employees AND r.max_employees)
),
scored AS (
  SELECT account_key, SUM(points) AS icp_points, ARRAY_AGG(rule_id ORDER BY rule_id) AS rules_fired
  FROM fired
  GROUP BY account_key
),
missing AS (
  SELECT account_key, ARRAY_AGG(input ORDER BY position) AS missing_inputs
  FROM (
    SELECT account_key, 'industry' AS input, 1 AS position FROM accounts WHERE industry IS NULL
    UNION ALL
    SELECT account_key, 'employee_count' AS input, 2 AS position FROM accounts WHERE employee_count IS NULL
    UNION ALL
    SELECT account_key, 'country' AS input, 3 AS position FROM accounts WHERE country IS NULL
  ) AS m
  GROUP BY account_key
),
points AS (
  SELECT
    a.account_key,
    COALESCE(s.icp_points, CAST(0 AS NUMERIC)) AS icp_points,
    COALESCE(s.rules_fired, ARRAY<STRING>[]) AS rules_fired,
    COALESCE(m.missing_inputs, ARRAY<STRING>[]) AS missing_inputs
  FROM accounts AS a
  LEFT JOIN scored AS s ON s.account_key = a.account_key
  LEFT JOIN missing AS m ON m.account_key = a.account_key
)
SELECT
  p.account_key,
  CAST(p.icp_points AS NUMERIC) AS icp_points,
  t.tier AS icp_tier,
  p.rules_fired,
  p.missing_inputs
FROM points AS p
JOIN enr.icp_tiers AS t ON t.min_points <= p.icp_points
QUALIFY ROW_NUMBER() OVER (PARTITION BY p.account_key ORDER BY t.min_points DESC) = 1
