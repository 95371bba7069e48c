"""A contract's version history, from git.

For each contract file: ``git log --follow`` (renames followed) with a zero-context patch, so
the ``version:`` a commit set is read from the lines it added; a commit that did not touch the
version keeps the one before it. Contracts are read in parallel (one ``git`` process each).

No git on the PATH, a project outside a repository, a repository without commits, or a file
never committed: each gives an empty history with a reason the page shows, never an error.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

_RECORD, _UNIT = "\x1e", "\x1f"
_VERSION_LINE = re.compile(r"^\+version:\s*['\"]?([^'\"\s#]+)", re.MULTILINE)
_TIMEOUT = 30


@dataclass(frozen=True)
class Change:
    """One commit that changed a contract."""

    commit: str
    date: str  # ISO date of the commit (committer date)
    author: str
    version: str | None  # the contract's version after this commit
    subject: str


@dataclass
class History:
    """A contract's commits (newest first) and why the list may be empty or incomplete."""

    changes: list[Change] = field(default_factory=list)
    note: str | None = None  # e.g. "git is not installed", "not committed yet", "uncommitted changes"


@dataclass
class Repository:
    """The git repository holding a project, or the reason there is none."""

    root: Path | None
    reason: str | None = None
    dirty: set[str] = field(default_factory=set)  # paths (relative to the project) changed or untracked

    @classmethod
    def find(cls, project_root: Path) -> Repository:
        git = shutil.which("git")
        if git is None:
            return cls(None, "git is not installed: no version history")
        top = _git(project_root, "rev-parse", "--show-toplevel")
        if top is None:
            return cls(None, "the project is not in a git repository: no version history")
        if _git(project_root, "rev-parse", "--verify", "--quiet", "HEAD") is None:
            return cls(Path(top.strip()), "the repository has no commits yet: no version history")
        repo = cls(Path(top.strip()))
        status = _git(project_root, "status", "--porcelain", "--untracked-files=all", "--", "contracts") or ""
        prefix = _git(project_root, "rev-parse", "--show-prefix") or ""
        prefix = prefix.strip()
        for line in status.splitlines():
            path = line[3:].split(" -> ")[-1].strip().strip('"')
            repo.dirty.add(path[len(prefix):] if prefix and path.startswith(prefix) else path)
        return repo


def _git(cwd: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True,
                              timeout=_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def file_history(project_root: Path, relative: Path, repo: Repository) -> History:
    """The history of one contract file (``relative`` to the project root)."""
    if repo.root is None or repo.reason:
        return History(note=repo.reason)
    out = _git(project_root, "log", "--follow", "--no-color", "--no-ext-diff", "-U0", "--patch",
               f"--format={_RECORD}%H{_UNIT}%cI{_UNIT}%an{_UNIT}%s{_UNIT}", "--", relative.as_posix())
    history = History()
    if out is None:
        history.note = "git log failed for this file: no version history"
        return history
    parsed: list[tuple[str, str, str, str, str | None]] = []
    for record in out.split(_RECORD)[1:]:
        parts = record.split(_UNIT, 4)
        if len(parts) < 5:
            continue
        commit, date, author, subject, patch = parts
        found = _VERSION_LINE.findall(patch)
        parsed.append((commit, date, author, subject, found[-1] if found else None))
    version: str | None = None
    for commit, date, author, subject, set_version in reversed(parsed):  # oldest first
        version = set_version or version
        history.changes.append(Change(commit=commit, date=date[:10], author=author, version=version,
                                      subject=subject))
    history.changes.reverse()
    dirty = relative.as_posix() in repo.dirty
    if not history.changes:
        history.note = "not committed yet: no version history"
    elif dirty:
        history.note = "the working copy has uncommitted changes to this contract"
    return history


def histories(project_root: Path, files: dict[str, Path], workers: int = 8) -> dict[str, History]:
    """The history of every contract: ``files`` maps ``layer.table`` to the contract path."""
    repo = Repository.find(project_root)
    if repo.root is None or repo.reason:
        return {name: History(note=repo.reason) for name in files}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {name: pool.submit(file_history, project_root, path, repo) for name, path in files.items()}
        return {name: future.result() for name, future in futures.items()}
