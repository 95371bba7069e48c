"""What a reverse-ETL contract says about where its rows go (``customProperties.destination``).

Parsed once, on the typed contract (:attr:`kcrm_gov.contracts.Contract.destination`), for the lint,
``diff``, the sync planner and pusher, lineage (the destination as an output dataset) and the catalog.

A retl contract carries::

    customProperties:
      - property: destination
        value:
          system: hubspot              # hubspot | salesforce | gainsight
          instance: kcrm-portal        # the portal / org / tenant: lineage namespace hubspot://kcrm-portal
          object: companies            # the destination object (HubSpot object type, Salesforce sObject...)
          matchKey: hs_object_id       # the destination field that identifies a record
          onDelete: clear              # a row that leaves the table: clear its fields | archive | keep
          allowedClassifications: [public, internal]   # what may leave the warehouse (default: these two)
          approvedPii: []              # PII columns a steward approved for this destination
          fields:                      # column -> destination field; the match key's column included
            - {column: hubspot_company_id, field: hs_object_id, write: false}
            - {column: icp_fit_score, field: kcrm_icp_fit_score}

``write: false`` marks a field that is sent to identify the record but never written (the match key
always is; a field the destination computes may be too).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ContractError, Location
from ..identifiers import identifier_problem

if TYPE_CHECKING:
    from ..contracts import Contract

SPEC_PROPERTY = "destination"
SYSTEMS = ("hubspot", "salesforce", "gainsight")
"""Destinations kcrm-gov knows: a system's property lists live in ``catalog/destinations/<system>/``."""
ON_DELETE = ("clear", "archive", "keep")
DEFAULT_CLASSIFICATIONS = ("public", "internal")
FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
"""Destination field names: letters, digits and underscores (HubSpot, Salesforce ``__c``, Gainsight ``__gc``)."""
INSTANCE = re.compile(r"^[a-z0-9][a-z0-9.-]{0,62}$")


@dataclass(frozen=True)
class FieldMapping:
    """One retl column and the destination field it fills."""

    column: str
    field: str
    write: bool  # False: sent to identify the record (the match key), never written
    location: Location


@dataclass(frozen=True)
class Destination:
    """Where a retl table's rows go and which of its columns may be written there."""

    system: str
    instance: str
    object: str
    match_key: str
    on_delete: str
    allowed_classifications: tuple[str, ...]
    approved_pii: tuple[str, ...]
    fields: tuple[FieldMapping, ...]
    location: Location

    @property
    def namespace(self) -> str:
        """The OpenLineage namespace of the destination (``hubspot://kcrm-portal``)."""
        return f"{self.system}://{self.instance}"

    @property
    def key_mapping(self) -> FieldMapping:
        """The mapping of the match key (parsing guarantees there is exactly one)."""
        return next(m for m in self.fields if m.field == self.match_key)

    @property
    def key_column(self) -> str:
        """The retl column that holds the destination's match key."""
        return self.key_mapping.column

    @property
    def written(self) -> tuple[FieldMapping, ...]:
        """The mappings a sync writes (everything but the match key and ``write: false`` fields)."""
        return tuple(m for m in self.fields if m.write and m.field != self.match_key)

    @property
    def columns(self) -> tuple[str, ...]:
        """Every mapped retl column, in mapping order."""
        return tuple(m.column for m in self.fields)

    def field_of(self, column: str) -> str | None:
        """The destination field a column fills, or None when it is not synced."""
        return next((m.field for m in self.fields if m.column == column), None)


