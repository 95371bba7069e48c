"""Charts of the marts' headline metrics, drawn as static SVG when the catalog is built.

Each chart reads one marts table of the latest build through the project's engine, opened
read-only, turns the rows into a Vega-Lite spec (a plain dict) and renders it with vl-convert
(Vega-Lite in an embedded JavaScript runtime: no browser, no network, and external data URLs are
refused). The SVG is a file of the site (``assets/kcrm-gov/charts/<key>.svg``) that the metric and
table pages show with an ``<img>``, a caption naming the month the figures are "as of", and the
figures themselves in a table underneath.

Which chart goes on which page is declared once, in :data:`CHARTS`: a chart names the marts
table it reads (its table page shows it) and the metric ids of ``catalog/metrics.yml`` it
draws (the first of them on the Metrics page shows it, the others link to it).

What a chart may show: aggregates of marts tables only. Every column a chart reads must be in
the table's contract and be neither tagged ``pii`` nor classified restricted
(:func:`_refused_columns`); a chart that would read one is not drawn. Labels and values reach the
SVG as data, escaped by Vega's renderer: nothing here builds SVG from strings.

Nothing here fails a catalog build: no warehouse yet, a target that is not the embedded DuckDB
file, a table not built yet (``marts.funnel_monthly`` before its first build) or a query that
fails each become a note on the page where the chart would be.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..contracts import Contract
from ..errors import KcrmGovError

if TYPE_CHECKING:
    from ..engines import Engine
    from ..project import Project

CHART_DIR = "assets/kcrm-gov/charts"
MONTHS = 24  # how many months of history a chart shows (the "last 24 months")
FUNNEL_MONTHS = 12  # the funnel adds up the last 12 MQL cohort months
WIDTH, HEIGHT = 640, 260
NO_BUILD = "no build yet"
_FONT = "sans-serif"  # a generic family: the SVG names no font file and no URL
_REFUSED_CLASSIFICATIONS = ("restricted",)

Row = dict[str, Any]


class ChartSkipped(KcrmGovError):
    """A chart cannot be drawn from what the warehouse holds (the reason is shown on the page)."""


@dataclass(frozen=True)
class Query:
    """What a chart reads: the columns of its table (checked before anything runs) and the SELECT."""

    columns: tuple[str, ...]
    sql: str  # over ``{t}``, the table's relation in the warehouse; quoted column names


@dataclass(frozen=True)
class Figures:
    """A chart drawn from rows: its Vega-Lite spec, the month it is as of and its figures as a table."""

    spec: dict[str, Any]
    as_of: str  # "December 2023"
    headers: list[str]
    rows: list[list[str]]
    alt: str  # what the chart shows, in a sentence (the image's alt text)


@dataclass(frozen=True)
class Chart:
    """One chart: the table it reads, the metrics it draws, its query and how rows become a spec."""

    key: str
    title: str
    table: str
    metrics: tuple[str, ...]
    query: Callable[[Contract], Query]
    draw: Callable[[list[Row]], Figures]


@dataclass
class Rendered:
    """A chart of this build: its SVG and figures, or the note that says why there is none."""

    chart: Chart
    svg: str | None = None
    figures: Figures | None = None
    note: str | None = None

    @property
    def uri(self) -> str:
        return f"{CHART_DIR}/{self.chart.key}.svg"


@dataclass
class ChartSet:
    """Every chart of a catalog build, or the reason none could be drawn (``note``)."""

    charts: dict[str, Rendered] = field(default_factory=dict)
    note: str | None = None
    seconds: float = 0.0

    def _get(self, chart: Chart) -> Rendered:
        return self.charts.get(chart.key) or Rendered(chart, note=self.note or NO_BUILD)

    def for_table(self, name: str) -> list[Rendered]:
        """The charts of the table ``name`` (drawn or not), as :data:`CHARTS` places them."""
        return [self._get(c) for c in CHARTS if c.table == name]

    def for_metric(self, metric: str) -> list[Rendered]:
        """The charts of the metric ``metric`` (drawn or not), as :data:`CHARTS` places them."""
        return [self._get(c) for c in CHARTS if metric in c.metrics]

    def assets(self) -> dict[str, str]:
        """``{site uri: svg}`` of the charts drawn."""
        return {r.uri: r.svg for r in self.charts.values() if r.svg is not None}


# --- formatting ---------------------------------------------------------------------------------
def _num(value: Any) -> float | None:
    if value is None:
        return None
    return float(value) if isinstance(value, Decimal | int | float) else float(str(value))


def _month(value: Any) -> str:
    """``2023-12`` for a DATE (the axis label of a month)."""
    if isinstance(value, datetime | date):
        return value.strftime("%Y-%m")
    return str(value)[:7]


def _month_name(value: Any) -> str:
    """``December 2023`` for a DATE or ``2023-12``."""
    text = _month(value)
    return datetime.strptime(text, "%Y-%m").strftime("%B %Y")


def _usd(value: Any) -> str:
    number = _num(value)
    if number is None:
        return "—"
    return f"−${abs(number):,.0f}" if number < 0 else f"${number:,.0f}"


def _pct(value: Any) -> str:
    number = _num(value)
    return "—" if number is None else f"{number * 100:.1f} %"


def _int(value: Any) -> str:
    number = _num(value)
    return "—" if number is None else f"{number:,.0f}"


def _last_months(rows: list[Row], key: str, months: int = MONTHS) -> list[Row]:
    """The rows of the last ``months`` distinct months of ``key`` (rows sorted by it)."""
    keep = sorted({_month(r[key]) for r in rows})[-months:]
    return [r for r in sorted(rows, key=lambda r: _month(r[key])) if _month(r[key]) in keep]


def _spec(title: str, subtitle: str, body: dict[str, Any], *, width: int = WIDTH,
          height: int = HEIGHT) -> dict[str, Any]:
    """A Vega-Lite spec with the catalog's common frame: title, size, font, white background."""
    return {"title": {"text": title, "subtitle": subtitle, "anchor": "start"}, "width": width, "height": height,
            "background": "white", "config": {"font": _FONT, "view": {"stroke": None}}, **body}


