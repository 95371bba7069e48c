"""Errors that the CLI turns into clear messages (never a bare traceback)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Location:
    """A place in a file: what users need to find the problem."""

    path: Path | str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.path}:{self.line}:{self.column or 1}"
        return str(self.path)


class KcrmGovError(Exception):
    """Base class of every error kcrm-gov reports to the user.

    ``exit_code`` follows the CLI convention: 1 for findings/failures, 2 for unusable input.
    """

    exit_code: int = 2

    def __init__(self, message: str, location: Location | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class ConfigError(KcrmGovError):
    """The project configuration (kcrm_gov.yml) is missing or wrong."""


class ContractError(KcrmGovError):
    """A contract file cannot be read as a contract at all (bad YAML, not ODCS, wrong types)."""

    document: object | None = None  # the parsed YAML, when the file was YAML at all


class ProjectError(KcrmGovError):
    """The project as a whole is unusable (no contracts, path does not exist...)."""
