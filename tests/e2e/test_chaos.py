"""The chaos run, small (issue 11): returns through the API of `returns dev --workers 2` while
its processes are killed at random; afterwards nothing lost, stuck, paid, restocked, emailed or
announced twice, and the read model agrees with every workflow. `bench/chaos.py` runs it large,
on both stores."""

from __future__ import annotations

from pathlib import Path

from tests.chaos import run_chaos


async def test_returns_come_through_whole_while_processes_are_killed(tmp_path: Path):
    report = await run_chaos(tmp_path, returns=8, kills=3, kill_every=(2.0, 5.0), seed=11)
    print("\n".join(report.lines()))
    # Each kind killed (the one killed least so far is chosen, among those running then).
    assert set(report.kills) == {"api", "temporal", "worker"}, report.kills
    assert sum(report.kills.values()) == 3, report.kills
    assert report.whole, "\n".join(report.lines())
    assert report.closed == report.returns