def _fixed(*columns: str, sql: str) -> Callable[[Contract], Query]:
    """The query of a chart whose table has a fixed schema."""
    return lambda _contract: Query(columns, sql)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --- MRR movements ------------------------------------------------------------------------------
_MOVEMENTS = (("new_mrr", "New"), ("expansion_mrr", "Expansion"), ("reactivation_mrr", "Reactivation"),
              ("contraction_mrr", "Contraction"), ("churned_mrr", "Churned"))
_MOVEMENT_COLORS = ("#2e7d32", "#66bb6a", "#a5d6a7", "#ef9a9a", "#c62828")


def _mrr_movements(rows: list[Row]) -> Figures:
    rows = _last_months(rows, "month_start")
    if not rows:
        raise ChartSkipped("marts.revenue_mrr_monthly has no rows")
    values, net, table = [], [], []
    for r in rows:
        month = _month(r["month_start"])
        for column, label in _MOVEMENTS:
            values.append({"month": month, "movement": label, "mrr_usd": _num(r[column]) or 0.0})
        total = sum(_num(r[c]) or 0.0 for c, _ in _MOVEMENTS)
        net.append({"month": month, "net_new_mrr_usd": total})
        table.append([month, *(_usd(r[c]) for c, _ in _MOVEMENTS), _usd(total), _usd(r["closing_mrr_usd"])])
    last = rows[-1]
    as_of = _month_name(last["month_start"])
    x = {"field": "month", "type": "ordinal", "title": None, "axis": {"labelAngle": -45}}
    spec = _spec("MRR movements by month (USD)", f"Closing MRR {as_of}: {_usd(last['closing_mrr_usd'])}; "
                 "the line is net new MRR", {"layer": [
                     {"data": {"values": values}, "mark": {"type": "bar"},
                      "encoding": {"x": x,
                                   "y": {"field": "mrr_usd", "type": "quantitative", "stack": "zero",
                                         "title": "MRR change (USD)", "axis": {"format": "~s"}},
                                   "color": {"field": "movement", "type": "nominal", "title": None,
                                             "scale": {"domain": [label for _, label in _MOVEMENTS],
                                                       "range": list(_MOVEMENT_COLORS)},
                                             "legend": {"orient": "top"}},
                                   "order": {"field": "movement", "type": "nominal"}}},
                     {"data": {"values": net}, "mark": {"type": "line", "color": "#212121", "point": True},
                      "encoding": {"x": x, "y": {"field": "net_new_mrr_usd", "type": "quantitative"}}}]})
    headers = ["Month", *(label for _, label in _MOVEMENTS), "Net new", "Closing MRR"]
    return Figures(spec, as_of, headers, table[::-1],
                   f"Stacked bars of new, expansion, reactivation, contraction and churned MRR for the last "
                   f"{len(rows)} months to {as_of}, closing MRR {_usd(last['closing_mrr_usd'])}.")


