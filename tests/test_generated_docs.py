"""The README's CLI examples and the docs' tables are written by the program; `check` fails when
they drift. Before, the README's CLI tour was pasted by hand and the contract → check table existed
three times and had drifted (it still said `invalid_count` with `valid values` for allowed values).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import REPO, copy_project, with_warm_state

from kcrm_gov.checks.sodacl import CHECK_TABLE
from kcrm_gov.cli import cli
from kcrm_gov.commands.docs_sections import SECTIONS, stale_docs
from kcrm_gov.project import Project


def invoke(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--project-dir", str(root), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


@pytest.fixture
def project_dir(tmp_path: Path, warm_state: Path) -> Path:
    root = with_warm_state(copy_project(tmp_path / "project"), warm_state)
    (root / "README.md").write_text((REPO / "README.md").read_text())
    return root


def test_the_shipped_sections_are_current() -> None:
    assert not stale_docs(Project.load(REPO)), "run `kcrm-gov generate docs`"


def test_every_section_is_placed_once() -> None:
    for section in SECTIONS:
        text = (REPO / section.file).read_text()
        assert text.count(f"<!-- kcrm-gov:generated {section.name} -->") == 1, section.name
        assert text.count(f"<!-- kcrm-gov:end {section.name} -->") == 1, section.name


def test_the_check_table_is_the_generators_own() -> None:
    text = (REPO / "docs" / "governance" / "checks.md").read_text()
    for element, _ in CHECK_TABLE:
        assert element.replace("|", "\\|") in text
    assert "`invalid_count(col) = 0` with `valid values`" not in text  # the drifted row is gone


def test_a_hand_edited_section_fails_check_and_generate_docs_restores_it(project_dir: Path) -> None:
    readme = project_dir / "README.md"
    original = readme.read_text()
    clean = next(line for line in original.splitlines() if line.endswith("0 findings: all clean"))
    readme.write_text(original.replace(clean, clean + " (pasted long ago)", 1))
    code, output = invoke(project_dir, "check", "--json")
    assert code == 1
    docs = next(s for s in json.loads(output)["steps"] if s["name"] == "docs")
    assert not docs["ok"] and docs["annotations"][0]["path"] == "README.md"
    assert "cli-lint" in docs["details"][0]
    code, output = invoke(project_dir, "generate", "docs")
    assert code == 0 and "wrote README.md (cli-lint)" in output
    assert readme.read_text() == original


def test_a_marker_naming_no_section_is_an_error(project_dir: Path) -> None:
    readme = project_dir / "README.md"
    readme.write_text(readme.read_text() + "\n<!-- kcrm-gov:generated no-such -->\nx\n<!-- kcrm-gov:end no-such -->\n")
    code, output = invoke(project_dir, "generate", "docs", "--check")
    assert code == 2 and "unknown generated section 'no-such'" in output


def test_the_rules_table_lists_every_registered_rule() -> None:
    from kcrm_gov.lint.rules import PROJECT_RULES, RULES

    text = (REPO / "docs" / "governance" / "rules.md").read_text()
    ids = re.findall(r"^\| (KG\d+|ODCS001) \|", text, re.M)
    assert sorted(ids) == sorted({"KG000", "ODCS001", *(r.id for r in RULES), *(r.id for r in PROJECT_RULES)})
    assert len(ids) == len(set(ids))  # once each (the hand-kept table listed ten rules twice)


def test_gate_annotations_come_from_locations_not_message_text(project_dir: Path) -> None:
    from kcrm_gov.gate import GateResult, compile_step
    from kcrm_gov.gate.formats import to_github

    model = project_dir / "models" / "stg" / "hubspot__owners.sql"
    model.write_text("SELECT *\nFROM raw.hubspot__owners\nCROSS JOIN read_csv('/etc/passwd')\n")
    step = compile_step(Project.load(project_dir))
    assert not step.ok and len(step.annotations) == 1
    annotation = step.annotations[0]
    assert (annotation.path, annotation.line, annotation.column) == ("models/stg/hubspot__owners.sql", 3, 12)
    github = to_github(GateResult(steps=[step]))
    assert "::error file=models/stg/hubspot__owners.sql,line=3,col=12,title=kcrm-gov compile" in github
