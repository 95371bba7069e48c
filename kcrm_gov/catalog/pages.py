"""Render the catalog's generated pages as Markdown (with raw-HTML tables where Markdown cannot).

:func:`collect` gathers everything once (project, run artifacts, lineage, git history, glossary,
metrics); :func:`render_site` turns it into ``{src_uri: markdown}`` for the plugin. Rendering
never touches the warehouse: no page shows a value of any column. The marts charts
(:mod:`kcrm_gov.catalog.charts`, drawn by the plugin beforehand into ``CatalogData.charts``) show
aggregates of marts tables on the metric and marts table pages, never a personal-data column.

Generated pages (``src_uri``):

* ``tables/<layer>/<table>.md``: one per contract (what / who / schema / destination (retl) / trust / lineage /
  how / change); a column's row in the schema names the destination fields it reaches through retl;
* ``layers/index.md`` and ``layers/<layer>/index.md``; ``sources/index.md`` and ``sources/<source>.md``;
  ``teams/index.md`` and ``teams/<team>.md``; ``pii.md``; ``glossary.md``; ``metrics.md``;
* the home page's overview (``index.md``, or the ``<!-- kcrm-gov:overview -->`` marker in a
  hand-written ``docs/index.md``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import LAYERS
from ..contracts import SENSITIVE_CLASSIFICATIONS, Column, Contract
from ..errors import ContractError, ProjectError
from ..lineage.columns import DIRECT, Source
from ..lineage.reach import DestinationField, destination_fields, reached_fields
from ..metrics import METRICS_FILE, bound_columns, metrics_by_column
from ..project import Project
from ..propensity_spec import propensity_models
from ..yamlsource import read_yaml
from .artifacts import BUILD, ERROR, FAIL, FRESHNESS, PASS, QUALITY, WARN, Artifacts, CheckInfo, load_artifacts
from .charts import ChartSet, Rendered, chart_id, figure_html
from .diagram import lineage_svg
from .graph import Lineage, load_lineage
from .history import History, histories
from .templates import (
    NO_SLA_BADGE,
    PII_BADGE,
    Urls,
    badge,
    build_badge,
    classification_badge,
    code,
    esc,
    fence,
    html_block,
    html_table,
    inline,
    outcome_badge,
)

OVERVIEW_MARKER = "<!-- kcrm-gov:overview -->"
GLOSSARY_FILE = Path("catalog") / "glossary.yml"
CHECKS_DIR = "checks"
NEVER_RUN = "never run"

LAYER_INFO: dict[str, tuple[str, str]] = {  # DESIGN.md: what each layer holds, and what it may read
    "raw": ("What the loaders land, untouched: Fivetran-style tables per source and the GA4 export.", "nothing"),
    "stg": ("One cleaned, typed, renamed, de-duplicated view of each raw table.", "raw"),
    "core": ("Canonical entities: accounts, contacts, users, leads, opportunities, products, subscriptions, "
             "usage/login/feature events, touches, invoices, payments, tickets, NPS, churn.", "stg, core"),
    "enr": ("Scores and signals: PQL, MQL/lead score, ICP fit, persona, churn risk, expansion signals, "
            "activation.", "core, enr"),
    "retl": ("Tables shaped for syncing back: HubSpot company/contact properties, Salesforce accounts, CS alerts, "
             "lead routing.", "core, enr"),
    "marts": ("Dashboard-facing: revenue (MRR/ARR/NRR/GRR), funnel, product adoption, CS health, exec KPIs, "
              "cohorts, forecast, segmentation.", "core, enr, marts"),
}


# --- data ---------------------------------------------------------------------------------------
@dataclass
class CatalogData:
    """Everything the pages show, gathered once per build."""

    project: Project
    artifacts: Artifacts
    lineage: Lineage
    history: dict[str, History]
    glossary: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    urls: Urls = field(default_factory=Urls)  # how links are spelled (directory URLs or .html)
    charts: ChartSet | None = None  # the marts charts of the latest build (None: charts are off)

    def contracts(self) -> list[Contract]:
        return self.project.ordered()


def _yaml_section(project: Project, rel: Path, key: str) -> dict[str, dict[str, Any]]:
    path = project.root / rel
    if not path.is_file():
        return {}
    doc = read_yaml(path, rel)
    data = doc.data
    section = data.get(key) if isinstance(data, dict) else None
    if not isinstance(section, dict):
        raise ProjectError(f"{rel} must hold a `{key}:` mapping", doc.location())
    out: dict[str, dict[str, Any]] = {}
    for name, entry in section.items():
        if not isinstance(entry, dict) or not entry.get("name"):
            raise ProjectError(f"{rel}: `{key}.{name}` must be a mapping with at least a `name`",
                               doc.location(key, name))
        out[str(name)] = entry
    return out


def collect(project: Project, *, git_history: bool = True, column_lineage: bool = True) -> CatalogData:
    """Read every input of the catalog once (raises ProjectError for a malformed glossary or metrics file)."""
    names = list(project.contracts)
    artifacts = load_artifacts(project.state_dir, names)
    lineage = load_lineage(project, columns=column_lineage)
    files = {c.qualified_name: (c.file or project.root / c.path).relative_to(project.root)
             for c in project.contracts.values()}
    history = histories(project.root, files) if git_history else {n: History(note="history disabled") for n in names}
    return CatalogData(project=project, artifacts=artifacts, lineage=lineage, history=history,
                       glossary=_yaml_section(project, GLOSSARY_FILE, "terms"),
                       metrics=_yaml_section(project, METRICS_FILE, "metrics"))


# --- page paths ---------------------------------------------------------------------------------
def table_uri(name: str) -> str:
    layer, table = name.split(".", 1)
    return f"tables/{layer}/{table}.md"


def layer_uri(layer: str) -> str:
    return f"layers/{layer}/index.md"


def source_uri(source: str) -> str:
    return f"sources/{source}.md"


def team_uri(team: str) -> str:
    return f"teams/{team}.md"


def column_anchor(path: str) -> str:
    return "col-" + path.replace(".", "-")


def nav_children(data: CatalogData) -> dict[str, list[tuple[str, str]]]:
    """The generated pages (``(title, src_uri)``) that belong under each index page in the navigation."""
    project = data.project
    out: dict[str, list[tuple[str, str]]] = {}
    for layer in LAYERS:
        # the full name: it is also the page's <title> and its name in search results (raw and stg share tables)
        out[layer_uri(layer)] = [(c.qualified_name, table_uri(c.qualified_name)) for c in project.layer(layer)]
    out["sources/index.md"] = [(str(v.get("name") or k), source_uri(k)) for k, v in project.sources.items()]
    out["teams/index.md"] = [(t.name, team_uri(k)) for k, t in project.teams.items()]
    from .model_card import MODELS_INDEX, model_card_uri

    out[MODELS_INDEX] = [(f"{name} model card", model_card_uri(name)) for name in sorted(propensity_models(project))]
    return out


# --- shared helpers -----------------------------------------------------------------------------
def _pii_count(contract: Contract) -> int:
    return sum(1 for _, c in contract.all_columns() if c.is_sensitive)


def _no_result(arts: Artifacts, kind: str, build: bool = False) -> str:
    """The badge of a table without a result of ``kind``: never run, or its results file unreadable."""
    if kind in arts.unreadable:
        return badge("unreadable", "unknown", arts.unreadable[kind])
    return build_badge(None) if build else outcome_badge(None)


def _has_freshness_sla(contract: Contract) -> bool:
    """Whether the contract declares a freshness SLA (without one, ``kcrm-gov freshness`` never measures it)."""
    return contract.sla("freshness") is not None


def _freshness_badge(arts: Artifacts, contract: Contract) -> str:
    """The table's last freshness outcome; "no SLA" when it has none to measure, else never run or unreadable."""
    if not _has_freshness_sla(contract):
        return NO_SLA_BADGE
    fresh = arts.freshness.get(contract.qualified_name)
    return outcome_badge(fresh.outcome) if fresh else _no_result(arts, FRESHNESS)


