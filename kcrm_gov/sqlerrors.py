"""What parsing untrusted SQL may raise, in one place for every parser call."""

from __future__ import annotations

from sqlglot.errors import SqlglotError

SQL_ERRORS: tuple[type[SqlglotError], type[TypeError]] = (SqlglotError, TypeError)
"""What parsing untrusted SQL (a model, a rule's query, a type name) may raise. sqlglot's compiled
build (sqlglotc, installed with kcrm-gov for speed) checks its node types at run time: a text its
parser turns into a node of an unexpected kind fails with TypeError where pure-Python sqlglot would
go on or raise a SqlglotError (``STRING; DROP TABLE x`` as a type name does)."""
