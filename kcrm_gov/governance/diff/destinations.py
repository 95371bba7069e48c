"""A retl contract's destination compared: every change is a change to an external system.

The destination block (``customProperties.destination``, :mod:`kcrm_gov.retl.destination`) says what a
sync writes into HubSpot, Salesforce or the CS tool. Each difference is one :class:`Change` whose
name starts with :data:`~.model.DESTINATION_CHANGE` and whose message names the destination field
(``hubspot://kcrm-portal/companies.kcrm_icp_tier``); such changes always get an impact with the
stewards who must approve them, whatever their kind:

===================================================  ===========  ==========================================
change                                               kind         why
===================================================  ===========  ==========================================
destination removed; system, instance or object      breaking     records stop being written, or go to
changed; match key changed; onDelete changed;                     another object (workflows, reports and
field mapping removed or re-pointed; a written                    integrations on the old field lose it)
field made match-only
destination added; field mapping added; a field      additive     new data goes out (the stewards approve it)
made written; allowed classifications or approved
PII changed
===================================================  ===========  ==========================================
"""

from __future__ import annotations

from typing import Any

from ...contracts import Contract
from ...errors import ContractError, Location
from ...lineage.reach import field_uri
from ...retl.destination import SPEC_PROPERTY, Destination, FieldMapping
from .model import ADDITIVE, BREAKING, DESTINATION_CHANGE, Change


def destination_changes(old: Contract | None, new: Contract) -> list[Change]:
    """Every difference between the destinations of two versions of one contract (``old`` None: the table
    is new), at its line in ``new``."""
    table = new.qualified_name
    changes: list[Change] = []

    def add(kind: str, change: str, message: str, where: Any, *, column: str | None = None,
            before: Any = None, after: Any = None) -> None:
        line = where.line if where is not None else new.location("customProperties").line
        changes.append(Change(table, kind, DESTINATION_CHANGE + change, message, column, before, after,
                              str(new.path), line or 1))

    try:
        a, b = old.destination if old is not None else None, new.destination
    except ContractError as exc:  # lint reports the malformed block; the diff still shows it moved
        before = _raw(old) if old is not None else None
        if before != _raw(new):
            add(ADDITIVE, "changed", f"destination block changed (it does not parse: {exc.message})", exc.location,
                before=before, after=_raw(new))
        return changes
    if a is None and b is None:
        return changes

    def at(*keys: str | int) -> Location:
        """Where ``keys`` of the new destination value are written."""
        items = new.document.data.get("customProperties") or []
        index = next(i for i, p in enumerate(items) if isinstance(p, dict) and p.get("property") == SPEC_PROPERTY)
        return new.location("customProperties", index, "value", *keys)

    if a is None:
        assert b is not None
        add(ADDITIVE, "added", f"now synced to external system {_target(b)}: "
            f"{', '.join(field_uri(b, m.field) for m in b.fields)}", b.location, after=_target(b))
        return changes
    if b is None:
        add(BREAKING, "removed", f"no longer synced to external system {_target(a)} (its records keep their last "
            "values)", new.location("customProperties"), before=_target(a))
        return changes

    if (a.system, a.instance, a.object) != (b.system, b.instance, b.object):
        add(BREAKING, "target_changed", f"external system changed from {_target(a)} to {_target(b)}: every field "
            "is written to another object", at("system") if a.system != b.system else
            at("instance") if a.instance != b.instance else at("object"), before=_target(a), after=_target(b))
        return changes  # field by field against another object means nothing
    target = _target(b)
    if a.match_key != b.match_key:
        add(BREAKING, "match_key_changed", f"external system {target}: match key changed from {a.match_key} to "
            f"{b.match_key} (records are found by another field)", at("matchKey"),
            before=a.match_key, after=b.match_key)
    if a.on_delete != b.on_delete:
        add(BREAKING, "on_delete_changed", f"external system {target}: a record whose row leaves the table is now "
            f"'{b.on_delete}' (was '{a.on_delete}')", at("onDelete"), before=a.on_delete, after=b.on_delete)

    old_fields = {m.field: m for m in a.fields}
    new_fields = {m.field: m for m in b.fields}
    by_column_old = {m.column: m for m in a.fields}
    for field, m in new_fields.items():
        before = old_fields.get(field)
        if before is None:
            moved = by_column_old.get(m.column)
            if moved is not None and moved.field not in new_fields:
                add(BREAKING, "field_repointed", f"external system {target}: column {m.column} re-pointed from "
                    f"{field_uri(a, moved.field)} to {field_uri(b, field)}", m.location, column=m.column,
                    before=field_uri(a, moved.field), after=field_uri(b, field))
            else:
                add(ADDITIVE, "field_added", f"external system {target}: column {m.column} now "
                    f"{'written to' if _writes(b, m) else 'sent as'} {field_uri(b, field)}", m.location,
                    column=m.column, after=field_uri(b, field))
            continue
        if before.column != m.column:
            add(BREAKING, "field_repointed", f"external system {target}: {field_uri(b, field)} now filled from "
                f"column {m.column} (was {before.column})", m.location, column=m.column,
                before=before.column, after=m.column)
        if _writes(a, before) != _writes(b, m):
            written = _writes(b, m)
            add(ADDITIVE if written else BREAKING, "field_write_changed",
                f"external system {target}: {field_uri(b, field)} is "
                + ("now written" if written else "no longer written (match-only)"), m.location, column=m.column,
                before=_writes(a, before), after=written)
    for field, m in old_fields.items():
        if field in new_fields or any(n.column == m.column and n.field not in old_fields for n in b.fields):
            continue  # kept, or re-pointed (reported above)
        add(BREAKING, "field_removed", f"external system {target}: {field_uri(a, field)} (from column {m.column}) "
            "is no longer synced", at("fields"), column=m.column, before=field_uri(a, field))

    if set(a.allowed_classifications) != set(b.allowed_classifications):
        add(ADDITIVE, "classifications_changed", f"external system {target}: classifications allowed to leave "
            f"the warehouse changed from {', '.join(a.allowed_classifications) or 'none'} to "
            f"{', '.join(b.allowed_classifications) or 'none'}", at("allowedClassifications"),
            before=list(a.allowed_classifications), after=list(b.allowed_classifications))
    approved, withdrawn = sorted(set(b.approved_pii) - set(a.approved_pii)), \
        sorted(set(a.approved_pii) - set(b.approved_pii))
    if approved or withdrawn:
        parts = ([f"approved for {', '.join(approved)}"] if approved else []) + \
            ([f"withdrawn for {', '.join(withdrawn)}"] if withdrawn else [])
        add(ADDITIVE, "pii_changed", f"external system {target}: personal data {'; '.join(parts)}", at("approvedPii"),
            before=list(a.approved_pii), after=list(b.approved_pii))
    return changes


def _target(d: Destination) -> str:
    return f"{d.namespace} {d.object}"


def _writes(d: Destination, m: FieldMapping) -> bool:
    return m.write and m.field != d.match_key


def _raw(contract: Contract) -> Any:
    items = contract.document.data.get("customProperties") or []
    return next((p.get("value") for p in items if isinstance(p, dict) and p.get("property") == SPEC_PROPERTY), None)


def without_destination(custom: Any) -> Any:
    """A contract's raw ``customProperties`` without the destination item (compared by :func:`destination_changes`)."""
    if not isinstance(custom, list):
        return custom
    return [p for p in custom if not (isinstance(p, dict) and p.get("property") == SPEC_PROPERTY)]
