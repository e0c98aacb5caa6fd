"""The long run of the model-based money test (tests/workflows/test_money_model.py): many random
sequences of everything people and systems do to returns, through the real workflow on the
time-skipping server, with the money and stock invariants checked after every step.

    python bench/money_model.py --sequences 10000 --processes 2

Each process runs its share with a seed of its own; failing examples are kept in
tests/workflows/model-examples/ and replayed first by the suite's short run. Prints the
sequences run, the time, sequences per second, and each process's verdict.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).parent.parent


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sequences", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--steps", type=int, default=25, help="most steps per sequence")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    share = -(-args.sequences // args.processes)
    started = time.monotonic()
    runs = []
    for n in range(args.processes):
        env = {
            **os.environ,
            "RETURNS_MODEL_EXAMPLES": str(share),
            "RETURNS_MODEL_STEPS": str(args.steps),
        }
        command = [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "tests/workflows/test_money_model.py", f"--hypothesis-seed={args.seed + n}",
        ]  # fmt: skip
        runs.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True))
    failed = 0
    for n, run in enumerate(runs):
        out, _ = run.communicate()
        verdict = out.strip().splitlines()[-1] if out.strip() else "no output"
        print(f"process {n} (seed {args.seed + n}, {share} sequences): {verdict}")
        if run.returncode:
            failed += 1
            print(out[-5000:])
    seconds = time.monotonic() - started
    total = share * args.processes
    print(f"sequences: {total}  processes: {args.processes}  steps each: up to {args.steps}")
    print(f"time: {seconds:.0f} s  sequences/s: {total / seconds:.2f}  failed processes: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
