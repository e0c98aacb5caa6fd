"""A return's history for ops, read from the workflow's Temporal event history."""

from __future__ import annotations

from datetime import UTC
from typing import Any
from urllib.parse import quote

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent as TemporalEvent
from temporalio.client import Client
from temporalio.service import RPCError

from returns_service.api.errors import NotFound
from returns_service.api.schemas import History, HistoryEvent
from returns_service.config import Settings

E = EventType


def _decode(client: Client, payloads: Any) -> list[Any]:
    try:
        return list(client.data_converter.payload_converter.from_payloads(list(payloads.payloads)))
    except Exception:
        return []


def _summary(client: Client, event: TemporalEvent) -> str | None:
    if not event.HasField("user_metadata") or not event.user_metadata.HasField("summary"):
        return None
    try:
        value = client.data_converter.payload_converter.from_payloads(
            [event.user_metadata.summary]
        )[0]
    except Exception:
        return None
    return str(value)


def _actor(values: list[Any]) -> str | None:
    for value in values:
        if isinstance(value, dict) and isinstance(value.get("actor"), dict):
            actor = value["actor"]
            return f"{actor.get('kind')}:{actor['id']}" if actor.get("id") else actor.get("kind")
    return None


def _describe(
    client: Client, event: TemporalEvent, scheduled: dict[int, str]
) -> HistoryEvent | None:
    at = event.event_time.ToDatetime().replace(tzinfo=UTC)
    kind = event.event_type
    if kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        attrs = event.workflow_execution_started_event_attributes
        values = _decode(client, attrs.input)
        return HistoryEvent(
            at=at,
            kind="return_requested",
            summary="return requested, workflow started",
            actor=_actor(values),
        )
    if kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
        attrs = event.workflow_execution_update_accepted_event_attributes
        name = attrs.accepted_request.input.name
        values = _decode(client, attrs.accepted_request.input.args)
        note = next((v.get("note") or v.get("reason") for v in values if isinstance(v, dict)), None)
        summary = f"{name} requested" + (f": {note}" if note else "")
        return HistoryEvent(at=at, kind=f"update.{name}", summary=summary, actor=_actor(values))
    if kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
        attrs = event.workflow_execution_update_completed_event_attributes
        if attrs.outcome.HasField("failure"):
            return HistoryEvent(
                at=at, kind="update.failed", summary=attrs.outcome.failure.message, actor=None
            )
        return None
    if kind == E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        attrs = event.activity_task_scheduled_event_attributes
        scheduled[event.event_id] = attrs.activity_type.name
        return None
    if kind == E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
        name = scheduled.get(
            event.activity_task_completed_event_attributes.scheduled_event_id, "activity"
        )
        return HistoryEvent(
            at=at, kind=f"activity.{name}", summary=f"{name} completed", actor="system"
        )
    if kind == E.EVENT_TYPE_ACTIVITY_TASK_FAILED:
        attrs = event.activity_task_failed_event_attributes
        name = scheduled.get(attrs.scheduled_event_id, "activity")
        return HistoryEvent(
            at=at,
            kind=f"activity.{name}.failed",
            summary=f"{name} failed: {attrs.failure.message}",
            actor="system",
        )
    if kind == E.EVENT_TYPE_MARKER_RECORDED:
        attrs = event.marker_recorded_event_attributes
        details = attrs.details.get("data")
        values = _decode(client, details) if details is not None else []
        name = next(
            (
                v.get("activity_type")
                for v in values
                if isinstance(v, dict) and v.get("activity_type")
            ),
            "local activity",
        )
        if attrs.HasField("failure"):
            return HistoryEvent(
                at=at,
                kind=f"activity.{name}.failed",
                summary=f"{name} failed: {attrs.failure.message}",
                actor="system",
            )
        note = _summary(client, event)
        if name == "record_status" and note:
            status, _, rest = note.partition(" by ")
            actor, _, detail = rest.partition(": ")
            return HistoryEvent(
                at=at,
                kind=f"status.{status}",
                summary=f"status {status}" + (f": {detail}" if detail else ""),
                actor=actor or None,
            )
        return HistoryEvent(
            at=at, kind=f"activity.{name}", summary=note or f"{name} completed", actor="system"
        )
    if kind == E.EVENT_TYPE_TIMER_FIRED:
        return HistoryEvent(at=at, kind="timer_fired", summary="a deadline passed", actor="system")
    if kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
        attrs = event.workflow_execution_signaled_event_attributes
        return HistoryEvent(
            at=at,
            kind=f"signal.{attrs.signal_name}",
            summary=f"{attrs.signal_name} received",
            actor=_actor(_decode(client, attrs.input)),
        )
    if kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
        return HistoryEvent(
            at=at,
            kind="workflow_completed",
            summary="the return's workflow finished",
            actor="system",
        )
    if kind in (E.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED, E.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED):
        return HistoryEvent(
            at=at,
            kind="workflow_ended",
            summary=E.Name(kind).removeprefix("EVENT_TYPE_").lower(),
            actor="system",
        )
    return None


async def read_history(client: Client, settings: Settings, workflow_id: str) -> History:
    handle = client.get_workflow_handle(workflow_id)
    try:
        history = await handle.fetch_history()
        description = await handle.describe()
    except RPCError as error:
        raise NotFound(f"no workflow history for {workflow_id}") from error
    scheduled: dict[int, str] = {}
    events = [e for e in (_describe(client, ev, scheduled) for ev in history.events) if e]
    run_id = description.run_id
    ui = (
        f"{settings.temporal_ui_url.rstrip('/')}/namespaces/{quote(settings.temporal_namespace)}"
        f"/workflows/{quote(workflow_id)}/{run_id}/history"
    )
    return History(workflow_id=workflow_id, run_id=run_id, temporal_ui_url=ui, events=events)
