"""Run artifacts: what build, test and freshness leave under ``.kcrm/`` for CI, lineage and the catalog.

Each file is written atomically (a temporary file in the same folder, renamed over the old one), so
a reader such as the catalog sees the previous run or this one, never half a file. When a file
cannot be written (a read-only or full disk, ``.kcrm`` or ``.kcrm/runs`` not a folder) the write
raises :class:`ArtifactError`: the commands print their summary first and report it after.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .errors import KcrmGovError
from .project import Project


class ArtifactError(KcrmGovError):
    """A run's results could not be written under ``.kcrm/`` (the run itself happened).

    ``failures`` holds one ``"<file> (<reason>)"`` per file that could not be written."""

    exit_code = 2

    def __init__(self, failures: list[str]) -> None:
        super().__init__("cannot write the run results: " + "; ".join(failures))
        self.failures = failures


def write_run_artifact(project: Project, command: str, run_id: str, started_at: str,
                       data: dict[str, Any]) -> tuple[Path, Path]:
    """Write one run as ``.kcrm/runs/<time>-<command>-<id>.json`` (the history) and
    ``.kcrm/<command>_results.json`` (the latest, which the catalog reads).

    Returns ``(history file, latest file)``. Both are attempted even when one fails (the catalog
    reads the latest); raises :class:`ArtifactError` naming each file that could not be written.
    """
    text = json.dumps(data, indent=2, default=str)
    folder = project.state_dir / "runs"
    history = folder / f"{started_at.replace(':', '')}-{command}-{run_id[:8]}.json"
    latest = project.state_dir / f"{command}_results.json"
    failures = []
    for path in (history, latest):
        try:
            write_atomically(path, text)
        except OSError as exc:
            failures.append(f"{_shown(project, path)} ({_reason(project, path, exc)})")
    if failures:
        raise ArtifactError(failures)
    return history, latest


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder, renamed over it
    (readers never see half a file; a failed write leaves the old file and no temporary file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; results are read by other users' tools (CI, the catalog)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())  # a full disk can fail here rather than on write
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _shown(project: Project, path: Path | str) -> str:
    try:
        return Path(path).relative_to(project.root).as_posix()
    except ValueError:
        return str(path)


def _reason(project: Project, path: Path, exc: OSError) -> str:
    """The OS reason, naming the folder that is in the way when it is not the file itself."""
    for folder in (path.parent, *path.parent.parents):
        if folder == project.root:
            break
        if folder.exists() and not folder.is_dir():
            return f"{_shown(project, folder)} is a file, not a folder"
    reason = exc.strerror or str(exc)
    if exc.filename and Path(exc.filename) != path and not str(exc.filename).endswith(".tmp"):
        reason += f": {_shown(project, exc.filename)}"
    return reason


__all__ = ["ArtifactError", "write_atomically", "write_run_artifact"]
