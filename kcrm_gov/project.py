"""The Project: contracts, teams and configuration, loaded once.

Every other module (lint, generators, engines, lineage, catalog) reads from a Project
and never goes back to the files, so a run parses each contract exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from . import LAYERS
from .config import ProjectConfig, find_root, load_config
from .contracts import CONTRACT_SUFFIX, Contract, load_contract, table_of
from .errors import ContractError, KcrmGovError, Location, ProjectError
from .models import Model, load_models

if TYPE_CHECKING:
    from .dag import Dag
    from .retl.destination import Destination
    from .retl.properties import DestinationObject
from .yamlsource import YamlDocument, read_yaml

CONTRACTS_DIR = "contracts"
TEAMS_FILE = Path("catalog") / "teams.yml"
SOURCES_FILE = Path("catalog") / "sources.yml"


@dataclass(frozen=True)
class TeamMember:
    username: str
    name: str
    email: str | None
    github: str | None
    roles: tuple[str, ...]


@dataclass(frozen=True)
class Team:
    """An owner team from ``catalog/teams.yml``."""

    key: str
    name: str
    description: str
    channel: str | None
    github: str | None
    members: dict[str, TeamMember]

    @property
    def stewards(self) -> list[TeamMember]:
        return [m for m in self.members.values() if "data steward" in m.roles]


@dataclass
class Project:
    """A kcrm-gov project: its configuration, teams and every contract."""

    root: Path
    config: ProjectConfig
    contracts: dict[str, Contract] = field(default_factory=dict)
    teams: dict[str, Team] = field(default_factory=dict)
    teams_document: YamlDocument | None = None
    sources: dict[str, dict[str, str]] = field(default_factory=dict)
    destinations: dict[tuple[str, str], DestinationObject] = field(default_factory=dict)
    """The destination property lists (``catalog/destinations/<system>/<object>.yml``) by ``(system, object)``."""
    problems: list[KcrmGovError] = field(default_factory=list)
    unreadable: set[str] = field(default_factory=set)  # tables whose contract could not be read

    @classmethod
    def load(cls, root: Path | None = None, *, strict: bool = True) -> Project:
        """Load the project at ``root`` (default: found from the working directory).

        With ``strict`` a contract that cannot be read raises; without it the error is kept
        in ``problems`` and the other contracts still load (what lint wants).
        """
        root = (root or find_root()).resolve()
        project = cls(root=root, config=load_config(root))
        project._load_teams()
        project._load_sources()
        project._load_destinations()
        contracts_dir = root / CONTRACTS_DIR
        if not contracts_dir.is_dir():
            raise ProjectError(f"no {CONTRACTS_DIR}/ folder in {root}")
        for path in contract_files(contracts_dir):
            try:
                contract = load_contract(path, path.relative_to(root) if path.is_relative_to(root) else path,
                                         state_dir=project.state_dir)
            except ContractError as exc:
                if strict:
                    raise
                project.problems.append(exc)
                layer, table = table_of(path)
                project.unreadable.add(f"{layer}.{table}")
                continue
            project.contracts[contract.qualified_name] = contract
        if not project.contracts and not project.problems:
            raise ProjectError(f"{CONTRACTS_DIR}/ holds no *{CONTRACT_SUFFIX} files",
                               Location(contracts_dir))
        return project

    @property
    def state_dir(self) -> Path:
        """The ignored folder for build outputs: the DuckDB file, run results, events."""
        return self.root / ".kcrm"

    @cached_property
    def dag(self) -> Dag:
        """The one table graph (edges plus problems), computed on first use; ``project.dag.valid()``
        raises when it has problems (see :func:`kcrm_gov.dag.compute_dag`)."""
        from .dag import compute_dag

        return compute_dag(self)

    @cached_property
    def models(self) -> dict[str, Model]:
        """Every model file and reference table, by ``layer.table`` (read on first use; parsed lazily)."""
        return load_models(self.root, self.contracts)

    def _load_teams(self) -> None:
        path = self.root / TEAMS_FILE
        if not path.exists():
            return
        doc = read_yaml(path, TEAMS_FILE)
        self.teams_document = doc
        raw = (doc.data or {}).get("teams") if isinstance(doc.data, dict) else None
        if not isinstance(raw, dict):
            raise ProjectError("catalog/teams.yml must have a `teams:` mapping", doc.location())
        for key, team in raw.items():
            if not isinstance(team, dict):
                raise ProjectError(f"team '{key}' must be a mapping", doc.location("teams", key))
            members = {}
            for m in team.get("members") or []:
                if not isinstance(m, dict) or not m.get("username"):
                    raise ProjectError(f"team '{key}': every member needs a username",
                                       doc.location("teams", key, "members"))
                members[m["username"]] = TeamMember(
                    username=m["username"], name=m.get("name") or m["username"], email=m.get("email"),
                    github=m.get("github"), roles=tuple(r.lower() for r in m.get("roles") or []))
            self.teams[key] = Team(key=key, name=team.get("name") or key,
                                   description=team.get("description") or "",
                                   channel=team.get("channel"), github=team.get("github"), members=members)

    def _load_sources(self) -> None:
        path = self.root / SOURCES_FILE
        if not path.exists():
            return
        doc = read_yaml(path, SOURCES_FILE)
        raw = (doc.data or {}).get("sources") if isinstance(doc.data, dict) else None
        if not isinstance(raw, dict):
            raise ProjectError("catalog/sources.yml must have a `sources:` mapping", doc.location())
        self.sources = {str(k): dict(v or {}) for k, v in raw.items()}

    def _load_destinations(self) -> None:
        from .retl.properties import load_destination_objects

        self.destinations = load_destination_objects(self.root)

    # --- queries ----------------------------------------------------------------------------
    def layer(self, layer: str) -> list[Contract]:
        """The contracts of one layer, by table name."""
        return sorted((c for c in self.contracts.values() if c.layer == layer), key=lambda c: c.table)

    def ordered(self) -> list[Contract]:
        """Every contract, layer by layer in data-flow order."""
        rank = {name: i for i, name in enumerate(LAYERS)}
        return sorted(self.contracts.values(), key=lambda c: (rank.get(c.layer, len(rank)), c.table))

    def destination_object(self, destination: Destination) -> DestinationObject | None:
        """The property list of ``destination``'s object, or None when the repo ships none."""
        return self.destinations.get((destination.system, destination.object))

    def contract(self, name: str) -> Contract:
        """The contract of ``layer.table``."""
        try:
            return self.contracts[name]
        except KeyError:
            raise ProjectError(f"no contract for table '{name}'") from None


def contract_files(folder: Path) -> list[Path]:
    """Every ``*.odcs.yaml`` under ``folder``, sorted."""
    return sorted(folder.rglob(f"*{CONTRACT_SUFFIX}"))
