"""Model cards: one catalog page per propensity model, from its contract and the reference tables
its training wrote (features, coefficients, AUC, lift, calibration, limits)."""

from __future__ import annotations

import csv
import io
import math

from ..contracts import Contract
from ..propensity_spec import INTERCEPT, PropensitySpec, propensity_models
from .pages import CatalogData, _table_link, column_anchor, data_urls, table_uri
from .templates import code, esc, html_table, inline

MODELS_INDEX = "models/index.md"


def model_card_uri(name: str) -> str:
    """The page of the model scored by table ``name`` (``layer.table``)."""
    return f"models/{name.replace('.', '/')}.md"


def _rows(data: CatalogData, table: str) -> list[dict[str, str]]:
    model = data.project.models.get(table)
    if model is None or not model.source_text:
        return []
    return list(csv.DictReader(io.StringIO(model.source_text)))


def _num(text: str | None, fmt: str) -> str:
    try:
        value = float(text or "")
    except ValueError:
        return "—"
    return "—" if math.isnan(value) else fmt.format(value)


def models_index(data: CatalogData) -> str:
    """The list of model cards."""
    out = ["# Predictive models\n", "<p>Models trained in Python with <code>kcrm-gov train</code> and scored in "
           "plain SQL by a contracted table: their coefficients are reference data reviewed in pull requests, "
           "so DuckDB and BigQuery give the same score.</p>\n"]
    models = propensity_models(data.project)
    if not models:
        out.append("<p><em>No contract declares a propensityModel yet.</em></p>\n")
        return "\n".join(out)
    rows = []
    for name, spec in sorted(models.items()):
        metrics = {(r["split"], r["metric"]): r["value"] for r in _rows(data, spec.metrics) if r.get("bucket") == "0"}
        rows.append([data_urls(data).a(MODELS_INDEX, model_card_uri(name), name, is_code=True),
                     code(spec.label), _num(metrics.get(("test", "auc")), "{:.3f}"),
                     _num(metrics.get(("test", "top_decile_lift")), "{:.2f}×")])
    out.append(html_table(["Model (scoring table)", "Predicts", "Held-out AUC", "Top-decile lift"], rows))
    return "\n".join(out)


def model_card(data: CatalogData, name: str, spec: PropensitySpec) -> str:
    """The model card of the model that table ``name`` scores."""
    here = model_card_uri(name)
    scoring = data.project.contracts[name]
    features = data.project.contracts.get(spec.features)
    coefficients = _rows(data, spec.coefficients)
    metrics = _rows(data, spec.metrics)
    scalar = {(r["split"], r["metric"]): r["value"] for r in metrics if r.get("bucket") == "0"}
    out = [f"# Model card: {esc(name)}\n"]
    purpose = scoring.model.description.purpose if scoring.model.description else None
    out.append(f"<p>{inline(purpose)}</p>\n")
    label = features.column(spec.label) if features else None
    facts = [["Scores", _table_link(data, here, name)],
             ["Predicts", code(spec.label) + (f": {inline(label.description)}" if label and label.description else "")],
             ["Trained on", _table_link(data, here, spec.features) + f" (one row per {code(spec.key)} and "
              f"{code(spec.time)}, labels complete only)"],
             ["Method", "Logistic regression (scikit-learn, L2-regularised with C = "
              f"{spec.inverse_regularization:g}) on inputs standardised with the training months' mean and "
              "standard deviation; a null input counts as the mean."],
             ["Coefficients", _table_link(data, here, spec.coefficients)],
             ["Metrics", _table_link(data, here, spec.metrics)],
             ["Retrain", code(f"kcrm-gov train {name}") + ", review the two CSV files in the pull request, then "
              + code(f"kcrm-gov build --select {spec.coefficients}+")]]
    if coefficients:
        first = coefficients[0]
        facts.insert(4, ["Time split", f"trained on {esc(first.get('trained_from'))} to "
                                       f"{esc(first.get('trained_through'))}; held out (never seen by the fit): "
                                       f"{esc(first.get('held_out_from'))} to {esc(first.get('held_out_through'))}"])
    out.append(html_table(["", ""], facts, css="kg-facts"))
    if not coefficients or not metrics:
        out.append("<p><em>Not trained yet: run <code>kcrm-gov train</code> on a built warehouse.</em></p>\n")
        return "\n".join(out)

    out.append("## How well it does {#performance}\n")
    rows = []
    for metric, title, fmt in (("rows", "Rows", "{:,.0f}"), ("positives", "Positive labels", "{:,.0f}"),
                               ("base_rate", "Base rate", "{:.1%}"), ("auc", "AUC", "{:.3f}"),
                               ("top_decile_rate", "Rate in the top decile", "{:.1%}"),
                               ("top_decile_lift", "Top-decile lift", "{:.2f}×"),
                               ("brier_score", "Brier score", "{:.4f}")):
        rows.append([esc(title), _num(scalar.get(("train", metric)), fmt), _num(scalar.get(("test", metric)), fmt)])
    out.append(html_table(["", "Training months", "Held-out months"], rows))

    out.append("## Calibration on the held-out months {#calibration}\n")
    out.append("<p>Rows sorted by predicted probability and cut into ten equal groups (1 = the highest): a "
               "calibrated model's mean prediction matches the observed rate in each group.</p>\n")
    by_bucket: dict[str, dict[str, str]] = {}
    for r in metrics:
        if r.get("bucket") not in (None, "", "0") and r["split"] == "test":
            by_bucket.setdefault(r["bucket"], {})[r["metric"]] = r["value"]
    rows = [[esc(b), _num(v.get("calibration_rows"), "{:,.0f}"), _num(v.get("calibration_predicted"), "{:.1%}"),
             _num(v.get("calibration_observed"), "{:.1%}")]
            for b, v in sorted(by_bucket.items(), key=lambda kv: int(kv[0]))]
    out.append(html_table(["Decile", "Rows", "Mean prediction", "Observed rate"], rows))

    out.append("## Inputs and coefficients {#inputs}\n")
    out.append("<p>Coefficients are per standard deviation of the input; the odds ratio is what one standard "
               "deviation more multiplies the odds of the label by.</p>\n")
    rows = []
    for r in coefficients:
        term = r["term"]
        column = features.column(term) if features and term != INTERCEPT else None
        meaning = inline(column.description) if column else ("baseline log-odds" if term == INTERCEPT else "—")
        coef = _num(r.get("coefficient"), "{:+.3f}")
        odds = "—" if term == INTERCEPT else _num(str(math.exp(float(r["coefficient"]))), "{:.2f}")
        link = (data_urls(data).a(here, table_uri(spec.features), term, anchor=column_anchor(term), is_code=True)
                if column else code(term))
        rows.append([link, meaning, coef, odds, _num(r.get("feature_mean"), "{:.3g}"),
                     _num(r.get("feature_scale"), "{:.3g}")])
    out.append(html_table(["Input", "Meaning", "Coefficient", "Odds ratio", "Mean", "Scale"], rows))

    out.append("## Limits {#limits}\n")
    out.append(f"<p>{inline(_limits(scoring))}</p>\n")
    return "\n".join(out)


def _limits(contract: Contract) -> str:
    description = contract.model.description
    return (description.limitations if description and description.limitations else
            "No limitations written in the scoring table's contract.")