# --- NRR / GRR ----------------------------------------------------------------------------------
def _retention(rows: list[Row]) -> Figures:
    rows = _last_months([r for r in rows if r["nrr"] is not None or r["grr"] is not None], "month_start")
    if not rows:
        raise ChartSkipped("marts.revenue_retention_monthly has no month with a year of history yet")
    values = [{"month": _month(r["month_start"]), "series": label, "rate": _num(r[col])}
              for r in rows for col, label in (("nrr", "NRR"), ("grr", "GRR")) if r[col] is not None]
    last = rows[-1]
    as_of = _month_name(last["month_start"])
    spec = _spec("Net and gross revenue retention", f"{as_of}: NRR {_pct(last['nrr'])}, GRR {_pct(last['grr'])}",
                 {"data": {"values": values}, "mark": {"type": "line", "point": True},
                  "encoding": {"x": {"field": "month", "type": "ordinal", "title": None, "axis": {"labelAngle": -45}},
                               "y": {"field": "rate", "type": "quantitative", "title": None,
                                     "axis": {"format": ".0%"}, "scale": {"zero": False}},
                               "color": {"field": "series", "type": "nominal", "title": None,
                                         "scale": {"domain": ["NRR", "GRR"], "range": ["#3949ab", "#00897b"]},
                                         "legend": {"orient": "top"}}}})
    table = [[_month(r["month_start"]), _pct(r["nrr"]), _pct(r["grr"])] for r in rows[::-1]]
    return Figures(spec, as_of, ["Month", "NRR", "GRR"], table,
                   f"Lines of NRR and GRR for the last {len(rows)} months to {as_of}: NRR {_pct(last['nrr'])}, "
                   f"GRR {_pct(last['grr'])}.")


# --- cohorts ------------------------------------------------------------------------------------
_COHORT_COLUMNS = (1, 3, 6, 12)  # months since start shown in the figures table


def _cohorts(rows: list[Row]) -> Figures:
    rows = _last_months(rows, "cohort_month")
    rows = [r for r in rows if r["months_since"] is not None and r["months_since"] < MONTHS]
    if not rows:
        raise ChartSkipped("marts.revenue_cohorts has no cohort yet")
    values = [{"cohort": _month(r["cohort_month"]), "months_since": int(r["months_since"]),
               "logo_retention": _num(r["logo_retention"])} for r in rows]
    as_of = _month_name(max(r["month_start"] for r in rows))
    spec = _spec("Logo retention by start cohort", f"Share of each month's new customers still paying; as of {as_of}",
                 {"data": {"values": values}, "mark": {"type": "rect"},
                  "encoding": {"x": {"field": "months_since", "type": "ordinal",
                                     "title": "Months since first paid month", "axis": {"labelAngle": 0}},
                               "y": {"field": "cohort", "type": "ordinal", "title": "Cohort (first paid month)"},
                               "color": {"field": "logo_retention", "type": "quantitative", "title": "Retained",
                                         "scale": {"scheme": "blues", "domain": [0, 1]},
                                         "legend": {"format": ".0%"}}}}, height=360)
    by_cohort: dict[str, dict[int, Row]] = {}
    for r in rows:
        by_cohort.setdefault(_month(r["cohort_month"]), {})[int(r["months_since"])] = r
    table = []
    for cohort in sorted(by_cohort, reverse=True):
        cells = by_cohort[cohort]
        first = cells.get(0) or next(iter(cells.values()))
        table.append([cohort, _int(first["cohort_accounts"]),
                      *(_pct(cells[k]["logo_retention"]) if k in cells else "—" for k in _COHORT_COLUMNS)])
    return Figures(spec, as_of, ["Cohort", "Customers", *(f"Month {k}" for k in _COHORT_COLUMNS)], table,
                   f"Heatmap of logo retention of {len(by_cohort)} monthly start cohorts by months since start, "
                   f"as of {as_of}.")


