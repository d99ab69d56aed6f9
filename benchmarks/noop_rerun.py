"""No-op rerun speed: time `snakemake --cores 2` on an up-to-date default run, against the bare
cost of starting snakemake (`snakemake --version`) measured in the same run.

Usage (after `make run`): .venv/bin/python benchmarks/noop_rerun.py [--repeats 5]
Prints the median of each and their ratio; the foundation target is a no-op rerun under 3 s.
"""

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def timed(cmd):
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    return dt, r.stdout + r.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    _, out = timed([SNAKEMAKE, "--cores", "2"])  # bring the run up to date first
    noop, base = [], []
    for _ in range(args.repeats):
        dt, out = timed([SNAKEMAKE, "--cores", "2"])
        if "Nothing to be done" not in out:
            sys.exit("the rerun was not a no-op:\n" + out[-2000:])
        noop.append(dt)
        base.append(timed([SNAKEMAKE, "--version"])[0])
    n, b = statistics.median(noop), statistics.median(base)
    print(f"no-op rerun (median of {args.repeats}): {n:.2f} s  [target < 3 s: {'met' if n < 3 else 'NOT met'}]")
    print(f"snakemake --version baseline: {b:.2f} s")
    print(f"no-op / baseline: {n / b:.2f}x  (gexflow's own parse + DAG check: {n - b:.2f} s)")


if __name__ == "__main__":
    main()
