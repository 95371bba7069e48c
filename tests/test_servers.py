"""The contracts' `servers` blocks: generated from kcrm_gov.yml, kept in sync by `kcrm-gov check`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kcrm_gov.cli import cli
from kcrm_gov.gate import servers_step
from kcrm_gov.governance.servers import (
    COMMENT,
    expected_servers,
    find_block,
    render_servers,
    stale_servers,
    with_servers,
    write_servers,
)
from kcrm_gov.project import Project

REPO = Path(__file__).resolve().parent.parent
ACCOUNTS = Path("contracts/core/accounts.odcs.yaml")
OWNERS = Path("contracts/raw/hubspot__owners.odcs.yaml")

BLOCK_CORE = """\
servers:
  - server: local
    type: duckdb
    database: .kcrm/warehouse.duckdb
    schema: core
  - server: prod
    type: bigquery
    project: kcrm-analytics-prod
    dataset: kcrm_core
"""


def run_cli(root: Path, *args: str):
    return CliRunner().invoke(cli, ["--project-dir", str(root), *args], catch_exceptions=False)


def without_block(text: str) -> str:
    span = find_block(text)
    assert span is not None
    return text[:span[0]] + text[span[1]:]


# --- the shipped contracts --------------------------------------------------------------------------
def test_every_shipped_contract_has_its_servers_block() -> None:
    project = Project.load(REPO)
    assert len(project.contracts) >= 20
    assert stale_servers(project) == []
    for contract in project.contracts.values():
        data = yaml.safe_load((REPO / contract.path).read_text())
        assert data["servers"] == expected_servers(project, contract)


def test_the_block_is_derived_from_the_targets() -> None:
    project = Project.load(REPO)
    assert expected_servers(project, project.contracts["core.accounts"]) == [
        {"server": "local", "type": "duckdb", "database": ".kcrm/warehouse.duckdb", "schema": "core"},
        {"server": "prod", "type": "bigquery", "project": "kcrm-analytics-prod", "dataset": "kcrm_core"},
    ]
    assert (REPO / ACCOUNTS).read_text().endswith(COMMENT + BLOCK_CORE)


def test_environment_overrides_do_not_make_the_blocks_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    """KCRM_GOV_<TARGET>__<KEY> moves one shell's runs elsewhere; the contracts say what kcrm_gov.yml says."""
    monkeypatch.setenv("KCRM_GOV_PROD__PROJECT", "kcrm-staging")
    monkeypatch.setenv("KCRM_GOV_PROD__DATASET_PREFIX", "scratch_")
    monkeypatch.setenv("KCRM_GOV_LOCAL__PATH", "/tmp/elsewhere.duckdb")
    project = Project.load(REPO)
    assert project.config.targets["prod"].project == "kcrm-staging"
    assert stale_servers(project) == []


# --- stale blocks: the generator, --check and the gate ----------------------------------------------
def test_a_changed_target_makes_every_block_stale_and_generate_rewrites_only_the_block(project_dir: Path) -> None:
    config = project_dir / "kcrm_gov.yml"
    config.write_text(config.read_text().replace("dataset_prefix: kcrm_", "dataset_prefix: kcrm_\n"
                                                 "    datasets: {core: gtm_core}", 1))
    before = (project_dir / ACCOUNTS).read_bytes()
    result = run_cli(project_dir, "generate", "servers", "--check")
    assert result.exit_code == 1
    assert "-    dataset: kcrm_core\n+    dataset: gtm_core" in result.stdout
    line = before.decode().splitlines().index("    dataset: kcrm_core") + 1
    assert f"stale: {ACCOUNTS.as_posix()}:{line}:1: servers block is stale" in result.stderr
    assert "raw/" not in result.stderr  # only the core layer's dataset moved

    result = run_cli(project_dir, "generate", "servers")
    assert result.exit_code == 0, result.output
    after = (project_dir / ACCOUNTS).read_bytes()
    assert after == before.replace(b"dataset: kcrm_core", b"dataset: gtm_core")
    assert run_cli(project_dir, "generate", "servers", "--check").exit_code == 0