# --- product engagement -------------------------------------------------------------------------
def _engagement(rows: list[Row]) -> Figures:
    keep = sorted({_month(r["activity_date"]) for r in rows})[-MONTHS:]
    rows = sorted((r for r in rows if _month(r["activity_date"]) in keep), key=lambda r: r["activity_date"])
    if not rows:
        raise ChartSkipped("marts.product_engagement_daily has no rows")
    values = [{"day": r["activity_date"].isoformat(), "series": label, "users": _num(r[col])}
              for r in rows for col, label in (("dau", "DAU"), ("wau", "WAU"), ("mau", "MAU"))]
    last = rows[-1]
    as_of = _month_name(last["activity_date"])
    stickiness = (_num(last["dau"]) or 0) / (_num(last["mau"]) or 1)
    spec = _spec("Daily, weekly and monthly active users",
                 f"{last['activity_date'].isoformat()}: DAU {_int(last['dau'])}, MAU {_int(last['mau'])}, "
                 f"DAU/MAU {stickiness:.2f}",
                 {"data": {"values": values}, "mark": {"type": "line", "strokeWidth": 1.5},
                  "encoding": {"x": {"field": "day", "type": "temporal", "timeUnit": "utcyearmonthdate", "title": None,
                                     "axis": {"format": "%b %Y"}},
                               "y": {"field": "users", "type": "quantitative", "title": "Users"},
                               "color": {"field": "series", "type": "nominal", "title": None,
                                         "scale": {"domain": ["DAU", "WAU", "MAU"]}, "legend": {"orient": "top"}}}})
    month_end: dict[str, Row] = {}
    for r in rows:
        month_end[_month(r["activity_date"])] = r  # rows are sorted: the month's last day wins
    table = [[m, _int(r["dau"]), _int(r["wau"]), _int(r["mau"]), f"{(_num(r['dau']) or 0) / (_num(r['mau']) or 1):.2f}"]
             for m, r in sorted(month_end.items(), reverse=True)]
    return Figures(spec, as_of, ["Month (last day)", "DAU", "WAU", "MAU", "DAU/MAU"], table,
                   f"Lines of daily, weekly and monthly active users for the last {len(keep)} months to {as_of}.")


# --- feature adoption ---------------------------------------------------------------------------
def _adoption(rows: list[Row]) -> Figures:
    rows = _last_months(rows, "month_start")
    if not rows:
        raise ChartSkipped("marts.product_adoption_monthly has no rows")
    values = [{"month": _month(r["month_start"]), "feature": str(r["feature_name"]), "rate": _num(r["rate"])}
              for r in rows if r["rate"] is not None]
    last_month = _month(rows[-1]["month_start"])
    as_of = _month_name(last_month)
    spec = _spec("Feature adoption rate by month", f"Accounts that adopted each feature, of the active accounts; "
                 f"as of {as_of}",
                 {"data": {"values": values}, "mark": {"type": "line", "point": {"size": 12}},
                  "encoding": {"x": {"field": "month", "type": "ordinal", "title": None, "axis": {"labelAngle": -45}},
                               "y": {"field": "rate", "type": "quantitative", "title": None,
                                     "axis": {"format": ".0%"}},
                               "color": {"field": "feature", "type": "nominal", "title": None,
                                         "legend": {"orient": "right"}}}})
    latest = sorted((r for r in rows if _month(r["month_start"]) == last_month), key=lambda r: str(r["feature_name"]))
    table = [[str(r["feature_name"]), _int(r["adopting_accounts"]), _int(r["active_accounts"]), _pct(r["rate"])]
             for r in latest]
    return Figures(spec, as_of, ["Feature", "Adopting accounts", "Active accounts", f"Rate, {as_of}"], table,
                   f"Lines of the adoption rate of {len(latest)} features for the last months to {as_of}.")


# --- trial conversion ---------------------------------------------------------------------------
_TRIAL_RATES = (("activation_rate", "Activated"), ("pql_rate", "PQL"), ("trial_conversion_rate", "Paid"))


