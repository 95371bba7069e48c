"""Data quality checks: SodaCL v3 generated from the contracts, and scans that run them.

* :mod:`.sodacl` turns each contract into ``checks for <table>:`` (one file per table,
  committed under ``checks/<layer>/<table>.yml``) and keeps the files in sync;
* :mod:`.scan` runs them with soda-core's programmatic ``Scan`` on a target's warehouse,
  offline and silent, and records the results (PII never leaves the warehouse).
"""

from __future__ import annotations

from .sodacl import (
    CHECKS_DIR,
    CheckGenerationError,
    CheckSpec,
    StaleFile,
    TableChecks,
    check_path,
    generate_all,
    generate_checks,
    generate_table_checks,
    stale_checks,
    write_checks,
)

__all__ = [
    "CHECKS_DIR",
    "CheckGenerationError",
    "CheckSpec",
    "StaleFile",
    "TableChecks",
    "check_path",
    "generate_all",
    "generate_checks",
    "generate_table_checks",
    "stale_checks",
    "write_checks",
]
