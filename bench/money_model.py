"""The long run of the model-based money test (tests/workflows/test_money_model.py): many random
sequences of everything people and systems do to returns, through the real workflow on the
time-skipping server, with the money and stock invariants checked after every step.

    python bench/money_model.py --sequences 10000 --processes 2

Each process runs batches of `--batch` sequences, each batch with a seed of its own, and prints a
line per batch, so a run cut short still says how far it got. Failing examples are kept in
tests/workflows/model-examples/ and replayed first by the suite's short run. Ends with the
sequences run, the time, sequences per second and the failed batches.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).parent.parent


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sequences", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--steps", type=int, default=25, help="most steps per sequence")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    batches = list(range(-(-args.sequences // args.batch)))
    started = time.monotonic()
    done: list[int] = []
    failed: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                if not batches:
                    return
                batch = batches.pop(0)
            seed = args.seed + batch
            env = {
                **os.environ,
                "RETURNS_MODEL_EXAMPLES": str(args.batch),
                "RETURNS_MODEL_STEPS": str(args.steps),
            }
            command = [
                sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                "tests/workflows/test_money_model.py", f"--hypothesis-seed={seed}",
            ]  # fmt: skip
            run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
            with lock:
                (failed if run.returncode else done).append(batch)
                count = args.batch * (len(done) + len(failed))
                last = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else "no output"
                print(
                    f"batch {batch} (seed {seed}): {last} | {count} sequences in"
                    f" {time.monotonic() - started:.0f} s",
                    flush=True,
                )
                if run.returncode:
                    # The whole output is kept; the tail printed leaves out the SDK's warnings.
                    kept = Path(tempfile.gettempdir()) / f"money-model-seed-{seed}.log"
                    kept.write_text(run.stdout + run.stderr)
                    lines = [line for line in run.stdout.splitlines() if " WARN " not in line]
                    print("\n".join(lines)[-6000:], f"\n(whole output: {kept})", flush=True)

    threads = [threading.Thread(target=work) for _ in range(args.processes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    total = args.batch * (len(done) + len(failed))
    print(f"sequences: {total}  processes: {args.processes}  steps each: up to {args.steps}")
    print(
        f"time: {seconds:.0f} s  sequences/s: {total / seconds:.2f}"
        f"  failed batches: {len(failed)} {sorted(failed)}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
