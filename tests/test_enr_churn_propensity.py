"""enr.churn_propensity: the churn propensity model trained by ``kcrm-gov train`` and scored in SQL (issue 15).

On the seeded scale-1 world: training on the built warehouse reproduces the committed coefficients
(the model in the repo is what the pipeline gives, deterministically); the SQL score of every
account-month equals the logistic of the coefficients worked out in Python; the held-out AUC,
recomputed from the SQL scores, is at least 0.75. A hand-written model (one input, coefficient
ln 3) gives the probabilities 1/2 and 3/4 worked out by hand. Bad input fails clearly.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import SEED_NOW, copy_project, copy_warehouse, run_cli
from conftest import query_rows as rows

from kcrm_gov.cli import cli
from kcrm_gov.project import Project
from kcrm_gov.propensity import train

MODEL = "enr.churn_propensity"
COEFFICIENTS = Path("models/enr/churn_propensity_coefficients.csv")


def committed_terms(root: Path) -> dict[str, tuple[float, float | None, float | None]]:
    text = (root / COEFFICIENTS).read_text()
    return {r["term"]: (float(r["coefficient"]), float(r["feature_mean"]) if r["feature_mean"] else None,
                        float(r["feature_scale"]) if r["feature_scale"] else None)
            for r in csv.DictReader(io.StringIO(text))}


def test_training_on_the_seeded_world_reproduces_the_committed_model(seeded_warehouse: Path) -> None:
    result = train(Project.load(seeded_warehouse), MODEL, write=False)
    committed = committed_terms(seeded_warehouse)
    assert [t.term for t in result.terms] == list(committed)
    for t in result.terms:
        coefficient, mean, scale = committed[t.term]
        assert t.coefficient == pytest.approx(coefficient, rel=1e-6, abs=1e-9), t.term
        if t.term != "intercept":
            assert (t.feature_mean, t.feature_scale) == pytest.approx((mean, scale), rel=1e-12), t.term
    assert result.metric("test", "auc") >= 0.75  # the goal, on the held-out months
    assert str(result.tested_from) > str(result.trained_through)


def test_sql_scores_are_the_models_probabilities_and_rank_churners_first(seeded_warehouse: Path) -> None:
    project = Project.load(seeded_warehouse)
    spec = project.contracts[MODEL].propensity_model
    assert spec is not None
    terms = committed_terms(seeded_warehouse)
    columns = ", ".join(f"f.{c}" for c in spec.inputs)
    data = rows(seeded_warehouse, f"""
        SELECT p.churn_propensity, p.churned_within_90d, p.label_complete, p.month_end,
               (SELECT MIN(held_out_from) FROM enr.churn_propensity_coefficients), {columns}
        FROM enr.churn_propensity AS p
        JOIN enr.account_features_monthly AS f USING (account_key, month_end)""")
    assert len(data) > 10_000
    x = np.array([[np.nan if v is None else float(v) for v in r[5:]] for r in data])
    z = np.nan_to_num((x - np.array([terms[c][1] for c in spec.inputs]))
                      / np.array([terms[c][2] for c in spec.inputs]), nan=0.0)
    expected = 1 / (1 + np.exp(-(terms["intercept"][0] + z @ np.array([terms[c][0] for c in spec.inputs]))))
    assert np.abs(np.array([r[0] for r in data]) - expected).max() < 1e-12

    from sklearn.metrics import roc_auc_score

    held_out = [(r[1], r[0]) for r in data if r[2] and r[3] >= r[4]]
    auc = roc_auc_score([y for y, _ in held_out], [p for _, p in held_out])
    assert auc >= 0.75


def test_a_hand_written_model_gives_hand_computed_probabilities(seeded_warehouse: Path, tmp_path: Path) -> None:
    root = copy_warehouse(seeded_warehouse, tmp_path / "project")
    spec = Project.load(root).contracts[MODEL].propensity_model
    assert spec is not None
    # every input weighs 0 but negative notes: ln 3 per note (mean 0, scale 1); intercept 0.
    # 0 notes: logistic(0) = 1/2; 1 note: logistic(ln 3) = 3/4; 2 notes: logistic(ln 9) = 9/10.
    lines = ["term,coefficient,feature_mean,feature_scale,trained_from,trained_through,held_out_from,held_out_through"]
    dates = "2022-01-31,2022-09-30,2022-10-31,2023-09-30"
    lines.append(f"intercept,0,,,{dates}")
    for name in spec.inputs:
        weight = repr(math.log(3)) if name == "negative_notes_60d" else "0"
        lines.append(f"{name},{weight},0,1,{dates}")
    (root / COEFFICIENTS).write_text("\n".join(lines) + "\n")
    run_cli(root, "build", "--select", "enr.churn_propensity_coefficients+")
    got = rows(root, """
        SELECT f.negative_notes_60d, MIN(p.churn_propensity), MAX(p.churn_propensity), COUNT(*)
        FROM enr.churn_propensity AS p JOIN enr.account_features_monthly AS f USING (account_key, month_end)
        GROUP BY 1 ORDER BY 1""")
    expected = {0: 1 / 2, 1: 3 / 4, 2: 9 / 10}
    for notes, low, high, _ in got:
        if notes in expected:
            assert (low, high) == pytest.approx((expected[notes], expected[notes]), abs=1e-12)
    assert {n for n, *_ in got} >= {0, 1}
    [(drivers,)] = rows(root, """
        SELECT DISTINCT ARRAY_TO_STRING(p.top_drivers, ',') FROM enr.churn_propensity AS p
        JOIN enr.account_features_monthly AS f USING (account_key, month_end) WHERE f.negative_notes_60d = 1""")
    assert drivers == "negative_notes_60d"  # the one input that raises the risk
    run_cli(root, "test", "--select", "enr.churn_propensity enr.churn_propensity_coefficients")


def test_train_reports_json_and_writes_nothing_on_a_dry_run(seeded_warehouse: Path, tmp_path: Path) -> None:
    root = copy_warehouse(seeded_warehouse, tmp_path / "project")
    before = (root / COEFFICIENTS).read_text()
    result = CliRunner().invoke(cli, ["--project-dir", str(root), "train", "--dry-run", "--json"],
                                env={"KCRM_GOV_NOW": SEED_NOW})
    assert result.exit_code == 0, result.output
    import json

    [fit] = json.loads(result.output)
    assert fit["model"] == MODEL and fit["written"] == []
    assert {m["metric"] for m in fit["metrics"]} >= {"auc", "top_decile_lift", "calibration_observed"}
    assert (root / COEFFICIENTS).read_text() == before


def test_training_without_a_built_features_table_fails_clearly(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "project")
    result = CliRunner().invoke(cli, ["--project-dir", str(root), "train", MODEL], env={"KCRM_GOV_NOW": SEED_NOW})
    assert result.exit_code == 2
    assert "Traceback" not in result.output and "error:" in result.output


def test_a_malformed_propensity_model_is_refused_at_its_line(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "project")
    path = root / "contracts/enr/churn_propensity.odcs.yaml"
    text = path.read_text()
    path.write_text(text.replace("        - negative_notes_60d\n", "        - negative_notes_6od\n"))
    result = CliRunner().invoke(cli, ["--project-dir", str(root), "lint"])
    assert result.exit_code == 1
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if "value:" in t
                and "propensityModel" in path.read_text().splitlines()[i - 2])
    assert f"contracts/enr/churn_propensity.odcs.yaml:{line}:" in result.output
    assert "KG019" in result.output and "has no column 'negative_notes_6od'" in result.output


def test_the_model_card_shows_inputs_held_out_figures_calibration_and_limits() -> None:
    from conftest import REPO

    from kcrm_gov.catalog.pages import collect, render_site
    from kcrm_gov.catalog.templates import code

    project = Project.load(REPO)
    pages = render_site(collect(project, git_history=False, column_lineage=False))
    card = pages["models/enr/churn_propensity.md"]
    metrics = {(r["split"], r["metric"], r["bucket"]): float(r["value"]) for r in csv.DictReader(
        io.StringIO((REPO / "models/enr/churn_propensity_metrics.csv").read_text()))}
    assert f"{metrics[('test', 'auc', '0')]:.3f}" in card  # the held-out AUC the trainer measured
    assert f"{metrics[('test', 'top_decile_lift', '0')]:.2f}×" in card
    assert "Calibration on the held-out months" in card and "Limits" in card
    spec = project.contracts[MODEL].propensity_model
    assert spec is not None and all(code(name) in card for name in spec.inputs)
    assert "in-sample" in card  # the scoring contract's limitations
    assert 'href="enr/churn&#95;propensity/"' in pages["models/index.md"]  # the link to the card
