"""Data values out of messages: what an engine error may say once it leaves the warehouse.

Warehouse errors quote the row that broke them: DuckDB says ``Could not convert string
'ann@example.com' to INT64``, BigQuery ``Bad int64 value: ann@example.com``, a duplicate key
names the key. Those messages reach the console, ``.kcrm/runs/*.json`` and OpenLineage
``errorMessage`` facets (which an http transport sends elsewhere), so every engine error is
passed through :func:`scrub` before it becomes a :class:`~kcrm_gov.errors.KcrmGovError`.

What survives is what a person needs to fix the model: the kind of error, the column and
type names, the SQL's own identifiers and literals (code, not data), and the structure of the
sentence. What goes is everything that could be a value: quoted text that is not one of those
names, numbers that are not in the SQL, e-mail addresses, whatever follows ``value:`` or
``Input:``, and the lines after the first (DuckDB's extra lines repeat the offending value or
the translated SQL; kcrm-gov points at the model's own line instead).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "<redacted>"

_QUOTED = re.compile(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\"|`[^`]*`")
_NUMBER = re.compile(r"(?<![\w.<])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.>])")
_EMAIL = re.compile(r"[^\s'\"`<>()]+@[^\s'\"`<>()]+")
# BigQuery and DuckDB put the offending value after these words, unquoted
_AFTER = re.compile(r"(?i)\b((?:value|values|input|string|key|row)\s*:\s*)(.+)$")
_KEEP_LINES = ("Candidate bindings:", "Did you mean")


def sql_words(sql: str | None, dialect: str | None = None) -> set[str]:
    """The identifiers, keywords, literals and numbers written in ``sql``: its own code, which a
    message may repeat without revealing any row."""
    if not sql:
        return set()
    from sqlglot.tokens import Tokenizer

    from .sqlerrors import SQL_ERRORS

    try:
        from sqlglot.dialects.dialect import Dialect

        tokenizer = Dialect.get_or_raise(dialect).tokenizer() if dialect else Tokenizer()
        return {token.text for token in tokenizer.tokenize(sql)}
    except SQL_ERRORS:
        return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", sql))


def scrub(message: str, keep: Iterable[str] = ()) -> str:
    """``message`` with anything that could be a data value replaced by :data:`REDACTED`.

    ``keep`` are words known to be code, not data (column and table names, the SQL's own
    identifiers and literals): quoted text and numbers equal to one of them stay.
    """
    known = {str(word) for word in keep}
    lines = [line for line in str(message).strip().splitlines() if line.strip()]
    if not lines:
        return ""
    kept = [lines[0]] + [line for line in lines[1:] if line.strip().startswith(_KEEP_LINES)]
    return "\n".join(_scrub_line(line, known) for line in kept)


def _scrub_line(line: str, known: set[str]) -> str:
    def quoted(match: re.Match[str]) -> str:
        text = match.group(0)
        inner = text[1:-1]
        return text if inner in known or (inner.split(".")[-1] in known and inner.replace(".", "").isidentifier()) \
            else text[0] + REDACTED + text[-1]

    def number(match: re.Match[str]) -> str:
        return match.group(0) if match.group(0) in known else REDACTED

    def after(match: re.Match[str]) -> str:
        rest = match.group(2).strip()
        if rest in known or (rest[:1] in "'\"`" and REDACTED in rest):
            return match.group(0)
        return match.group(1) + REDACTED

    line = _EMAIL.sub(REDACTED, line)
    # quoted text first, so numbers inside redacted quotes are not touched twice
    parts = []
    last = 0
    for match in _QUOTED.finditer(line):
        parts.append(_NUMBER.sub(number, line[last:match.start()]))
        parts.append(quoted(match))
        last = match.end()
    parts.append(_NUMBER.sub(number, line[last:]))
    line = "".join(parts)
    return _AFTER.sub(after, line)


__all__ = ["REDACTED", "scrub", "sql_words"]
