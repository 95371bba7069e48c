"""The ``kcrm-gov generate`` group, shared by the command modules that add generators to it.

Import it with ``from kcrm_gov.commands._generate import generate`` and add subcommands with
``@generate.command("ddl")``; each generator lives in its own command module.
"""

from __future__ import annotations

import click


@click.group()
def generate() -> None:
    """Generate files from the contracts (checks, DDL...)."""
