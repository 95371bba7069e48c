-- Persona of every real contact from its job title: the enr.persona_rules rules are tried in
-- rule_order and the first whose pattern the title matches (case-insensitive) wins, so "Head of
-- Sales" is an economic buyer before "sales manager" could make it a champion. A contact without a
-- title (null or blank) is 'unknown' and matches no rule.
WITH contacts AS (
  SELECT
    contact_id,
    account_key,
    job_title,
    NULLIF(TRIM(job_title), '') AS title
  FROM core.contacts
  WHERE NOT is_internal
),
titles AS (
  -- Each distinct title is matched once (a pattern read from a table is compiled per row).
  SELECT DISTINCT title
  FROM contacts
  WHERE title IS NOT NULL
),
first_match AS (
  SELECT
    t.title,
    r.rule_id,
    r.rule_order,
    r.persona
  FROM titles AS t
  JOIN enr.persona_rules AS r
    ON REGEXP_CONTAINS(t.title, CONCAT('(?i)', r.pattern))
  QUALIFY ROW_NUMBER() OVER (PARTITION BY t.title ORDER BY r.rule_order) = 1
)
SELECT
  c.contact_id,
  c.account_key,
  c.job_title,
  -- A title no rule matches would be 'other' without a rule id (the shipped rules end with a
  -- catch-all, and the contract's rule titled_contacts_match_a_rule reports such a gap).
  CAST(CASE
    WHEN c.title IS NULL THEN 'unknown'
    ELSE COALESCE(m.persona, 'other')
  END AS STRING) AS persona,
  m.rule_id AS persona_rule_id,
  m.rule_order AS persona_rule_order
FROM contacts AS c
LEFT JOIN first_match AS m
  ON m.title = c.title
