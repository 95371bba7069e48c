"""Zendesk's child tables as the connector lands them, through the real engine on the seeded build (issue 14).

The connector lands no ticket `tags` or organization `domain_names` column: they are rows of
`ticket_tag` and `domain_name`, and a ticket's status changes are rows of `ticket_field_history`.
stg keeps the old outputs (a ticket's tags, an organization's domains) by reading those rows, and
the field history agrees with the ticket it describes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import query_rows as rows


@pytest.fixture(scope="module")
def warehouse(seeded_warehouse: Path) -> Path:
    """The shipped project seeded and built (Zendesk's raw child tables and its stg models), read only."""
    return seeded_warehouse


def test_raw_child_tables_have_the_connectors_key_one_row_per_record(warehouse: Path) -> None:
    for table, key in (("zendesk__ticket_tags", "tag, ticket_id"),
                       ("zendesk__domain_names", "index, organization_id"),
                       ("zendesk__ticket_field_history", "updated, field_name, ticket_id"),
                       ("zendesk__groups", "id")):
        [(n, distinct)] = rows(warehouse, f"SELECT COUNT(*), COUNT(DISTINCT ({key})) FROM raw.{table}")
        assert n == distinct > 0, table
    # no invented columns left on the parents
    columns = {(t, c) for t, c in rows(warehouse, """
        SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'raw'""")}
    assert ("zendesk__tickets", "tags") not in columns
    assert ("zendesk__organizations", "domain_names") not in columns


def test_every_tickets_tags_are_its_live_ticket_tag_rows(warehouse: Path) -> None:
    [(tickets, differ, removed_shown, churn_risk)] = rows(warehouse, """
        WITH live AS (
            SELECT ticket_id, list_sort(list(DISTINCT tag)) AS tags FROM raw.zendesk__ticket_tags
            WHERE NOT _fivetran_deleted GROUP BY ticket_id)
        SELECT COUNT(*),
               COUNT(*) FILTER (WHERE t.tags IS DISTINCT FROM coalesce(l.tags, []::VARCHAR[])),
               (SELECT COUNT(*) FROM raw.zendesk__ticket_tags AS d JOIN stg.zendesk__tickets AS s
                  ON s.ticket_id = d.ticket_id
                WHERE d._fivetran_deleted AND list_contains(s.tags, d.tag)),
               COUNT(*) FILTER (WHERE list_contains(t.tags, 'churn_risk'))
        FROM stg.zendesk__tickets AS t LEFT JOIN live AS l USING (ticket_id)""")
    assert tickets > 15_000
    assert differ == 0
    assert removed_shown == 0  # a removed tag (soft-deleted row) is not a tag of the ticket
    assert churn_risk > 50
    # removed tags exist, so the check above is not vacuous
    assert rows(warehouse, "SELECT COUNT(*) FROM raw.zendesk__ticket_tags WHERE _fivetran_deleted")[0][0] > 50
    # cancellation tickets keep churn_risk
    assert rows(warehouse, """
        SELECT COUNT(*) FROM stg.zendesk__tickets
        WHERE subject = 'Cancel my subscription' AND NOT list_contains(tags, 'churn_risk')""") == [(0,)]


def test_every_organizations_domains_are_its_live_domain_name_rows(warehouse: Path) -> None:
    [(orgs, differ, wrong_primary, none, two)] = rows(warehouse, """
        WITH live AS (
            SELECT organization_id, list_sort(list(DISTINCT lower(domain_name))) AS domains,
                   arg_min(lower(domain_name), index) AS first_domain
            FROM raw.zendesk__domain_names WHERE NOT _fivetran_deleted GROUP BY organization_id)
        SELECT COUNT(*),
               COUNT(*) FILTER (WHERE o.domain_names IS DISTINCT FROM coalesce(l.domains, []::VARCHAR[])),
               COUNT(*) FILTER (WHERE o.primary_domain IS DISTINCT FROM l.first_domain),
               COUNT(*) FILTER (WHERE len(o.domain_names) = 0),
               COUNT(*) FILTER (WHERE len(o.domain_names) = 2)
        FROM stg.zendesk__organizations AS o LEFT JOIN live AS l USING (organization_id)""")
    assert orgs > 900
    assert differ == 0 and wrong_primary == 0
    assert 0 < none < orgs * 0.1  # a few organizations without a domain
    assert two > orgs * 0.05  # some with two
    assert rows(warehouse, """
        SELECT COUNT(*) FROM raw.zendesk__domain_names AS d JOIN stg.zendesk__organizations AS o
          ON o.organization_id = d.organization_id
        WHERE d._fivetran_deleted AND list_contains(o.domain_names, d.domain_name)""") == [(0,)]


def test_field_history_agrees_with_the_ticket(warehouse: Path) -> None:
    [(tickets, wrong_last, wrong_first, outside, wrong_group, wrong_assignee)] = rows(warehouse, """
        WITH s AS (
            SELECT ticket_id, arg_max(value, changed_at) AS last_status, arg_min(value, changed_at) AS first_status,
                   min(changed_at) AS first_at, max(changed_at) AS last_at
            FROM stg.zendesk__ticket_field_history WHERE field_name = 'status' GROUP BY ticket_id),
        cur AS (
            SELECT ticket_id, max(value) FILTER (WHERE field_name = 'group_id') AS group_id,
                   max(value) FILTER (WHERE field_name = 'assignee_id') AS assignee_id
            FROM stg.zendesk__ticket_field_history WHERE is_current GROUP BY ticket_id)
        SELECT COUNT(*),
               COUNT(*) FILTER (WHERE s.last_status IS DISTINCT FROM t.status),
               COUNT(*) FILTER (WHERE s.first_status <> 'new' OR s.first_at <> t.created_at),
               COUNT(*) FILTER (WHERE s.last_at > t.updated_at),
               COUNT(*) FILTER (WHERE cur.group_id IS DISTINCT FROM CAST(t.group_id AS VARCHAR)),
               COUNT(*) FILTER (WHERE cur.assignee_id IS DISTINCT FROM CAST(t.assignee_id AS VARCHAR))
        FROM stg.zendesk__tickets AS t JOIN s USING (ticket_id) JOIN cur USING (ticket_id)""")
    assert tickets == rows(warehouse, "SELECT COUNT(*) FROM stg.zendesk__tickets")[0][0]
    assert (wrong_last, wrong_first, outside, wrong_group, wrong_assignee) == (0, 0, 0, 0, 0)
    # the status path goes forward: closed only after solved, solved only after open
    assert rows(warehouse, """
        SELECT COUNT(*) FROM stg.zendesk__ticket_field_history AS c
        WHERE c.field_name = 'status' AND c.value IN ('solved', 'closed') AND NOT EXISTS (
            SELECT 1 FROM stg.zendesk__ticket_field_history AS o
            WHERE o.ticket_id = c.ticket_id AND o.field_name = 'status' AND o.value = 'open'
              AND o.changed_at < c.changed_at)""") == [(0,)]
    statuses = dict(rows(warehouse, """
        SELECT value, COUNT(*) FROM stg.zendesk__ticket_field_history WHERE field_name = 'status' GROUP BY 1"""))
    assert {"new", "open", "pending", "hold", "solved", "closed"} <= set(statuses)


def test_the_four_groups_name_every_tickets_group(warehouse: Path) -> None:
    assert sorted(r[0] for r in rows(warehouse, "SELECT group_name FROM stg.zendesk__groups")) == [
        "Billing", "Onboarding", "Tier 1", "Tier 2"]
    assert rows(warehouse, """
        SELECT COUNT(*) FROM stg.zendesk__tickets AS t LEFT JOIN stg.zendesk__groups AS g USING (group_id)
        WHERE g.group_id IS NULL""") == [(0,)]
