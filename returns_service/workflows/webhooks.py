"""One webhook delivery: one activity that Temporal retries with growing pauses for three days
(the attempts do not enter the history, which stays a handful of events), then gives up."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from returns_service.domain.messages import WEBHOOK_WORKFLOW, DeliverWebhook, WebhookActivity

# 30 s, 1.5 min, 4.5 min, ... then every 12 hours: about 13 attempts over 73 hours.
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=30),
    backoff_coefficient=3.0,
    maximum_interval=timedelta(hours=12),
    non_retryable_error_types=["EndpointGone"],
)
KEEP_TRYING = timedelta(hours=73)


@workflow.defn(name=WEBHOOK_WORKFLOW)
class WebhookDeliveryWorkflow:
    @workflow.run
    async def run(self, request: DeliverWebhook) -> str:
        try:
            return await workflow.execute_activity(
                WebhookActivity.DELIVER,
                request,
                result_type=str,
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=KEEP_TRYING,
                retry_policy=RETRY,
            )
        except ActivityError:
            return await workflow.execute_activity(
                WebhookActivity.GIVE_UP,
                request,
                result_type=str,
                start_to_close_timeout=timedelta(seconds=30),
            )
