"""KG018: models after stg compute as of a date from the data, never the wall clock (issue 15)."""

from __future__ import annotations

import json
from pathlib import Path

import miniproject
import pytest
from click.testing import CliRunner

from kcrm_gov.cli import cli


@pytest.fixture
def mini(tmp_path: Path) -> Path:
    return miniproject.make(tmp_path / "mini")


def lint(root: Path) -> tuple[int, list[dict]]:
    result = CliRunner().invoke(cli, ["--project-dir", str(root), "lint", "--json"])
    return result.exit_code, [f for f in json.loads(result.output)["findings"] if f["rule"] == "KG018"]


@pytest.mark.parametrize("call", ["CURRENT_DATE()", "CURRENT_TIMESTAMP()", "CURRENT_DATETIME()", "NOW()",
                                  "CURRENT_DATE('Europe/Berlin')"])
def test_a_core_model_reading_the_wall_clock_is_refused_at_its_line(mini: Path, call: str) -> None:
    miniproject.write(mini, "models/core/items.sql", "SELECT item_id, COALESCE(item_name, 'unknown') AS item_name,\n"
                      f"  IF(DATE '2023-01-01' < {call}, amount, NULL) AS amount_usd\nFROM stg.src__items\n")
    code, findings = lint(mini)
    assert code == 1
    [finding] = findings
    assert finding["path"] == "models/core/items.sql" and finding["line"] == 2
    assert "reads the wall clock" in finding["message"]


def test_stg_may_read_the_clock_and_data_dates_are_fine(mini: Path) -> None:
    # stg may stamp a load time; core takes "as of" from the data
    miniproject.write(mini, "models/core/items.sql", "SELECT item_id, COALESCE(item_name, 'unknown') AS item_name,\n"
                      "  IF(item_id <= (SELECT MAX(item_id) FROM stg.src__items), amount, NULL) AS amount_usd\n"
                      "FROM stg.src__items\n")
    stg = (mini / "models/stg/src__items.sql").read_text()
    miniproject.write(mini, "models/stg/src__items.sql",
                      stg.replace("  amount\n", "  IF(CURRENT_DATE() > DATE '2000-01-01', amount, amount) AS amount\n"))
    code, findings = lint(mini)
    assert findings == [] and code == 0


def test_the_shipped_models_read_no_wall_clock() -> None:
    _, findings = lint(miniproject.REPO)
    assert findings == []


def test_every_name_the_bigquery_parser_reads_as_the_clock_is_looked_for() -> None:
    """KG018 parses only the models whose text names a clock function: every function name that
    sqlglot's BigQuery parser turns into a wall-clock node must be one it looks for."""
    import sqlglot
    from sqlglot.dialects.bigquery import BigQuery

    from kcrm_gov.lint.rules import _WALL_CLOCK_NAMES, _WALL_CLOCK_NODES

    names = {n for n in {*BigQuery.Parser.FUNCTIONS, *BigQuery.Parser.NO_PAREN_FUNCTIONS} if isinstance(n, str)}
    names |= {t.name for t in BigQuery.Parser.NO_PAREN_FUNCTIONS}
    clock = set()
    for name in names:
        for sql in (f"SELECT {name}()", f"SELECT {name}"):
            try:
                tree = sqlglot.parse_one(sql, read="bigquery")
            except Exception:  # some builders fail without their arguments: not a clock
                continue
            if any(isinstance(node, _WALL_CLOCK_NODES) for node in tree.walk()):
                clock.add(name.upper())
    assert {"CURRENT_DATE", "CURRENT_TIMESTAMP"} <= clock
    assert clock <= _WALL_CLOCK_NAMES
