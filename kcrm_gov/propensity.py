"""Propensity models: a logistic regression trained in Python, scored in plain SQL.

A scoring table's contract declares the model in its ``propensityModel`` custom property: the
point-in-time features table it reads, the key and time columns, the label (and the column that
says whether the label's forward window is complete), the input columns, and the two reference
tables the training writes: the coefficients (one row per term, with the standardisation used)
and the metrics (AUC, decile lift, calibration on the training months and on the held-out months).

``kcrm-gov train`` fits the model on the rows whose label is complete, with a time split: the last
``heldOutMonths`` months are held out and never seen by the fit. The coefficients are written as
data (``models/<layer>/<table>.csv``) that a steward reviews in a pull request like any reference
table; the scoring model multiplies them out in SQL, so DuckDB and BigQuery give the same number
and the training never runs in a build.

Scoring contract: ``p = 1 / (1 + exp(-(b0 + Σ b_i × z_i)))`` with ``z_i = (x_i − mean_i) / scale_i``
and ``z_i = 0`` where ``x_i`` is null (the training imputes the training mean the same way).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import KcrmGovError
from .propensity_spec import INTERCEPT, SPEC_PROPERTY, PropensitySpec, check_spec

if TYPE_CHECKING:
    from .project import Project

DECILES = 10


class TrainingError(KcrmGovError):
    """The model cannot be trained on the data at hand (too few months, one class only...)."""

    exit_code = 1


# --- the fit ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Term:
    """One row of the coefficients table."""

    term: str
    coefficient: float
    feature_mean: float | None
    feature_scale: float | None


@dataclass(frozen=True)
class Metric:
    """One row of the metrics table: a figure of one split (``train`` or ``test``), per decile (1 = the
    highest predictions) for calibration, bucket 0 for the whole split."""

    split: str
    metric: str
    bucket: int
    value: float


@dataclass
class TrainingResult:
    """A fitted model, its evaluation and the files written."""

    model: str  # the scoring table
    spec: PropensitySpec
    trained_from: date
    trained_through: date
    tested_from: date
    tested_through: date
    terms: list[Term]
    metrics: list[Metric]
    written: list[Path] = field(default_factory=list)  # relative to the project root
    unchanged: list[Path] = field(default_factory=list)

    def metric(self, split: str, name: str) -> float:
        """The value of one scalar metric."""
        return next(m.value for m in self.metrics if m.split == split and m.metric == name and m.bucket == 0)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "model": self.model, "features": self.spec.features,
            "trained": [self.trained_from.isoformat(), self.trained_through.isoformat()],
            "held_out": [self.tested_from.isoformat(), self.tested_through.isoformat()],
            "coefficients": [t.__dict__ for t in self.terms],
            "metrics": [m.__dict__ for m in self.metrics],
            "written": [str(p) for p in self.written], "unchanged": [str(p) for p in self.unchanged],
        }


def _read_training_rows(project: Project, spec: PropensitySpec, target: str | None) -> Any:
    """The features table's rows whose label is known and complete, as a pyarrow table."""
    from sqlglot import exp

    from .engines import open_engine

    engine = open_engine(project, target, read_only=True)
    try:
        dialect = "bigquery" if engine.kind == "bigquery" else "duckdb"

        def col(name: str) -> str:
            return exp.column(name, quoted=True).sql(dialect=dialect)

        layer, table = spec.features.split(".", 1)
        columns = ", ".join(col(c) for c in (spec.time, spec.label, *spec.inputs))
        where = f"{col(spec.label)} IS NOT NULL"
        if spec.label_complete:
            where += f" AND {col(spec.label_complete)}"
        return engine.query_arrow(f"SELECT {columns} FROM {engine.relation(layer, table)} WHERE {where} "
                                  f"ORDER BY {col(spec.time)}, {col(spec.key)}")
    finally:
        engine.close()


def _as_date(value: Any) -> date:
    return value.date() if isinstance(value, datetime) else value


def train(project: Project, model: str, *, target: str | None = None, write: bool = True) -> TrainingResult:
    """Fit ``model``'s propensity model on its features table in ``target``'s warehouse; write the
    coefficients and metrics reference files unless ``write`` is false."""
    import numpy as np

    contract = project.contracts.get(model)
    if contract is None:
        raise KcrmGovError(f"no table {model!r} in the project")
    spec = contract.propensity_model
    if spec is None:
        raise KcrmGovError(f"{model} declares no {SPEC_PROPERTY} in its contract's customProperties",
                           contract.location())
    check_spec(project, model, spec)
    data = _read_training_rows(project, spec, target)
    if data.num_rows == 0:
        raise TrainingError(f"{spec.features} has no row with a complete label: build it first "
                            f"(kcrm-gov build --select +{spec.features})")
    times = np.array([_as_date(v) for v in data.column(spec.time).to_pylist()])
    periods = sorted(set(times))
    if len(periods) <= spec.held_out_months:
        raise TrainingError(f"{spec.features} has {len(periods)} {spec.time} values with a complete label: "
                            f"more than heldOutMonths ({spec.held_out_months}) are needed to train on the rest")
    first_test = periods[-spec.held_out_months]
    test = times >= first_test
    y = np.array([float(v) for v in data.column(spec.label).to_pylist()])
    x = np.column_stack([np.array([np.nan if v is None else float(v) for v in data.column(c).to_pylist()])
                         for c in spec.inputs])
    for split, rows in (("training", ~test), ("held-out", test)):
        if len(set(y[rows])) < 2:
            raise TrainingError(f"the {split} months of {spec.features} hold one label value only: "
                                "nothing to learn or to evaluate")
    terms, predict = _fit(x[~test], y[~test], spec.inputs, spec.inverse_regularization)
    metrics = [*_evaluate("train", y[~test], predict(x[~test])), *_evaluate("test", y[test], predict(x[test]))]
    metrics += _calibration("test", y[test], predict(x[test]))
    result = TrainingResult(model=model, spec=spec, trained_from=periods[0],
                            trained_through=periods[-spec.held_out_months - 1], tested_from=first_test,
                            tested_through=periods[-1], terms=terms, metrics=metrics)
    if write:
        _write(project, result)
    return result


