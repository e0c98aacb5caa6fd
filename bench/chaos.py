"""The chaos run, large: returns through the API of `returns dev --workers 2` while its worker
processes, API and Temporal server are killed (SIGKILL) at random, on SQLite and on PostgreSQL as
the store; prints what it checked (lost, stuck, paid or restocked twice, read model disagreeing,
emails and webhook events not one per status).

    python bench/chaos.py --returns 200 --kills 40 --store sqlite --store postgresql
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parent.parent)]
from tests.chaos import run_chaos  # noqa: E402
from tests.postgres import local_postgres  # noqa: E402


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--returns", type=int, default=200)
    parser.add_argument("--kills", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--store", action="append", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    whole = True
    for store in args.store or ["sqlite", "postgresql"]:
        with tempfile.TemporaryDirectory(prefix="returns-chaos-") as root:
            if store == "postgresql":
                with local_postgres("max_connections=200") as url:
                    report = await run_chaos(
                        Path(root), args.returns, url, kills=args.kills, seed=args.seed,
                        settle_seconds=600,
                    )  # fmt: skip
            else:
                report = await run_chaos(
                    Path(root), args.returns, kills=args.kills, seed=args.seed, settle_seconds=600
                )
        print(f"--- {store}")
        print("\n".join(report.lines()), flush=True)
        whole = whole and report.whole and report.closed == report.returns
    return 0 if whole else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