def _why_none(arts: Artifacts, kind: str) -> str:
    """Why a table shows no result of ``kind`` (HTML): never run, or which file could not be read."""
    if kind in arts.unreadable:
        return esc(arts.unreadable[kind])
    return NEVER_RUN


def _checks_summary(checks: list[CheckInfo] | None, arts: Artifacts | None = None) -> str:
    if not checks:
        return _no_result(arts, QUALITY) if arts is not None else outcome_badge(None)
    counts = Counter(c.outcome for c in checks)
    parts = []
    for outcome in (FAIL, ERROR, WARN, PASS):
        if counts.get(outcome):
            parts.append(f"{badge(f'{counts[outcome]} {outcome}', outcome)}")
    return " ".join(parts) or outcome_badge("unknown")


def _worst(checks: list[CheckInfo] | None) -> str | None:
    if not checks:
        return None
    outcomes = {c.outcome for c in checks}
    for outcome in (FAIL, ERROR, WARN, PASS):
        if outcome in outcomes:
            return outcome
    return "unknown"


def _team_name(project: Project, key: str | None) -> str:
    if key and key in project.teams:
        return project.teams[key].name
    return key or "unowned"


def _team_link(data: CatalogData, here: str, key: str | None) -> str:
    if key and key in data.project.teams:
        return data_urls(data).a(here, team_uri(key), _team_name(data.project, key))
    return esc(key or "unowned")


def _steward_names(project: Project, contract: Contract) -> list[str]:
    team = project.teams.get(contract.owner_team or "")
    names = []
    for username in contract.stewards:
        member = team.members.get(username) if team else None
        names.append(f"{member.name} ({username})" if member else username)
    return names


def _table_link(data: CatalogData, here: str, name: str) -> str:
    if name in data.project.contracts:
        return data_urls(data).a(here, table_uri(name), name, is_code=True)
    return f"{code(name)} <em>(not built yet)</em>"


def _column_link(data: CatalogData, here: str, ref: str) -> str:
    """``layer.table.column`` as a link to the column's row on its table page."""
    parts = ref.split(".")
    table, column = ".".join(parts[:2]), ".".join(parts[2:])
    if table in data.project.contracts:
        return data_urls(data).a(here, table_uri(table), ref, anchor=column_anchor(column), is_code=True)
    return code(ref)


def data_urls(data: CatalogData) -> Urls:
    return data.urls


def _when(text: str | None) -> str:
    if not text:
        return "—"
    return esc(text.replace("T", " ").replace("Z", " UTC")[:23].rstrip())


def _sla_text(contract: Contract) -> list[str]:
    """Each SLA as written; the freshness SLA as every other part of kcrm-gov reads it (``Contract.freshness``)."""
    from ..contracts import FRESHNESS_UNITS
    from ..errors import ContractError

    out = []
    for item in contract.model.slaProperties or []:
        value = f"{item.value}" + (f" {item.unit}" if item.unit else "")
        words = [f"<strong>{esc(item.property)}</strong>: {esc(value)}"]
        if item.property == "freshness":
            try:
                sla = contract.freshness
            except ContractError as exc:
                words.append(f"(not usable: {esc(exc.message)})")
                sla = None
            if sla is not None:
                words.append(f"measured on {code(item.element)}" if sla.element else "measured on the last build")
                if sla.warn_hours is not None:  # in the unit the SLA is written in
                    warn = sla.warn_hours / FRESHNESS_UNITS[sla.unit]
                    words.append(f"(warn after {esc(f'{warn:g} {item.unit}')})")
        elif item.element:
            words.append(f"measured on {code(item.element)}")
        line = " ".join(words)
        if item.description:
            line += f" — {inline(item.description)}"
        out.append(line)
    return out


# --- table page ---------------------------------------------------------------------------------
def _what(data: CatalogData, contract: Contract, here: str) -> str:
    obj = contract.schema_object
    desc = contract.model.description
    facts: list[tuple[str, str]] = [
        ("Table", code(contract.qualified_name)),
        ("Layer", data_urls(data).a(here, layer_uri(contract.layer), contract.layer)),
        ("Status", esc(contract.status or "—")),
        ("Contract version", code(contract.version or "—")),
        ("Contract id", code(contract.id or "—")),
        ("Tags", " ".join(code(t) for t in contract.tags) or "—"),
    ]
    if contract.source:
        src = contract.source
        link = data_urls(data).a(here, source_uri(src), data.project.sources.get(src, {}).get("name", src)) \
            if src in data.project.sources else esc(src)
        facts.append(("Source system", link))
    if contract.model.domain:
        facts.append(("Domain", esc(contract.model.domain)))
    facts.append(("Materialization", esc(contract.materialization)))
    if contract.partition_column is not None:
        facts.append(("Partitioned by", code(contract.partition_column.name)))
    if contract.cluster_by:
        facts.append(("Clustered by", ", ".join(code(c) for c in contract.cluster_by)))
    granularity = getattr(obj, "dataGranularityDescription", None) if obj else None
    if granularity:
        facts.append(("Grain", inline(granularity)))
    facts.append(("Contract file", code(contract.path.as_posix())))
    out = ["## What it is {#what}\n"]
    if contract.description:
        out.append(f"<p>{inline(contract.description)}</p>\n")
    for title, kind, text in (("Purpose", "abstract", getattr(desc, "purpose", None)),
                              ("Usage", "tip", getattr(desc, "usage", None)),
                              ("Limitations", "warning", getattr(desc, "limitations", None))):
        out.append(f'!!! {kind} "{title}"\n\n    {inline(text) or "<em>Not described.</em>"}\n')
    out.append(html_table(["", ""], [[k, v] for k, v in facts], css="kg-facts"))
    return "\n".join(out)


