"""No worker running: the API answers instead of hanging, loses nothing, and the return goes on
as soon as a worker comes."""

from __future__ import annotations

import uuid

import httpx
from temporalio.worker import Worker

from returns_service.app import create_app
from returns_service.worker.main import build_activities, build_worker
from tests.api.conftest import serving


async def test_a_return_created_while_no_worker_runs_is_accepted_and_decided_later(api):
    order_id = await api.put_order()
    settings = api.settings.model_copy(
        update={"task_queue": f"idle-{uuid.uuid4().hex[:8]}", "workflow_answer_seconds": 1.0}
    )
    app = create_app(settings, api.temporal, api.engine)
    async with serving(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        item = {"order_id": order_id, "line_id": "l1", "quantity": 1, "reason": "wrong_size"}
        created = await http.post("/v1/returns", json={"items": [item]}, headers=api.auth("agent"))
        assert created.status_code == 202, created.text
        body = created.json()
        assert body["status"] == "requested" and created.headers["location"].endswith(body["id"])
        read = await http.get(f"/v1/returns/{body['id']}", headers=api.auth("ops"))
        assert read.status_code == 200 and read.json()["status"] == "requested"

        worker: Worker = build_worker(
            api.temporal, settings, build_activities(settings, api.sessions)
        )
        async with worker:
            decided = await api.wait_for(body["id"], "label_sent")
        assert decided["status"] == "label_sent" and decided["number"].startswith("R-")
