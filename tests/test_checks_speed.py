"""What makes ``kcrm-gov test`` fast must not change what it checks.

* The libyaml-based SodaCL loading (``kcrm_gov.checks.soda_parser``) gives Soda's parser the
  same configuration as Soda's own ruamel loading, for every shipped check file, positions
  included; a YAML error still names the file and line.
* The cache of generated checks and of parsed SodaCL (``.kcrm/cache/``) is keyed by what they
  derive from: a changed contract regenerates, a damaged entry is rebuilt, a read-only state
  folder only loses the saving (a warm scan giving a cold one's results is in test_checks).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import copy_project

from kcrm_gov import cache
from kcrm_gov.checks import generate_all
from kcrm_gov.checks.scan import data_source_name, soda_offline
from kcrm_gov.checks.soda_parser import add_sodacl, load_positioned
from kcrm_gov.checks.sodacl import check_path
from kcrm_gov.errors import ContractError
from kcrm_gov.project import Project


@pytest.fixture(autouse=True)
def _no_memory() -> None:
    """Each test starts as a new process would: nothing cached in memory."""
    cache.forget_in_memory()


def _plain(value: Any, depth: int = 0) -> Any:
    """A Soda configuration object as plain data (parse trees by class name only)."""
    from soda.sodacl.location import Location

    if depth > 12:
        return "..."
    if isinstance(value, Location):
        return ("location", value.file_path, value.line, value.col)
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, str):
        return ("str", str(value))
    if value is None or isinstance(value, (bool, int, float)):
        return (type(value).__name__, value)
    if type(value).__module__.startswith(("antlr4", "soda.sodacl.antlr")):
        return type(value).__name__
    if hasattr(value, "__dict__"):
        return {"class": type(value).__name__,
                **{k: _plain(v, depth + 1) for k, v in vars(value).items() if k not in ("scan", "logs")}}
    return repr(value)


def _parsed(project: Project, layer: str, add: Any) -> tuple[Any, list[str]]:
    from soda.scan import Scan

    scan = Scan()
    scan.set_data_source_name(data_source_name(layer))
    for tc in generate_all(project, "duckdb"):
        if tc.contract.layer == layer:
            add(scan, tc.text, check_path(tc.contract).as_posix())
    problems = [f"{log.level}: {log.message}" for log in scan._logs.logs if str(log.level.name) in ("ERROR", "WARNING")]
    return _plain(scan._sodacl_cfg.data_source_scan_cfgs), problems


def test_fast_loading_gives_soda_the_configuration_its_own_loading_gives(tmp_path: Path) -> None:
    project = Project.load(copy_project(tmp_path))
    soda_offline(project.state_dir)

    def soda_own(scan: Any, text: str, path: str) -> None:
        # Scan.add_sodacl_yaml_str appends ".yml" to the name; call its parser with the same path
        scan._parse_sodacl_yaml_str(text, file_path=path)

    for layer in ("raw", "stg", "core"):
        ours, our_problems = _parsed(project, layer, add_sodacl)
        theirs, their_problems = _parsed(project, layer, soda_own)
        assert our_problems == their_problems == []
        assert ours == theirs, layer
        assert '"line"' not in repr(ours)  # the comparison saw the locations themselves
        assert "('location', 'checks/" in repr(ours)


def test_fast_loading_keeps_positions_and_reports_yaml_errors_with_the_line() -> None:
    from soda.scan import Scan

    data = load_positioned("checks for t:\n  - row_count > 0\n  - missing_count(id) = 0:\n      name: ids\n")
    assert data.lc.data["checks for t"][:2] == [0, 0]
    assert data["checks for t"].lc.data[1] == [2, 4]
    assert data["checks for t"][1]["missing_count(id) = 0"] == {"name": "ids"}

    scan = Scan()
    scan.set_data_source_name("kcrm_raw")
    add_sodacl(scan, "checks for t:\n  - row_count > 0\n  - [unclosed\n", "checks/raw/t.yml")
    errors = [log for log in scan._logs.logs if log.level.name == "ERROR"]
    assert errors and errors[0].message == "YAML syntax error"
    # where the unclosed sequence starts, as Soda reports it (its context mark)
    assert errors[0].location.file_path == "checks/raw/t.yml" and errors[0].location.line == 3


def test_a_changed_contract_is_generated_again(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    before = {tc.qualified_name: tc.text for tc in generate_all(Project.load(root), "duckdb")}
    assert list((root / ".kcrm" / "cache" / "checks").glob("*.pickle"))
    path = root / "contracts" / "core" / "accounts.odcs.yaml"
    text = path.read_text()
    version = next(line for line in text.splitlines() if line.startswith("version: "))
    path.write_text(text.replace(version, "version: 9.9.9", 1))
    after = {tc.qualified_name: tc.text for tc in generate_all(Project.load(root), "duckdb")}
    assert "version 9.9.9" in after["core.accounts"] and "version 9.9.9" not in before["core.accounts"]
    assert {k: v for k, v in after.items() if k != "core.accounts"} == \
        {k: v for k, v in before.items() if k != "core.accounts"}


def test_a_damaged_or_unwritable_cache_only_costs_time(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    expected = {tc.qualified_name: tc.text for tc in generate_all(Project.load(root), "duckdb")}
    cache.forget_in_memory()
    for entry in (root / ".kcrm" / "cache" / "checks").glob("*.pickle"):
        entry.write_bytes(b"not a pickle")
    assert {tc.qualified_name: tc.text for tc in generate_all(Project.load(root), "duckdb")} == expected

    cache.forget_in_memory()
    shutil.rmtree(root / ".kcrm" / "cache")
    (root / ".kcrm" / "cache").write_text("a file where the folder should be")
    assert {tc.qualified_name: tc.text for tc in generate_all(Project.load(root), "duckdb")} == expected


def test_a_library_upgrade_changes_every_key(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    before = cache.code_fingerprint.__wrapped__()
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version",
                        lambda name: "99.0" if name == "sqlglot" else real(name))
    assert cache.code_fingerprint.__wrapped__() != before
    monkeypatch.undo()
    assert cache.code_fingerprint.__wrapped__() == before


def test_a_cache_kind_keeps_its_newest_entries(tmp_path: Path) -> None:
    """Past ``keep`` entries a store removes the oldest (by time written), down to nine tenths of
    ``keep``; below it nothing is removed; what stays is still read back."""
    for i in range(10):
        cache.store(tmp_path, "kind", f"k{i}", i, keep=10)
        os.utime(tmp_path / "cache" / "kind" / f"k{i}.pickle", ns=(10**18 + i, 10**18 + i))
    assert len(list((tmp_path / "cache" / "kind").glob("*.pickle"))) == 10
    cache.store(tmp_path, "kind", "k10", 10, keep=10)  # the eleventh, written now: the newest
    left = sorted(p.stem for p in (tmp_path / "cache" / "kind").glob("*.pickle"))
    assert left == sorted(["k10", *(f"k{i}" for i in range(2, 10))]), left  # k0 and k1 went
    cache.forget_in_memory()
    assert cache.load(tmp_path, "kind", "k0") is None and cache.load(tmp_path, "kind", "k9") == 9


def test_parsed_contracts_are_kept_and_an_edited_or_broken_one_is_read_again(tmp_path: Path) -> None:
    """Every command loads the project: a contract that parsed is kept in .kcrm/cache/contracts (keyed by
    its text) and read back by the next process; an edited contract is parsed again, and one that does
    not parse is never kept, so its error (file and line) comes back on every load."""
    root = copy_project(tmp_path)
    cache.forget_in_memory()  # as a new process: nothing parsed yet
    first = Project.load(root)
    kept = root / ".kcrm" / "cache" / "contracts"
    assert len(list(kept.glob("*.pickle"))) == len(first.contracts)
    cache.forget_in_memory()  # as a new process
    again = Project.load(root)
    assert again.contracts["core.accounts"].model == first.contracts["core.accounts"].model
    assert again.contracts["core.accounts"].file == root / "contracts" / "core" / "accounts.odcs.yaml"

    path = root / "contracts" / "core" / "accounts.odcs.yaml"
    text = path.read_text()
    version = next(line for line in text.splitlines() if line.startswith("version: "))
    path.write_text(text.replace(version, "version: 9.9.9", 1))
    cache.forget_in_memory()
    assert Project.load(root).contracts["core.accounts"].version == "9.9.9"

    path.write_text(text.replace(version, "version: [9.9.9", 1))
    for _ in range(2):
        cache.forget_in_memory()
        with pytest.raises(ContractError) as caught:
            Project.load(root)
        where = caught.value.location  # YAML finds the unclosed "[" where it expected its "]": the next line
        assert where is not None and (str(where.path), where.line) == ("contracts/core/accounts.odcs.yaml",
                                                                       text.splitlines().index(version) + 2)
    assert len(list(kept.glob("*.pickle"))) == len(first.contracts) + 1  # the first text and the edit


def test_a_process_reads_a_contract_once_and_each_load_gets_its_own(tmp_path: Path) -> None:
    """A process that loads projects again and again (tests, one command calling another) unpickles a
    contract version once: later loads share its parsed parts (YAML, ODCS model, columns), each load
    with its own Contract, whose file and cached facts are its own. An edited contract is a new
    version, read afresh, in that project only."""
    one, two = copy_project(tmp_path / "one"), copy_project(tmp_path / "two")
    cache.forget_in_memory()
    first = Project.load(one).contracts["core.accounts"]
    shutil.rmtree(one / ".kcrm" / "cache" / "contracts")  # from here on, only the process has it
    second = Project.load(two).contracts["core.accounts"]
    assert second is not first and second.model is first.model and second.columns is first.columns
    assert (first.file, second.file) == (one / "contracts" / "core" / "accounts.odcs.yaml",
                                         two / "contracts" / "core" / "accounts.odcs.yaml")
    first.__dict__["checks_read"] = ("raw.not_read",)  # what the DAG sets on the contract it holds
    assert second.checks_read != ("raw.not_read",) and "checks_read" not in Project.load(one).contracts[
        "core.accounts"].__dict__

    path = two / "contracts" / "core" / "accounts.odcs.yaml"
    path.write_text(path.read_text().replace(f"version: {first.version}", "version: 9.9.9", 1))
    assert Project.load(two).contracts["core.accounts"].version == "9.9.9"
    assert Project.load(one).contracts["core.accounts"].version == first.version != "9.9.9"
