"""Column comparisons, as a table of rules.

Each rule compares one aspect of a column that exists at the base and in the working tree (its
type, whether it is required, ...) and yields a :class:`Delta` per difference: its kind, a short
message and the YAML key that shows it. Rules are registered with :func:`column_rule`, in the
order their changes are reported, as the lint rules are (:mod:`kcrm_gov.lint.rules`);
:func:`column_changes` runs them all and places each delta in the contract file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ...contracts import Column, Contract, valid_values_of
from .model import ADDITIVE, BREAKING, DOCUMENTATION, Change
from .types import T, type_text, widens


@dataclass(frozen=True)
class Delta:
    """One difference a rule found, before it is placed: :func:`column_changes` adds the table,
    the column's path (prefixed to the message), the file and the line of ``key``."""

    kind: str
    change: str
    message: str
    key: str | None = None  # the column's YAML key that shows it; None: the column itself
    before: Any = None
    after: Any = None


ColumnCheck = Callable[[Column, Column], Iterator[Delta]]


@dataclass(frozen=True)
class ColumnRule:
    """One aspect of a column compared between the base (first argument) and the working tree."""

    aspect: str
    title: str
    check: ColumnCheck


COLUMN_RULES: list[ColumnRule] = []
"""Every column rule, in the order their changes are reported."""


def column_rule(aspect: str, title: str) -> Callable[[ColumnCheck], ColumnCheck]:
    """Register a column rule under a unique ``aspect`` name (after those already registered)."""
    def register(fn: ColumnCheck) -> ColumnCheck:
        if any(r.aspect == aspect for r in COLUMN_RULES):  # a second rule would report every change twice
            raise ValueError(f"column rule '{aspect}' is already registered")
        COLUMN_RULES.append(ColumnRule(aspect, title, fn))
        return fn
    return register


def column_changes(table: str, contract: Contract, path: str, a: Column, b: Column) -> list[Change]:
    """Every difference between column ``path`` at the base (``a``) and in ``contract`` (``b``),
    rule by rule."""
    out: list[Change] = []
    for rule in COLUMN_RULES:
        for d in rule.check(a, b):
            # location() falls back to the column itself when the key is not written
            keys = (*b.yaml_path, d.key) if d.key else b.yaml_path
            out.append(Change(table, d.kind, d.change, f"column {path}: {d.message}", path, d.before, d.after,
                              str(contract.path), contract.location(*keys).line or 1))
    return out


# --- the rules, in report order -------------------------------------------------------------------
@column_rule("type", "Type widened, narrowed or changed")
def type_rule(a: Column, b: Column) -> Iterator[Delta]:
    ta, tb = type_text(a.data_type), type_text(b.data_type)
    if not a.fields and not b.fields:
        if ta == tb:
            return
        if widens(a.data_type, b.data_type):
            yield Delta(ADDITIVE, "type_widened", f"type widened from {ta} to {tb}", "physicalType", ta, tb)
        elif widens(b.data_type, a.data_type):
            yield Delta(BREAKING, "type_narrowed", f"type narrowed from {ta} to {tb}", "physicalType", ta, tb)
        else:
            yield Delta(BREAKING, "type_changed", f"type changed from {ta} to {tb}", "physicalType", ta, tb)
    elif bool(a.fields) != bool(b.fields):
        yield Delta(BREAKING, "type_changed", f"type changed from {ta} to {tb}", "physicalType", ta, tb)
    elif (a.data_type.this == T.ARRAY) != (b.data_type.this == T.ARRAY):
        # a record's own fields are compared as nested columns; only its repetition is left here
        yield Delta(BREAKING, "type_changed", "changed between a repeated and a single record", "physicalType",
                    ta[:40], tb[:40])


@column_rule("required", "Made required or made optional")
def required_rule(a: Column, b: Column) -> Iterator[Delta]:
    if not a.required and b.required:
        yield Delta(BREAKING, "column_made_required", "made required: writers must now always provide it",
                    "required", False, True)
    elif a.required and not b.required:
        yield Delta(BREAKING, "column_made_optional", "made optional: readers lose the non-null guarantee",
                    "required", True, False)


@column_rule("unique", "Unique constraint added or removed")
def unique_rule(a: Column, b: Column) -> Iterator[Delta]:
    if a.unique != b.unique:
        what = ("unique constraint added: existing duplicates break writers" if b.unique else
                "unique constraint removed: readers lose the uniqueness guarantee")
        yield Delta(BREAKING, "unique_changed", what, "unique", a.unique, b.unique)


