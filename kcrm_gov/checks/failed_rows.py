"""Failed-rows queries: which rows break a ``type: sql`` quality rule, by their keys only.

A rule's ``query`` gives one number (how many accounts mismatch, how many contacts have no
account). An audit rule also says *which* rows: its custom property ``failedRowsQuery`` is a
companion SELECT that lists them::

    quality:
      - type: sql
        name: audit_contacts_without_account
        query: SELECT COUNT(*) FROM ${table} WHERE account_key IS NULL
        mustBe: 0
        severity: warning
        customProperties:
          - property: failedRowsQuery
            value: SELECT contact_id, hubspot_company_id FROM core.contacts WHERE account_key IS NULL

``kcrm-gov test`` runs it when the check fails or warns and records the first
:data:`FAILED_ROWS_LIMIT` rows and how many there are (text and ``--json``).

It names its tables (``core.contacts``), its own table too, never ``${table}``: datacontract-cli resolves ``${…}``
in every field of a contract but a rule's ``query``.

**Keys only, never a classified value.** The query passes the gate of every quality query (one
SELECT over contracted tables, no template syntax, :func:`.sodacl.parse_rule_query`), then each
output column is traced through its column lineage to the table columns it shows: every one must
be a *key* (a primary-key, unique or foreign-key column, or an identifier named ``*_id`` /
``*_key``) and none may hold sensitive values (:attr:`kcrm_gov.contracts.Column.holds_sensitive`:
tagged ``pii`` or classified confidential / restricted, the one place a contract says so). A
``COUNT(…)`` is allowed (a number of rows shows no value). Anything else is refused when the checks
are generated and by lint (KG021), so an email, a name or an amount never reaches a report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from ..contracts import custom_properties
from ..errors import KcrmGovError, Location

if TYPE_CHECKING:
    from ..config import Target
    from ..contracts import Column, Contract
    from ..project import Project

FAILED_ROWS_PROPERTY = "failedRowsQuery"
"""The quality rule's custom property holding its failed-rows query."""
FAILED_ROWS_LIMIT = 20
"""How many failed rows a run keeps (their count is kept too)."""
KEY_SUFFIXES = ("_id", "_key", "_ids", "_keys")
"""Column names the project gives identifiers (``account_key``, ``hubspot_company_id``)."""


class FailedRowsError(KcrmGovError):
    """A failed-rows query that may not run: unsafe SQL, or an output that is not a plain key."""


def failed_rows_text(rule: dict[str, Any]) -> str | None:
    """The rule's failed-rows query as written (None when it has none)."""
    value = custom_properties(rule.get("customProperties")).get(FAILED_ROWS_PROPERTY)
    if value is None:
        return None
    return value if isinstance(value, str) else repr(value)  # a non-string is refused by the parser


def is_key(contract: Contract, column: Column) -> bool:
    """True when ``column`` identifies a row or points at one: primary key, unique, foreign key, or an
    identifier by the project's naming (``*_id``, ``*_key``)."""
    return (column.primary_key_position is not None or column.unique or bool(column.references)
            or column.name.lower().endswith(KEY_SUFFIXES) or column.name in contract.primary_key)


@dataclass(frozen=True)
class VettedQuery:
    """A failed-rows query that passed :func:`vet_failed_rows`."""

    tree: exp.Query  # BigQuery SQL over ``layer.table`` names
    refs: list[str]
    columns: tuple[str, ...]  # its output columns

    def wrapped(self, target: Target) -> tuple[str, str]:
        """``(first rows, their count)`` as BigQuery SQL over the target's table names."""
        from .sodacl import target_tree

        inner = target_tree(self.tree, self.refs, target)
        assert isinstance(inner, exp.Query)  # a transform of a SELECT that only renames tables
        rows = exp.select("*").from_(inner.subquery("failed_rows")).limit(FAILED_ROWS_LIMIT)
        count = exp.select(exp.Count(this=exp.Star())).from_(inner.copy().subquery("failed_rows"))
        return rows.sql(dialect="bigquery"), count.sql(dialect="bigquery")


def vet_failed_rows(text: str, contract: Contract, project: Project | None, col: Column | None,
                    at: Location) -> VettedQuery:
    """Check a failed-rows query: the quality-SQL gate, then keys only and nothing classified.

    Raises :class:`FailedRowsError` (at ``at``) naming the offending output column.
    """
    from ..lineage.columns import LineageError, query_lineage
    from .sodacl import CheckGenerationError, parse_rule_query

    what = f"the {FAILED_ROWS_PROPERTY}"
    try:
        # no ${table}: datacontract-cli resolves ${...} in every field but a rule's query
        tree, refs = parse_rule_query(text, contract, project, col, at, what, placeholders=False)
    except CheckGenerationError as exc:
        raise FailedRowsError(exc.message, at) from None
    if not isinstance(tree, exp.Select):
        raise FailedRowsError(f"{what} must be a plain SELECT (no UNION), so each column can be traced", at)
    if any(isinstance(p.unalias(), exp.Star) or isinstance(p, exp.Star) for p in tree.expressions):
        raise FailedRowsError(f"{what} must name its columns (no SELECT *): it shows keys only", at)
    contracts = project.contracts if project is not None else {contract.qualified_name: contract}
    names = [p.alias_or_name for p in tree.expressions]
    if len(set(names)) != len(names) or any(not n for n in names):
        raise FailedRowsError(f"{what} must give each column a distinct name", at)
    counts = {p.alias_or_name for p in tree.expressions if isinstance(p.unalias(), exp.Count)}
    if project is None:
        raise FailedRowsError(f"{what} needs the project's contracts to trace its columns", at)
    try:
        lineage = query_lineage(project, tree, refs, what)
    except LineageError as exc:
        raise FailedRowsError(exc.message, at) from None
    for name in names:
        if name in counts:
            continue  # a number of rows: no value of any column
        sources = lineage.get(name, [])
        for source in sources:
            owner = contracts.get(source.table)
            shown = owner.column(source.top_column) if owner else None
            if owner is None or shown is None:
                raise FailedRowsError(f"{what}: column '{name}' comes from {source.qualified}, which no contract "
                                      "defines", at)
            if shown.holds_sensitive:
                raise FailedRowsError(f"{what}: column '{name}' shows {source.qualified}, classified "
                                      f"{shown.classification or 'pii'}: a failed-rows report never shows "
                                      "personal or confidential values (select keys only)", at)
            if source.type == "DIRECT" and not is_key(owner, shown):
                raise FailedRowsError(f"{what}: column '{name}' shows {source.qualified}, which is not a key "
                                      "(primary, unique or foreign key, or an *_id / *_key identifier): a "
                                      "failed-rows report names rows by their keys only", at)
    return VettedQuery(tree=tree, refs=refs, columns=tuple(names))


__all__ = ["FAILED_ROWS_LIMIT", "FAILED_ROWS_PROPERTY", "FailedRowsError", "VettedQuery", "failed_rows_text",
           "is_key", "vet_failed_rows"]