def _trials(rows: list[Row]) -> Figures:
    rows = _last_months(rows, "month_start")
    if not rows:
        raise ChartSkipped("marts.trial_conversion_monthly has no rows")
    values = [{"month": _month(r["month_start"]), "series": label, "rate": _num(r[col])}
              for r in rows for col, label in _TRIAL_RATES if r[col] is not None]
    last = rows[-1]
    as_of = _month_name(last["month_start"])
    spec = _spec("Trials: activation, PQL and conversion by sign-up month",
                 f"Rates of the trials whose window has closed; {as_of}: {_int(last['trials'])} trials, "
                 "recent months have had less time to convert",
                 {"data": {"values": values}, "mark": {"type": "line", "point": True},
                  "encoding": {"x": {"field": "month", "type": "ordinal", "title": None, "axis": {"labelAngle": -45}},
                               "y": {"field": "rate", "type": "quantitative", "title": None,
                                     "axis": {"format": ".0%"}},
                               "color": {"field": "series", "type": "nominal", "title": None,
                                         "scale": {"domain": [label for _, label in _TRIAL_RATES]},
                                         "legend": {"orient": "top"}}}})
    table = [[_month(r["month_start"]), _int(r["trials"]), *(_pct(r[col]) for col, _ in _TRIAL_RATES)]
             for r in rows[::-1]]
    return Figures(spec, as_of, ["Sign-up month", "Trials", "Activation rate", "PQL rate", "Paid"], table,
                   f"Lines of the activation, PQL and paid conversion rates of the trials of the last {len(rows)} "
                   f"sign-up months to {as_of}.")


# --- funnel -------------------------------------------------------------------------------------
# The funnel's stages in funnel order, each with its marts.funnel_monthly column. Touches and new contacts are
# the months' volumes; from MQLs down each row is the MQL cohort of its month (conversions inside fixed windows).
FUNNEL_STAGES: tuple[tuple[str, str], ...] = (
    ("Touches", "touches"),
    ("New contacts", "new_contacts"),
    ("MQLs", "mql_contacts"),
    ("SQLs", "sql_contacts"),
    ("Opportunities", "opportunity_contacts"),
    ("Won", "won_contacts"),
)


def _funnel_query(contract: Contract) -> Query:
    """Each stage summed over the channels of a cohort month."""
    sums = ", ".join(f"SUM({_q(col)}) AS {_q(label)}" for label, col in FUNNEL_STAGES)
    return Query(("month_start", *(col for _, col in FUNNEL_STAGES)),
                 f"SELECT month_start, {sums} FROM {{t}} GROUP BY 1 ORDER BY 1")


def _funnel(rows: list[Row]) -> Figures:
    rows = _last_months(rows, "month_start", FUNNEL_MONTHS)
    if not rows:
        raise ChartSkipped("the funnel table has no rows")
    stages = [k for k in rows[0] if k != "month_start"]
    totals = [(label, sum(_num(r[label]) or 0.0 for r in rows)) for label in stages]
    values, table = [], []
    for i, (label, total) in enumerate(totals):
        previous = totals[i - 1][1] if i else None
        rate = (total / previous) if previous else None  # none for the first stage, or after an empty one
        share = f" ({rate * 100:.1f} % of {totals[i - 1][0]})" if rate is not None else ""
        values.append({"stage": label, "count": total, "label": f"{total:,.0f}{share}"})
        table.append([label, _int(total), _pct(rate) if rate is not None else "—"])
    first, last = _month_name(rows[0]["month_start"]), _month_name(rows[-1]["month_start"])
    y = {"field": "stage", "type": "ordinal", "sort": [label for label, _ in totals], "title": None}
    spec = _spec("Funnel by MQL cohort month", f"Cohorts {first} to {last}, conversion counted in the MQL's month",
                 {"data": {"values": values}, "layer": [
                     {"mark": {"type": "bar", "color": "#3949ab"},
                      "encoding": {"y": y, "x": {"field": "count", "type": "quantitative", "title": None,
                                                 "axis": {"format": "~s"}}}},
                     {"mark": {"type": "text", "align": "left", "dx": 4},
                      "encoding": {"y": y, "x": {"field": "count", "type": "quantitative"},
                                   "text": {"field": "label", "type": "nominal"}}}]},
                 height=32 * len(totals))
    return Figures(spec, last, ["Stage", f"Count, {first} to {last}", "Of the previous stage"], table,
                   f"Funnel bars of {len(totals)} stages for the MQL cohorts {first} to {last}.")


