"""A workflow that only waits: awaiting its result lets the time-skipping server move time on.
(One long `env.sleep` outlasts its RPC deadline while thousands of activity attempts run in it.)
Its own module, free of imports, as the workflow sandbox wants."""

from __future__ import annotations

import asyncio

from temporalio import workflow


@workflow.defn(name="Clock")
class Clock:
    @workflow.run
    async def run(self, hours: int) -> None:
        await asyncio.sleep(hours * 3600)
