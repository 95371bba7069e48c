"""Column types: how BigQuery spells them, and which changes are widenings.

**Widening lattice** (a change is a widening only when every value of the old type is exactly
representable in the new one *and* every query that worked on the old type works the same):
``INT64 → NUMERIC → BIGNUMERIC`` (and ``INT64 → BIGNUMERIC``); ``NUMERIC(P,S) → NUMERIC(P',S')``
and ``BIGNUMERIC(P,S)`` likewise when ``P'-S' ≥ P-S`` and ``S' ≥ S``; a parameterized type to its
unparameterized form; ``STRING(L) → STRING(L')`` with ``L' ≥ L`` (and ``BYTES``); ``ARRAY<T> →
ARRAY<U>`` when ``T → U`` widens. Not widenings: ``INT64 → FLOAT64`` and ``NUMERIC → FLOAT64``
(exact to approximate: integers above 2^53 and decimals change value), ``DATE → DATETIME`` /
``DATE → TIMESTAMP`` / ``DATETIME → TIMESTAMP`` (comparisons with date literals, ``DATE_TRUNC`` and
time-zone semantics change), anything ``→ STRING`` (arithmetic and ordering break). STRUCT fields
are compared one by one as nested columns.
"""

from __future__ import annotations

from sqlglot import exp

T = exp.DataType.Type

# BigQuery's defaults when NUMERIC / BIGNUMERIC are written without (precision, scale)
_DECIMAL_DEFAULTS = {T.DECIMAL: (38, 9), T.BIGDECIMAL: (76, 38)}
_INTEGERS = (T.BIGINT, T.INT, T.SMALLINT, T.TINYINT)


def _params(dt: exp.DataType) -> list[int]:
    """A type's integer parameters (``NUMERIC(20, 2)`` → ``[20, 2]``); [] when any is not a number."""
    out = []
    for e in dt.expressions:
        node = e.this if isinstance(e, exp.DataTypeParam) else e
        try:
            out.append(int(node.this if isinstance(node, exp.Literal) else node.name))
        except (ValueError, AttributeError):
            return []
    return out


def type_text(dt: exp.DataType) -> str:
    """A type as BigQuery spells it."""
    return dt.sql(dialect="bigquery")


def widens(old: exp.DataType, new: exp.DataType) -> bool:
    """Whether ``old → new`` is a widening (see the module docstring for the lattice)."""
    if old == new:
        return True
    a, b = old.this, new.this
    if a == T.ARRAY and b == T.ARRAY:
        return bool(old.expressions and new.expressions) and widens(old.expressions[0], new.expressions[0])
    if a in _INTEGERS and b in (*_INTEGERS, T.DECIMAL, T.BIGDECIMAL):
        if b in _INTEGERS:
            return True  # every integer spelling is INT64 in BigQuery
        params = _params(new) or list(_DECIMAL_DEFAULTS[b])
        # INT64 has 19 digits: the decimal needs as many before its point
        return len(params) < 2 or params[0] - params[1] >= 19
    if a in (T.DECIMAL, T.BIGDECIMAL) and b in (T.DECIMAL, T.BIGDECIMAL):
        if a == T.BIGDECIMAL and b == T.DECIMAL:
            return False
        p1, s1 = [*_params(old), 0][:2] if _params(old) else _DECIMAL_DEFAULTS[a]
        p2, s2 = [*_params(new), 0][:2] if _params(new) else _DECIMAL_DEFAULTS[b]
        return p2 - s2 >= p1 - s1 and s2 >= s1
    if a == b and a in (T.VARCHAR, T.TEXT, T.BINARY, T.VARBINARY):
        n1, n2 = _params(old), _params(new)
        return not n2 or (bool(n1) and n2[0] >= n1[0])
    if {a, b} <= {T.VARCHAR, T.TEXT}:  # STRING(L) -> STRING
        return not _params(new)
    return False
