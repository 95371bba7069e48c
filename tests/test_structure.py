"""The package's shape: data flows one way, no module imports from a layer above it, no circular import.

Before, command modules imported private helpers back from `cli.py`, so
`python -c "import kcrm_gov.commands.quality"` failed with a circular import.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "kcrm_gov"

# the layers, bottom up: a module may import its own layer and those below, never one above
LAYERS: list[tuple[str, set[str]]] = [
    ("foundation", {"errors", "sqlerrors", "yamlsource", "identifiers", "escape", "redact", "typemap", "cache",
                    "__init__"}),
    ("project", {"config", "contracts", "models", "reference", "project", "dag", "policy_tags", "propensity_spec",
                 "metrics", "retl", "incremental"}),
    ("library", {"bi", "ddl", "engines", "sql", "checks", "lint", "lineage", "catalog", "governance", "seed", "load",
                 "build", "compile", "enforce", "artifacts", "workflows", "gate", "clock", "resources", "sync",
                 "propensity"}),
    ("cli", {"commands", "cli"}),
]
RANK = {name: i for i, (_, names) in enumerate(LAYERS) for name in names}


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "resources" not in p.parts)


def top_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def imported(path: Path, root: Path = PACKAGE) -> list[tuple[str, int]]:
    """Every kcrm_gov module ``path`` imports (at module level or inside functions), by its top name."""
    tree = ast.parse(path.read_text())
    package = path.relative_to(root.parent).parts[:-1]  # ("kcrm_gov", sub-package...)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - node.level + 1])
                target = [*base, *(node.module.split(".") if node.module else [])]
            else:
                target = (node.module or "").split(".")
            if target[0] != "kcrm_gov":
                continue
            names = target[1:] or [alias.name for alias in node.names]
            for name in names[:1] if target[1:] else names:
                out.append((name, node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "kcrm_gov" and len(parts) > 1:
                    out.append((parts[1], node.lineno))
    return out


def test_every_module_belongs_to_a_layer() -> None:
    unknown = sorted({top_name(p) for p in modules()} - set(RANK))
    assert not unknown, f"add these to a layer in tests/test_structure.py: {unknown}"


def test_no_module_imports_from_a_layer_above_it() -> None:
    upward = []
    for path in modules():
        own = RANK[top_name(path)]
        for name, line in imported(path):
            if name in RANK and RANK[name] > own:
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {name} "
                              f"({LAYERS[RANK[name]][0]} layer, above {LAYERS[own][0]})")
    assert not upward, "\n".join(upward)


def test_the_layering_test_would_see_an_upward_import(tmp_path: Path) -> None:
    root = tmp_path / "kcrm_gov"
    (root / "lint").mkdir(parents=True)
    (root / "contracts.py").write_text("def f():\n    from .commands.options import fail\n")
    (root / "lint" / "rules.py").write_text("from ..cli import cli\nfrom kcrm_gov.checks import sodacl\n")
    assert [name for name, _ in imported(root / "contracts.py", root)] == ["commands"]
    assert [name for name, _ in imported(root / "lint" / "rules.py", root)] == ["cli", "checks"]


COMMAND_MODULES = sorted(f"kcrm_gov.commands.{p.stem}" for p in (PACKAGE / "commands").glob("*.py")
                         if p.stem != "__init__")


@pytest.mark.parametrize("module", [*COMMAND_MODULES, "kcrm_gov.gate", "kcrm_gov.gate.formats", "kcrm_gov.cli",
                                    "kcrm_gov.catalog.plugin", "kcrm_gov.lint", "kcrm_gov.governance.diff"])
def test_each_module_imports_first_in_a_fresh_interpreter(module: str) -> None:
    result = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
