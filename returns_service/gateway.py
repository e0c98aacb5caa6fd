"""The one module that talks to Temporal for the API (and the pages): it starts a return's
workflow, delivers people's decisions to it as Updates, reads its live state, input and history,
tells it of carrier events, and wakes webhook queues. Every call keeps a deadline. Temporal's
errors become the few below, which callers turn into answers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowHistory,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import SearchAttributeKey, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from returns_service.domain import search
from returns_service.domain.messages import (
    WEBHOOK_HURRY,
    WEBHOOK_WAKE,
    CarrierEvent,
    EndpointQueue,
    PaymentEvent,
    StartReturn,
    webhook_workflow_id,
    workflow_id,
)
from returns_service.domain.models import ReturnState
from returns_service.workflows.returns import ReturnWorkflow
from returns_service.workflows.webhooks import WebhookEndpointWorkflow

log = logging.getLogger(__name__)
M = TypeVar("M")
# A person's decision: an Update of the return's workflow taking one input, answering the return.
# (The SDK types an async handler declared with `name=` by its coroutine; the answer is the state.)
Decision = UpdateMethodMultiParam[[ReturnWorkflow, M], Coroutine[Any, Any, ReturnState]]


class GatewayError(Exception):
    """Temporal did not do what was asked; the message says why."""


class NoAnswer(GatewayError):
    """The workflow did not answer within the deadline: the request may still take effect."""


class Unreachable(GatewayError):
    """Temporal could not be asked (down, stalled, or it refused the call)."""


class Finished(GatewayError):
    """The workflow has finished: nothing can be asked of it any more."""


class KeyUsed(GatewayError):
    """A workflow with this id ran and finished: the id (from an Idempotency-Key) is spent."""


class Refused(GatewayError):
    """The workflow refused the decision: its error type (`InvalidTransition`, `InvalidInput`,
    `RefundTooLarge`, ...), message and details (`current_status`, `available_actions`, `field`)."""

    def __init__(self, kind: str | None, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.details = details


@dataclass
class Gateway:
    client: Client
    task_queue: str
    # How long a caller waits for a workflow's answer (a decision, a verdict).
    answer_seconds: float = 15.0
    # How long any other call to Temporal may take (a read, a signal, a start).
    call_seconds: float = 5.0
    # Whether the return workflow's search attributes are registered (asked once).
    _indexed: bool | None = None

    async def indexing(self) -> bool:
        """Whether returns started now may keep their search attributes: they are registered on
        the namespace, or registering them now works. Without them a return still runs, but the
        Temporal UI and CLI cannot find it by number, status or customer."""
        if self._indexed is not None:
            return self._indexed
        try:
            self._indexed = await within(self.call_seconds, register_search_attributes(self.client))
        except Unreachable as error:
            # Not known now (Temporal away for a moment): this return starts without them, and
            # the next one asks again.
            log.warning("the return search attributes could not be checked: %s", error)
            return False
        return self._indexed

    async def healthy(self) -> None:
        """Raises unless Temporal answers its health check within the deadline."""
        await within(self.call_seconds, self.client.service_client.check_health())

    def handle(self, return_id: str) -> WorkflowHandle[ReturnWorkflow, ReturnState]:
        return self.client.get_workflow_handle_for(ReturnWorkflow.run, workflow_id(return_id))

    async def start_return(self, start: StartReturn) -> ReturnState | None:
        """Start the return's workflow (or find the one this id started) and wait for its
        verdict; None when it runs but no worker has decided it within the deadline."""
        start = start.model_copy(update={"indexed": await self.indexing()})
        operation = WithStartWorkflowOperation(
            ReturnWorkflow.run,
            start,
            id=workflow_id(start.return_id),
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            task_queue=self.task_queue,
        )
        try:
            async with asyncio.timeout(self.answer_seconds):
                state = await self.client.execute_update_with_start_workflow(
                    ReturnWorkflow.wait_decided, start_workflow_operation=operation
                )
                return cast(ReturnState, state)
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            # The workflow runs, but no worker has decided it yet (none running, or all busy).
            if await self.started(start.return_id) is None:
                raise Unreachable("the return could not be started; nothing was created") from None
            return None
        except WorkflowAlreadyStartedError as error:
            raise KeyUsed(str(error)) from error
        except RPCError as error:
            raise Unreachable(f"could not start the return: {error.message}") from error

    async def wait_decided(self, return_id: str) -> ReturnState | None:
        """The return's verdict once decided; None if not within the deadline."""
        try:
            async with asyncio.timeout(self.answer_seconds):
                state = await self.handle(return_id).execute_update(ReturnWorkflow.wait_decided)
                return cast(ReturnState, state)
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            return None
        except (RPCError, WorkflowUpdateFailedError) as error:
            raise Finished(str(error)) from error

    async def started(self, return_id: str) -> StartReturn | None:
        """The input of the return's workflow, if it has been started (None too when Temporal
        does not answer within the deadline)."""
        handle = self.handle(return_id)
        try:
            async with asyncio.timeout(self.call_seconds):
                async for event in handle.fetch_history_events():
                    payloads = event.workflow_execution_started_event_attributes.input.payloads
                    [start] = await self.client.data_converter.decode(payloads, [StartReturn])
                    return start  # type: ignore[no-any-return]
        except (RPCError, TimeoutError):
            pass
        return None

    async def ended(self, return_id: str) -> bool:
        """Whether the return's workflow has ended (False too when Temporal does not answer)."""
        try:
            async with asyncio.timeout(self.call_seconds):
                described = await self.handle(return_id).describe()
        except (RPCError, TimeoutError):
            return False
        return described.status is not None and described.status != WorkflowExecutionStatus.RUNNING

    async def live_state(self, return_id: str, seconds: float) -> ReturnState | None:
        """The workflow's state now, if it answers within `seconds`."""
        try:
            async with asyncio.timeout(seconds):
                state = await self.handle(return_id).query(ReturnWorkflow.current_state)
        except (RPCError, TimeoutError):
            return None
        return state

    async def decide(self, return_id: str, update: Decision[M], message: M) -> ReturnState:
        """Deliver a person's decision as an Update and answer the return as it left it."""
        try:
            async with asyncio.timeout(self.answer_seconds):
                state = await self.handle(return_id).execute_update(update, message)
                return cast(ReturnState, state)
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            raise NoAnswer(
                f"the return's workflow did not answer within {self.answer_seconds:g} s; the"
                " request may still take effect when it does: read the return before repeating it"
            ) from None
        except WorkflowUpdateFailedError as failure:
            cause = failure.cause
            if not isinstance(cause, ApplicationError):
                raise Refused(None, str(cause or failure), {}) from failure
            details: dict[str, Any] = cause.details[0] if cause.details else {}
            raise Refused(cause.type, cause.message, details) from failure
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise Finished(error.message) from error
            raise Unreachable(f"the return's workflow did not answer: {error.message}") from error

    async def tell_carrier_event(self, return_id: str, event: CarrierEvent) -> bool:
        """Signal the carrier's event; False if the return has finished meanwhile."""
        return await self._tell(self.handle(return_id).signal(ReturnWorkflow.carrier_event, event))

    async def tell_payment_event(self, return_id: str, event: PaymentEvent) -> bool:
        """Signal the payment processor's event; False if the return has finished."""
        return await self._tell(self.handle(return_id).signal(ReturnWorkflow.payment_event, event))

    async def _tell(self, signal: Awaitable[None]) -> bool:
        try:
            async with asyncio.timeout(self.call_seconds):
                await signal
        except TimeoutError:
            raise Unreachable("the return's workflow could not be told in time") from None
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return False
            raise Unreachable(f"the return's workflow could not be told: {error}") from None
        return True

    async def history(
        self, workflow: str
    ) -> tuple[WorkflowHistory, WorkflowExecutionDescription] | None:
        """A workflow's history and description; None if there is none."""
        handle = self.client.get_workflow_handle(workflow)
        try:
            async with asyncio.timeout(self.answer_seconds):
                return await handle.fetch_history(), await handle.describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return None
            raise Unreachable(f"the history could not be read: {error.message}") from error
        except TimeoutError:
            raise Unreachable("the history could not be read in time") from None

    async def wake_endpoints(self, endpoint_ids: list[str], hurry: bool = False) -> None:
        await within(
            self.call_seconds, wake_endpoints(self.client, self.task_queue, endpoint_ids, hurry)
        )


