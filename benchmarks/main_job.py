"""The README's main job end to end, step by step, as a newcomer runs it on a fresh clone.

Usage: python benchmarks/main_job.py [--keep]

Copies the project's tracked files (no .kcrm: no warehouse, no caches) into a temporary directory and
runs, as separate processes: `kcrm-gov build` (seeds the empty raw layer at scale 1, then builds every
model with its contract enforced), `kcrm-gov test`, `kcrm-gov freshness` and `kcrm-gov catalog build`.
Prints each step's wall time and the total against the goal (20 s at scale 1 on 2 cores, issue 18), and the
CPU seconds (user + system) each step's process used: on a machine shared with other work the wall
time swells with the load while the CPU time barely moves, so compare changes by both. A fresh
clone pays for transpiling every model once (the compiled-SQL cache is empty), so this is the cold
figure; `benchmarks/build.py` gives the build alone against its floor.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GOAL_SECONDS = 20.0
STEPS: list[tuple[str, list[str], set[int]]] = [
    ("build (seed + every model)", ["build"], {0}),
    ("test (every contract's checks)", ["test"], {0}),
    ("freshness", ["freshness"], {0, 1}),  # 1 = warnings only, as .ci/run accepts
    ("catalog build", ["catalog", "build"], {0}),
]


def fresh_copy(dest: Path) -> Path:
    """The tracked files of the repository, as a clone would have them."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True).stdout
    for name in files.decode().split("\0"):
        if name and (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    return dest


def _children_cpu() -> float:
    """CPU seconds (user + system) used so far by this process's finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="keep the temporary project and print its path")
    args = parser.parse_args()

    kcrm_gov = Path(sys.executable).with_name("kcrm-gov")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KCRM_GOV_")}
    tmp = Path(tempfile.mkdtemp(prefix="kcrm-main-job-"))
    project = fresh_copy(tmp / "project")
    total = cpu_total = 0.0
    print(f"{'step':<34}{'seconds':>9}{'cpu s':>9}")
    try:
        for label, command, ok in STEPS:
            started, cpu_before = time.perf_counter(), _children_cpu()
            result = subprocess.run([str(kcrm_gov), *command], cwd=project, env=env, capture_output=True, text=True)
            seconds, cpu = time.perf_counter() - started, _children_cpu() - cpu_before
            total += seconds
            cpu_total += cpu
            if result.returncode not in ok:
                sys.exit(f"{label} failed (exit {result.returncode}):\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
            print(f"{label:<34}{seconds:>9.2f}{cpu:>9.2f}")
        print(f"{'main job, total':<34}{total:>9.2f}{cpu_total:>9.2f}")
        print(f"goal: <= {GOAL_SECONDS:.0f} s -> {total / GOAL_SECONDS:.2f}x the goal")
    finally:
        if args.keep:
            print(f"project kept in {project}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
