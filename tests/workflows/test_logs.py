"""Issue 24, logs: with RETURNS_LOG_FORMAT=json each line is one JSON object, and the lines about
a return carry its ids (the return's, its workflow run's), the workflow's status changes among
them; nothing personal (the customer's email) at info level."""

from __future__ import annotations

import json

import pytest

from returns_service import logs
from returns_service.domain.messages import ReturnUpdate, ShipReturn
from returns_service.domain.models import Actor, ReturnState
from tests.factories import order_payload
from tests.workflows.conftest import finished
from tests.workflows.test_return_workflow import receive, update


async def test_a_returns_log_lines_carry_its_ids_and_nothing_personal(harness, json_lines):
    order = await harness.put_order(order_payload(now=await harness.now()))
    handle = await harness.start(order)
    await update(handle, ReturnUpdate.WAIT_DECIDED)
    await update(handle, ReturnUpdate.SHIP, ShipReturn(actor=Actor(kind="customer")))
    await update(handle, ReturnUpdate.RECEIVE, receive("good"))
    final: ReturnState = await finished(handle)
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines() if line.strip()]
    mine = [line for line in lines if line.get("return_id") == final.id]
    changes = [line["message"] for line in mine if line.get("status")]
    assert f"return {final.number} is label_sent (by system)" in changes, changes
    assert f"return {final.number} is closed (by system)" in changes, changes
    for line in mine:
        assert {"time", "level", "logger", "message", "process"} <= line.keys(), line
        assert line["workflow_id"] == final.id and line["run_id"], line
        assert line["return_number"] == final.number
        assert line["time"].endswith("Z")
    # Nothing personal above debug level, in any line.
    email = order.customer.email
    assert not [line for line in lines if email in json.dumps(line)]


def test_an_unknown_log_format_is_refused_by_name():
    with pytest.raises(SystemExit, match="RETURNS_LOG_FORMAT must be one of text, json"):
        logs.configure("xml")
