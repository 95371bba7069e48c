"""The diff's column rules (one aspect of a column each, registered in report order) and the SLA
comparison's shared facts, on contracts built in memory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from miniproject import contract_yaml

from kcrm_gov.contracts import FRESHNESS_UNITS, Contract, parse_contract
from kcrm_gov.governance.diff import (
    ADDITIVE,
    BREAKING,
    COLUMN_RULES,
    DOCUMENTATION,
    Change,
    column_changes,
    column_rule,
)
from kcrm_gov.governance.diff.sla import SLA_UNIT_HOURS, sla_changes, sla_map
from kcrm_gov.yamlsource import parse_yaml

ASPECTS = ("type", "required", "unique", "allowed_values", "classification", "pii", "quality", "description",
           "relationships")
TABLE = "stg.src__items"
COLUMN = "status"


def _contract(edit: Callable[[dict[str, Any]], None] = lambda c: None,
              edit_doc: Callable[[dict[str, Any]], None] = lambda d: None) -> Contract:
    """``stg.src__items`` with one STRING column ``status`` (internal), after ``edit`` of that column's
    YAML mapping and ``edit_doc`` of the whole document."""
    data = yaml.safe_load(contract_yaml("stg", "src__items", [("id", "INT64", True), (COLUMN, "STRING", False)],
                                        ["id"]))
    edit(data["schema"][0]["properties"][1])
    edit_doc(data)
    text = yaml.safe_dump(data, sort_keys=False)
    return parse_contract(parse_yaml(text, Path("contracts/stg/src__items.odcs.yaml")), "stg", "src__items")


def _changes(old: Contract, new: Contract) -> list[Change]:
    return column_changes(TABLE, new, COLUMN, old.column(COLUMN), new.column(COLUMN))


def _set(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda col: col.update(values)


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda col: col.pop(key, None)


RULE = {"type": "library", "metric": "nullValues", "mustBe": 0, "name": "no_nulls"}
ENUM = ["open", "closed"]


def _enum(values: list[str]) -> list[dict[str, str]]:
    return [{"value": v} for v in values]


# aspect, base column edit, working-tree column edit, the one change expected, its kind, its YAML key
CASES = [
    ("type", _set(physicalType="STRING(10)"), _set(physicalType="STRING"), "type_widened", ADDITIVE, "physicalType"),
    ("type", _set(physicalType="STRING"), _set(physicalType="STRING(10)"), "type_narrowed", BREAKING,
     "physicalType"),
    ("type", _set(), _set(physicalType="INT64", logicalType="integer"), "type_changed", BREAKING, "physicalType"),
    ("required", _set(), _set(required=True), "column_made_required", BREAKING, "required"),
    ("required", _set(required=True), _set(required=False), "column_made_optional", BREAKING, "required"),
    ("unique", _set(), _set(unique=True), "unique_changed", BREAKING, "unique"),
    ("allowed_values", _set(enum=_enum(ENUM)), _set(enum=_enum([*ENUM, "pending"])), "allowed_values_widened",
     ADDITIVE, None),
    ("allowed_values", _set(enum=_enum(ENUM)), _set(enum=_enum(ENUM[:1])), "allowed_values_narrowed", BREAKING,
     None),
    ("classification", _set(), _set(classification="restricted"), "classification_raised", ADDITIVE,
     "classification"),
    ("classification", _set(), _set(classification="public"), "classification_lowered", BREAKING,
     "classification"),
    ("pii", _set(), _set(tags=["pii"]), "pii_mark_added", ADDITIVE, "tags"),
    ("pii", _set(tags=["pii"]), _set(tags=[]), "pii_mark_removed", BREAKING, "tags"),
    ("quality", _set(), _set(quality=[RULE]), "quality_rule_added", ADDITIVE, "quality"),
    ("quality", _set(quality=[RULE]), _set(), "quality_rule_removed", BREAKING, "quality"),
    ("quality", _set(quality=[RULE]), _set(quality=[{**RULE, "description": "reworded"}]), "description_changed",
     DOCUMENTATION, "quality"),
    ("description", _set(), _set(description="Reworded."), "description_changed", DOCUMENTATION, "description"),
    ("relationships", _set(), _set(relationships=[{"type": "foreignKey", "to": "src__other.status"}]),
     "relationship_changed", ADDITIVE, "relationships"),
    ("relationships", _set(relationships=[{"type": "foreignKey", "to": "src__other.status"}]), _drop("relationships"),
     "relationship_changed", BREAKING, "relationships"),
]


# --- the registry ---------------------------------------------------------------------------------
def test_each_column_rule_is_registered_once_in_report_order() -> None:
    assert tuple(r.aspect for r in COLUMN_RULES) == ASPECTS
    assert all(r.title for r in COLUMN_RULES)
    assert len({r.check for r in COLUMN_RULES}) == len(COLUMN_RULES)


def test_a_second_rule_for_an_aspect_is_refused() -> None:
    before = list(COLUMN_RULES)
    with pytest.raises(ValueError, match="already registered"):
        column_rule("type", "again")(lambda a, b: iter(()))
    assert before == COLUMN_RULES


def test_every_aspect_has_a_case() -> None:
    assert {case[0] for case in CASES} == set(ASPECTS)


# --- one change per aspect ------------------------------------------------------------------------
@pytest.mark.parametrize(("aspect", "before", "after", "change", "kind", "key"), CASES,
                         ids=[f"{c[0]}-{c[3]}-{c[4]}" for c in CASES])
def test_a_single_column_change_is_one_change_of_its_kind(aspect: str, before: Callable, after: Callable,
                                                        change: str, kind: str, key: str | None) -> None:
    old, new = _contract(before), _contract(after)
    changes = _changes(old, new)
    assert [(c.change, c.kind) for c in changes] == [(change, kind)]
    found = changes[0]
    assert found.column == COLUMN and found.table == TABLE and found.message.startswith(f"column {COLUMN}: ")
    column = new.column(COLUMN)
    assert found.line == new.location(*column.yaml_path, *([key] if key else [])).line
    # exactly the rule for this aspect sees it
    assert [r.aspect for r in COLUMN_RULES if list(r.check(old.column(COLUMN), column))] == [aspect]


def test_an_unchanged_column_has_no_change() -> None:
    same = _set(enum=_enum(ENUM), tags=["pii"], quality=[RULE])
    assert _changes(_contract(same), _contract(same)) == []


def test_changes_on_several_aspects_come_in_registry_order() -> None:
    old = _contract()
    new = _contract(_set(physicalType="INT64", logicalType="integer", required=True, description="New.",
                         classification="restricted"))
    assert [c.change for c in _changes(old, new)] == ["type_changed", "column_made_required",
                                                      "classification_raised", "description_changed"]


def test_allowed_values_from_an_invalid_values_rule_are_compared_as_allowed_values() -> None:
    def rule(values: list[str]) -> dict[str, Any]:
        return {"type": "library", "metric": "invalidValues", "mustBe": 0, "arguments": {"validValues": values}}

    changes = _changes(_contract(_set(quality=[rule(ENUM)])), _contract(_set(quality=[rule(ENUM[:1])])))
    assert [(c.change, c.kind) for c in changes] == [("allowed_values_narrowed", BREAKING)]


# --- SLA: the contract's facts, not derived again ---------------------------------------------------
def _with_sla(*items: dict[str, Any]) -> Contract:
    return _contract(edit_doc=lambda d: d.update(slaProperties=list(items)))


def test_sla_units_extend_the_contract_unit_table() -> None:
    assert {k: SLA_UNIT_HOURS[k] for k in FRESHNESS_UNITS} == FRESHNESS_UNITS
    assert SLA_UNIT_HOURS["w"] == 7 * 24 and SLA_UNIT_HOURS["years"] == 365 * 24


def test_freshness_is_compared_in_the_contract_parsed_hours() -> None:
    contract = _with_sla({"property": "freshness", "value": 2, "unit": "d",
                          "customProperties": [{"property": "warnAfter", "value": 1}]})
    fresh = contract.freshness
    compared = sla_map(contract)["freshness"]
    assert fresh is not None
    assert (compared.hours, compared.durations["warnAfter"]) == (fresh.hours, fresh.warn_hours) == (48.0, 24.0)


@pytest.mark.parametrize(("prop", "before", "after", "change"), [
    ("freshness", (24, "h"), (2, "d"), "sla_loosened"),
    ("freshness", (2, "d"), (36, "h"), "sla_tightened"),
    ("retention", (1, "y"), (26, "weeks"), "sla_loosened"),  # a smaller retention promises less
    ("latency", (90, "m"), (1, "h"), "sla_tightened"),
])
def test_an_sla_value_change_is_loosened_or_tightened(prop: str, before: tuple[int, str], after: tuple[int, str],
                                                      change: str) -> None:
    old = _with_sla({"property": prop, "value": before[0], "unit": before[1]})
    new = _with_sla({"property": prop, "value": after[0], "unit": after[1]})
    changes = sla_changes(TABLE, old, new, depended=True)
    assert [(c.change, c.kind) for c in changes] == [(change, BREAKING if change == "sla_loosened" else ADDITIVE)]
    assert changes[0].line == new.location("slaProperties", 0).line
