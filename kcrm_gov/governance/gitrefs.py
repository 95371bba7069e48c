"""Git plumbing for the diff: which ref is the base, and the project as it was at that ref.

The project at a ref is extracted with ``git archive <ref>:<prefix> | tar -x`` into a temporary
folder (only the files a :class:`~kcrm_gov.project.Project` reads: the config, contracts/,
models/ and catalog/), then loaded like any project. Nothing in the working tree is touched, no
worktree is registered, and it works on a shallow CI checkout as long as the ref is fetched.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import KcrmGovError
from ..project import Project

PROJECT_PATHS = ("kcrm_gov.yml", "pyproject.toml", "contracts", "models", "catalog")
"""What :meth:`Project.load` reads: everything else of the tree is left out of the extraction."""
DEFAULT_BRANCHES = ("main", "origin/main")


class GitError(KcrmGovError):
    """git is missing, the folder is not a repository, or a ref does not exist."""

    exit_code = 2


def git(root: Path, *args: str, binary: bool = False) -> str | bytes:
    """Run ``git -C root args…`` and return its stdout (raises :class:`GitError` with git's message)."""
    try:
        proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, check=False,
                              env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"})
    except FileNotFoundError:
        raise GitError("git is not installed (the diff compares with a git ref)") from None
    if proc.returncode != 0:
        message = proc.stderr.decode(errors="replace").strip().splitlines()
        raise GitError(f"git {' '.join(args)}: {message[-1] if message else f'exit {proc.returncode}'}")
    return proc.stdout if binary else proc.stdout.decode(errors="replace").strip()


def _ref_exists(root: Path, ref: str) -> bool:
    try:
        git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except GitError:
        return False
    return True


def resolve_base(root: Path, base: str | None = None) -> tuple[str, str]:
    """``(commit, description)`` of the base to compare with.

    With ``base`` given: the merge base of HEAD and ``base`` (what a pull request's "files
    changed" compares against, so commits that landed on main since the branch was cut are not
    reported as this change), or ``base`` itself when they share no history. Without: the merge
    base of HEAD with ``main``, falling back to ``origin/main``.
    """
    git(root, "rev-parse", "--git-dir")  # a clear error outside a repository
    candidates = [base] if base else list(DEFAULT_BRANCHES)
    for ref in candidates:
        if not _ref_exists(root, ref):
            continue
        try:
            commit = str(git(root, "merge-base", "HEAD", ref))
            return commit, f"merge base of HEAD and {ref} ({commit[:12]})"
        except GitError:
            commit = str(git(root, "rev-parse", f"{ref}^{{commit}}"))
            return commit, f"{ref} ({commit[:12]})"
    if base:
        raise GitError(f"unknown git ref '{base}' (fetch it first, e.g. `git fetch origin main`)")
    raise GitError("no base to compare with: neither `main` nor `origin/main` exists; pass --base REF")


def _prefix(root: Path) -> str:
    """The project's folder inside the repository (empty at the top)."""
    return str(git(root, "rev-parse", "--show-prefix"))


@contextmanager
def project_at(root: Path, ref: str) -> Iterator[Project | None]:
    """The project as committed at ``ref`` (None when the project did not exist there).

    The contracts and models are extracted into a temporary folder that is removed afterwards.
    The column-lineage cache of the working tree (``.kcrm/lineage``) is shared with it: entries
    are keyed by SQL and contract hashes, so the base reuses what the working tree computed.
    """
    prefix = _prefix(root)
    tree = f"{ref}:{prefix}"
    try:
        names = str(git(root, "ls-tree", "--name-only", tree)).splitlines()
    except GitError:
        names = []
    wanted = [n for n in names if n in PROJECT_PATHS]
    if "contracts" not in wanted:
        yield None
        return
    folder = Path(tempfile.mkdtemp(prefix="kcrm-gov-base-"))
    try:
        data = git(root, "archive", "--format=tar", tree, *wanted, binary=True)
        with tarfile.open(fileobj=io.BytesIO(data if isinstance(data, bytes) else data.encode())) as archive:
            archive.extractall(folder, filter="data")
        lineage = root / ".kcrm" / "lineage"
        try:
            lineage.mkdir(parents=True, exist_ok=True)
            (folder / ".kcrm").mkdir()
            (folder / ".kcrm" / "lineage").symlink_to(lineage, target_is_directory=True)
        except OSError:
            pass  # no shared cache: lineage is recomputed for the base
        yield Project.load(folder, strict=False)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
