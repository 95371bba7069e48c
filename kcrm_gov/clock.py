"""The time a run measures freshness against.

``--now`` when given. Otherwise the real clock, except for a warehouse whose raw layer holds the
synthetic sources of ``kcrm-gov seed``: their last loader sync is fixed in time (2024-01-02 at the
default settings), so measured against today every table would be stale. Such a warehouse remembers
the seed's clock (:meth:`~kcrm_gov.engines.base.Engine.seed_clock`), and ``test``, ``freshness`` and
``build --test`` measure from there, saying so in one line. Loading real data into it
(``kcrm-gov load``) forgets the seed's clock; a BigQuery (production) warehouse never has one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .engines.base import Engine


def measure_time(engine: Engine, now: datetime | None) -> tuple[datetime | None, str | None]:
    """``(the time to measure against, a note for the user)``: ``now`` when given, the seeded
    sources' clock when the warehouse has one, else ``(None, None)`` (the real clock)."""
    if now is not None:
        return now, None
    clock = engine.seed_clock()
    if clock is None:
        return None, None
    clock = clock.astimezone(UTC) if clock.tzinfo else clock.replace(tzinfo=UTC)
    shown = clock.isoformat().replace("+00:00", "Z")
    return clock, (f"measuring freshness at {shown}, the last sync of the synthetic sources seeded into target "
                   f"'{engine.target.name}' (--now overrides; loaded or production data uses the real clock)")


def utc_now() -> datetime:
    """The real clock, in UTC."""
    return datetime.now(UTC)


__all__ = ["measure_time", "utc_now"]
