"""Cold-process time of `kcrm-gov check` over every contract and model (goal: <= 3 s).

Usage: python benchmarks/check.py [--runs N] [--base REF]
Each run is a fresh `kcrm-gov check` process (lint, compile every model against empty tables in
an in-memory DuckDB, checks/ and CODEOWNERS in sync). With --base the version-rule step runs too
(the project at REF is extracted with `git archive` and loaded). Prints the median of N runs, the
gate's exit code, and the floor of starting a bare Python interpreter, measured in the same run.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def timed(cmd: list[str]) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, check=False, capture_output=True)
    return time.perf_counter() - start, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--base", help="also run the version-rule step against this git ref")
    args = parser.parse_args()
    exe = shutil.which("kcrm-gov") or str(Path(sys.executable).parent / "kcrm-gov")
    contracts = len(list((REPO / "contracts").rglob("*.odcs.yaml")))
    models = len(list((REPO / "models").rglob("*.sql")))
    cmd = [exe, "check"] + (["--base", args.base] if args.base else [])
    runs = [timed(cmd) for _ in range(args.runs)]
    median = statistics.median(t for t, _ in runs)
    floor = statistics.median(timed([sys.executable, "-c", "pass"])[0] for _ in range(args.runs))
    codes = sorted({c for _, c in runs})
    print(f"{' '.join(['kcrm-gov', *cmd[1:]])}, {contracts} contracts, {models} models, cold process: "
          f"{median:.2f} s (median of {args.runs}; min {min(t for t, _ in runs):.2f} s, max "
          f"{max(t for t, _ in runs):.2f} s); exit code {'/'.join(map(str, codes))}; bare python start: "
          f"{floor:.2f} s; goal <= 3 s: {'met' if median <= 3 else 'NOT met'}")


if __name__ == "__main__":
    main()
