"""The churn propensity model's fit and evaluation, on inputs small enough to work out by hand (issue 15).

The end-to-end behaviour (train on the seeded features, score in SQL, same numbers as Python) is in
tests/test_enr_churn_propensity.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from kcrm_gov.propensity import INTERCEPT, _calibration, _evaluate, _fit


def test_one_binary_input_predicts_the_rate_of_each_group() -> None:
    # group x=0: 1 of 4 positive; group x=1: 3 of 4. The maximum-likelihood logistic fit predicts the
    # observed rate of each group, 1/4 and 3/4. Standardised, x is -1 or +1 (mean 0.5, sd 0.5), so
    # b0 - b1 = logit(1/4) = -ln 3 and b0 + b1 = logit(3/4) = ln 3: b0 = 0, b1 = ln 3.
    x = np.array([[0.0]] * 4 + [[1.0]] * 4)
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1], dtype=float)
    terms, predict = _fit(x, y, ("flag",), math.inf)
    assert [t.term for t in terms] == [INTERCEPT, "flag"]
    assert terms[0].coefficient == pytest.approx(0.0, abs=1e-6)
    assert terms[1].coefficient == pytest.approx(math.log(3), abs=1e-6)
    assert (terms[1].feature_mean, terms[1].feature_scale) == (0.5, 0.5)
    assert predict(np.array([[0.0], [1.0]])) == pytest.approx([0.25, 0.75], abs=1e-6)


def test_a_null_input_counts_as_the_training_mean() -> None:
    x = np.array([[0.0]] * 4 + [[1.0]] * 4)
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1], dtype=float)
    _, predict = _fit(x, y, ("flag",), math.inf)
    # z = 0 at the mean: the probability is logistic(b0) = logistic(0) = 1/2
    assert predict(np.array([[np.nan]])) == pytest.approx([0.5], abs=1e-6)


def test_regularisation_shrinks_the_coefficient_towards_zero() -> None:
    x = np.array([[0.0]] * 4 + [[1.0]] * 4)
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1], dtype=float)
    plain = _fit(x, y, ("flag",), math.inf)[0][1].coefficient
    shrunk = _fit(x, y, ("flag",), 0.1)[0][1].coefficient
    assert 0 < shrunk < plain


def test_evaluation_figures_worked_out_by_hand() -> None:
    y = np.array([1, 0, 1, 0], dtype=float)
    p = np.array([0.9, 0.8, 0.3, 0.1])
    got = {m.metric: m.value for m in _evaluate("test", y, p)}
    # AUC: of the 4 (positive, negative) pairs, 0.9>0.8, 0.9>0.1 and 0.3>0.1 are ordered right: 3/4.
    # Top decile: ceil(4/10) = 1 row, the 0.9 one, a positive: rate 1, base rate 1/2, lift 2.
    # Brier: (0.1² + 0.8² + 0.7² + 0.1²) / 4 = 1.15 / 4.
    assert got == pytest.approx({"rows": 4, "positives": 2, "base_rate": 0.5, "auc": 0.75, "top_decile_rate": 1.0,
                                 "top_decile_lift": 2.0, "brier_score": 0.2875})


def test_calibration_cuts_the_predictions_into_ten_groups_highest_first() -> None:
    p = np.arange(20, dtype=float) / 20  # 0.00 .. 0.95
    y = (p >= 0.5).astype(float)
    rows = {(m.metric, m.bucket): m.value for m in _calibration("test", y, p)}
    assert rows[("calibration_rows", 1)] == 2
    assert rows[("calibration_predicted", 1)] == pytest.approx((0.95 + 0.90) / 2)
    assert rows[("calibration_observed", 1)] == 1.0
    assert rows[("calibration_predicted", 10)] == pytest.approx((0.05 + 0.0) / 2)
    assert rows[("calibration_observed", 10)] == 0.0
    assert max(b for _, b in rows) == 10