# --- the registry -------------------------------------------------------------------------------
CHARTS: tuple[Chart, ...] = (
    Chart("mrr-movements", "MRR movements", "marts.revenue_mrr_monthly",
          ("mrr", "arr", "net-new-arr", "new-mrr", "expansion-mrr", "contraction-mrr", "churned-mrr",
           "reactivation-mrr"),
          _fixed("month_start", "new_mrr", "expansion_mrr", "reactivation_mrr", "contraction_mrr", "churned_mrr",
                 "closing_mrr_usd",
                 sql="SELECT month_start, SUM(new_mrr) AS new_mrr, SUM(expansion_mrr) AS expansion_mrr, "
                     "SUM(reactivation_mrr) AS reactivation_mrr, SUM(contraction_mrr) AS contraction_mrr, "
                     "SUM(churned_mrr) AS churned_mrr, SUM(closing_mrr_usd) AS closing_mrr_usd "
                     "FROM {t} GROUP BY 1 ORDER BY 1"),
          _mrr_movements),
    Chart("revenue-retention", "NRR and GRR", "marts.revenue_retention_monthly", ("nrr", "grr"),
          _fixed("month_start", "nrr", "grr", sql="SELECT month_start, nrr, grr FROM {t} ORDER BY 1"),
          _retention),
    Chart("cohort-retention", "Cohort retention", "marts.revenue_cohorts", ("cohort-retention",),
          _fixed("cohort_month", "months_since", "month_start", "cohort_accounts", "logo_retention",
                 sql="SELECT cohort_month, months_since, month_start, cohort_accounts, logo_retention FROM {t} "
                     "ORDER BY 1, 2"),
          _cohorts),
    Chart("funnel", "Funnel", "marts.funnel_monthly", ("mqls", "mql-to-sql-rate", "win-rate"), _funnel_query, _funnel),
    Chart("trial-conversion", "Trial conversion", "marts.trial_conversion_monthly", ("activation-rate", "pqls"),
          _fixed("month_start", "trials", "activation_rate", "pql_rate", "trial_conversion_rate",
                 sql="SELECT month_start, trials, activation_rate, pql_rate, trial_conversion_rate FROM {t} "
                     "ORDER BY 1"),
          _trials),
    Chart("engagement", "DAU, WAU and MAU", "marts.product_engagement_daily", ("dau", "wau", "mau", "stickiness"),
          _fixed("activity_date", "dau", "wau", "mau",
                 sql="SELECT activity_date, SUM(dau) AS dau, SUM(wau) AS wau, SUM(mau) AS mau FROM {t} "
                     "GROUP BY 1 ORDER BY 1"),
          _engagement),
    Chart("feature-adoption", "Feature adoption", "marts.product_adoption_monthly", ("feature-adoption-rate",),
          # segments add up as counts, never as rates (the metric's caveat)
          _fixed("month_start", "feature_name", "adopting_accounts", "active_accounts",
                 sql="SELECT month_start, feature_name, SUM(adopting_accounts) AS adopting_accounts, "
                     "SUM(active_accounts) AS active_accounts, SUM(adopting_accounts) / "
                     "NULLIF(SUM(active_accounts), 0) AS rate FROM {t} GROUP BY 1, 2 ORDER BY 1, 2"),
          _adoption),
)


# --- drawing ------------------------------------------------------------------------------------
def _refused_columns(contract: Contract, columns: Sequence[str]) -> list[str]:
    """The columns a chart may not read: not in the contract, personal data or restricted."""
    refused = []
    for name in columns:
        column = contract.column(name)
        if column is None or column.is_pii or (column.classification or "").lower() in _REFUSED_CLASSIFICATIONS:
            refused.append(name)
    return refused


def render_svg(spec: dict[str, Any]) -> str:
    """The SVG of a Vega-Lite spec (inline data only: any external URL is refused)."""
    import vl_convert

    return vl_convert.vegalite_to_svg(spec, allowed_base_urls=[])


