"""CLI command modules. Each module adds its commands to ``kcrm_gov.cli.cli`` when imported.

Keep command modules thin: parse options, call the library, print. Import heavy libraries
inside the command functions so `kcrm-gov --help` stays fast.
"""

from __future__ import annotations

import importlib
import pkgutil


def register_all() -> None:
    """Import every command module in this package (each registers itself on the group)."""
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        importlib.import_module(f"{__name__}.{info.name}")