def _who(data: CatalogData, contract: Contract, here: str) -> str:
    project = data.project
    team = project.teams.get(contract.owner_team or "")
    support = []
    for s in contract.model.support or []:
        text = code(s.channel) if s.channel else ""
        if s.tool:
            text += f" ({esc(s.tool)})"
        if s.url:
            text += f" {esc(s.url)}"
        if text:
            support.append(text)
    if not support and team and team.channel:
        support.append(code(team.channel) + " (the owner team's channel)")
    rows = [
        ["Owner team", _team_link(data, here, contract.owner_team)],
        ["Data steward", ", ".join(esc(n) for n in _steward_names(project, contract)) or "<em>none named</em>"],
        ["Support channel", ", ".join(support) or "<em>none named</em>"],
    ]
    if team and team.github:
        rows.append(["Code owners", code(team.github)])
    return "## Who {#who}\n\n" + html_table(["", ""], rows, css="kg-facts")


def _tree_prefix(depth: int, last_flags: list[bool]) -> str:
    if depth == 0:
        return ""
    parts = ["   " if last else "│  " for last in last_flags[1:-1]]
    parts.append("└─ " if last_flags[-1] else "├─ ")
    return f'<span class="kg-tree">{"".join(parts)}</span>'


def _schema_rows(data: CatalogData, contract: Contract, here: str) -> tuple[list[list[str]], list[str | None],
                                                                               list[str]]:
    rows: list[list[str]] = []
    classes: list[str | None] = []
    ids: list[str] = []
    # the metrics bound to this table's columns in catalog/metrics.yml (never written in the contract)
    prefix = contract.qualified_name + "."
    metrics = {ref[len(prefix):]: keys for ref, keys in metrics_by_column(data.metrics).items()
               if ref.startswith(prefix)}

    reached = _destinations_reached(data, contract)

    def type_cells(column: Column) -> tuple[str, str]:
        if column.fields:
            is_array = column.data_type.this.name == "ARRAY"
            return (code("ARRAY<STRUCT<…>>" if is_array else "STRUCT<…>"),
                    code("STRUCT(…)[]" if is_array else "STRUCT(…)"))
        return code(column.bigquery_type), code(column.duckdb_type)

    def key_cell(column: Column) -> str:
        parts = []
        if column.primary_key_position is not None:
            parts.append(badge(f"PK {column.primary_key_position}", "class-internal", "Primary key column"))
        if column.unique:
            parts.append(esc("unique"))
        for ref in column.references:
            target_table = ref.rsplit(".", 1)[0]
            qualified = target_table if "." in target_table else f"{contract.layer}.{target_table}"
            col = ref.rsplit(".", 1)[-1]
            if qualified in data.project.contracts:
                parts.append("FK → " + data_urls(data).a(here, table_uri(qualified), f"{qualified}.{col}",
                                                         anchor=column_anchor(col), is_code=True))
            else:
                parts.append("FK → " + code(ref))
        return "<br>".join(parts) or ""

    def visit(column: Column, path: str, depth: int, last_flags: list[bool]) -> None:
        bq, duck = type_cells(column)
        name = _tree_prefix(depth, last_flags) + code(column.name)
        classification = classification_badge(column.classification)
        if column.is_pii:
            classification += " " + PII_BADGE
        description = inline(column.description) or "<em>Not described.</em>"
        if column.allowed_values and not column.is_sensitive:
            description += "<br><small>Allowed: " + ", ".join(code(v) for v in column.allowed_values) + "</small>"
        if path in reached:
            description += "<br><small>Synced to: " + ", ".join(
                code(f.uri) + " via " + data_urls(data).a(here, table_uri(f.table), f"{f.table}.{f.column}",
                                                          anchor=column_anchor(f.column), is_code=True)
                for f in reached[path]) + "</small>"
        if metrics.get(path):
            description += "<br><small>Metric: " + ", ".join(
                data_urls(data).a(here, "metrics.md", data.metrics[k]["name"], anchor=k) for k in metrics[path]) \
                + "</small>"
        rows.append([name, bq, duck, "yes" if column.required else "", key_cell(column), classification,
                     description])
        classes.append("kg-nested" if depth else None)
        ids.append(column_anchor(path))
        for i, field_ in enumerate(column.fields):
            visit(field_, f"{path}.{field_.name}", depth + 1, [*last_flags, i == len(column.fields) - 1])

    for column in contract.columns:
        visit(column, column.name, 0, [True])
    return rows, classes, ids


def _schema(data: CatalogData, contract: Contract, here: str) -> str:
    rows, classes, ids = _schema_rows(data, contract, here)
    table = html_table(["Column", "BigQuery type", "DuckDB type", "Required", "Key", "Classification",
                        "Description"], rows, css="kg-schema", row_classes=classes)
    # give every row an id so other pages (PII register, column lineage) can link to a column
    lines = table.splitlines()
    body_start = lines.index("<tbody>") + 1
    for i, anchor in enumerate(ids):
        line = lines[body_start + i]
        lines[body_start + i] = line.replace("<tr", f'<tr id="{anchor}"', 1)
    nested = sum(1 for _ in contract.all_columns()) - len(contract.columns)
    pii = _pii_count(contract)
    head = (f"{len(contract.columns)} columns" + (f" ({nested} nested fields shown as a tree)" if nested else "")
            + f"; {pii} personal or sensitive. Values of columns are never shown in this catalog.")
    return f"## Schema {{#schema}}\n\n<p>{esc(head)}</p>\n\n" + "\n".join(lines) + "\n"


def _destinations_reached(data: CatalogData, contract: Contract) -> dict[str, list[DestinationField]]:
    """Each top-level column's destination fields (through retl, on the one column-lineage graph): what a
    change to it reaches outside the warehouse. Empty without column lineage."""
    graph = data.lineage.columns
    if graph is None or contract.layer == "raw":
        return {}
    name = contract.qualified_name
    out = {}
    for column in contract.columns:
        fields = reached_fields(data.project, graph, name, column.name)
        if fields:
            out[column.name] = fields
    return out