@column_rule("allowed_values", "Allowed values widened or narrowed")
def allowed_values_rule(a: Column, b: Column) -> Iterator[Delta]:
    allowed_a, allowed_b = allowed_values(a), allowed_values(b)
    if allowed_a == allowed_b or not (allowed_a or allowed_b):
        return
    va, vb = set(map(str, allowed_a)), set(map(str, allowed_b))
    if not vb:
        yield Delta(ADDITIVE, "allowed_values_widened", "allowed values removed (any value allowed)", None,
                    sorted(va), None)
    elif not va:
        yield Delta(BREAKING, "allowed_values_narrowed", f"allowed values restricted to {', '.join(sorted(vb))}",
                    None, sorted(va), sorted(vb))
    elif vb > va:
        yield Delta(ADDITIVE, "allowed_values_widened",
                    f"allowed values widened: added {', '.join(sorted(vb - va))}", None, sorted(va), sorted(vb))
    elif vb < va:
        yield Delta(BREAKING, "allowed_values_narrowed",
                    f"allowed values narrowed: removed {', '.join(sorted(va - vb))}", None, sorted(va), sorted(vb))
    elif va != vb:
        yield Delta(BREAKING, "allowed_values_narrowed",
                    f"allowed values changed: removed {', '.join(sorted(va - vb))}, added {', '.join(sorted(vb - va))}",
                    None, sorted(va), sorted(vb))


@column_rule("classification", "Classification lowered or raised")
def classification_rule(a: Column, b: Column) -> Iterator[Delta]:
    if (a.classification or "") == (b.classification or ""):
        return
    if b.classification_rank < a.classification_rank:
        yield Delta(BREAKING, "classification_lowered",
                    f"classification lowered from {a.classification} to {b.classification}: less protection for "
                    "data already classified higher", "classification", a.classification, b.classification)
    else:
        yield Delta(ADDITIVE, "classification_raised",
                    f"classification raised from {a.classification} to {b.classification}", "classification",
                    a.classification, b.classification)


@column_rule("pii", "PII mark removed or added")
def pii_rule(a: Column, b: Column) -> Iterator[Delta]:
    if a.is_pii and not b.is_pii:
        yield Delta(BREAKING, "pii_mark_removed", "PII mark removed: masking and access policies no longer apply",
                    "tags", True, False)
    elif b.is_pii and not a.is_pii:
        yield Delta(ADDITIVE, "pii_mark_added", "marked as PII", "tags", False, True)


@column_rule("quality", "Quality rule removed, added or reworded")
def quality_rule(a: Column, b: Column) -> Iterator[Delta]:
    yield from quality_deltas(a.quality, b.quality)


@column_rule("description", "Description changed")
def description_rule(a: Column, b: Column) -> Iterator[Delta]:
    if (a.description or "") != (b.description or ""):
        yield Delta(DOCUMENTATION, "description_changed", "description changed", "description")


@column_rule("relationships", "Relationships removed, changed or added")
def relationships_rule(a: Column, b: Column) -> Iterator[Delta]:
    if a.references != b.references and a.references:
        # a reference dropped breaks the joins readers make on it; one added only adds a guarantee
        kind = BREAKING if set(a.references) - set(b.references) else ADDITIVE
        yield Delta(kind, "relationship_changed",
                    f"relationships changed from {', '.join(a.references)} to {', '.join(b.references) or 'none'}",
                    "relationships", list(a.references), list(b.references))
    elif b.references and not a.references:
        yield Delta(ADDITIVE, "relationship_changed", f"relationship to {', '.join(b.references)} added",
                    "relationships", [], list(b.references))


# --- allowed values and quality rules -------------------------------------------------------------
def allowed_values(column: Column) -> tuple[Any, ...]:
    """A column's allowed values (:attr:`kcrm_gov.contracts.Column.accepted_values`)."""
    return column.accepted_values


def _quality_key(rule: dict[str, Any]) -> str:
    """What identifies a quality rule across versions: its name, else everything but its wording."""
    if rule.get("name"):
        return str(rule["name"])
    if valid_values_of(rule) is not None:  # its values are compared as allowed values
        rest = {k: v for k, v in rule.items() if k not in ("description", "name", "arguments")}
        return "allowed-values:" + json.dumps(rest, sort_keys=True, default=str)
    return json.dumps({k: v for k, v in rule.items() if k not in ("description", "name")}, sort_keys=True,
                      default=str)


def quality_deltas(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> Iterator[Delta]:
    """Quality rules (as ODCS dicts) removed, added or reworded, at the ``quality`` key."""
    qa = {_quality_key(q): q for q in before}
    qb = {_quality_key(q): q for q in after}
    for key, rule in qa.items():
        if key not in qb:
            yield Delta(BREAKING, "quality_rule_removed", f"quality rule removed: {_quality_name(rule, key)}",
                        "quality", rule, None)
    for key, rule in qb.items():
        if key not in qa:
            yield Delta(ADDITIVE, "quality_rule_added", f"quality rule added: {_quality_name(rule, key)}",
                        "quality", None, rule)
        elif qa[key] != rule and key.startswith("allowed-values:"):
            continue  # a change of the values themselves: see the allowed-values rule
        elif qa[key] != rule:
            yield Delta(DOCUMENTATION, "description_changed", "quality rule description changed", "quality")


def _quality_name(rule: dict[str, Any], key: str) -> Any:
    return rule.get("name") or rule.get("description") or rule.get("metric") or rule.get("rule") or key
