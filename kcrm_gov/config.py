"""Project configuration: ``kcrm_gov.yml`` with named targets, like dbt profiles.

A target says where the warehouse lives: ``local`` is a DuckDB file under the ignored
``.kcrm/`` folder (the default), ``prod`` a BigQuery project with one dataset per layer.
Secrets never live here: BigQuery credentials come from Application Default Credentials.

Environment variables override settings without editing the file:

* ``KCRM_GOV_TARGET`` picks the target used when ``--target`` is not given;
* ``KCRM_GOV_<TARGET>__<KEY>`` overrides one key of one target, for example
  ``KCRM_GOV_PROD__PROJECT=kcrm-staging`` or ``KCRM_GOV_LOCAL__PATH=/tmp/wh.duckdb``.

A BigQuery target's time and cost settings (every one optional; the defaults suit real BigQuery):

* ``api_timeout`` (s, 60): how long one API request may take. Real BigQuery answers a job insert or
  a dry run in about a second; the emulator runs the whole job inside the request, so its tests
  raise this.
* ``api_deadline`` (s, 120): how long a failing API call is retried (transient 5xx, rate limits,
  connection resets) before the command fails; an unreachable endpoint fails within about this.
* ``job_timeout`` (s, 3600): how long a build waits for one query job to finish.
* ``threads`` (4): models built at once (BigQuery runs independent jobs in parallel).
* ``price_per_tib`` (6.25): on-demand price in USD of one TiB scanned (the list price of the US and
  EU multi-regions since July 2023; set your region's or contract's price), for ``build --dry-run``.
* ``max_bytes_per_model`` and ``max_bytes_per_build``: the scan budget ``check --target`` enforces
  with a dry run of every model (bytes as an integer or a text such as ``"50 GiB"``); unset: none.
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
    api_timeout: float = 60.0  # bigquery: seconds one API request may take
    api_deadline: float = 120.0  # bigquery: seconds a failing API call is retried for
    job_timeout: float = 3600.0  # bigquery: seconds a build waits for one query job
    price_per_tib: float = 6.25  # bigquery: USD per TiB scanned, on demand
    max_bytes_per_model: int | None = None  # bigquery: scan budget of one model (`check --target`)
    max_bytes_per_build: int | None = None  # bigquery: scan budget of a build of every model

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
                "threads", "memory_limit", "api_timeout", "api_deadline", "job_timeout", "price_per_tib",
                "max_bytes_per_model", "max_bytes_per_build"}
_SIZE_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "pb": 10**15,
               "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "pib": 2**50}


def parse_bytes(value: Any) -> int:
    """A size in bytes: an integer, or a number and a unit (``"50 GiB"``, ``"1.5 TB"``)."""
    import re

    if isinstance(value, bool):
        raise ValueError(f"not a size: {value!r}")
    if isinstance(value, int):
        size = value
    else:
        match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", str(value))
        unit = (match.group(2) or "b").lower() if match else ""
        if not match or unit not in _SIZE_UNITS:
            raise ValueError(f"not a size: {value!r} (bytes, or a number and a unit: B, KB, MB, GB, TB, "
                             "KiB, MiB, GiB, TiB)")
        size = int(float(match.group(1)) * _SIZE_UNITS[unit])
    if size < 0:
        raise ValueError(f"not a size: {value!r}")
    return size


def _number(name: str, values: dict[str, Any], key: str, default: float, where: Location) -> float:
    """A positive number setting (YAML number or environment text)."""
    raw = values.get(key)
    if raw is None or raw == "":
        return default
    try:
        number = float(raw)
    except (TypeError, ValueError):
        number = -1.0
    if isinstance(raw, bool) or not number > 0:
        raise ConfigError(f"target '{name}': {key} must be a positive number, not {raw!r}", where)
    return number


def _size(name: str, values: dict[str, Any], key: str, where: Location) -> int | None:
    raw = values.get(key)
    if raw is None or raw == "":
        return None
    try:
        return parse_bytes(raw)
    except ValueError as exc:
        raise ConfigError(f"target '{name}': {key}: {exc}", where) from None


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
        threads=int(_number(name, values, "threads", 4, where)),
        api_timeout=_number(name, values, "api_timeout", 60.0, where),
        api_deadline=_number(name, values, "api_deadline", 120.0, where),
        job_timeout=_number(name, values, "job_timeout", 3600.0, where),
        price_per_tib=_number(name, values, "price_per_tib", 6.25, where),
        max_bytes_per_model=_size(name, values, "max_bytes_per_model", where),
        max_bytes_per_build=_size(name, values, "max_bytes_per_build", where),
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