def _destination(data: CatalogData, contract: Contract, here: str) -> str:
    """A retl table's destination: where its rows go, matched how, and each mapped field."""
    if contract.layer != "retl":
        return ""
    out = ["## Destination {#destination}\n"]
    try:
        destination = contract.destination
    except ContractError as exc:
        return out[0] + f"<p><em>The destination does not parse ({esc(exc)}): lint KG022 reports it.</em></p>\n"
    if destination is None:
        return out[0] + "<p><em>No destination declared: this retl table is not synced (lint KG022).</em></p>\n"
    obj = data.project.destination_object(destination)
    facts = [["System", esc(destination.system)], ["Instance", code(destination.namespace)],
             ["Object", code(destination.object)], ["Match key", code(destination.match_key) + " from column "
                                                    + code(destination.key_column)],
             ["On delete", esc(ON_DELETE_TEXT.get(destination.on_delete, destination.on_delete))],
             ["Classifications allowed out", ", ".join(code(c) for c in destination.allowed_classifications)
              or "none"],
             ["Approved PII", ", ".join(code(c) for c in destination.approved_pii) or "none"],
             ["Property list", code(obj.path.as_posix()) if obj is not None else "<em>none shipped (lint KG023)</em>"]]
    out.append(html_table(["", ""], facts, css="kg-facts"))
    out.append("### Mapped fields {#mapped-fields}\n")
    rows = []
    for m in destination.fields:
        prop = obj.properties.get(m.field) if obj is not None else None
        if m.field == destination.match_key:
            sent = "match key (not written)"
        else:
            sent = "written" if m.write else "match-only (not written)"
        kind = code(prop.type) if prop is not None else "<em>not in the property list</em>"
        if prop is not None and prop.options:
            kind += "<br><small>Options: " + ", ".join(code(o) for o in prop.options) + "</small>"
        rows.append([data_urls(data).a(here, here, m.column, anchor=column_anchor(m.column), is_code=True),
                     code(m.field), esc(sent), kind])
    out.append(f"<p>{len(destination.written)} of {len(destination.fields)} mapped fields are written; a sync "
               "sends only the rows whose row hash changed since its last successful run.</p>\n")
    out.append(html_table(["Column", f"{esc(destination.system)} field", "Sent as", "Destination type"], rows,
                          css="kg-lineage"))
    return "\n".join(out)


ON_DELETE_TEXT = {"clear": "clear: a record whose row leaves the table has its synced fields emptied",
                  "archive": "archive: a record whose row leaves the table is archived in the destination",
                  "keep": "keep: a record whose row leaves the table keeps its last values"}


def _trust(data: CatalogData, contract: Contract) -> str:
    name = contract.qualified_name
    arts = data.artifacts
    out = ["## Trust {#trust}\n", "### Service levels {#sla}\n"]
    sla = _sla_text(contract)
    out.append("\n".join(f"- {line}" for line in sla) + "\n" if sla else "<p><em>No SLA declared.</em></p>\n")
    out.append("### Last freshness check {#freshness}\n")
    fresh = arts.freshness.get(name)
    if not _has_freshness_sla(contract):
        out.append(f"<p>{NO_SLA_BADGE} This table has no freshness SLA: <code>kcrm-gov freshness</code> does "
                   "not measure it.</p>\n")
    elif fresh is None:
        out.append(f"<p>{_no_result(arts, FRESHNESS)} No freshness result for this table: "
                   f"{_why_none(arts, FRESHNESS)}.</p>\n")
    else:
        bits = [outcome_badge(fresh.outcome), f"checked {_when(fresh.when)}"]
        if fresh.age:
            bits.append(f"age {esc(fresh.age)}")
        if fresh.latest:
            bits.append(f"latest row {esc(fresh.latest)}")
        if fresh.message:
            bits.append(inline(fresh.message))
        out.append("<p>" + " · ".join(bits) + "</p>\n")
    out.append("### Last quality checks {#quality}\n")
    checks = arts.checks.get(name)
    if not checks:
        defined = (data.project.root / CHECKS_DIR / contract.layer / f"{contract.table}.yml").is_file()
        extra = " (checks are defined in the How section)" if defined else ""
        out.append(f"<p>{_no_result(arts, QUALITY)} No quality results for this table: "
                   f"{_why_none(arts, QUALITY)}{extra}.</p>\n")
    else:
        order = {FAIL: 0, ERROR: 1, WARN: 2, PASS: 3}
        ranked = sorted(checks, key=lambda c: (order.get(c.outcome, 4), c.name))
        rows = [[inline(c.name), code(c.column) if c.column else "", outcome_badge(c.outcome),
                 esc(c.value) if c.value is not None else "", _when(c.when), inline(c.message)] for c in ranked]
        out.append(f"<p>{_checks_summary(checks)}</p>\n")
        out.append(html_table(["Check", "Column", "Result", "Measured", "When", "Message"], rows,
                              css="kg-checks"))
    out.append("### Last build {#build}\n")
    build = arts.builds.get(name)
    if contract.layer == "raw":
        loader = data.project.sources.get(contract.source or "", {}).get("loader")
        who = f"the loader ({esc(loader)})" if loader else "the loader"
        out.append(f"<p>Raw tables are landed by {who}, not built by kcrm-gov: their trust signal is the "
                   "freshness check above.</p>\n")
    elif build is None:
        out.append(f"<p>{_no_result(arts, BUILD, build=True)} This table has no build result: "
                   f"{_why_none(arts, BUILD)}.</p>\n")
    else:
        rows = [["Result", build_badge(build.status)], ["When", _when(build.when)],
                ["Rows written", f"{build.rows:,}" if build.rows is not None else "—"],
                ["Duration", f"{build.seconds:.2f} s" if build.seconds is not None else "—"],
                ["Target", esc(build.target or "—")]]
        if build.error:
            rows.append(["Error", f"<code>{esc(build.error[:600])}</code>"])
        out.append(html_table(["", ""], rows, css="kg-facts"))
    return "\n".join(out)


def _show_source(data: CatalogData, here: str, source: Source) -> str:
    """A column-lineage input: a link to the column, and how it is used unless it is a plain copy."""
    direct = source.type == DIRECT
    if direct and source.subtype == "IDENTITY":
        return _column_link(data, here, source.qualified)
    how = source.subtype.lower().replace("_", " ")
    return _column_link(data, here, source.qualified) + f" <small>({esc(how)}{'' if direct else ', indirect'})</small>"


