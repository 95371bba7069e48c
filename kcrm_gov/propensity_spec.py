"""What a scoring table's contract says about its propensity model (``customProperties.propensityModel``).

Parsed once, on the typed contract (:attr:`kcrm_gov.contracts.Contract.propensity_model`), for the
trainer (:mod:`kcrm_gov.propensity`), the lint (KG019) and the catalog's model card.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import ContractError, Location
from .identifiers import identifier_problem

if TYPE_CHECKING:
    from .contracts import Contract
    from .project import Project

SPEC_PROPERTY = "propensityModel"
INTERCEPT = "intercept"
NUMERIC_TYPES = ("INT64", "INTEGER", "NUMERIC", "BIGNUMERIC", "FLOAT64", "FLOAT", "BOOL", "BOOLEAN")


@dataclass(frozen=True)
class PropensitySpec:
    """What a scoring table's contract says about its model (``customProperties.propensityModel``)."""

    features: str  # layer.table of the point-in-time features
    key: str  # the entity column (e.g. account_key)
    time: str  # the snapshot column (e.g. month_end)
    label: str  # the forward-looking 0/1 outcome
    label_complete: str | None  # true where the label's forward window lies inside the data
    inputs: tuple[str, ...]  # the model's input columns, in order
    coefficients: str  # layer.table (a reference table) the training writes
    metrics: str  # layer.table (a reference table) the training writes
    held_out_months: int
    location: Location
    inverse_regularization: float = 1.0  # scikit-learn's C: smaller shrinks the coefficients more


def parse_propensity_model(contract: Contract) -> PropensitySpec | None:
    """The contract's propensity model, or None; a malformed one raises :class:`ContractError` at its line."""
    block = contract.custom_mapping(SPEC_PROPERTY)
    if block is None:
        return None
    value, base = block
    where = contract.location(*base)

    def text(key: str, *, table: bool = False, optional: bool = False) -> str | None:
        raw = value.get(key)
        if raw is None and optional:
            return None
        parts = str(raw).split(".", 1) if table and isinstance(raw, str) else [raw]
        if table and len(parts) != 2:
            raise ContractError(f"{SPEC_PROPERTY}.{key} must name a table as layer.table", where)
        for part in parts:
            problem = identifier_problem(part)
            if problem:
                raise ContractError(f"{SPEC_PROPERTY}.{key} {problem}", where)
        return str(raw)

    inputs = value.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise ContractError(f"{SPEC_PROPERTY}.inputs must list the model's input columns", where)
    for name in inputs:
        problem = identifier_problem(name)
        if problem:
            raise ContractError(f"{SPEC_PROPERTY}.inputs: {name!r} {problem}", where)
    if len(set(inputs)) != len(inputs) or INTERCEPT in inputs:
        raise ContractError(f"{SPEC_PROPERTY}.inputs must be distinct column names other than {INTERCEPT!r}", where)
    held_out = value.get("heldOutMonths", 12)
    if not isinstance(held_out, int) or isinstance(held_out, bool) or not 1 <= held_out <= 60:
        raise ContractError(f"{SPEC_PROPERTY}.heldOutMonths must be a whole number of months from 1 to 60", where)
    strength = value.get("inverseRegularization", 1.0)
    if isinstance(strength, bool) or not isinstance(strength, int | float) or not strength > 0:
        raise ContractError(f"{SPEC_PROPERTY}.inverseRegularization must be a number above 0 (scikit-learn's C)",
                            where)
    return PropensitySpec(
        features=str(text("features", table=True)), key=str(text("key")), time=str(text("time")),
        label=str(text("label")), label_complete=text("labelComplete", optional=True),
        inputs=tuple(str(i) for i in inputs), coefficients=str(text("coefficients", table=True)),
        metrics=str(text("metrics", table=True)), held_out_months=held_out, location=where,
        inverse_regularization=float(strength))


def propensity_models(project: Project) -> dict[str, PropensitySpec]:
    """Every scoring table of the project with its model spec."""
    return {name: spec for name, c in project.contracts.items() if (spec := c.propensity_model) is not None}


def check_spec(project: Project, model: str, spec: PropensitySpec) -> None:
    """The tables and columns the spec names exist, with usable types."""
    features = project.contracts.get(spec.features)
    if features is None:
        raise ContractError(f"{SPEC_PROPERTY}.features: no contract for {spec.features}", spec.location)
    for role, name in (("key", spec.key), ("time", spec.time), ("label", spec.label),
                       ("labelComplete", spec.label_complete), *(("inputs", i) for i in spec.inputs)):
        if name is None:
            continue
        column = features.column(name)
        if column is None:
            raise ContractError(f"{SPEC_PROPERTY}.{role}: {spec.features} has no column {name!r}", spec.location)
        if role in ("inputs", "label") and column.bigquery_type.split("(")[0].upper() not in NUMERIC_TYPES:
            raise ContractError(f"{SPEC_PROPERTY}.{role}: {spec.features}.{name} is {column.bigquery_type}, "
                                "not a number or a boolean", spec.location)
    for role, table in (("coefficients", spec.coefficients), ("metrics", spec.metrics)):
        contract = project.contracts.get(table)
        if contract is None or contract.source != "reference":
            raise ContractError(f"{SPEC_PROPERTY}.{role}: {table} must be a contracted reference table "
                                "(customProperties source: reference)", spec.location)
    if model in (spec.coefficients, spec.metrics):
        raise ContractError(f"{SPEC_PROPERTY}: the scoring table cannot be its own coefficients or metrics",
                            spec.location)
