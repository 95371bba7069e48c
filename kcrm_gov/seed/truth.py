"""The seed's ground truth: what really drives churn, conversion and expansion in the world.

Tests of the built warehouse read this table and take their thresholds from it, so a test
checks that an effect the world carries survives every source and every layer, rather than a
number someone once saw. It is not a layer of the warehouse: nothing a model reads.

Each row is ``(cause, measure, value, meaning)``. Two kinds of value:

* **parameters** of the generator (the true effect sizes, e.g. ``NPS_RISK``: points off an
  NPS answer at full risk), the same constants the source modules use;
* **expectations** computed from the drawn world (e.g. the share of accounts that became
  customers per ICP tier, the expected ratio of a churner's usage in its last 30 days to its
  usage 90-120 days before), which a built core table should reproduce within sampling error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from . import cs, mixpanel, zendesk
from .common import US_PER_DAY
from .world import (
    CHURN_RISK,
    CONVERSION_CHAMPION,
    CONVERSION_FIT,
    CONVERSION_INTENT,
    EXPANSION_UTILISATION,
    TRIAL_DAYS,
    World,
    build_world,
    icp_points,
)

# ICP tiers on the observable points (0 .. 2.5, i.e. enr.icp_fit's 0 .. 100 divided by 40):
# A from 80, B from 60, C from 40, D below, as in models/enr/icp_tiers.csv
ICP_TIER_BOUNDS = {"A": 2.0, "B": 1.5, "C": 1.0}
ICP_TIERS = ("A", "B", "C", "D")


@dataclass(frozen=True)
class Truth:
    """One true effect or expectation."""

    cause: str
    measure: str
    value: float
    meaning: str


def icp_tier(points: np.ndarray) -> np.ndarray:
    """'A', 'B', 'C' or 'D' per account from its observable ICP points."""
    return np.select([points >= ICP_TIER_BOUNDS[t] for t in ICP_TIERS[:-1]], list(ICP_TIERS[:-1]), ICP_TIERS[-1])


def ground_truth(seed: int = 42, scale: float = 1.0) -> list[Truth]:
    """The ground truth of the world ``kcrm-gov seed --seed S --scale F`` generates."""
    w = build_world(seed, scale)
    return [*_conversion(w), *_churn(w), *_usage(w), *_signals(w), *_trials(w), *_expansion(w)]


def as_table(truths: list[Truth]) -> pa.Table:
    """The ground truth as an Arrow table (cause, measure, value, meaning)."""
    return pa.table({
        "cause": [t.cause for t in truths],
        "measure": [t.measure for t in truths],
        "value": pa.array([t.value for t in truths], pa.float64()),
        "meaning": [t.meaning for t in truths],
    })


def lookup(truths: list[Truth], cause: str, measure: str) -> float:
    """The value of one measure (KeyError when the world does not define it)."""
    for t in truths:
        if t.cause == cause and t.measure == measure:
            return t.value
    raise KeyError(f"{cause}.{measure}")


def _rate(flags: np.ndarray) -> float:
    return float(flags.mean()) if len(flags) else float("nan")


def _conversion(w: World) -> list[Truth]:
    real = ~w.acc_is_test
    tier = icp_tier(icp_points(w.acc_industry, w.acc_employees, w.acc_country))
    out = [Truth("fit", "log_weight", CONVERSION_FIT, "log-weight of standardised fit on becoming a customer"),
           Truth("persona", "log_weight", CONVERSION_CHAMPION, "log-weight of a champion on becoming a customer"),
           Truth("intent", "log_weight", CONVERSION_INTENT, "log-weight of log intent on becoming a customer")]
    for t in ICP_TIERS:
        sel = real & (tier == t)
        out.append(Truth("fit", f"customer_rate_tier_{t}", _rate(w.acc_is_customer[sel]),
                         f"share of real accounts in ICP tier {t} (observable points) that became customers"))
        out.append(Truth("fit", f"accounts_tier_{t}", float(sel.sum()), f"real accounts in ICP tier {t}"))
    for flag, name in ((True, "with"), (False, "without")):
        sel = real & (w.acc_champion == flag)
        out.append(Truth("persona", f"customer_rate_{name}_champion", _rate(w.acc_is_customer[sel]),
                         f"share of real accounts {name} a champion that became customers"))
    return out


def _churn(w: World) -> list[Truth]:
    cust = w.acc_is_customer & ~w.acc_is_test
    churned = cust & (w.acc_churn >= 0)
    retained = cust & (w.acc_churn < 0)
    risk = w.acc_risk
    gap = float(np.nanmean(risk[churned]) - np.nanmean(risk[retained]))
    return [
        Truth("risk", "log_weight", CHURN_RISK, "log-weight of latent risk (0..1) on being drawn to churn"),
        Truth("risk", "mean_risk_churned", float(np.nanmean(risk[churned])), "mean latent risk of full churners"),
        Truth("risk", "mean_risk_retained", float(np.nanmean(risk[retained])), "mean latent risk of the others"),
        Truth("risk", "risk_gap", gap, "mean risk of churners minus that of retained customers"),
        Truth("fit", "mean_fit_churned", float(np.mean(w.acc_fit[churned])), "mean latent fit of full churners"),
        Truth("fit", "mean_fit_retained", float(np.mean(w.acc_fit[retained])), "mean latent fit of the others"),
        Truth("churn", "full_churners", float(churned.sum()), "customers that churned fully in the period"),
        # The ceiling of any churn score: how well the hidden risk itself, known perfectly, ranks the
        # customers that churned in the period above those that did not (account level).
        Truth("churn", "latent_risk_auc", _auc(churned[cust], risk[cust]),
              "AUC of the latent risk for churned vs retained customers (the best any score can do)"),
        Truth("churn", "latent_risk_top_decile_lift", _top_decile_lift(churned[cust], risk[cust]),
              "churn rate of the riskiest tenth of customers (latent risk) over the churn rate of all"),
    ]


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """The probability that a positive scores above a negative (ties count half)."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores)) if 0 < labels.sum() < len(labels) else float("nan")


