"""Run artifacts: what build, test and freshness leave under ``.kcrm/`` for CI, lineage and the catalog."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .project import Project


def write_run_artifact(project: Project, command: str, run_id: str, started_at: str,
                       data: dict[str, Any]) -> tuple[Path, Path]:
    """Write one run as ``.kcrm/runs/<time>-<command>-<id>.json`` (the history) and
    ``.kcrm/<command>_results.json`` (the latest, which the catalog reads).

    Returns ``(history file, latest file)``.
    """
    text = json.dumps(data, indent=2, default=str)
    folder = project.state_dir / "runs"
    folder.mkdir(parents=True, exist_ok=True)
    history = folder / f"{started_at.replace(':', '')}-{command}-{run_id[:8]}.json"
    history.write_text(text)
    latest = project.state_dir / f"{command}_results.json"
    latest.write_text(text)
    return history, latest