def draw_chart(project: Project, engine: Engine, chart: Chart) -> Rendered:
    """One chart from the warehouse behind ``engine``, or a note saying why it is not drawn."""
    out = Rendered(chart)
    layer, table = chart.table.split(".", 1)
    contract = project.contracts.get(chart.table)
    if layer != "marts" or contract is None:
        out.note = f"{chart.table} has no contract in the marts layer yet"
        return out
    if not engine.table_exists(layer, table):
        out.note = f"{chart.table} is not built yet"
        return out
    try:
        query = chart.query(contract)
        refused = _refused_columns(contract, query.columns)
        if refused:
            out.note = (f"not drawn: {', '.join(refused)} of {chart.table} is personal data, restricted or not "
                        "in the contract")
            return out
        rows = engine.query_arrow(query.sql.format(t=engine.relation(layer, table))).to_pylist()
        out.figures = chart.draw(rows)
        out.svg = render_svg(out.figures.spec)
    except ChartSkipped as exc:
        out.note = exc.message
    except KcrmGovError as exc:  # a query the warehouse refused (a table built from an older contract)
        out.note = f"cannot be drawn: {exc.message}"
    except ValueError as exc:  # vl-convert's error for a spec it cannot render
        out.note = f"cannot be drawn: {str(exc).splitlines()[0]}"
    return out


def draw_charts(project: Project, *, target: str | None = None) -> ChartSet:
    """Every chart of :data:`CHARTS` from the latest build of the project's embedded warehouse."""
    from ..engines import open_engine
    from ..engines.base import EngineError

    start = time.perf_counter()
    result = ChartSet()
    try:
        chosen = project.config.target(target)
    except KcrmGovError as exc:
        result.note = f"no charts: {exc.message}"
        return result
    if chosen.type != "duckdb":
        # the catalog builds without credentials or network: it draws from the embedded warehouse only
        result.note = f"no charts: the target {chosen.name} is not the embedded DuckDB warehouse"
        return result
    if chosen.path is None or not chosen.path.exists():
        result.note = NO_BUILD
        return result
    try:
        with open_engine(project, chosen.name, read_only=True) as engine:
            for chart in CHARTS:
                result.charts[chart.key] = draw_chart(project, engine, chart)
    except EngineError as exc:  # in use by a writing build, or not a DuckDB file
        result.charts.clear()
        result.note = f"no charts: {exc.message}"
    result.seconds = time.perf_counter() - start
    return result


# --- on the pages -------------------------------------------------------------------------------
def chart_id(chart: Chart) -> str:
    """The anchor of a chart's figure on a page."""
    return f"chart-{chart.key}"


def _svg_size(svg: str) -> tuple[str, str] | None:
    """The width and height the SVG declares (so the page reserves its room before it loads)."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(svg)
    except ET.ParseError:
        return None
    width, height = root.get("width"), root.get("height")
    return (width, height) if width and height and width.isdigit() and height.isdigit() else None


def figure_html(rendered: Rendered, src: str, *, source: str, built: str | None = None) -> str:
    """The chart as an ``<img>`` with its caption and its figures in a ``<details>`` table (HTML).

    ``src`` is the SVG's URL relative to the page; ``source`` the table link (HTML) it is read from;
    ``built`` when that table was last built, if known. A chart not drawn is its note.
    """
    from .templates import esc, html_table

    chart = rendered.chart
    if rendered.svg is None or rendered.figures is None:
        return (f'<p class="kg-chart-note" id="{chart_id(chart)}"><em>Chart ({esc(chart.title)}): '
                f"{esc(rendered.note or NO_BUILD)}.</em></p>\n")
    figures = rendered.figures
    size = _svg_size(rendered.svg)
    dims = f' width="{size[0]}" height="{size[1]}"' if size else ""
    when = f"; table built {esc(built)}" if built else ""
    return (f'<figure class="kg-chart" id="{chart_id(chart)}">\n'
            f'<img src="{esc(src)}" alt="{esc(figures.alt)}"{dims}>\n'
            f"<figcaption>{esc(chart.title)} from {source} of the latest build, as of {esc(figures.as_of)}{when}."
            "</figcaption>\n</figure>\n\n"
            f'<details class="kg-chart-figures"><summary>{esc(chart.title)}: the figures</summary>\n'
            + html_table([esc(h) for h in figures.headers], [[esc(c) for c in row] for row in figures.rows])
            + "</details>\n")