def test_gate_fails_on_a_stale_block_naming_file_and_line(project_dir: Path) -> None:
    path = project_dir / OWNERS
    text = path.read_text()
    path.write_text(text.replace("    schema: raw\n", "    schema: stg\n"))
    line = text.splitlines().index("    schema: raw") + 1
    step = servers_step(Project.load(project_dir))
    assert not step.ok and step.exit_code == 1
    assert step.details[0].startswith(f"{OWNERS.as_posix()}:{line}:1: servers block is stale")
    assert [(a.path, a.line) for a in step.annotations] == [(OWNERS.as_posix(), line)]

    result = run_cli(project_dir, "check", "--format", "json")
    steps = {s["name"]: s for s in json.loads(result.stdout)["steps"]}
    assert result.exit_code == 1 and not steps["servers"]["ok"]
    assert steps["servers"]["annotations"][0]["path"] == OWNERS.as_posix()
    assert steps["servers"]["annotations"][0]["line"] == line


def test_a_missing_block_is_reported_then_appended(project_dir: Path) -> None:
    path = project_dir / ACCOUNTS
    shipped = path.read_bytes()
    bare = without_block(shipped.decode())
    path.write_text(bare)
    stale = stale_servers(Project.load(project_dir), ["core.accounts"])
    assert [(s.path, s.reason, s.line) for s in stale] == [(ACCOUNTS, "missing", len(bare.splitlines()))]
    assert "no servers block" in str(stale[0])
    assert [s.path for s in write_servers(Project.load(project_dir))] == [ACCOUNTS]
    assert path.read_bytes() == shipped


def test_generate_servers_select_and_json(project_dir: Path) -> None:
    for rel in (ACCOUNTS, OWNERS):
        (project_dir / rel).write_text(without_block((project_dir / rel).read_text()))
    result = run_cli(project_dir, "generate", "servers", "--check", "--json", "--select", "layer:core")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["checked"] == sum(name.startswith("core.") for name in Project.load(project_dir).contracts)
    assert [(s["path"], s["reason"]) for s in report["stale"]] == [(ACCOUNTS.as_posix(), "missing")]
    result = run_cli(project_dir, "generate", "servers")
    assert result.exit_code == 0
    assert "wrote contracts/raw/hubspot__owners.odcs.yaml (added servers block)" in result.stdout
    assert stale_servers(Project.load(project_dir)) == []


# --- the textual edit ------------------------------------------------------------------------------
SERVERS = [{"server": "local", "type": "duckdb", "database": ".kcrm/warehouse.duckdb", "schema": "core"}]


@pytest.mark.parametrize("existing", [
    "servers:\n- server: old\n  type: duckdb\n  database: x.duckdb\n",  # an indentless sequence
    "servers: [{server: old, type: duckdb, database: x.duckdb}]\n",  # flow style
    "servers:\n  - server: old\n\n    type: duckdb\n    database: x.duckdb\n\n",  # blank lines inside and after
    COMMENT + "servers:\n  - server: old\n",  # an earlier generated block, with its comment
])
def test_an_existing_block_is_replaced_in_place(existing: str) -> None:
    head = "apiVersion: v3.2.0\nkind: DataContract\n"
    tail = "# a comment of the next key\ncustomProperties:\n  - {property: layer, value: core}\n"
    text = with_servers(head + existing + tail, SERVERS)
    assert text.startswith(head + render_servers(SERVERS))
    assert text.endswith(tail if not existing.endswith("\n\n") else "\n" + tail)
    assert yaml.safe_load(text)["servers"] == SERVERS


def test_appending_keeps_the_files_bytes_and_line_breaks() -> None:
    crlf = "apiVersion: v3.2.0\r\nkind: DataContract\r\nname: 'x'"  # no final line break
    text = with_servers(crlf, SERVERS)
    assert text.startswith(crlf + "\r\n" + COMMENT.replace("\n", "\r\n"))
    assert "\n" not in text.replace("\r\n", "")
    assert with_servers(text, SERVERS) == text
    assert yaml.safe_load(text)["servers"] == SERVERS


def test_values_that_yaml_would_read_otherwise_are_quoted() -> None:
    block = render_servers([{"server": "local", "type": "duckdb", "database": "/data/my warehouse: 1.duckdb",
                             "schema": "on"}, {"server": "prod", "type": "bigquery", "project": "123",
                                               "dataset": "kcrm_core"}])
    assert yaml.safe_load(block)["servers"][0] == {"server": "local", "type": "duckdb",
                                                   "database": "/data/my warehouse: 1.duckdb", "schema": "on"}
    assert yaml.safe_load(block)["servers"][1]["project"] == "123"
    assert "dataset: kcrm_core\n" in block