def _top_decile_lift(labels: np.ndarray, scores: np.ndarray) -> float:
    top = np.argsort(-scores, kind="stable")[: max(1, int(np.ceil(len(scores) / 10)))]
    return float(labels[top].mean() / labels.mean()) if labels.mean() else float("nan")


def _window_ratio(it: dict[str, np.ndarray], rows: np.ndarray, anchor: np.ndarray) -> float:
    """Mean rate multiplier over the 30 days before ``anchor`` / over days 90-120 before it."""
    days = np.arange(30) * US_PER_DAY + US_PER_DAY // 2
    recent = anchor[:, None] - 30 * US_PER_DAY + days[None, :]
    base = anchor[:, None] - 120 * US_PER_DAY + days[None, :]
    u = np.repeat(rows, 30).reshape(len(rows), 30)
    return float(mixpanel.multiplier(u.ravel(), recent.ravel(), it).sum()
                 / mixpanel.multiplier(u.ravel(), base.ravel(), it).sum())


def _usage(w: World) -> list[Truth]:
    it = mixpanel.intensity_of(w, np.arange(w.n_accounts))
    churners = np.flatnonzero(w.acc_churn >= 0)
    expanders = w.exp_account
    return [
        Truth("usage", "decline_floor", mixpanel.DECLINE_FLOOR, "a churner's event rate at churn / its normal rate"),
        Truth("usage", "decline_days_min", float(mixpanel.DECLINE_DAYS[0]), "decline starts at least this early"),
        Truth("usage", "decline_days_max", float(mixpanel.DECLINE_DAYS[1]), "decline starts at most this early"),
        Truth("usage", "churner_last30_over_90_120", _window_ratio(it, churners, w.acc_churn[churners]),
              "expected usage of full churners in the 30 days before churn / in days 90-120 before"),
        Truth("usage", "growth_peak", mixpanel.GROWTH_PEAK, "an expander's event rate at expansion / normal"),
        Truth("usage", "expander_last30_over_90_120", _window_ratio(it, expanders, w.exp_at),
              "expected usage of expanders in the 30 days before the expansion / in days 90-120 before"),
    ]


