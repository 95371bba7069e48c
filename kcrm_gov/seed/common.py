"""Vectorised building blocks the source modules share.

Everything here works on whole columns (numpy arrays, pyarrow arrays): no per-row Python.
Time is handled as int64 microseconds since the Unix epoch (UTC), the unit BigQuery and
DuckDB store TIMESTAMP in, and dates as int32 days since the epoch.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import typemap
from ..errors import KcrmGovError

if TYPE_CHECKING:
    from ..contracts import Contract

US_PER_SEC = 1_000_000
US_PER_HOUR = 3_600 * US_PER_SEC
US_PER_DAY = 24 * US_PER_HOUR



Shape = Callable[[dict[str, Any]], pa.Table]
"""Turns a dict of column arrays into the contract's Arrow table (see :func:`shaper`)."""

def us(text: str) -> int:
    """Microseconds since the epoch of an ISO timestamp (UTC)."""
    return int(np.datetime64(text, "us").astype(np.int64))


PERIOD_START = us("2022-01-01T00:00:00")
"""The data covers 2022-01-01 .. 2023-12-31 (the company's 2022-2023 figures)."""
PERIOD_END = us("2024-01-01T00:00:00")
"""Exclusive end of the period."""
SYNC_END = us("2024-01-02T06:00:00")
"""The last loader sync: every `_fivetran_synced` lies before it (no wall clock anywhere)."""
HISTORY_START = us("2020-07-01T00:00:00")
"""Earliest record creation (customers that signed before the period)."""

TS = pa.timestamp("us", tz="UTC")


class SeedError(KcrmGovError):
    """The generator cannot produce a table (a contract and its generator disagree)."""


def table_rng(seed: int, name: str, part: int = 0) -> np.random.Generator:
    """An independent, deterministic random stream per table (and per chunk of a table)."""
    return np.random.default_rng([seed, zlib.crc32(name.encode()), part])


def scaled(base: int, scale: float) -> int:
    return max(1, round(base * scale))


# --- arrays ------------------------------------------------------------------------------------
def ts(micros: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """TIMESTAMP (UTC) from int64 microseconds; ``mask`` True means null."""
    return pa.array(np.asarray(micros, dtype=np.int64), type=pa.int64(), mask=mask).view(TS)


def date(days: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """DATE from int days since the epoch."""
    return pa.array(np.asarray(days, dtype=np.int32), type=pa.int32(), mask=mask).view(pa.date32())


def ints(values: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.int64), type=pa.int64(), mask=mask)


def floats(values: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.float64), type=pa.float64(), mask=mask)


def money(values: np.ndarray, mask: np.ndarray | None = None, digits: int = 2) -> pa.Array:
    """NUMERIC (decimal 38,9) from floats rounded to ``digits``."""
    return floats(np.round(values, digits), mask).cast(pa.decimal128(38, 9))


def bools(values: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(values, dtype=bool), type=pa.bool_())


def full(value: Any, n: int, type_: pa.DataType | None = None) -> pa.Array:
    return pa.array([value], type=type_).take(np.zeros(n, dtype=np.int64))


def pick(vocab: Sequence[Any] | pa.Array, idx: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """``vocab[idx]`` as an Arrow array (``mask`` True means null)."""
    arr = vocab if isinstance(vocab, pa.Array) else pa.array(list(vocab))
    out = arr.take(pa.array(np.asarray(idx, dtype=np.int64)))
    if mask is not None:
        out = pc.if_else(pa.array(mask), pa.nulls(len(out), out.type), out)
    return out


def choice(rng: np.random.Generator, vocab: Sequence[Any], n: int, p: Sequence[float] | None = None,
           mask: np.ndarray | None = None) -> pa.Array:
    """``n`` draws from ``vocab`` (weights ``p``, normalised)."""
    probs = None if p is None else np.asarray(p, dtype=float) / np.sum(p)
    return pick(vocab, rng.choice(len(vocab), size=n, p=probs), mask)


def concat(*parts: Any) -> pa.Array:
    """Element-wise string concatenation; plain Python strings are broadcast."""
    n = next(len(p) for p in parts if not isinstance(p, str))
    arrays = [full(p, n, pa.string()) if isinstance(p, str) else
              (pc.cast(p, pa.string()) if p.type != pa.string() else p) for p in parts]
    return pc.binary_join_element_wise(*arrays, "")


def num_str(values: np.ndarray, width: int = 0) -> pa.Array:
    """Integers as text, zero-padded to ``width``."""
    out = pc.cast(ints(values), pa.string())
    return pc.utf8_lpad(out, width, "0") if width else out


def hex_ids(rng: np.random.Generator, n: int, nbytes: int = 16) -> pa.Array:
    """``n`` random lower-case hex strings of ``2*nbytes`` characters (hash-like ids)."""
    raw = rng.integers(0, 256, size=n * nbytes, dtype=np.uint8).tobytes()
    data = raw.hex().encode()
    width = 2 * nbytes
    offsets = (np.arange(n + 1, dtype=np.int32) * width).astype(np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data))