def _lineage(data: CatalogData, contract: Contract, here: str) -> str:
    name = contract.qualified_name
    lineage = data.lineage
    up, down = lineage.upstream(name), lineage.downstream(name)
    out = ["## Lineage {#lineage}\n"]
    if up or down:
        out.append(html_block(lineage_svg(name, up + down,
                                          lambda t: data_urls(data).href(here, table_uri(t))
                                          if t in data.project.contracts else None), indexed=False))
    ups = sorted({a for a, _ in up} - {name})
    downs = sorted({b for _, b in down} - {name})
    direct_up = set(lineage.dag.upstream.get(name, []))
    direct_down = set(lineage.dag.downstream.get(name, []))

    def listing(items: list[str], direct: set[str]) -> str:
        if not items:
            return "none"
        return ", ".join(_table_link(data, here, t) + ("" if t in direct else " <small>(2 hops)</small>")
                         for t in items)

    if contract.layer == "raw":
        loader = data.project.sources.get(contract.source or "", {}).get("loader")
        up_text = f"none in the warehouse: landed by {esc(loader)}" if loader else "none in the warehouse"
    else:
        up_text = listing(ups, direct_up)
    out.append(html_table(["", ""], [["Upstream (2 hops)", up_text], ["Downstream (2 hops)",
                                                                      listing(downs, direct_down)]], css="kg-facts"))
    out.append("### Column lineage {#column-lineage}\n")
    if contract.layer == "raw":
        out.append("<p>Raw columns come straight from the source system.</p>\n")
        return "\n".join(out)
    rows: list[list[str]] = []
    if lineage.has_columns(name):
        for column in contract.columns:
            rows.append([data_urls(data).a(here, here, column.name, anchor=column_anchor(column.name), is_code=True),
                         "<br>".join(_show_source(data, here, s) for s in lineage.inputs(name, column.name))
                         or "<em>computed (no column input)</em>",
                         inline(column.transform_description)])
        out.append("<p>Derived from the model's SQL. <em>Indirect</em> inputs decide which rows or values, "
                   "not the value itself (filters, windows, conditions).</p>\n")
        out.append(html_table(["Column", "← from", "Transformation (declared)"], rows, css="kg-lineage"))
        return "\n".join(out)
    for column in contract.columns:
        objects, text = column.declared_sources, column.transform_description
        if not objects and not text:
            continue
        rows.append([data_urls(data).a(here, here, column.name, anchor=column_anchor(column.name), is_code=True),
                     ", ".join(_table_link(data, here, o) for o in objects) or "—", inline(text)])
    note = lineage.column_note or "column-level lineage is not available"
    if rows:
        out.append(f"<p>Declared in the contract (<code>transformSourceObjects</code>, "
                   f"<code>transformDescription</code>); {esc(note)}, so sources are shown per table.</p>\n")
        out.append(html_table(["Column", "← from (table)", "Transformation (declared)"], rows, css="kg-lineage"))
    else:
        out.append(f"<p>{esc(note.capitalize())}; table-level lineage is shown above.</p>\n")
    return "\n".join(out)


def _bigquery_ddl(project: Project, contract: Contract) -> str:
    from ..ddl import bigquery as bq_ddl

    target = project.config.target_of_kind("bigquery")
    try:
        return bq_ddl.create_table(contract, target.project or "PROJECT", target.dataset(contract.layer))
    except Exception as exc:  # the page explains; `kcrm-gov check` is where DDL problems fail
        return f"-- BigQuery DDL cannot be generated for this contract: {exc}"


def _duckdb_ddl(project: Project, contract: Contract) -> str:
    from ..ddl import duckdb as duck_ddl

    targets = [t for t in project.config.targets.values() if t.type == "duckdb"]
    schema = targets[0].dataset(contract.layer) if targets else contract.layer
    try:
        return ";\n\n".join(duck_ddl.create_table(contract, schema)) + ";"
    except Exception as exc:
        return f"-- DuckDB DDL cannot be generated for this contract: {exc}"


def _reference_rows(contract: Contract, csv_text: str, sql: str) -> str:
    """A reference file and its SELECT, unless a column is classified (its values stay in the warehouse)."""
    hidden = [c.name for c in contract.columns if c.classification in SENSITIVE_CLASSIFICATIONS]
    if hidden:
        return f"    <p>Rows not shown: {', '.join(code(h) for h in hidden)} is classified.</p>\n"
    return fence(csv_text, "text", 4) + "\n" + fence(sql, "sql", 4)


def _how(data: CatalogData, contract: Contract) -> str:
    project = data.project
    out = ["## How {#how}\n"]
    model = project.models.get(contract.qualified_name)
    if model is not None and model.reference:
        out.append(f'=== "Reference data"\n\n    <p>{code(model.path.as_posix())}: a reference table. Its rows are '
                   'reviewed in pull requests (<code>kcrm-gov diff</code> lists each row changed and what it reaches) '
                   'and built as the SELECT below.</p>\n\n'
                   + _reference_rows(contract, model.source_text or "", model.sql))
    elif model is not None:
        out.append(f'=== "Model SQL"\n\n    <p>{code(model.path.as_posix())}, written in BigQuery SQL.</p>\n\n'
                   + fence(model.sql, "sql", 4))
    elif contract.layer == "raw":
        out.append('=== "Model SQL"\n\n    <p>Raw tables have no model: the loader lands them.</p>\n')
    else:
        out.append('=== "Model SQL"\n\n    <p><em>No model file for this table yet.</em></p>\n')
    out.append('=== "BigQuery DDL"\n\n' + fence(_bigquery_ddl(project, contract), "sql", 4))
    out.append('=== "DuckDB DDL"\n\n' + fence(_duckdb_ddl(project, contract), "sql", 4))
    checks = project.root / CHECKS_DIR / contract.layer / f"{contract.table}.yml"
    rel = f"{CHECKS_DIR}/{contract.layer}/{contract.table}.yml"
    if checks.is_file():
        try:
            text = checks.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            text = f"# cannot read {rel}: {exc}"
        out.append(f'=== "Soda checks"\n\n    <p>{code(rel)}, generated from the contract.</p>\n\n'
                   + fence(text, "yaml", 4))
    else:
        out.append(f'=== "Soda checks"\n\n    <p><em>No generated checks file ({code(rel)}) yet.</em></p>\n')
    return "\n".join(out)


def _change(data: CatalogData, contract: Contract) -> str:
    history = data.history.get(contract.qualified_name) or History(note="no version history")
    out = ["## Change {#change}\n"]
    if history.note:
        out.append(f'!!! note "Version history"\n\n    {esc(history.note.capitalize())}.\n')
    if history.changes:
        rows = [[esc(c.date), code(c.version or "?"), inline(c.subject), esc(c.author), code(c.commit[:8])]
                for c in history.changes]
        out.append(html_table(["Date", "Version", "Change", "Author", "Commit"], rows, css="kg-history"))
    out.append(f"<p>Current version: {code(contract.version or '—')}.</p>\n")
    return "\n".join(out)


