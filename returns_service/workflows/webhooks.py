"""One endpoint's webhook queue: a workflow that drains the endpoint's due deliveries (an
activity), then sleeps until the next one is due or a new event wakes it. While the endpoint is
down it backs off as a whole, so a receiver that is away for two days costs a few dozen attempts
rather than a dozen per event, and the history holds one activity and one timer per round (a
fresh run continues after a few hundred rounds)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from returns_service.domain.messages import (
        WEBHOOK_HURRY,
        WEBHOOK_WAKE,
        WEBHOOK_WORKFLOW,
        DrainWebhooks,
        EndpointQueue,
    )
    from returns_service.domain.retries import webhook_retry
    from returns_service.domain.steps import WebhookSteps

ROUNDS = 200  # then continue as new, so the history stays small
# A person's "try again" that arrives while a drain runs is kept (it was lost when the drain found
# the endpoint down, and the queue waited out its pause).
HURRY_KEPT = "hurry-kept-during-drain"
DRAIN_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=5)
)


@workflow.defn(name=WEBHOOK_WORKFLOW)
class WebhookEndpointWorkflow:
    def __init__(self) -> None:
        self.woken = False
        self.hurried = False

    @workflow.signal(name=WEBHOOK_WAKE)
    def wake(self) -> None:
        """A new delivery is queued."""
        self.woken = True

    @workflow.signal(name=WEBHOOK_HURRY)
    def hurry(self) -> None:
        """Someone asked for a delivery again: try now, even an endpoint that looks down."""
        self.woken = self.hurried = True

    @workflow.run
    async def run(self, queue: EndpointQueue) -> str:
        down = queue.down
        for _ in range(ROUNDS):
            self.woken = False
            keep_hurry = workflow.patched(HURRY_KEPT)
            if keep_hurry:
                self.hurried = False
            drained = await workflow.execute_activity_method(
                WebhookSteps.drain,
                DrainWebhooks(endpoint_id=queue.endpoint_id, now=workflow.now()),
                start_to_close_timeout=timedelta(minutes=10),
                heartbeat_timeout=timedelta(minutes=1),
                retry_policy=DRAIN_RETRY,
            )
            if drained.closed:
                return "closed"
            if drained.down:
                down += 1  # new events do not hurry the next try of a failing endpoint
                if not keep_hurry:
                    self.hurried = False
                try:
                    await workflow.wait_condition(lambda: self.hurried, timeout=webhook_retry(down))
                except TimeoutError:
                    pass
                continue
            down = 0
            if drained.more:
                continue
            if drained.next_due is None:
                if self.woken:
                    continue
                return "idle"  # a new delivery starts the workflow again
            wait = max(drained.next_due - workflow.now(), timedelta(seconds=1))
            try:
                await workflow.wait_condition(lambda: self.woken, timeout=wait)
            except TimeoutError:
                pass
        workflow.continue_as_new(EndpointQueue(endpoint_id=queue.endpoint_id, down=down))
