"""core.account_notes: the CS note log that enr's health and churn-risk signals read (issue 14).

Built through the real engine from the seeded world: every live stg note arrives once, its
negative flag is the CSM's sentiment, its account is the account owning the picked domain, and
its free text never leaves stg.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import query_rows as rows


@pytest.fixture(scope="module")
def warehouse(seeded_warehouse: Path) -> Path:
    """The shipped project, seeded and built."""
    return seeded_warehouse



def test_every_live_stg_note_arrives_once(warehouse: Path) -> None:
    [(stg, core, distinct)] = rows(warehouse, """
        SELECT (SELECT COUNT(*) FROM stg.cs__cs_notes),
               (SELECT COUNT(*) FROM core.account_notes),
               (SELECT COUNT(DISTINCT note_id) FROM core.account_notes)""")
    assert stg > 100
    assert core == stg == distinct


def test_negative_flag_is_the_csm_sentiment(warehouse: Path) -> None:
    counts = dict(rows(warehouse, "SELECT is_negative, COUNT(*) FROM core.account_notes GROUP BY 1"))
    assert counts.get(True, 0) > 0 and counts.get(False, 0) > 0
    assert rows(warehouse, """
        SELECT COUNT(*) FROM core.account_notes
        WHERE is_negative IS DISTINCT FROM (sentiment = 'negative')""") == [(0,)]


def test_account_is_the_one_owning_the_picked_domain(warehouse: Path) -> None:
    [(matched, unmatched_but_known)] = rows(warehouse, """
        SELECT COUNT(*) FILTER (WHERE n.account_key = a.account_key),
               COUNT(*) FILTER (WHERE n.account_key IS NULL AND a.account_key IS NOT NULL)
        FROM core.account_notes AS n LEFT JOIN core.accounts AS a ON a.domain = n.domain""")
    assert matched > 0
    assert unmatched_but_known == 0
    # a key is only ever set through the domain: never one that is not that domain's account
    assert rows(warehouse, """
        SELECT COUNT(*) FROM core.account_notes AS n JOIN core.accounts AS a ON a.account_key = n.account_key
        WHERE a.domain IS DISTINCT FROM n.domain""") == [(0,)]


def test_author_is_an_internal_user_matched_by_email(warehouse: Path) -> None:
    [(authored, total)] = rows(warehouse, """
        SELECT COUNT(author_user_id), COUNT(*) FROM core.account_notes""")
    assert 0 < authored <= total
    assert rows(warehouse, """
        SELECT COUNT(*) FROM core.account_notes AS n
        LEFT JOIN stg.hubspot__owners AS o ON o.owner_id = n.author_user_id
        WHERE n.author_user_id IS NOT NULL AND o.owner_id IS NULL""") == [(0,)]


def test_free_text_stays_in_stg(warehouse: Path) -> None:
    columns = {name for (name,) in rows(warehouse, """
        SELECT column_name FROM information_schema.columns
        WHERE table_schema = 'core' AND table_name = 'account_notes'""")}
    assert "note_id" in columns
    assert not columns & {"subject", "body", "author_email"}