def unique_ids(rng: np.random.Generator, n: int, low: int, high: int) -> np.ndarray:
    """``n`` distinct random integers in ``[low, high)``, in random order."""
    if high - low < 4 * n:
        raise SeedError(f"id range too small for {n} ids")
    out = np.unique(rng.integers(low, high, size=int(n * 1.2) + 16))
    while len(out) < n:  # pragma: no cover - astronomically unlikely
        out = np.unique(np.concatenate([out, rng.integers(low, high, size=n)]))
    return rng.permutation(out)[:n]


def strictly_increasing(values: np.ndarray) -> np.ndarray:
    """Shift sorted-order duplicates by the least amount so that all values differ."""
    order = np.argsort(values, kind="stable")
    s = values[order]
    i = np.arange(len(s))
    s = np.maximum.accumulate(s - i) + i
    out = np.empty_like(values)
    out[order] = s
    return out


def between(rng: np.random.Generator, lo: np.ndarray | int, hi: np.ndarray | int, n: int | None = None
            ) -> np.ndarray:
    """Uniform int64 times in ``[lo, hi)`` (``hi`` is clipped to ``lo + 1``)."""
    lo_a = np.asarray(lo, dtype=np.int64)
    hi_a = np.maximum(np.asarray(hi, dtype=np.int64), lo_a + 1)
    size = n if n is not None else np.broadcast(lo_a, hi_a).shape
    return lo_a + (rng.random(size) * (hi_a - lo_a)).astype(np.int64)


def slug(arr: pa.Array) -> pa.Array:
    return pc.replace_substring_regex(pc.utf8_lower(arr), r"[^a-z0-9]+", "")


# --- messy text ----------------------------------------------------------------------------
def messy_emails(rng: np.random.Generator, emails: pa.Array, case_rate: float = 0.06,
                 pad_rate: float = 0.02) -> pa.Array:
    """Emails as people type them into a CRM: some Title-/UPPER-cased, some padded with spaces."""
    n = len(emails)
    r = rng.random(n)
    upper = pc.utf8_upper(emails)
    title = pc.utf8_capitalize(emails)
    out = pc.if_else(pa.array(r < case_rate / 3), upper, emails)
    out = pc.if_else(pa.array((r >= case_rate / 3) & (r < case_rate)), title, out)
    pad = rng.random(n) < pad_rate
    padded = concat(" ", out, "  ")
    return pc.if_else(pa.array(pad), padded, out)


# --- shaping ---------------------------------------------------------------------------------
def arrow_schema(contract: Contract) -> pa.Schema:
    """The Arrow schema of a contract's table (column order, types and required-ness)."""
    return pa.schema([pa.field(c.name, typemap.to_arrow(c.data_type), nullable=not c.required)
                      for c in contract.columns])


