"""Project configuration: ``kcrm_gov.yml`` with named targets, like dbt profiles.

A target says where the warehouse lives: ``local`` is a DuckDB file under the ignored
``.kcrm/`` folder (the default), ``prod`` a BigQuery project with one dataset per layer.
Secrets never live here: BigQuery credentials come from Application Default Credentials.

Environment variables override settings without editing the file:

* ``KCRM_GOV_TARGET`` picks the target used when ``--target`` is not given;
* ``KCRM_GOV_<TARGET>__<KEY>`` overrides one key of one target, for example
  ``KCRM_GOV_PROD__PROJECT=kcrm-staging`` or ``KCRM_GOV_LOCAL__PATH=/tmp/wh.duckdb``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import LAYERS
from .errors import ConfigError, Location
from .yamlsource import read_yaml

CONFIG_FILE = "kcrm_gov.yml"
ENGINES = ("duckdb", "bigquery")


@dataclass(frozen=True)
class Target:
    """Where one warehouse lives (a DuckDB file or a BigQuery project)."""

    name: str
    type: str
    path: Path | None = None  # duckdb
    project: str | None = None  # bigquery
    location: str | None = None
    dataset_prefix: str = ""
    datasets: dict[str, str] = field(default_factory=dict)
    api_endpoint: str | None = None  # a BigQuery API emulator, for tests
    threads: int = 4
    memory_limit: str | None = None  # duckdb: DuckDB's memory_limit (e.g. "8GB"); it spills to disk beyond it

    def dataset(self, layer: str) -> str:
        """The schema (DuckDB) or dataset (BigQuery) that holds ``layer``."""
        return self.datasets.get(layer) or f"{self.dataset_prefix}{layer}"


@dataclass(frozen=True)
class ProjectConfig:
    """The parsed ``kcrm_gov.yml``."""

    root: Path
    name: str
    default_target: str
    targets: dict[str, Target]
    lineage_namespace: str = "kcrm-gov"

    def target_of_kind(self, kind: str) -> Target:
        """The target of engine ``kind`` that generated files are written for: the default target when
        it is of that kind, else the first of that kind in ``kcrm_gov.yml``, else plain layer names."""
        default = self.targets.get(self.default_target)
        if default is not None and default.type == kind:
            return default
        for target in self.targets.values():
            if target.type == kind:
                return target
        return Target(name=kind, type=kind, project="project" if kind == "bigquery" else None)

    def target(self, name: str | None = None) -> Target:
        """The target called ``name``, or the default (``KCRM_GOV_TARGET`` or the file's)."""
        chosen = name or os.environ.get("KCRM_GOV_TARGET") or self.default_target
        try:
            return self.targets[chosen]
        except KeyError:
            known = ", ".join(sorted(self.targets))
            raise ConfigError(f"unknown target '{chosen}' (known: {known})",
                              Location(self.root / CONFIG_FILE)) from None


_TARGET_KEYS = {"type", "path", "project", "location", "dataset_prefix", "datasets", "api_endpoint",
                "threads", "memory_limit"}


def _target(name: str, raw: Any, root: Path, where: Location) -> Target:
    if not isinstance(raw, dict):
        raise ConfigError(f"target '{name}' must be a mapping", where)
    values = dict(raw)
    prefix = f"KCRM_GOV_{name.upper()}__"
    for key, value in os.environ.items():
        if key.startswith(prefix):
            values[key[len(prefix):].lower()] = value
    unknown = set(values) - _TARGET_KEYS
    if unknown:
        raise ConfigError(f"target '{name}' has unknown keys: {', '.join(sorted(unknown))}", where)
    kind = values.get("type")
    if kind not in ENGINES:
        raise ConfigError(f"target '{name}': type must be one of {', '.join(ENGINES)}, not {kind!r}", where)
    datasets = values.get("datasets") or {}
    if not isinstance(datasets, dict) or set(datasets) - set(LAYERS):
        raise ConfigError(f"target '{name}': datasets must map layers ({', '.join(LAYERS)}) to names", where)
    path = None
    if kind == "duckdb":
        path = Path(values.get("path") or ".kcrm/warehouse.duckdb")
        if not path.is_absolute():
            path = root / path
    elif not values.get("project"):
        raise ConfigError(f"target '{name}': a bigquery target needs a project", where)
    return Target(
        name=name,
        type=kind,
        path=path,
        project=values.get("project"),
        location=values.get("location"),
        dataset_prefix=str(values.get("dataset_prefix") or ""),
        datasets={k: str(v) for k, v in datasets.items()},
        api_endpoint=values.get("api_endpoint") or None,
        threads=int(values.get("threads") or 4),
        memory_limit=str(values["memory_limit"]) if values.get("memory_limit") else None,
    )


def find_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` holding ``kcrm_gov.yml``.

    ``KCRM_GOV_PROJECT_DIR`` wins when set.
    """
    env = os.environ.get("KCRM_GOV_PROJECT_DIR")
    if env:
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise ConfigError(f"no {CONFIG_FILE} here or in any parent folder of {here}; "
                      "run kcrm-gov from a kcrm-gov project")


def load_config(root: Path) -> ProjectConfig:
    """Read ``root/kcrm_gov.yml``; a missing file gives the built-in defaults."""
    path = root / CONFIG_FILE
    if not path.exists():
        local = Target(name="local", type="duckdb", path=root / ".kcrm" / "warehouse.duckdb")
        return ProjectConfig(root=root, name=root.name, default_target="local", targets={"local": local})
    doc = read_yaml(path)
    data = doc.data or {}
    if not isinstance(data, dict):
        raise ConfigError("the configuration must be a mapping", doc.location())
    targets_raw = data.get("targets") or {}
    if not isinstance(targets_raw, dict) or not targets_raw:
        raise ConfigError("'targets' must name at least one target", doc.location("targets"))
    targets = {name: _target(name, raw, root, doc.location("targets", name))
               for name, raw in targets_raw.items()}
    default = str(data.get("default_target") or next(iter(targets)))
    if default not in targets:
        raise ConfigError(f"default_target '{default}' is not a target", doc.location("default_target"))
    lineage = data.get("lineage") or {}
    return ProjectConfig(
        root=root,
        name=str(data.get("name") or root.name),
        default_target=default,
        targets=targets,
        lineage_namespace=str(lineage.get("namespace") or "kcrm-gov"),
    )
