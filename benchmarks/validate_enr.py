"""Do the enr scores mean anything? Each figure on the seeded world, beside the seed's ground truth.

Usage: python benchmarks/validate_enr.py [--scale 1] [--seed 42] [--warehouse PATH]

Seeds the synthetic sources and builds the whole warehouse on DuckDB in a temporary folder (or
reads an already built warehouse file with --warehouse), then prints:

* churn risk (enr.churn_risk, rules): the 90-day churn rate of the high band and of the top decile
  of the score against the base rate, over the account-months whose 90 days are in the data;
* churn propensity (enr.churn_propensity, the logistic model): its AUC and top-decile lift on the
  held-out months, recomputed from the SQL scores, beside what the trainer recorded;
* ICP fit (enr.icp_fit): the closed-won rate of new business and the customer rate by tier;
* lead scoring (enr.lead_scores): the MQL -> SQL rate against the opportunity rate of touched
  contacts that never became MQLs (from their best-score moment), and how often their prospect
  accounts then won new business;
* activation and PQL (enr.activation, enr.pql_accounts): how often activated trials and PQLs pay.

The ground truth (kcrm_gov.seed.truth) is what the generator put in: the customer rate per ICP
tier, and the best a churn score could do if it knew each account's hidden risk (its AUC and
top-decile lift, account level). The issue's goals are printed with each figure.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _build(scale: float, seed: int, folder: Path) -> Path:
    from kcrm_gov.build import build
    from kcrm_gov.config import Target
    from kcrm_gov.dag import build_dag, select
    from kcrm_gov.engines.duckdb import DuckDBEngine
    from kcrm_gov.project import Project
    from kcrm_gov.seed import seed as seed_sources

    project = Project.load(REPO)
    dag = build_dag(project)
    path = folder / "validate.duckdb"
    target = Target(name="validate", type="duckdb", path=path, threads=2)
    with DuckDBEngine(project, target) as engine:
        seed_sources(project, engine, scale=scale, seed=seed)
        run = build(project, engine, dag, [t for t in select(project, dag) if t in project.models], threads=2)
    if not run.ok:
        raise SystemExit(f"the build failed: {run.counts()}")
    return path


def _auc(labels: list[int], scores: list[float]) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores))


def _line(name: str, value: str, truth: str = "", goal: str = "") -> None:
    print(f"  {name:<46} {value:>14}  {truth:<24} {goal}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--warehouse", type=Path, help="a built warehouse file to read instead of building one")
    args = parser.parse_args()

    import duckdb

    from kcrm_gov.seed.truth import ICP_TIERS, ground_truth, lookup

    truth = ground_truth(args.seed, args.scale)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        path = args.warehouse or _build(args.scale, args.seed, Path(tmp))
        built = time.perf_counter() - start
        con = duckdb.connect(str(path), read_only=True)

        def one(sql: str) -> Any:
            row = con.execute(sql).fetchone()
            return row[0] if row and len(row) == 1 else row

        print(f"enr validation, scale {args.scale}, seed {args.seed} "
              f"({'read ' + str(path) if args.warehouse else f'seeded and built in {built:.1f} s'})\n")
        _line("figure", "seeded data", "seed's ground truth", "goal")

        print("\nchurn risk (rules), account-months with a complete 90-day label")
        base, high, high_n, months = one("""
            SELECT AVG(f.churned_within_90d), AVG(CASE WHEN r.risk_band = 'high' THEN f.churned_within_90d END),
                   COUNT(CASE WHEN r.risk_band = 'high' THEN 1 END), COUNT(DISTINCT f.month_end)
            FROM enr.churn_risk AS r JOIN enr.account_features_monthly AS f USING (account_key, month_end)
            WHERE f.label_complete""")
        top = one("""
            SELECT AVG(churned_within_90d) FROM (
              SELECT f.churned_within_90d, NTILE(10) OVER (PARTITION BY f.month_end ORDER BY r.churn_risk_score DESC,
                     f.account_key) AS decile
              FROM enr.churn_risk AS r JOIN enr.account_features_monthly AS f USING (account_key, month_end)
              WHERE f.label_complete) AS d WHERE decile = 1""")
        ceiling = lookup(truth, "churn", "latent_risk_top_decile_lift")
        _line(f"base rate (90-day churn, {months} months)", f"{base:.2%}")
        _line(f"high band ({high_n:,} account-months): rate", f"{high:.2%}")
        _line("high band lift", f"{high / base:.2f}x", "", ">= 3x")
        _line("top-decile lift (by score, per month)", f"{top / base:.2f}x",
              f"hidden risk: {ceiling:.2f}x")

        print("\nchurn propensity (logistic model), held-out months")
        rows = con.execute("""
            SELECT p.churned_within_90d, p.churn_propensity FROM enr.churn_propensity AS p
            WHERE p.label_complete AND p.month_end >= (SELECT MIN(held_out_from) FROM enr.churn_propensity_coefficients)
            """).fetchall()
        recorded = one("SELECT value FROM enr.churn_propensity_metrics WHERE split = 'test' AND metric = 'auc' "
                       "AND bucket = 0")
        lift = one("SELECT value FROM enr.churn_propensity_metrics WHERE split = 'test' "
                   "AND metric = 'top_decile_lift' AND bucket = 0")
        auc = _auc([int(r[0]) for r in rows], [float(r[1]) for r in rows])
        _line(f"AUC from the SQL scores ({len(rows):,} rows)", f"{auc:.3f}",
              f"hidden risk: {lookup(truth, 'churn', 'latent_risk_auc'):.3f}", ">= 0.75")
        _line("AUC the trainer recorded", f"{recorded:.3f}")
        _line("top-decile lift the trainer recorded", f"{lift:.2f}x")

        print("\nICP fit by tier")
        won = dict(con.execute("""
            SELECT f.icp_tier, AVG(CASE WHEN o.is_won THEN 1.0 ELSE 0.0 END)
            FROM core.opportunities AS o JOIN enr.icp_fit AS f USING (account_key)
            WHERE o.is_closed AND o.deal_type = 'newbusiness' GROUP BY f.icp_tier""").fetchall())
        customers = dict(con.execute("""
            SELECT f.icp_tier, AVG(CASE WHEN a.lifecycle_stage = 'customer' THEN 1.0 ELSE 0.0 END)
            FROM enr.icp_fit AS f JOIN core.accounts AS a USING (account_key) GROUP BY f.icp_tier""").fetchall())
        for tier in ICP_TIERS:
            _line(f"tier {tier}: closed-won rate (new business)", f"{float(won.get(tier, 0)):.1%}", "",
                  "rises D -> A" if tier == "A" else "")
            _line(f"tier {tier}: customer rate", f"{float(customers.get(tier, 0)):.1%}",
                  f"{lookup(truth, 'fit', f'customer_rate_tier_{tier}'):.1%}")

        print("\nlead scoring (touched contacts; non-MQLs measured from their best-score moment)")
        mqls, sql_rate, mql_opp, others, other_opp = one("""
            WITH best AS (
              SELECT contact_id, touched_at FROM enr.lead_score_history
              QUALIFY ROW_NUMBER() OVER (PARTITION BY contact_id ORDER BY score_after DESC, touched_at) = 1),
            opportunity AS (
              SELECT oc.contact_id, o.created_at FROM core.opportunity_contacts AS oc
              JOIN core.opportunities AS o USING (opportunity_id) WHERE NOT o.is_internal),
            cohort AS (
              SELECT s.contact_id, s.is_mql, s.is_sql,
                     EXISTS (SELECT 1 FROM opportunity AS o WHERE o.contact_id = s.contact_id
                             AND o.created_at BETWEEN COALESCE(s.mql_at, b.touched_at)
                                                  AND COALESCE(s.mql_at, b.touched_at) + INTERVAL 30 DAY) AS opp_30
              FROM enr.lead_scores AS s JOIN best AS b USING (contact_id))
            SELECT COUNT(*) FILTER (WHERE is_mql), AVG(is_sql::INT) FILTER (WHERE is_mql),
                   AVG(opp_30::INT) FILTER (WHERE is_mql), COUNT(*) FILTER (WHERE NOT is_mql),
                   AVG(opp_30::INT) FILTER (WHERE NOT is_mql)
            FROM cohort""")
        mql_won, other_won = one("""
            WITH best AS (
              SELECT contact_id, touched_at FROM enr.lead_score_history
              QUALIFY ROW_NUMBER() OVER (PARTITION BY contact_id ORDER BY score_after DESC, touched_at) = 1),
            won AS (
              SELECT account_key, MIN(closed_at) AS won_at FROM core.opportunities
              WHERE is_won AND deal_type = 'newbusiness' AND NOT is_internal GROUP BY account_key),
            cohort AS (
              SELECT s.is_mql, COALESCE(s.mql_at, b.touched_at) AS anchor_at, w.won_at
              FROM enr.lead_scores AS s JOIN best AS b USING (contact_id) LEFT JOIN won AS w USING (account_key)
              WHERE s.account_key IS NOT NULL)
            SELECT AVG((won_at IS NOT NULL)::INT) FILTER (WHERE is_mql),
                   AVG((won_at IS NOT NULL)::INT) FILTER (WHERE NOT is_mql)
            FROM cohort WHERE won_at IS NULL OR won_at > anchor_at""")
        _line(f"MQLs ({mqls:,}): SQL within 30 days", f"{float(sql_rate):.1%}", "", "MQLs convert better")
        _line("MQLs: opportunity within 30 days", f"{float(mql_opp):.1%}")
        _line(f"non-MQLs ({others:,}): opportunity within 30 days", f"{float(other_opp):.1%}")
        _line("prospect accounts that then won: MQLs", f"{float(mql_won):.1%}")
        _line("prospect accounts that then won: non-MQLs", f"{float(other_won):.1%}")

        print("\nactivation and PQL (trial sign-ups)")
        trials, act_pay, non_act_pay, pqls, pql_pay = one("""
            SELECT COUNT(*),
                   AVG(CASE WHEN a.paying_since IS NOT NULL THEN 1.0 ELSE 0.0 END) FILTER (WHERE a.is_activated),
                   AVG(CASE WHEN a.paying_since IS NOT NULL THEN 1.0 ELSE 0.0 END) FILTER (WHERE NOT a.is_activated),
                   COUNT(*) FILTER (WHERE p.is_pql),
                   AVG(CASE WHEN p.paying_since IS NOT NULL THEN 1.0 ELSE 0.0 END) FILTER (WHERE p.is_pql)
            FROM enr.activation AS a JOIN enr.pql_accounts AS p USING (account_key)
            WHERE NOT a.is_window_open""")
        _line(f"trials ({trials:,}): activated ones that pay", f"{float(act_pay or 0):.1%}",
              f"{lookup(truth, 'trial', 'conversion_activated'):.1%}")
        _line("non-activated ones that pay", f"{float(non_act_pay or 0):.1%}",
              f"{lookup(truth, 'trial', 'conversion_not_activated'):.1%}")
        _line(f"PQLs ({pqls:,}) that pay", f"{float(pql_pay or 0):.1%}")
        con.close()


if __name__ == "__main__":
    main()