def parse_destination(contract: Contract) -> Destination | None:
    """The contract's destination, or None; a malformed one raises :class:`ContractError` at its line."""
    block = contract.custom_mapping(SPEC_PROPERTY)
    if block is None:
        return None
    value, base = block
    where = contract.location(*base)

    def at(*keys: str | int) -> Location:
        return contract.location(*base, *keys)

    def text(key: str, pattern: re.Pattern[str], what: str, default: str | None = None) -> str:
        raw = value.get(key, default)
        if not isinstance(raw, str) or not pattern.match(raw):
            raise ContractError(f"{SPEC_PROPERTY}.{key} must be {what}, got {raw!r}",
                                at(key) if key in value else where)
        return raw

    system = value.get("system")
    if system not in SYSTEMS:
        raise ContractError(f"{SPEC_PROPERTY}.system must be one of {', '.join(SYSTEMS)}, got {system!r}",
                            at("system") if "system" in value else where)
    instance = text("instance", INSTANCE, "the portal, org or tenant name (lower-case letters, digits, '.', '-')")
    obj = text("object", FIELD_NAME, "the destination object's API name")
    match_key = text("matchKey", FIELD_NAME, "the destination field that identifies a record")
    on_delete = value.get("onDelete", "clear")
    if on_delete not in ON_DELETE:
        raise ContractError(f"{SPEC_PROPERTY}.onDelete must be one of {', '.join(ON_DELETE)}, got {on_delete!r}",
                            at("onDelete"))
    allowed = _names(value, "allowedClassifications", list(DEFAULT_CLASSIFICATIONS), at, where)
    from ..contracts import CLASSIFICATIONS

    for level in allowed:
        if level not in CLASSIFICATIONS:
            raise ContractError(f"{SPEC_PROPERTY}.allowedClassifications: {level!r} is not one of "
                                f"{', '.join(CLASSIFICATIONS)}", at("allowedClassifications"))
    approved = _names(value, "approvedPii", [], at, where)
    for name in approved:
        problem = identifier_problem(name)
        if problem:
            raise ContractError(f"{SPEC_PROPERTY}.approvedPii: {name!r} {problem}", at("approvedPii"))

    raw_fields = value.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        raise ContractError(f"{SPEC_PROPERTY}.fields must list the mapped columns as {{column, field}}",
                            at("fields") if "fields" in value else where)
    fields: list[FieldMapping] = []
    for i, item in enumerate(raw_fields):
        here = at("fields", i)
        if not isinstance(item, dict) or set(item) - {"column", "field", "write"}:
            raise ContractError(f"{SPEC_PROPERTY}.fields[{i}] must be a mapping of column, field and "
                                "optionally write", here)
        column, write = item.get("column"), item.get("write", True)
        field_name = item.get("field")
        problem = identifier_problem(column)
        if problem:
            raise ContractError(f"{SPEC_PROPERTY}.fields[{i}].column {column!r} {problem}", here)
        if not isinstance(field_name, str) or not FIELD_NAME.match(field_name):
            raise ContractError(f"{SPEC_PROPERTY}.fields[{i}].field {field_name!r} is not a destination field name "
                                "(letters, digits and underscores)", here)
        if not isinstance(write, bool):
            raise ContractError(f"{SPEC_PROPERTY}.fields[{i}].write must be true or false", here)
        fields.append(FieldMapping(column=str(column), field=field_name, write=write, location=here))
    for attr in ("column", "field"):
        seen = [getattr(m, attr) for m in fields]
        twice = sorted({n for n in seen if seen.count(n) > 1})
        if twice:
            raise ContractError(f"{SPEC_PROPERTY}.fields maps {attr} {', '.join(twice)} more than once", at("fields"))
    if match_key not in {m.field for m in fields}:
        raise ContractError(f"{SPEC_PROPERTY}.matchKey {match_key!r} is not a mapped field: map the column "
                            "that holds it", at("matchKey"))
    return Destination(system=str(system), instance=instance, object=obj, match_key=match_key,
                       on_delete=str(on_delete), allowed_classifications=tuple(allowed),
                       approved_pii=tuple(approved), fields=tuple(fields), location=where)


def _names(value: dict[str, Any], key: str, default: list[str], at: Any, where: Location) -> list[str]:
    raw = value.get(key, default)
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise ContractError(f"{SPEC_PROPERTY}.{key} must be a list of names", at(key) if key in value else where)
    return [str(x) for x in raw]