def _figure(data: CatalogData, here: str, rendered: Rendered) -> str:
    """A chart on the page ``here``: its image, caption and figures, or why it is not drawn."""
    note = data.charts.note if data.charts is not None else None
    if note:
        return f'<p class="kg-chart-note"><em>Chart ({esc(rendered.chart.title)}): {esc(note)}.</em></p>\n'
    table = rendered.chart.table
    build = data.artifacts.builds.get(table)
    return figure_html(rendered, data_urls(data).href(here, rendered.uri), source=_table_link(data, here, table),
                       built=_when(build.when) if build and build.when else None)


def _charts(data: CatalogData, contract: Contract, here: str) -> str:
    """The charts of a marts table (none for the other tables, nor when charts are off)."""
    if data.charts is None:
        return ""
    drawn = data.charts.for_table(contract.qualified_name)
    if not drawn:
        return ""
    return "## Charts {#charts}\n\n" + "\n".join(_figure(data, here, r) for r in drawn)


def _metric_charts(data: CatalogData, here: str, key: str) -> str:
    """The charts of a metric: drawn under the first metric of the page that a chart shows, linked from the others."""
    if data.charts is None:
        return ""
    out = []
    for rendered in data.charts.for_metric(key):
        first = next((k for k in data.metrics if k in rendered.chart.metrics), key)
        if first == key:
            out.append(_figure(data, here, rendered))
        else:
            link = data_urls(data).a(here, here, rendered.chart.title, anchor=chart_id(rendered.chart))
            out.append(f"<p>Chart: {link}, under {esc(data.metrics[first]['name'])}.</p>\n")
    return "\n".join(out)


def table_page(data: CatalogData, contract: Contract) -> str:
    """The page of one table: what, who, schema, trust, lineage, how, change."""
    here = table_uri(contract.qualified_name)
    name = contract.qualified_name
    build = data.artifacts.builds.get(name)
    checks = data.artifacts.checks.get(name)
    glance = [f"Layer {code(contract.layer)}", f"v{esc(contract.version or '?')}", esc(contract.status or ""),
              f"owner {_team_link(data, here, contract.owner_team)}"]
    if _pii_count(contract):
        glance.append(PII_BADGE + f" {_pii_count(contract)} sensitive columns")
    arts = data.artifacts
    glance.append("checks " + _checks_summary(checks, arts))
    glance.append("freshness " + _freshness_badge(arts, contract))
    if contract.layer != "raw":
        glance.append("build " + (build_badge(build.status) if build else _no_result(arts, BUILD, build=True)))
    parts = [f"# {name}\n", "<p>" + " · ".join(g for g in glance if g) + "</p>\n",
             _what(data, contract, here), _charts(data, contract, here), _who(data, contract, here),
             _schema(data, contract, here), _destination(data, contract, here),
             _trust(data, contract), _lineage(data, contract, here), _how(data, contract), _change(data, contract)]
    return "\n".join(parts)


# --- index pages --------------------------------------------------------------------------------
def _table_rows(data: CatalogData, here: str, contracts: list[Contract]) -> str:
    rows = []
    for c in contracts:
        build = data.artifacts.builds.get(c.qualified_name)
        rows.append([
            _table_link(data, here, c.qualified_name),
            inline(c.description),
            _team_link(data, here, c.owner_team),
            str(len(c.columns)),
            (PII_BADGE + f" {_pii_count(c)}") if _pii_count(c) else "0",
            esc(c.status or ""),
            "—" if c.layer == "raw" else (build_badge(build.status) if build
                                          else _no_result(data.artifacts, BUILD, build=True)),
            _checks_summary(data.artifacts.checks.get(c.qualified_name), data.artifacts),
            _freshness_badge(data.artifacts, c),
        ])
    if not rows:
        return "<p><em>No tables yet.</em></p>\n"
    return html_table(["Table", "Description", "Owner", "Columns", "Sensitive", "Status", "Build", "Checks",
                       "Freshness"], rows, css="kg-tables")


def layer_page(data: CatalogData, layer: str) -> str:
    here = layer_uri(layer)
    holds, reads = LAYER_INFO.get(layer, ("", ""))
    contracts = data.project.layer(layer)
    return (f"# {layer}\n\n<p>{esc(holds)}</p>\n\n<p>May read: {esc(reads)}. "
            f"{len(contracts)} tables.</p>\n\n" + _table_rows(data, here, contracts))


def layers_index(data: CatalogData) -> str:
    here = "layers/index.md"
    rows = []
    for layer in LAYERS:
        contracts = data.project.layer(layer)
        holds, reads = LAYER_INFO.get(layer, ("", ""))
        rows.append([data_urls(data).a(here, layer_uri(layer), layer), esc(holds), esc(reads), str(len(contracts))])
    return ("# Layers\n\n<p>Data flows raw → stg → core → enr → retl → marts; each layer may read only the "
            "layers listed (enforced by <code>kcrm-gov check</code>).</p>\n\n"
            + html_table(["Layer", "Holds", "May read", "Tables"], rows))


