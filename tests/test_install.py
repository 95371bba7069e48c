"""The README's install command works with the newest pip and with uv (issue 13, item 4).

Without a lock, a new venv's pip (23.2.1) resolves the project's pins only by backtracking and the
newest pip gives up on the same graph with ``resolution-too-deep``. ``requirements/lock.txt``
(written by ``requirements/update-lock.sh``) pins the whole set, and the README installs with it as
constraints.

The install tests are slow (fresh virtualenvs, every wheel from the registry) and marked
``install``: they run only with ``KCRM_GOV_INSTALL_TEST=1``. ``.ci/run`` runs them as their own step,
``KCRM_GOV_INSTALL_TEST=1 pytest -m install -q -s tests/test_install.py`` (``-s`` shows the timings).
The lock test is fast and always runs.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "requirements" / "lock.txt"
UPDATE_LOCK = REPO / "requirements" / "update-lock.sh"

# read at collection: conftest's autouse fixture hides KCRM_GOV_* variables from the tests themselves
INSTALL_TEST = os.environ.get("KCRM_GOV_INSTALL_TEST") == "1"
opted_in = pytest.mark.skipif(not INSTALL_TEST, reason="KCRM_GOV_INSTALL_TEST=1 is not set (slow: fresh venvs)")

# what a clean clone does not have: build outputs and local state (.gitignore)
NOT_IN_A_CLONE = shutil.ignore_patterns(
    ".git", ".venv", ".kcrm", "site", "build", "dist", "*.egg-info", "__pycache__", "*.pyc",
    ".pytest_cache", ".ruff_cache", ".hypothesis", "test-artifacts", "selfcheck",
)


def readme_install_command() -> list[str]:
    """The ``pip install ...`` line of the README's "Set-up: two commands", split like a shell."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Set-up: two commands", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "README: no ```bash block under 'Set-up: two commands'"
    lines = [line for line in block.group(1).splitlines() if line.startswith("pip install ")]
    assert len(lines) == 1, f"README: expected one `pip install` line in the set-up block, got {lines}"
    return shlex.split(lines[0])


def locked_versions() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and version, f"lock line is not NAME==VERSION: {line!r}"
            pins[canonicalize_name(name)] = version.strip()
    return pins


def run(cmd: list[str], *, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-60:])
        pytest.fail(f"`{shlex.join(cmd)}` exited {proc.returncode}:\n{tail}", pytrace=False)
    return proc


def test_lock_matches_pyproject_pins() -> None:
    """Every exact pin of pyproject.toml (runtime and `dev`) is the locked version, so installing with
    the lock as constraints cannot conflict; and the README installs with that lock."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = locked_versions()
    stale = []
    for spec in [*project["dependencies"], *project["optional-dependencies"]["dev"]]:
        req = Requirement(spec)
        exact = [s.version for s in req.specifier if s.operator == "=="]
        name = canonicalize_name(req.name)
        if exact and pins.get(name) != exact[0]:
            stale.append(f"{req.name}: pyproject {exact[0]}, lock {pins.get(name, 'absent')}")
    assert not stale, "requirements/lock.txt is stale, run requirements/update-lock.sh:\n" + "\n".join(stale)

    uv_pin = re.search(r"^UV_VERSION=(\S+)$", UPDATE_LOCK.read_text(encoding="utf-8"), re.M)
    assert uv_pin and f"# uv {uv_pin.group(1)} " in LOCK.read_text(encoding="utf-8"), \
        "the lock's header does not name the uv pinned in requirements/update-lock.sh"

    cmd = readme_install_command()
    assert cmd[cmd.index("-c") + 1] == "requirements/lock.txt", f"README installs without the lock: {cmd}"


def check_installed(venv: Path, clone: Path, check_cmd: list[str]) -> None:
    """The venv holds the locked versions, is consistent, and its `kcrm-gov` runs."""
    run(check_cmd, cwd=clone, timeout=120)
    dump = ("import json, importlib.metadata as m; "
            "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))")
    listed = run([str(venv / "bin" / "python"), "-c", dump], cwd=clone, timeout=60).stdout
    installed = {canonicalize_name(k): v for k, v in json.loads(listed).items()}
    pins = locked_versions()
    differ = {n: (pins[n], installed[n]) for n in pins if n in installed and installed[n] != pins[n]}
    assert not differ, f"installed versions differ from the lock (locked, installed): {differ}"
    if sys.version_info[:2] == (3, 11) and sys.platform == "linux" and platform.machine() == "x86_64":
        missing = sorted(set(pins) - set(installed))
        assert not missing, f"locked for this platform but not installed: {missing}"
    version = run([str(venv / "bin" / "kcrm-gov"), "--version"], cwd=clone, timeout=120).stdout
    assert "kcrm-gov" in version, version


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """The project as a clean clone has it, so the editable install writes nothing into this tree."""
    return Path(shutil.copytree(REPO, tmp_path / "kcrm-gov", ignore=NOT_IN_A_CLONE))


@pytest.mark.install
@opted_in
def test_readme_install_with_newest_pip(clone: Path, tmp_path: Path) -> None:
    """A fresh venv, pip upgraded to the newest release, then the README's command as written."""
    venv = tmp_path / "venv"
    t0 = time.monotonic()
    run([sys.executable, "-m", "venv", str(venv)], cwd=clone, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip"]
    run([*pip, "install", "--quiet", "--upgrade", "pip"], cwd=clone, timeout=300)
    pip_version = run([*pip, "--version"], cwd=clone, timeout=60).stdout.split()[1]
    t1 = time.monotonic()
    cmd = readme_install_command()
    assert cmd[:2] == ["pip", "install"]
    # the README's arguments unchanged; --no-compile only skips writing .pyc files (tens of seconds
    # here), it changes nothing that is resolved or installed
    run([*pip, *cmd[1:], "--no-compile"], cwd=clone, timeout=1200)
    t2 = time.monotonic()
    check_installed(venv, clone, [*pip, "check"])
    print(f"\npip {pip_version}: venv + pip upgrade {t1 - t0:.1f} s, `{shlex.join(cmd)}` {t2 - t1:.1f} s")


@pytest.mark.install
@opted_in
def test_readme_install_with_uv(clone: Path, tmp_path: Path) -> None:
    """uv, newest from the registry, installs the README's command into a fresh venv."""
    tools = tmp_path / "uv"
    t0 = time.monotonic()
    run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target", str(tools),
         "uv"], cwd=clone, timeout=300)
    uv = str(tools / "bin" / "uv")
    uv_version = run([uv, "--version"], cwd=clone, timeout=60).stdout.split()[1]
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=clone, timeout=120)
    t1 = time.monotonic()
    cmd = readme_install_command()
    python = ["--python", str(venv / "bin" / "python")]
    run([uv, "pip", *cmd[1:], *python], cwd=clone, timeout=600)
    t2 = time.monotonic()
    check_installed(venv, clone, [uv, "pip", "check", *python])
    print(f"\nuv {uv_version}: uv + venv {t1 - t0:.1f} s, `uv {shlex.join(cmd)}` {t2 - t1:.1f} s")
