"""A no-op workflow of a return's shape: 6 activities and 2 signals, the benchmark's yardstick.
In a module of its own so that the worker runs it in the same sandbox as the return workflow."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn
async def noop(step: int) -> int:
    return step


@workflow.defn
class ReturnShapedNoop:
    def __init__(self) -> None:
        self.signals = 0

    @workflow.signal
    def step(self) -> None:
        self.signals += 1

    @workflow.run
    async def run(self) -> int:
        for n in range(2):
            await workflow.execute_activity(noop, n, start_to_close_timeout=timedelta(seconds=30))
        await workflow.wait_condition(lambda: self.signals >= 2)
        for n in range(2, 6):
            await workflow.execute_activity(noop, n, start_to_close_timeout=timedelta(seconds=30))
        return self.signals