def _health(data: CatalogData, here: str) -> str:
    arts = data.artifacts
    rows = []
    totals: Counter[str] = Counter()
    for layer in LAYERS:
        contracts = data.project.layer(layer)
        names = [c.qualified_name for c in contracts]
        columns = sum(len(c.all_columns()) for c in contracts)
        pii = sum(_pii_count(c) for c in contracts)
        built = Counter(arts.builds[n].status for n in names if n in arts.builds)
        checks = Counter(ch.outcome for n in names for ch in arts.checks.get(n, []))
        with_sla = [c.qualified_name for c in contracts if _has_freshness_sla(c)]
        fresh = Counter(arts.freshness[n].outcome for n in with_sla if n in arts.freshness)
        totals.update({"tables": len(contracts), "columns": columns, "pii": pii, "with_sla": len(with_sla)})
        totals.update({f"build_{k}": v for k, v in built.items()})
        totals.update({f"check_{k}": v for k, v in checks.items()})
        totals.update({f"fresh_{k}": v for k, v in fresh.items()})

        def counts(counter: Counter, order: tuple[str, ...]) -> str:
            shown = [badge(f"{counter[k]} {k}", {"success": PASS, "error": FAIL}.get(k, k))
                     for k in order if counter.get(k)]
            return " ".join(shown) or outcome_badge(None)

        rows.append([data_urls(data).a(here, layer_uri(layer), layer), str(len(contracts)), str(columns), str(pii),
                     "—" if layer == "raw" or not contracts else counts(built, ("success", "error", "skipped")),
                     counts(checks, (FAIL, ERROR, WARN, PASS)) if contracts else "—",
                     "—" if not contracts else (counts(fresh, (FAIL, WARN, PASS)) if with_sla else NO_SLA_BADGE)])
    out = ["## The warehouse, layer by layer {#layers}\n",
           f"<p>{totals['tables']} tables, {totals['columns']} columns and nested fields, "
           f"{totals['pii']} personal or sensitive columns.</p>\n",
           html_table(["Layer", "Tables", "Columns", "Sensitive", "Last build", "Quality checks", "Freshness"],
                      rows, css="kg-health")]
    out.append("## Health at a glance {#health}\n")
    problems: list[str] = []
    for c in data.contracts():
        n = c.qualified_name
        if n in arts.builds and arts.builds[n].status != "success":
            problems.append(f"- {_table_link(data, here, n)}: build {build_badge(arts.builds[n].status)}")
        failing = [ch for ch in arts.checks.get(n, []) if ch.outcome in (FAIL, ERROR)]
        if failing:
            shown = ", ".join(inline(ch.name) for ch in failing[:3]) + (" …" if len(failing) > 3 else "")
            problems.append(f"- {_table_link(data, here, n)}: {badge(f'{len(failing)} failing', FAIL)} "
                            f"checks ({shown})")
        if n in arts.freshness and arts.freshness[n].outcome in (FAIL, WARN) and _has_freshness_sla(c):
            problems.append(f"- {_table_link(data, here, n)}: freshness {outcome_badge(arts.freshness[n].outcome)}")
    ran = {"build": bool(arts.builds) or BUILD in arts.unreadable,
           "quality checks": bool(arts.checks) or QUALITY in arts.unreadable,
           "freshness checks": bool(arts.freshness) or FRESHNESS in arts.unreadable
           or not totals["with_sla"]}  # unreadable: warned below; no SLA anywhere: nothing to run
    never = [k for k, v in ran.items() if not v]
    if never:
        out.append(f"<p>{outcome_badge(None)} No results yet for: {esc(', '.join(never))} ({NEVER_RUN}).</p>\n")
    if problems:
        out.append("\n".join(problems) + "\n")
    elif not never and not arts.unreadable:
        out.append(f"<p>{badge('all clear', PASS)} Every built table passed its last build, checks and "
                   "freshness.</p>\n")
    if data.lineage.problems:
        out.append('!!! failure "The DAG has problems"\n\n    Run <code>kcrm-gov check</code>: '
                   + esc("; ".join(data.lineage.problems[:5])) + "\n")
    if arts.problems:
        out.append('!!! warning "Unreadable run artifacts"\n\n    ' + esc("; ".join(arts.problems)) + "\n")
    return "\n".join(out)


def overview(data: CatalogData, here: str = "index.md") -> str:
    """The home page's generated part: layer counts and health at a glance."""
    return _health(data, here)


def home_page(data: CatalogData) -> str:
    return ("# K CRM data catalog\n\n<p>Every table of the go-to-market warehouse, generated from its data "
            "contract, its model, and the latest build, quality and freshness results.</p>\n\n" + overview(data))


def sources_index(data: CatalogData) -> str:
    here = "sources/index.md"
    rows = []
    for key, src in data.project.sources.items():
        tables = [c for c in data.contracts() if c.source == key]
        rows.append([data_urls(data).a(here, source_uri(key), src.get("name", key)), esc(src.get("system", "")),
                     esc(src.get("loader", "")), _team_link(data, here, src.get("owner")),
                     str(sum(1 for c in tables if c.layer == "raw")), str(sum(1 for c in tables if c.layer == "stg"))])
    return ("# Source systems\n\n<p>The systems whose data lands in the raw layer, one dataset each.</p>\n\n"
            + html_table(["Source", "System", "Loader", "Owner", "Raw tables", "Stg tables"], rows))


def source_page(data: CatalogData, key: str) -> str:
    here = source_uri(key)
    src = data.project.sources[key]
    tables = [c for c in data.contracts() if c.source == key]
    downstream = set()
    for c in tables:
        downstream |= data.lineage.dag.descendants(c.qualified_name)
    downstream -= {c.qualified_name for c in tables}
    facts = [["Key", code(key)], ["System", esc(src.get("system", ""))], ["Loader", esc(src.get("loader", ""))],
             ["Owner", _team_link(data, here, src.get("owner"))]]
    out = [f"# {src.get('name', key)}\n", f"<p>{inline(src.get('description'))}</p>\n",
           html_table(["", ""], facts, css="kg-facts"), "## Tables {#tables}\n", _table_rows(data, here, tables)]
    out.append("## Feeds {#feeds}\n")
    out.append(("<p>" + ", ".join(_table_link(data, here, t) for t in sorted(downstream)) + "</p>\n")
               if downstream else "<p>No tables outside this source read it yet.</p>\n")
    return "\n".join(out)


def teams_index(data: CatalogData) -> str:
    here = "teams/index.md"
    rows = []
    for key, team in data.project.teams.items():
        owned = [c for c in data.contracts() if c.owner_team == key]
        rows.append([data_urls(data).a(here, team_uri(key), team.name), inline(team.description),
                     code(team.channel) if team.channel else "", esc(", ".join(m.name for m in team.stewards)),
                     str(len(owned))])
    return ("# Owner teams\n\n<p>Every table has one owner team; its data stewards approve changes to its "
            "contract.</p>\n\n" + html_table(["Team", "Owns", "Channel", "Stewards", "Tables"], rows))


def team_page(data: CatalogData, key: str) -> str:
    here = team_uri(key)
    team = data.project.teams[key]
    owned = [c for c in data.contracts() if c.owner_team == key]
    facts = [["Key", code(key)], ["Channel", code(team.channel) if team.channel else "—"],
             ["GitHub team", code(team.github) if team.github else "—"]]
    members = [[esc(m.name), code(m.username), esc(", ".join(m.roles))] for m in team.members.values()]
    sources = [s for s, v in data.project.sources.items() if v.get("owner") == key]
    out = [f"# {team.name}\n", f"<p>{inline(team.description)}</p>\n", html_table(["", ""], facts, css="kg-facts"),
           "## Members {#members}\n", html_table(["Name", "Username", "Roles"], members)]
    if sources:
        out.append("## Source systems {#sources}\n")
        out.append("<p>" + ", ".join(data_urls(data).a(here, source_uri(s), data.project.sources[s].get("name", s))
                                     for s in sources) + "</p>\n")
    out.append("## Tables owned {#tables}\n")
    out.append(_table_rows(data, here, owned))
    return "\n".join(out)


