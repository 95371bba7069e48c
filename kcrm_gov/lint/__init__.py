"""Lint: every contract is valid ODCS v3 and meets the project's governance rules.

Findings print as ``path:line:col: RULE-ID message`` with the real YAML line. Each rule
has a stable id and a documented reason in ``docs/governance/rules.md``.
"""

from __future__ import annotations

from .findings import Finding, LintReport, lint_project

__all__ = ["Finding", "LintReport", "lint_project"]
