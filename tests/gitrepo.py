"""A throwaway git repository for the ``kcrm-gov diff`` tests: the project committed on ``main``, a
``feature`` branch checked out, and a private copy of it per test."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def git(root: Path, *args: str) -> str:
    """Run git in ``root``; its standard output."""
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True).stdout


def commit_on_main(root: Path) -> Path:
    """Make ``root`` a repository with everything committed on ``main`` and ``feature`` checked out."""
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "ci@kcrm.io")
    git(root, "config", "user.name", "CI")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "the project")
    git(root, "checkout", "-q", "-b", "feature")
    return root


def private_copy(base: Path, tmp_path: Path) -> Path:
    """A copy of the repository ``base`` (working tree and history) for one change."""
    dest = tmp_path / "kcrm"
    shutil.copytree(base, dest, symlinks=True)
    return dest