def _fit(x: Any, y: Any, inputs: tuple[str, ...], c: float = 1.0) -> tuple[list[Term], Any]:
    """Standardise on the training rows (nulls become the mean), fit an L2-regularised logistic
    regression (``c`` is scikit-learn's C; ``math.inf`` fits plain maximum likelihood)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    mean = np.nanmean(x, axis=0)
    mean = np.where(np.isnan(mean), 0.0, mean)  # an input that is null on every training row
    scale = np.nanstd(x, axis=0)
    scale = np.where((scale > 0) & ~np.isnan(scale), scale, 1.0)  # a constant input: coefficient ~0, no blow-up

    def standardise(values: Any) -> Any:
        z = (values - mean) / scale
        return np.where(np.isnan(z), 0.0, z)

    # A little L2 shrinkage on standardised inputs: an input that (almost) separates the classes in
    # the training months (e.g. contraction never followed by churn) would otherwise get an
    # unbounded coefficient. The held-out months tell whether it generalises.
    fit = LogisticRegression(C=c, solver="lbfgs", max_iter=10_000, tol=1e-10)
    fit.fit(standardise(x), y)
    terms = [Term(INTERCEPT, float(fit.intercept_[0]), None, None)]
    terms += [Term(name, float(b), float(m), float(s)) for name, b, m, s in zip(inputs, fit.coef_[0], mean, scale,
                                                                                  strict=True)]

    def predict(values: Any) -> Any:
        return fit.predict_proba(standardise(values))[:, 1]

    return terms, predict


def _evaluate(split: str, y: Any, p: Any) -> list[Metric]:
    """Rows, base rate, AUC, top-decile rate and lift, Brier score."""
    import numpy as np
    from sklearn.metrics import brier_score_loss, roc_auc_score

    order = np.argsort(-p, kind="stable")
    top = order[: max(1, math.ceil(len(p) / DECILES))]
    base = float(y.mean())
    top_rate = float(y[top].mean())
    return [Metric(split, name, 0, value) for name, value in (
        ("rows", float(len(y))), ("positives", float(y.sum())), ("base_rate", base),
        ("auc", float(roc_auc_score(y, p))), ("top_decile_rate", top_rate),
        ("top_decile_lift", top_rate / base if base else float("nan")),
        ("brier_score", float(brier_score_loss(y, p))))]


def _calibration(split: str, y: Any, p: Any) -> list[Metric]:
    """Per decile of the predicted probability (1 = highest): rows, mean prediction, observed rate."""
    import numpy as np

    order = np.argsort(-p, kind="stable")
    out: list[Metric] = []
    for bucket, rows in enumerate(np.array_split(order, DECILES), start=1):
        if len(rows) == 0:
            continue
        out += [Metric(split, "calibration_rows", bucket, float(len(rows))),
                Metric(split, "calibration_predicted", bucket, float(p[rows].mean())),
                Metric(split, "calibration_observed", bucket, float(y[rows].mean()))]
    return out


# --- the reference files ------------------------------------------------------------------------
def _number(value: float | None) -> str:
    """A float as CSV text that reads back to the same double (repr is the shortest round trip)."""
    return "" if value is None else repr(float(value))


def coefficients_csv(result: TrainingResult) -> str:
    """The coefficients table's CSV text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["term", "coefficient", "feature_mean", "feature_scale", "trained_from", "trained_through",
                     "held_out_from", "held_out_through"])
    dates = [d.isoformat() for d in (result.trained_from, result.trained_through, result.tested_from,
                                     result.tested_through)]
    for t in result.terms:
        writer.writerow([t.term, _number(t.coefficient), _number(t.feature_mean), _number(t.feature_scale), *dates])
    return out.getvalue()


def metrics_csv(result: TrainingResult) -> str:
    """The metrics table's CSV text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["split", "metric", "bucket", "value"])
    for m in result.metrics:
        writer.writerow([m.split, m.metric, m.bucket, _number(m.value)])
    return out.getvalue()


def _write(project: Project, result: TrainingResult) -> None:
    from .reference import REFERENCE_SUFFIX

    for table, text in ((result.spec.coefficients, coefficients_csv(result)),
                        (result.spec.metrics, metrics_csv(result))):
        layer, name = table.split(".", 1)
        rel = Path("models") / layer / f"{name}{REFERENCE_SUFFIX}"
        path = project.root / rel
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            result.unchanged.append(rel)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        result.written.append(rel)
