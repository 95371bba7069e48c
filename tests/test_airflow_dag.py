"""The generated Cloud Composer / Airflow DAG file: its tasks and their order are the kcrm-gov DAG.

The first test runs the file against a tiny stand-in of the Airflow classes it uses (recording
tasks and ``>>`` edges); the second, marked ``airflow``, imports it with Airflow's own DagBag in a
side virtualenv (``bash .ci/airflow.sh install VENV``; set ``KCRM_GOV_AIRFLOW_PYTHON`` to its
python). Airflow is never a dependency of kcrm-gov.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import REPO

from kcrm_gov.cli import cli
from kcrm_gov.dag import build_dag
from kcrm_gov.project import Project


@pytest.fixture(scope="module")
def dag_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Project]:
    root = tmp_path_factory.mktemp("airflow") / "kcrm"
    root.mkdir()
    for rel in ("kcrm_gov.yml", "catalog", "contracts/raw", "contracts/stg", "models/stg"):
        src = REPO / rel
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, root / rel)
    out = root / "dags" / "kcrm_gov_dag.py"
    result = CliRunner().invoke(cli, ["--project-dir", str(root), "generate", "airflow-dag", "--out", str(out)],
                                obj={}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out, Project.load(root)


def expected(project: Project) -> tuple[list[str], set[tuple[str, str]]]:
    dag = build_dag(project)
    order = [t for t in dag.order() if t in project.models]
    edges = {(u, t) for t in order for u in dag.upstream[t] if u in project.models}
    return order, edges


def test_generated_file_does_not_import_kcrm_gov(dag_file: tuple[Path, Project]) -> None:
    tree = ast.parse(dag_file[0].read_text())
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | \
        {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not any(m and m.startswith("kcrm_gov") for m in modules)
    assert {"airflow", "airflow.operators.bash", "pendulum"} <= modules


def _stub_airflow(monkeypatch: pytest.MonkeyPatch) -> dict[str, list]:
    """Minimal ``airflow`` and ``pendulum`` stand-ins that record DAGs, tasks and edges."""
    record: dict[str, list] = {"dags": [], "tasks": [], "edges": []}
    current: list = []

    class DAG:
        def __init__(self, dag_id: str, **kwargs: object) -> None:
            self.dag_id, self.kwargs, self.tasks = dag_id, kwargs, []
            record["dags"].append(self)

        def __enter__(self) -> DAG:
            current.append(self)
            return self

        def __exit__(self, *exc: object) -> None:
            current.pop()

    class BashOperator:
        def __init__(self, task_id: str, bash_command: str, **kwargs: object) -> None:
            self.task_id, self.bash_command, self.dag = task_id, bash_command, current[-1]
            self.dag.tasks.append(self)
            record["tasks"].append(self)

        def __rshift__(self, other: BashOperator) -> BashOperator:
            record["edges"].append((self.task_id, other.task_id))
            return other

    airflow = types.ModuleType("airflow")
    airflow.DAG = DAG
    operators = types.ModuleType("airflow.operators")
    bash = types.ModuleType("airflow.operators.bash")
    bash.BashOperator = BashOperator
    pendulum = types.ModuleType("pendulum")
    pendulum.datetime = lambda *a, **k: ("datetime", a, k)
    for name, module in {"airflow": airflow, "airflow.operators": operators, "airflow.operators.bash": bash,
                         "pendulum": pendulum}.items():
        monkeypatch.setitem(sys.modules, name, module)
    return record


def test_tasks_and_order_equal_the_kcrm_gov_dag(dag_file: tuple[Path, Project],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path, project = dag_file
    record = _stub_airflow(monkeypatch)
    exec(compile(path.read_text(), str(path), "exec"), {"__name__": "kcrm_gov_dag"})
    build, freshness = record["dags"]
    order, edges = expected(project)
    assert build.dag_id == "kcrm_gov_build" and [t.task_id for t in build.tasks] == order
    assert set(record["edges"]) == edges and len(record["edges"]) == len(edges)
    assert len(order) == len(project.layer("stg")) and all(t.startswith("stg.") for t in order)
    task = build.tasks[0]
    assert task.bash_command.endswith(f"build --select {task.task_id} --target prod --no-seed")
    assert "--project-dir" in task.bash_command
    assert freshness.dag_id == "kcrm_gov_freshness" and [t.task_id for t in freshness.tasks] == ["freshness"]
    assert "freshness --target prod" in freshness.tasks[0].bash_command
    assert freshness.kwargs["schedule"] == "0 * * * *" and build.kwargs["schedule"] == "0 5 * * *"
    assert build.kwargs["catchup"] is False


def test_the_order_respects_a_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Models reading models: every edge of the DAG is wired, upstream before downstream."""
    import miniproject

    root = miniproject.make(tmp_path / "mini")
    out = tmp_path / "dag.py"
    result = CliRunner().invoke(cli, ["--project-dir", str(root), "generate", "airflow-dag", "--out", str(out),
                                      "--target", "local"], obj={}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    record = _stub_airflow(monkeypatch)
    exec(compile(out.read_text(), str(out), "exec"), {"__name__": "dag"})
    assert [t.task_id for t in record["dags"][0].tasks] == ["stg.src__items", "core.items"]
    assert record["edges"] == [("stg.src__items", "core.items")]


def test_unknown_target_is_a_clear_error(dag_file: tuple[Path, Project]) -> None:
    root = dag_file[1].root
    result = CliRunner().invoke(cli, ["--project-dir", str(root), "generate", "airflow-dag", "--target", "nope"],
                                obj={})
    assert result.exit_code == 2 and "nope" in result.output


AIRFLOW_PYTHON = os.environ.get("KCRM_GOV_AIRFLOW_PYTHON")

DAGBAG_SCRIPT = """
import json, sys
from airflow.models import DagBag
bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
print(json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "dags": {d.dag_id: {"tasks": [t.task_id for t in d.topological_sort()],
                        "edges": sorted([u, t.task_id] for t in d.tasks for u in t.upstream_task_ids),
                        "schedule": str(d.schedule_interval)}
             for d in bag.dags.values()},
}))
"""


@pytest.mark.airflow
@pytest.mark.skipif(not AIRFLOW_PYTHON, reason="KCRM_GOV_AIRFLOW_PYTHON is not set (bash .ci/airflow.sh install VENV)")
def test_airflow_dagbag_imports_the_file(dag_file: tuple[Path, Project], tmp_path: Path) -> None:
    path, project = dag_file
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow-home"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__UNIT_TEST_MODE": "True", "PYTHONPATH": ""}
    proc = subprocess.run([str(AIRFLOW_PYTHON), "-c", DAGBAG_SCRIPT, str(path)], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    assert data["errors"] == {}
    order, edges = expected(project)
    build = data["dags"]["kcrm_gov_build"]
    assert set(build["tasks"]) == set(order)
    assert {tuple(e) for e in build["edges"]} == edges
    position = {t: i for i, t in enumerate(build["tasks"])}
    assert all(position[u] < position[t] for u, t in edges)
    assert data["dags"]["kcrm_gov_freshness"]["tasks"] == ["freshness"]
