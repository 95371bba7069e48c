"""A seeded warehouse measures freshness from the seed's clock, so a newcomer's first commands agree.

The synthetic sources end at their last loader sync (2024-01-02 06:00 UTC). Measured against the
wall clock every table was stale, so `kcrm-gov build` then `kcrm-gov test` ended in freshness
failures on a fresh clone. A seeded warehouse now remembers the seed's clock; `--now` still wins,
and once real data is loaded the real clock applies.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.compute as pc
import pytest
from click.testing import CliRunner, Result
from conftest import copy_project

from kcrm_gov.cli import cli
from kcrm_gov.project import Project
from kcrm_gov.seed import build_world, generate
from kcrm_gov.seed.common import SYNC_END

OWNERS = "raw.hubspot__owners"


def invoke(root: Path, *args: str) -> Result:
    result = CliRunner().invoke(cli, ["--project-dir", str(root), *args], env={"KCRM_GOV_NOW": None})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    root = copy_project(tmp_path / "project")
    assert invoke(root, "seed", "--table", OWNERS).exit_code == 0
    return root


def test_freshness_of_a_seeded_warehouse_is_measured_from_the_seed_clock(seeded: Path) -> None:
    result = invoke(seeded, "freshness", "-s", OWNERS, "--json")
    assert result.exit_code == 0, result.output
    run = json.loads(result.output)
    assert run["now"] == "2024-01-02T06:00:00Z" and run["tables"][0]["status"] == "fresh"
    assert any("last sync of the synthetic sources" in note for note in run["notes"])


def test_test_of_a_seeded_warehouse_says_which_clock_in_one_line(seeded: Path) -> None:
    result = invoke(seeded, "test", "-s", OWNERS)
    assert result.exit_code == 0, result.output
    notes = [line for line in result.output.splitlines() if "measuring freshness at 2024-01-02T06:00:00Z" in line]
    assert len(notes) == 1


def test_now_overrides_the_seed_clock(seeded: Path) -> None:
    result = invoke(seeded, "freshness", "-s", OWNERS, "--now", "2024-03-01T00:00:00Z", "--json")
    assert result.exit_code == 2  # two months later, a breach
    run = json.loads(result.output)
    assert run["now"] == "2024-03-01T00:00:00Z" and run["tables"][0]["status"] == "breach"
    assert not any("synthetic sources" in note for note in run["notes"])


def test_loading_real_data_switches_to_the_real_clock(seeded: Path, tmp_path: Path) -> None:
    export = tmp_path / "owners.csv"
    assert invoke(seeded, "seed", "--table", OWNERS, "--out", str(tmp_path / "export"), "--format", "csv",
                  "--scale", "1").exit_code == 0
    import csv

    with (tmp_path / "export" / "hubspot__owners.csv").open(newline="") as f:
        header, row, *_ = csv.reader(f)
    row[header.index("owner_id")] = "999999"  # one new owner: the file a loader would bring
    with export.open("w", newline="") as f:
        csv.writer(f).writerows([header, row])
    loaded = invoke(seeded, "load", OWNERS, str(export))
    assert loaded.exit_code == 0, loaded.output
    result = invoke(seeded, "freshness", "-s", OWNERS, "--json")
    run = json.loads(result.output)
    assert run["now"] > "2026"  # the real clock
    assert not any("synthetic sources" in note for note in run["notes"])


def test_a_warehouse_that_was_never_seeded_uses_the_real_clock(tmp_path: Path) -> None:
    import miniproject

    root = miniproject.make(tmp_path / "mini")
    miniproject.load_raw(root, miniproject.ROWS)
    result = invoke(root, "freshness", "--json")
    assert json.loads(result.output)["now"] > "2026"


def test_no_source_holds_data_from_after_its_last_sync() -> None:
    project = Project.load(Path(__file__).resolve().parent.parent)
    world = build_world(42, 0.2)
    for name, column in (("ga4__events", "_loaded_at"), ("hubspot__contacts", "_fivetran_synced"),
                         ("mixpanel__events", "_fivetran_synced")):
        for chunk in generate(project.contract(f"raw.{name}"), world):
            newest = pc.max(chunk.column(column)).as_py()
            assert newest.timestamp() * 1_000_000 <= SYNC_END, (name, newest)