def shaper(contract: Contract) -> Shape:
    """A function turning ``{column: values}`` into a table shaped exactly like the contract.

    Columns the contract has but the generator leaves out are null; a column the contract
    does not know, or a null in a required column, is a generator bug and raises SeedError.
    """
    schema = arrow_schema(contract)

    def shape(cols: dict[str, Any]) -> pa.Table:
        unknown = set(cols) - set(schema.names)
        if unknown:
            raise SeedError(f"{contract.qualified_name}: generator produced columns the contract does not "
                            f"have: {', '.join(sorted(unknown))}")
        n = len(next(iter(cols.values())))
        arrays = []
        for field in schema:
            value = cols.get(field.name)
            if value is None:
                if not field.nullable:
                    raise SeedError(f"{contract.qualified_name}.{field.name} is required but not generated")
                arrays.append(pa.nulls(n, field.type))
                continue
            arr = value if isinstance(value, (pa.Array, pa.ChunkedArray)) else pa.array(value)
            if len(arr) != n:
                raise SeedError(f"{contract.qualified_name}.{field.name}: {len(arr)} values, expected {n}")
            if arr.type != field.type:
                arr = arr.cast(field.type)
            if not field.nullable and arr.null_count:
                raise SeedError(f"{contract.qualified_name}.{field.name} is required but has "
                                f"{arr.null_count} nulls")
            arrays.append(arr)
        return pa.Table.from_arrays(arrays, schema=schema)

    return shape


def fivetran_mess(rng: np.random.Generator, table: pa.Table, *, resync: float = 0.02, deleted: float = 0.01,
                  archived: float = 0.0, protect: np.ndarray | None = None,
                  updated: str | None = None) -> pa.Table:
    """What a Fivetran loader lands in its default soft-delete mode: one row per record, updated in place.

    * ``deleted`` of the rows get ``_fivetran_deleted = true`` (deleted at the source);
    * ``archived`` of the rows get ``is_deleted = true`` (archived in HubSpot);
    * ``resync`` of the rows changed after their first sync: the loader rewrote them in place, so
      their ``_fivetran_synced`` is later (1 h to 10 days, never after the last sync) and, when
      ``updated`` names a column, their modification time too. No record appears twice (several
      rows per record exist only in History Mode, with ``_fivetran_start``/``_end``/``_active``).

    Rows where ``protect`` is True are never soft-deleted (e.g. paying customers).
    """
    n = table.num_rows
    eligible = np.ones(n, dtype=bool) if protect is None else ~protect
    cols = {name: table.column(name) for name in table.column_names}
    r = rng.random(n)
    if deleted:
        cols["_fivetran_deleted"] = bools((r < deleted) & eligible)
    if archived and "is_deleted" in cols:
        cols["is_deleted"] = bools((r >= deleted) & (r < deleted + archived) & eligible)
    k = round(n * resync)
    if k:
        idx = np.sort(rng.choice(n, size=k, replace=False))
        synced = cols["_fivetran_synced"].combine_chunks().view(pa.int64()).to_numpy().copy()
        later = np.minimum(synced[idx] + rng.integers(US_PER_HOUR, 10 * US_PER_DAY, size=k), SYNC_END - 1)
        later = np.where(later <= synced[idx], synced[idx] + 1, later)
        synced[idx] = later
        cols["_fivetran_synced"] = ts(synced)
        if updated and updated in cols:
            old = cols[updated].combine_chunks()
            values = old.view(pa.int64()).fill_null(0).to_numpy().copy()
            values[idx] = np.minimum(values[idx] + US_PER_HOUR, later - 1)
            cols[updated] = pc.if_else(pc.is_null(old), old, ts(values))
    return pa.Table.from_pydict(cols, schema=table.schema)


def nested_list(offsets: np.ndarray, struct: pa.StructArray) -> pa.ListArray:
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32), pa.int32()), struct)


def synced_after(rng: np.random.Generator, changed: np.ndarray, lo_hours: float = 0.2,
                 hi_hours: float = 30.0) -> np.ndarray:
    """A first sync shortly after ``changed`` (never after the last sync)."""
    return synced_at(changed, sync_delays(rng, len(changed), lo_hours, hi_hours))


def sync_delays(rng: np.random.Generator, n: int, lo_hours: float = 0.2, hi_hours: float = 30.0) -> np.ndarray:
    """The delays :func:`synced_after` draws for ``n`` rows, for a table built in chunks after them."""
    return rng.integers(int(lo_hours * US_PER_HOUR), int(hi_hours * US_PER_HOUR), size=n)


def synced_at(changed: np.ndarray, delay: np.ndarray) -> np.ndarray:
    """The first sync ``delay`` after ``changed``, never after the last sync."""
    return np.minimum(changed + delay, SYNC_END - 2 * US_PER_HOUR)