def pii_page(data: CatalogData) -> str:
    here = "pii.md"
    out = ["# PII register\n",
           "<p>Every column of the warehouse that holds personal data (tagged <code>pii</code>) or is classified "
           "confidential or restricted, with where its values flow. The catalog never shows values of any "
           "column; BigQuery policy tags protect these columns in the warehouse.</p>\n"]
    lineage = data.lineage
    total = 0
    for layer in LAYERS:
        rows = []
        for c in data.project.layer(layer):
            for path, column in c.all_columns():
                if not column.is_sensitive:
                    continue
                total += 1
                if lineage.columns is not None:
                    flows = lineage.flows_from(f"{c.qualified_name}.{path}")
                    flow = "<br>".join(_column_link(data, here, f) for f in flows) or "not read by any model"
                    # out of the warehouse: the destination fields a retl table syncs it to
                    external = destination_fields(data.project, [f"{c.qualified_name}.{path}", *flows])
                    if external:
                        flow += "<br>" + "<br>".join(code(f.uri) + " <small>(synced out)</small>" for f in external)
                else:
                    down = sorted(lineage.dag.descendants(c.qualified_name))
                    flow = (("tables downstream: " + ", ".join(_table_link(data, here, t) for t in down))
                            if down else "no downstream tables")
                rows.append([data_urls(data).a(here, table_uri(c.qualified_name), f"{c.qualified_name}.{path}",
                                               anchor=column_anchor(path), is_code=True),
                             classification_badge(column.classification) + (" " + PII_BADGE if column.is_pii else ""),
                             flow, _team_link(data, here, c.owner_team), inline(column.description)])
        if rows:
            out.append(f"## {layer} {{#{layer}}}\n")
            out.append(html_table(["Column", "Classification", "Flows to", "Owner", "Description"], rows,
                                  css="kg-pii-register"))
    if lineage.columns is None:
        out.insert(2, f"<p><em>{esc((lineage.column_note or 'column lineage unavailable').capitalize())}: "
                      "flows are shown as downstream tables.</em></p>\n")
    out.insert(2, f"<p>{total} columns.</p>\n")
    return "\n".join(out)


def glossary_page(data: CatalogData) -> str:
    here = "glossary.md"
    out = ["# Glossary\n", "<p>The words the go-to-market teams use, defined once (<code>catalog/glossary.yml"
           "</code>).</p>\n"]
    if not data.glossary:
        out.append("<p><em>No glossary yet: add terms to catalog/glossary.yml.</em></p>\n")
    for key, term in sorted(data.glossary.items(), key=lambda kv: str(kv[1].get("name")).lower()):
        out.append(f"## {esc(term['name'])} {{#{key}}}\n")
        out.append(f"<p>{inline(term.get('definition'))}</p>\n")
        facts = [["Owner", _team_link(data, here, term.get("owner"))]]
        if term.get("synonyms"):
            facts.append(["Also called", esc(", ".join(map(str, term["synonyms"])))])
        if term.get("related"):
            facts.append(["Related", ", ".join(
                data_urls(data).a(here, here, data.glossary[r]["name"], anchor=r) if r in data.glossary else esc(r)
                for r in term["related"])])
        if term.get("tables"):
            facts.append(["Tables", ", ".join(_table_link(data, here, str(t)) for t in term["tables"])])
        used = [k for k, m in data.metrics.items() if key in (m.get("terms") or [])]
        if used:
            facts.append(["Metrics", ", ".join(data_urls(data).a(here, "metrics.md", data.metrics[k]["name"], anchor=k)
                                               for k in used)])
        if term.get("notes"):
            facts.append(["Notes", inline(term["notes"])])
        out.append(html_table(["", ""], facts, css="kg-facts"))
    return "\n".join(out)


def metrics_page(data: CatalogData) -> str:
    here = "metrics.md"
    out = ["# Metrics\n", "<p>The numbers on K CRM's dashboards, defined once (<code>catalog/metrics.yml</code>). "
           "Source tables not built yet are marked.</p>\n"]
    if not data.metrics:
        out.append("<p><em>No metrics yet: add definitions to catalog/metrics.yml.</em></p>\n")
    for key, metric in data.metrics.items():
        out.append(f"## {esc(metric['name'])} {{#{key}}}\n")
        out.append(f"<p>{inline(metric.get('description'))}</p>\n")
        facts = [["Formula", code(" ".join(str(metric.get("formula", "")).split()))],
                 ["Grain", esc(metric.get("grain", "—"))], ["Unit", esc(metric.get("unit", "—"))],
                 ["Owner", _team_link(data, here, metric.get("owner"))],
                 ["Source tables", ", ".join(_table_link(data, here, str(t)) for t in metric.get("sources") or [])
                  or "—"]]
        if bound_columns(metric):
            facts.append(["Columns", ", ".join(_column_link(data, here, ref) for ref in bound_columns(metric))])
        if metric.get("terms"):
            facts.append(["Terms", ", ".join(
                data_urls(data).a(here, "glossary.md", data.glossary[t]["name"], anchor=t) if t in data.glossary
                else esc(t) for t in metric["terms"])])
        if metric.get("caveats"):
            facts.append(["Caveats", inline(metric["caveats"])])
        out.append(html_table(["", ""], facts, css="kg-facts"))
        charts = _metric_charts(data, here, key)
        if charts:
            out.append(charts)
    return "\n".join(out)


# --- the whole site -----------------------------------------------------------------------------
def render_site(data: CatalogData, urls: Urls | None = None, *, home: bool = True) -> dict[str, str]:
    """Every generated page as ``{src_uri: markdown}``; ``home=False`` when docs/ has its own index.md."""
    if urls is not None:
        data.urls = urls
    pages: dict[str, str] = {}
    if home:
        pages["index.md"] = home_page(data)
    pages["layers/index.md"] = layers_index(data)
    for layer in LAYERS:
        pages[layer_uri(layer)] = layer_page(data, layer)
    for contract in data.contracts():
        pages[table_uri(contract.qualified_name)] = table_page(data, contract)
    pages["sources/index.md"] = sources_index(data)
    for key in data.project.sources:
        pages[source_uri(key)] = source_page(data, key)
    pages["teams/index.md"] = teams_index(data)
    for key in data.project.teams:
        pages[team_uri(key)] = team_page(data, key)
    pages["pii.md"] = pii_page(data)
    pages["glossary.md"] = glossary_page(data)
    pages["metrics.md"] = metrics_page(data)
    from .model_card import MODELS_INDEX, model_card, model_card_uri, models_index

    pages[MODELS_INDEX] = models_index(data)
    for name, spec in propensity_models(data.project).items():
        pages[model_card_uri(name)] = model_card(data, name, spec)
    return pages
