"""OpenLineage dataset identity (issue 13, item 8): the same on every machine and in every clone.

A DuckDB dataset is ``duckdb://kcrm-gov/{project}/{target}`` + ``{schema}.{table}``
(:mod:`kcrm_gov.lineage.naming`); it used to carry the host name and the absolute path of the
database file, so the same table of the same project had a new identity on each laptop and in each
clone folder. BigQuery keeps the spec's ``bigquery`` + ``{project}.{dataset}.{table}``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import miniproject
import pytest
from click.testing import CliRunner
from openlineage.client.serde import Serde

from kcrm_gov.cli import cli
from kcrm_gov.config import Target
from kcrm_gov.lineage.events import EventFactory
from kcrm_gov.lineage.naming import DatasetNamer
from kcrm_gov.project import Project

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("KCRM_GOV_SHARED", REPO.parent / "shared"))
VALIDATOR = SHARED / "tools" / "validate_openlineage.py"
MINI = "duckdb://kcrm-gov/mini/local"


@pytest.fixture(autouse=True)
def _no_openlineage_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("OPENLINEAGE"):
            monkeypatch.delenv(key)


def clone(where: Path) -> Path:
    root = miniproject.make(where)
    miniproject.load_raw(root, miniproject.ROWS)
    return root


def datasets(root: Path) -> set[tuple[str, str]]:
    """Every ``(namespace, name)`` in the lineage events of ``root``: inputs, outputs, column lineage."""
    out: set[tuple[str, str]] = set()
    path = root / ".kcrm" / "lineage" / "events" / "events.jsonl"
    for line in path.read_text().splitlines():
        event = json.loads(line)
        for dataset in [*event.get("inputs", []), *event.get("outputs", [])]:
            out.add((dataset["namespace"], dataset["name"]))
            lineage = dataset.get("facets", {}).get("columnLineage")
            if lineage:
                fields = [f for field in lineage["fields"].values() for f in field["inputFields"]]
                out.update((f["namespace"], f["name"]) for f in [*fields, *lineage.get("dataset", [])])
    return out


def build_and_test(root: Path) -> None:
    for args in (["build"], ["test", "--now", "2023-01-02T06:00:00Z"]):
        result = CliRunner().invoke(cli, ["--project-dir", str(root), *args])
        assert result.exit_code == 0, result.output


def test_dataset_identity_does_not_depend_on_the_host_or_the_clone_folder(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    first = clone(tmp_path / "ana" / "mini")
    build_and_test(first)
    monkeypatch.setattr(socket, "gethostname", lambda: "another-laptop")
    second = clone(tmp_path / "ben" / "work" / "kcrm-checkout")
    build_and_test(second)
    seen = datasets(first)
    assert seen == datasets(second)
    assert seen == {(MINI, "raw.src__items"), (MINI, "stg.src__items"), (MINI, "core.items")}
    for root in (first, second):
        if VALIDATOR.exists():  # the events stay valid OpenLineage
            done = subprocess.run([sys.executable, str(VALIDATOR), str(root / ".kcrm" / "lineage" / "events")],
                                  capture_output=True, text=True)
            assert done.returncode == 0 and " 0 problems" in done.stdout, done.stdout + done.stderr


def test_static_events_use_the_same_names(tmp_path: Path) -> None:
    project = Project.load(clone(tmp_path / "mini"))
    factory = EventFactory(project, project.config.target())
    names = set()
    for event in factory.static_events():
        data = json.loads(Serde.to_json(event))
        dataset = data.get("dataset")
        names.update((d["namespace"], d["name"]) for d in ([dataset] if dataset else
                                                             [*data["inputs"], *data["outputs"]]))
    assert {n for n, _ in names} == {MINI}


def test_namespace_is_the_project_and_target_names() -> None:
    local = Target(name="local", type="duckdb", path=Path("/home/ana/kcrm/.kcrm/warehouse.duckdb"))
    assert DatasetNamer(local, "kcrm")("core.accounts") == ("duckdb://kcrm-gov/kcrm/local", "core.accounts")
    moved = Target(name="local", type="duckdb", path=Path("/tmp/ci/wh.duckdb"))  # KCRM_GOV_LOCAL__PATH
    assert DatasetNamer(moved, "kcrm").namespace == "duckdb://kcrm-gov/kcrm/local"
    ci = Target(name="ci", type="duckdb", path=Path("/tmp/ci/wh.duckdb"), dataset_prefix="kcrm_")
    assert DatasetNamer(ci, "kcrm")("core.accounts") == ("duckdb://kcrm-gov/kcrm/ci", "kcrm_core.accounts")
    # names that are not URI-safe are percent-encoded, so the namespace stays one scheme://authority/path
    odd = Target(name="dev/eu 1", type="duckdb", path=None)
    assert DatasetNamer(odd, "K CRM").namespace == "duckdb://kcrm-gov/K%20CRM/dev%2Feu%201"


def test_bigquery_naming_is_unchanged() -> None:
    prod = Target(name="prod", type="bigquery", project="kcrm-analytics-prod", dataset_prefix="kcrm_")
    assert DatasetNamer(prod, "kcrm")("core.accounts") == ("bigquery", "kcrm-analytics-prod.kcrm_core.accounts")