def _signals(w: World) -> list[Truth]:
    gap = lookup(_churn(w), "risk", "risk_gap")
    tk = zendesk._tickets(w)
    cancel_accounts = np.unique(w.con_account[zendesk._world_ids(w)["end_user"][tk["req"][tk["cancel"]]]])
    churners = int((w.acc_churn >= 0).sum())
    return [
        Truth("nps", "points_at_full_risk", zendesk.NPS_RISK, "NPS points off every answer at latent risk 1"),
        Truth("nps", "min_score_gap", zendesk.NPS_RISK * gap,
              "lower bound of retained minus churned mean NPS (risk alone, before the 2-5 point drop "
              "in the 6 months before churn)"),
        Truth("notes", "lead_days", float(cs.NOTES_LEAD_DAYS), "negative notes start this long before churn"),
        Truth("notes", "p_negative_before_churn", 0.7, "P(negative) of a note in the lead window"),
        Truth("notes", "p_negative_routine_max", cs.NOTES_NEG_BASE + cs.NOTES_NEG_RISK,
              "P(negative) of any other note, at most (risk 1)"),
        Truth("tickets", "cancel_share", zendesk.CANCEL_TICKET_SHARE,
              "share of eligible full churners who file a cancellation ticket 10-60 days before churn"),
        Truth("tickets", "accounts_with_cancel_ticket", float(len(cancel_accounts)),
              "accounts that filed a cancellation ticket"),
        Truth("tickets", "share_of_churners_with_cancel_ticket", len(cancel_accounts) / max(churners, 1),
              "accounts with a cancellation ticket / full churners"),
        Truth("csat", "p_bad_base", zendesk.CSAT_BAD_BASE, "P(bad | answered) at risk 0"),
        Truth("csat", "p_bad_per_risk", zendesk.CSAT_BAD_RISK, "P(bad | answered) added at risk 1"),
    ]


def _trials(w: World) -> list[Truth]:
    trial = w.acc_trial_start >= 0
    act = trial & w.acc_trial_activated
    idle = trial & ~w.acc_trial_activated
    return [
        Truth("trial", "days", float(TRIAL_DAYS), "length of a trial"),
        Truth("trial", "trials", float(trial.sum()), "accounts that trialled (converted or not)"),
        Truth("trial", "conversion_activated", _rate(w.acc_is_customer[act]), "conversion of activated trials"),
        Truth("trial", "conversion_not_activated", _rate(w.acc_is_customer[idle]),
              "conversion of trials that were not activated"),
    ]


def _expansion(w: World) -> list[Truth]:
    cust = w.acc_is_customer & ~w.acc_is_test & ~w.acc_annual & (w.acc_churn < 0)
    others = cust.copy()
    others[w.exp_account] = False
    return [
        Truth("expansion", "log_weight_utilisation", EXPANSION_UTILISATION,
              "log-weight of seat utilisation on being drawn to expand"),
        Truth("expansion", "expansions", float(len(w.exp_account)), "billed expansions (= won expansion deals)"),
        Truth("expansion", "upgrades", float((w.exp_plan_after != w.acc_plan[w.exp_account]).sum()),
              "expansions that are a tier upgrade"),
        Truth("expansion", "mean_utilisation_expanders", float(w.acc_utilisation[w.exp_account].mean()),
              "product users / seats of accounts that expanded"),
        Truth("expansion", "mean_utilisation_others", float(w.acc_utilisation[others].mean()),
              "product users / seats of other retained monthly customers"),
        Truth("winback", "winbacks", float(len(w.winback_account)), "full churners billed again later"),
    ]
