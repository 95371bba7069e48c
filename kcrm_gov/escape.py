"""Contract text into generated outputs, one function per output, never evaluated.

Contracts arrive in pull requests, and their strings (allowed values, patterns, rule names,
descriptions) end up inside SQL, SodaCL, DDL and catalog pages. Each output has exactly one
way in:

==============  =====================================================================================
output          how a contract string gets there
==============  =====================================================================================
SQL (any)       :func:`sql_literal`: a sqlglot literal node, rendered by the dialect's generator
                (quotes and backslashes escaped the way that engine reads them); never concatenated
SodaCL          :func:`soda_text`: refused when it holds template syntax (Soda Core renders check
                text with Jinja, so ``${ … }`` would run); values go in as SQL literals, never as
                Soda's ``valid values`` (which Soda pastes into SQL unescaped)
DDL             :func:`sql_literal` too (column and table descriptions, labels)
Markdown/HTML   :func:`kcrm_gov.catalog.templates.esc` (every character Markdown or HTML gives a
                meaning to becomes an entity)
LookML          :func:`lookml_text`: one double-quoted string (``"`` and ``\\`` escaped, line breaks
                folded, Liquid's ``{{``/``{%`` broken); never in ``sql:``, whose ``${…}`` only ever
                names validated identifiers
==============  =====================================================================================

Identifiers are not escaped but validated: lint (KG011) and the generators accept only plain
lower-case names (:mod:`kcrm_gov.identifiers`).
"""

from __future__ import annotations

import re
from typing import Any

from sqlglot import exp

TEMPLATE_MARKERS = ("${", "{{", "{%", "{#")
"""What starts a template expression, statement or comment in Soda Core's Jinja environment
(``${ … }``) or Jinja's defaults (``{{``, ``{%``, ``{#``)."""

OWN_PLACEHOLDER = re.compile(r"\$\{\s*(table|model|column|property)\s*\}")
"""kcrm-gov's own placeholders in a quality rule's SQL, replaced before anything reaches Soda."""


def template_marker(text: object, *, placeholders: bool = False) -> str | None:
    """The template syntax in ``text`` (``${``, ``{{``, ``{%`` or ``{#``), or None.

    With ``placeholders``, kcrm-gov's own ``${table}``-style placeholders are allowed (the SQL
    of a quality rule), since they are replaced before the text reaches Soda.
    """
    if not isinstance(text, str):
        return None
    if placeholders:
        text = OWN_PLACEHOLDER.sub("", text)
    return next((marker for marker in TEMPLATE_MARKERS if marker in text), None)


class TemplateSyntaxRefused(ValueError):
    """A contract string holds template syntax and would be evaluated by Soda."""

    def __init__(self, marker: str) -> None:
        super().__init__(f"holds template syntax {marker!r}: Soda Core evaluates check text as a template, so "
                         "contract text may not contain '${', '{{', '{%' or '{#'")
        self.marker = marker


def soda_text(text: str) -> str:
    """``text`` for a SodaCL file (a check name, a regex): unchanged, or refused when Soda
    would evaluate part of it (:class:`TemplateSyntaxRefused`)."""
    marker = template_marker(text)
    if marker is not None:
        raise TemplateSyntaxRefused(marker)
    return text


def sql_literal(value: Any) -> exp.Expr:
    """A contract value as a sqlglot literal node: strings, numbers, booleans and NULL.

    Render it with ``node.sql(dialect=...)``: each dialect's generator escapes it as that engine
    reads string literals, so the value stays one inert literal whatever characters it holds.
    """
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{value!r} is not a finite number")
        return exp.Literal.number(int(value) if isinstance(value, float) and value.is_integer() else value)
    if isinstance(value, str):
        if "\x00" in value:  # the YAML loader refuses it first; no engine reads it in a literal
            raise ValueError("holds a NUL character")
        return exp.Literal.string(value)
    raise ValueError(f"{value!r} is not a string, number or boolean")


def sql_text(value: Any, dialect: str) -> str:
    """``value`` as a literal in ``dialect``'s SQL (see :func:`sql_literal`)."""
    return sql_literal(value).sql(dialect=dialect)


_LIQUID = re.compile(r"\{(?=[{%])")
"""Where Liquid (which Looker runs in labels and descriptions) would open a tag: ``{{`` or ``{%``."""


def lookml_text(value: str) -> str:
    """``value`` as one double-quoted LookML string (a label or description), inert in Looker.

    A backslash and a double quote are escaped, so the string cannot end early and what follows
    (``;;``, ``}``, a new field) stays text; line breaks and other control characters become
    spaces (a Looker description is one line); ``{{`` and ``{%`` get a space after the brace, so
    Looker's Liquid renders them as text. ``${`` is left as written: Looker substitutes it only in
    ``sql``, ``html`` and ``link``, where no contract text is ever written.
    """
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a string")
    text = " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", value).split())
    text = _LIQUID.sub("{ ", text)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


__all__ = ["OWN_PLACEHOLDER", "TEMPLATE_MARKERS", "TemplateSyntaxRefused", "lookml_text", "soda_text", "sql_literal",
           "sql_text", "template_marker"]
