"""Scale benchmark: `kcrm-gov seed` then `kcrm-gov build` at several scale factors.

Run: ``python benchmarks/scale.py [SCALE ...] [--memory-limit 16GB] [--steps seed] [--dir DIR]``
(default scales: 1, 10 and 100; ``--steps seed`` runs only the seed). Each step runs as its own
child process on a fresh DuckDB file, the seed as
``kcrm-gov seed`` runs it (with its own DuckDB ``memory_limit``, ``SEED_MEMORY_LIMIT``; the goal is
4 GiB for the whole process at any scale), the build with the target key ``memory_limit`` set
(passed as ``KCRM_GOV_LOCAL__MEMORY_LIMIT``, 16GB by default);
its wall time, CPU time and peak RSS are that child's own (``os.wait4`` returns the child's rusage;
CPU time is the steadier figure on a shared machine). Every
figure is also given as a ratio to scale 1 measured in the same run. Goals (issue 18): scale 10 ≤
10× scale 1, scale 100 ≤ 100× scale 1, the seed inside 4 GiB and the build inside 24 GiB. Each step's line is printed
as soon as it ends, so a long run that is stopped still reports the steps it finished.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MACHINE_GIB = 24
SEED_GIB = 4  # the streaming seed's goal, at any scale
STEPS = ("seed", "build")


def run_step(args: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run ``kcrm-gov ARGS`` in a child process: its wall time, peak RSS and exit code."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", "from kcrm_gov.cli import main; main()", *args], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert child.stderr is not None
    err = child.stderr.read()  # drain, so a chatty child never blocks on a full pipe
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if child.returncode:
        sys.stderr.write(err.decode(errors="replace")[-2000:])
    return {"seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime, "peak_rss_gib": usage.ru_maxrss / 2**20,
            "rc": child.returncode}


def run_scale(scale: float, limits: dict[str, str], folder: Path, steps: list[str]) -> dict[str, dict[str, float]]:
    env = dict(os.environ)
    env.update({"KCRM_GOV_LOCAL__PATH": str(folder / f"scale{scale:g}.duckdb"),
                "KCRM_GOV_NOW": "2024-01-02T06:00:00Z",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))})
    out: dict[str, dict[str, float]] = {}
    for step, args in (("seed", ["seed", "--scale", f"{scale:g}"]), ("build", ["build"])):
        if step not in steps:
            continue
        out[step] = run_step(args, {**env, "KCRM_GOV_LOCAL__MEMORY_LIMIT": limits[step]} if limits[step] else env)
        r = out[step]
        failed = f" (FAILED, exit {r['rc']:g})" if r["rc"] else ""
        print(f"  scale {scale:g} {step}: {r['seconds']:.1f} s ({r['cpu_seconds']:.1f} s CPU), peak RSS "
              f"{r['peak_rss_gib']:.2f} GiB{failed}", flush=True)
        if r["rc"]:
            break
    for path in folder.glob(f"scale{scale:g}.duckdb*"):
        path.unlink()
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scales", nargs="*", type=float, default=[1.0, 10.0, 100.0])
    parser.add_argument("--memory-limit", default="16GB", help="DuckDB's memory_limit for the build")
    parser.add_argument("--seed-memory-limit", default="",
                        help="DuckDB's memory_limit for the seed (default: the seed's own, SEED_MEMORY_LIMIT)")
    parser.add_argument("--steps", default="seed,build", help="which steps to run (seed, build or both)")
    parser.add_argument("--dir", type=Path, help="where the warehouses go (default: a temporary folder)")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    opts = parser.parse_args(argv)
    scales = sorted(set(opts.scales) | {1.0})  # every ratio is to scale 1 of the same run
    results: dict[float, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(dir=opts.dir) as tmp:
        for scale in scales:
            results[scale] = run_scale(scale, {"seed": opts.seed_memory_limit, "build": opts.memory_limit},
                                       Path(tmp), opts.steps.split(","))
    base = results[1.0]
    from kcrm_gov.seed import SEED_MEMORY_LIMIT

    seed_limit = opts.seed_memory_limit or f"{SEED_MEMORY_LIMIT} (the seed's own)"
    print(f"\nscale benchmark (DuckDB memory_limit: seed {seed_limit}, build {opts.memory_limit}; "
          "ratios to scale 1 of this run):")
    for scale, steps in results.items():
        for step in STEPS:
            if step not in opts.steps.split(","):
                continue
            if step not in steps or steps[step]["rc"] or step not in base:
                print(f"  scale {scale:>5g} {step:<5}: not run or failed")
                continue
            r, b = steps[step], base[step]
            t_ratio, m_ratio = r["seconds"] / b["seconds"], r["peak_rss_gib"] / b["peak_rss_gib"]
            limit = SEED_GIB if step == "seed" else MACHINE_GIB
            goal = "" if scale == 1 else (
                f"  goal ≤ {scale:g}x and ≤ {limit} GiB: "
                f"{'met' if t_ratio <= scale and r['peak_rss_gib'] <= limit else 'MISSED'}")
            print(f"  scale {scale:>5g} {step:<5}: {r['seconds']:8.1f} s ({t_ratio:6.1f}x), CPU "
                  f"{r['cpu_seconds']:8.1f} s ({r['cpu_seconds'] / b['cpu_seconds']:6.1f}x), peak RSS "
                  f"{r['peak_rss_gib']:6.2f} GiB ({m_ratio:5.1f}x){goal}")
    if opts.json:
        print(json.dumps({f"{k:g}": v for k, v in results.items()}))
    return 0 if all(not s["rc"] for steps in results.values() for s in steps.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