async def within(seconds: float, work: Awaitable[M]) -> M:
    try:
        async with asyncio.timeout(seconds):
            return await work
    except TimeoutError:
        raise Unreachable(f"Temporal did not answer within {seconds:g} s") from None
    except RPCError as error:
        raise Unreachable(f"Temporal refused: {error.message}") from error


async def register_search_attributes(client: Client) -> bool:
    """Register the return workflow's search attributes on the client's namespace where they are
    missing; True once they are all there (False: the server refused to add them)."""
    kinds: dict[SearchAttributeKey[Any], IndexedValueType.ValueType] = {
        search.RETURN_NUMBER: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        search.RETURN_STATUS: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        search.CUSTOMER_EMAIL: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        search.ORDER_IDS: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
    }
    missing = {key.name: kind for key, kind in kinds.items()}
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
        missing = {k: v for k, v in missing.items() if k not in listed.custom_attributes}
    except RPCError as error:
        if error.status != RPCStatusCode.UNIMPLEMENTED:  # the test server only adds
            raise
    if not missing:
        return True
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
    except RPCError as error:
        if error.status == RPCStatusCode.ALREADY_EXISTS:
            return True
        log.warning("could not register the search attributes %s: %s", sorted(missing), error)
        return False
    return True


async def wake_endpoints(
    client: Client, task_queue: str, endpoint_ids: list[str], hurry: bool = False
) -> None:
    """Wake each webhook endpoint's queue, starting its workflow when none is running; `hurry`
    (a person asked) tries even an endpoint that is down at once."""
    for endpoint in endpoint_ids:
        await client.start_workflow(
            WebhookEndpointWorkflow.run,
            EndpointQueue(endpoint_id=endpoint),
            id=webhook_workflow_id(endpoint),
            task_queue=task_queue,
            start_signal=WEBHOOK_HURRY if hurry else WEBHOOK_WAKE,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )
