"""SLA comparison: each ``slaProperties`` entry loosened, tightened, added or removed.

The freshness SLA is read as the contract parses it once for every consumer
(:attr:`kcrm_gov.contracts.Contract.freshness`). The other entries (latency, frequency,
retention...) have no typed parser yet: their durations are converted with the contract's unit
table, :data:`kcrm_gov.contracts.FRESHNESS_UNITS`, plus weeks and years (below).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...contracts import SLA_UNITS, Contract, Freshness, custom_properties, sla_hours
from ...errors import ContractError
from .model import ADDITIVE, BREAKING, Change

SLA_UNIT_HOURS = SLA_UNITS
"""Hours per SLA unit: the contracts' one table (:data:`kcrm_gov.contracts.SLA_UNITS`)."""
LOOSER_WHEN_SMALLER = ("retention",)
"""SLA properties where a smaller value promises less (for the others, freshness, latency and
frequency, a larger one does)."""
SLA_CUSTOM_DURATIONS = ("warnAfter", "lateArrivalAllowance")
"""An SLA's customProperties that are durations, in the SLA's unit."""


@dataclass
class _Sla:
    """One slaProperties entry as compared. ``data`` is what the report shows as before / after."""

    value: Any
    unit: Any
    element: Any
    custom: dict[str, Any]
    hours: float | None
    durations: dict[str, float | None] = field(default_factory=dict)  # SLA_CUSTOM_DURATIONS, in hours

    @property
    def data(self) -> dict[str, Any]:
        return {"value": self.value, "unit": self.unit, "element": self.element, "custom": self.custom,
                "hours": self.hours}

    @property
    def amount(self) -> str:
        return f"{self.value} {self.unit or ''}"


def _freshness(contract: Contract) -> Freshness | None:
    """The parsed freshness SLA; None when there is none or it is malformed (lint reports that at its
    line; the diff still compares what is written, with the generic units)."""
    try:
        return contract.freshness
    except ContractError:
        return None


def sla_map(contract: Contract) -> dict[str, _Sla]:
    """The contract's slaProperties by property name (the last entry wins, as in the file's reading)."""
    fresh = _freshness(contract)
    out: dict[str, _Sla] = {}
    for index, item in enumerate(contract.model.slaProperties or []):
        if not item.property:
            continue
        custom = custom_properties(item.customProperties)
        if fresh is not None and fresh.index == index:
            hours: float | None = fresh.hours
            durations = {"warnAfter": fresh.warn_hours, "lateArrivalAllowance": fresh.allowance_hours}
        else:
            hours = sla_hours(item.value, item.unit)
            durations = {key: sla_hours(custom.get(key), item.unit) for key in SLA_CUSTOM_DURATIONS}
        out[item.property] = _Sla(item.value, item.unit, item.element, custom, hours, durations)
    return out


def sla_changes(table: str, old: Contract, new: Contract, *, depended: bool) -> list[Change]:
    """Each SLA of ``new`` loosened, tightened, added or removed since ``old``. Loosening breaks only
    a table others depend on (``depended``); elsewhere nobody relied on the promise."""
    out: list[Change] = []
    a, b = sla_map(old), sla_map(new)
    loose_kind = BREAKING if depended else ADDITIVE
    why = " on a table others depend on" if depended else " (nothing reads this table)"

    def add(kind: str, change: str, message: str, prop: str, before: Any, after: Any) -> None:
        index = new.sla_index(prop)
        where = new.location("slaProperties", index) if index is not None else new.location("slaProperties")
        out.append(Change(table, kind, change, message, None, before, after, str(new.path), where.line or 1))

    for prop in sorted(set(a) | set(b)):
        sa, sb = a.get(prop), b.get(prop)
        if sb is None:
            if sa is not None:
                add(loose_kind, "sla_loosened", f"SLA {prop} removed{why}", prop, sa.data, None)
            continue
        if sa is None:
            add(ADDITIVE, "sla_tightened", f"SLA {prop} added ({sb.amount})", prop, None, sb.data)
            continue
        if sa.data == sb.data:
            continue
        looser, tighter = _compare(prop, sa, sb)
        if looser:
            add(loose_kind, "sla_loosened", f"SLA {prop} loosened{why}: {'; '.join(looser)}", prop, sa.data, sb.data)
        if tighter:
            add(ADDITIVE, "sla_tightened", f"SLA {prop} tightened: {'; '.join(tighter)}", prop, sa.data, sb.data)
    return out


def _compare(prop: str, sa: _Sla, sb: _Sla) -> tuple[list[str], list[str]]:
    """What got looser and what got tighter between two versions of one SLA."""
    looser: list[str] = []
    tighter: list[str] = []
    if sa.element != sb.element:
        looser.append(f"element changed from {sa.element} to {sb.element}")
    ha, hb = sa.hours, sb.hours
    if ha is not None and hb is not None and ha != hb:
        larger_is_looser = prop not in LOOSER_WHEN_SMALLER
        (looser if (hb > ha) == larger_is_looser else tighter).append(f"{sa.amount} → {sb.amount}")
    elif sa.value != sb.value or sa.unit != sb.unit:
        looser.append(f"{sa.amount} → {sb.amount}")  # not comparable in hours: assume the worst
    for key in sorted(set(sa.custom) | set(sb.custom)):
        ca, cb = sa.custom.get(key), sb.custom.get(key)
        if ca == cb:
            continue
        if key in SLA_CUSTOM_DURATIONS:
            xa, xb = sa.durations.get(key), sb.durations.get(key)
            if xa is not None and xb is not None:
                (looser if xb > xa else tighter).append(f"{key} {ca} → {cb}")
                continue
            if cb is None:
                # no warning threshold / no allowance any more: warnAfter gone is looser (no early
                # warning), an allowance gone is tighter
                (looser if key == "warnAfter" else tighter).append(f"{key} {ca} removed")
                continue
            if ca is None:
                (tighter if key == "warnAfter" else looser).append(f"{key} {cb} added")
                continue
        looser.append(f"{key} {ca} → {cb}")
    return looser, tighter
