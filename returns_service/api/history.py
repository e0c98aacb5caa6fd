"""A return's history for ops, read from the workflow's Temporal event history: who asked for what
(Updates with their actor), every status change (with who made it), activities and timers."""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any
from urllib.parse import quote

from temporalio.api.common.v1 import Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent as TemporalEvent
from temporalio.client import Client

from returns_service.api.errors import NotFound
from returns_service.api.schemas import History, HistoryEvent
from returns_service.config import Settings
from returns_service.domain.status import Status
from returns_service.gateway import Gateway

E = EventType
STATUSES = frozenset(status.value for status in Status)
# "... (by agent:maria@shop.example)", "... (received by warehouse)"
BY_ACTOR_AFTER = re.compile(r"\((?:received )?by ([^)]+)\)$")
# "items added by customer:ann@example.com: Socks", "note by agent:maria@shop.example"
BY_ACTOR_FIRST = re.compile(r"[\w ]+? by (\S+?)(?=: |$)")


class _Reader:
    def __init__(self, client: Client) -> None:
        self.converter = client.data_converter.payload_converter
        self.scheduled: dict[int, str] = {}

    def values(self, payloads: Payloads) -> list[Any]:
        try:
            return list(self.converter.from_payloads(list(payloads.payloads)))
        except Exception:  # noqa: BLE001 - an undecodable input just has no actor
            return []

    @staticmethod
    def actor(values: list[Any]) -> str | None:
        for value in values:
            if isinstance(value, dict) and isinstance(value.get("actor"), dict):
                actor = value["actor"]
                return f"{actor['kind']}:{actor['id']}" if actor.get("id") else actor.get("kind")
        return None

    def summary(self, event: TemporalEvent) -> str | None:
        if not event.HasField("user_metadata") or not event.user_metadata.HasField("summary"):
            return None
        try:
            return str(self.converter.from_payloads([event.user_metadata.summary])[0])
        except Exception:  # noqa: BLE001
            return None

    def describe(self, event: TemporalEvent) -> tuple[str, str, str | None] | None:
        """(kind, summary, actor) for the events a person reading the history cares about."""
        kind = event.event_type
        if kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            values = self.values(event.workflow_execution_started_event_attributes.input)
            return "return_requested", "return requested, workflow started", self.actor(values)
        if kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            values = self.values(request.input.args)
            note = next(
                (v.get("note") or v.get("reason") for v in values if isinstance(v, dict)), None
            )
            name = request.input.name
            if name == "wait_decided":  # the API waiting for the verdict, not a decision
                return None
            return (
                f"update.{name}",
                f"{name} requested" + (f": {note}" if note else ""),
                self.actor(values),
            )
        if kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
            outcome = event.workflow_execution_update_completed_event_attributes.outcome
            if outcome.HasField("failure"):
                return "update.failed", outcome.failure.message, None
            return None
        if kind == E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled = event.activity_task_scheduled_event_attributes
            self.scheduled[event.event_id] = scheduled.activity_type.name
            return None
        if kind == E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            completed = event.activity_task_completed_event_attributes
            name = self.scheduled.get(completed.scheduled_event_id, "activity")
            return f"activity.{name}", f"{name} completed", "system"
        if kind == E.EVENT_TYPE_ACTIVITY_TASK_FAILED:
            failed = event.activity_task_failed_event_attributes
            name = self.scheduled.get(failed.scheduled_event_id, "activity")
            return f"activity.{name}.failed", f"{name} failed: {failed.failure.message}", "system"
        if kind == E.EVENT_TYPE_MARKER_RECORDED:
            return self.local_activity(event)
        if kind == E.EVENT_TYPE_TIMER_FIRED:
            return "timer_fired", "a deadline passed", "system"
        if kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            signal = event.workflow_execution_signaled_event_attributes
            values = self.values(signal.input)
            return (
                f"signal.{signal.signal_name}",
                f"{signal.signal_name} received",
                self.actor(values),
            )
        if kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            return "workflow_completed", "the return's workflow finished", "system"
        if kind in (
            E.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
            E.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
        ):
            return "workflow_ended", E.Name(kind).removeprefix("EVENT_TYPE_").lower(), "system"
        return None

    def local_activity(self, event: TemporalEvent) -> tuple[str, str, str | None]:
        marker = event.marker_recorded_event_attributes
        data = marker.details.get("data")
        values = self.values(data) if data is not None else []
        name = next(
            (v["activity_type"] for v in values if isinstance(v, dict) and v.get("activity_type")),
            "local_activity",
        )
        if marker.HasField("failure"):
            return f"activity.{name}.failed", f"{name} failed: {marker.failure.message}", "system"
        note = self.summary(event)
        if name == "record_status" and note:
            # The workflow summarises each status change as "<status> by <actor>[: note]", and
            # other changes as a sentence, often ending "(by <actor>)".
            status, _, rest = note.partition(" by ")
            if status in STATUSES:
                actor, _, detail = rest.partition(": ")
                return (
                    f"status.{status}",
                    f"status {status}" + (f": {detail}" if detail else ""),
                    actor or None,
                )
            by = BY_ACTOR_AFTER.search(note) or BY_ACTOR_FIRST.match(note)
            return "details", note, by.group(1) if by else "system"
        return f"activity.{name}", note or f"{name} completed", "system"


async def read_history(gateway: Gateway, settings: Settings, workflow_id: str) -> History:
    found = await gateway.history(workflow_id)
    if found is None:
        raise NotFound(f"no workflow history for {workflow_id}")
    history, description = found
    reader = _Reader(gateway.client)
    events = []
    for event in history.events:
        described = reader.describe(event)
        if described is not None:
            kind, summary, actor = described
            at = event.event_time.ToDatetime().replace(tzinfo=UTC)
            events.append(HistoryEvent(at=at, kind=kind, summary=summary, actor=actor))
    ui = (
        f"{settings.temporal_ui_url.rstrip('/')}/namespaces/{quote(settings.temporal_namespace)}"
        f"/workflows/{quote(workflow_id)}/{description.run_id}/history"
    )
    return History(
        workflow_id=workflow_id, run_id=description.run_id, temporal_ui_url=ui, events=events
    )
