"""A shop upgrades in place: returns started under the previous release (its store, its running
workflows) finish under this code.

The previous release (`PREVIOUS_RELEASE`, from this repository's history) runs as it would in
production: its own migrations build the store, its API and worker run as processes against the
Temporal dev server. Returns are left at every kind of waiting point. Then its processes stop,
this code's migrations upgrade the store, this code's worker and API take over, and every return
finishes with the money paid once and right."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from returns_service.app import create_app
from returns_service.config import Settings
from returns_service.store.db import create_engine, migrate_async, session_factory
from returns_service.store.tables import LedgerEntryRow
from returns_service.worker.main import build_activities, build_worker
from tests.api.conftest import KEYS, serving
from tests.conftest import SERVER_STARTUP, binary, free_port
from tests.factories import expensive_line, order_payload
from tests.fakes.carrier import FakeCarrier

ROOT = Path(__file__).parent.parent.parent
# The release before refund entitlements (issue 10), and the one before approvals fixed the money
# (issue 21: its returns carry no approved amount, and their exchanges name no item), and the
# one before partial receipts waited for the missing units (it released them at once).
PREVIOUS_RELEASES = [
    "e781e2852d39d72395f08b2407f344679aac8560",
    "b42882ae03b7c4f549afb5fdbf751f2131801ee7",
    "5aa60e399a197744acf82853f8661dd5edcdb1de",
]


def previous_release(folder: Path, release: str) -> Path:
    """The previous release's source, from this repository's history."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", release],
        capture_output=True,
        check=True,
    ).stdout
    folder.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def run_previous(source: Path, env: dict[str, str], *command: str, log: Path) -> Any:
    """A command of the previous release's CLI, its code first on the path."""
    return subprocess.Popen(
        [sys.executable, "-c", "from returns_service.cli import main; main()", *command],
        cwd=source,
        env={**env, "PYTHONPATH": str(source)},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def until(check: Any, timeout: float = 30) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await check()
        if found or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("release", PREVIOUS_RELEASES, ids=["entitlements", "approvals", "missing"])
async def test_returns_in_flight_under_the_previous_release_finish_under_this_code(
    tmp_path: Path, release: str
) -> None:
    source = previous_release(tmp_path / "previous", release)
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    carrier = FakeCarrier()
    async with await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=binary("temporal"),
        dev_server_startup_timeout=SERVER_STARTUP,
    ) as temporal:
        task_queue = f"upgrade-{uuid.uuid4().hex[:8]}"
        env = {
            **os.environ,
            "RETURNS_DATABASE_URL": url,
            "RETURNS_DATA_DIR": str(tmp_path),
            "RETURNS_TEMPORAL_ADDRESS": temporal.client.service_client.config.target_host,
            "RETURNS_TASK_QUEUE": task_queue,
            "RETURNS_API_KEYS": __import__("json").dumps(KEYS),
            "RETURNS_CARRIER_WEBHOOK_SECRET": carrier.webhook_secret,
        }
        log = tmp_path / "previous.log"
        assert run_previous(source, env, "migrate", log=log).wait() == 0, log.read_text()
        port = free_port()
        old_api = run_previous(source, env, "api", "--port", str(port), log=log)
        old_worker = run_previous(source, env, "worker", log=log)
        auth = {role: {"Authorization": f"Bearer {key}"} for role, key in KEYS.items()}
        receipt = {
            "location": "WH1",
            "items": [{"item_id": "ri_1", "quantity": 1, "condition": "good"}],
        }
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:

                async def up() -> bool:
                    try:
                        return (await http.get("/openapi.json")).status_code == 200
                    except httpx.TransportError:
                        return False

                assert await until(up), log.read_text()[-3000:]

                async def one(
                    name: str, lines: list[Any] | None = None, quantity: int = 1, **body: Any
                ) -> dict[str, Any]:
                    order_id = f"o_{name}_{uuid.uuid4().hex[:6]}"
                    payload = order_payload(
                        number=order_id.upper(), email=f"{order_id}@x.example", lines=lines
                    )
                    line = payload["lines"][0]["id"]
                    put = await http.put(
                        f"/v1/orders/{order_id}", json=payload, headers=auth["integration"]
                    )
                    assert put.status_code == 200, put.text
                    item = {"order_id": order_id, "line_id": line, "quantity": quantity}
                    created = await http.post(
                        "/v1/returns",
                        json={"items": [{**item, "reason": "wrong_size"}], **body},
                        headers=auth["integration"],
                    )
                    assert created.status_code == 201, created.text
                    return created.json()  # type: ignore[no-any-return]

                larger = [{"sku": "SKU-001-L", "name": "Shirt (L)", "quantity": 1}]
                exchange = await one("exchange", resolution="exchange", replacement_items=larger)
                waiting_parcel = await one("parcel")
                assert waiting_parcel["status"] == "label_sent"
                two_shirts = await one("two", quantity=2)
                waiting_review = await one("review", [expensive_line()])
                assert waiting_review["status"] == "pending_review"
                await http.put("/v1/policy", json={"auto_refund": False}, headers=auth["admin"])
                waiting_agent = await one("agent")
                answer = await http.post(
                    f"/v1/returns/{waiting_agent['id']}/receive",
                    json=receipt,
                    headers=auth["warehouse"],
                )
                assert answer.status_code == 200 and answer.json()["status"] == "received"
                await http.put("/v1/policy", json={}, headers=auth["admin"])
        finally:
            for process in (old_api, old_worker):
                process.kill()
                process.wait()

        # The upgrade: this code's migrations, worker and API on the same store and server.
        await migrate_async(url)
        engine = create_engine(url)
        settings = Settings(
            data_dir=tmp_path,
            database_url=url,
            api_keys=KEYS,
            task_queue=task_queue,
            carrier_webhook_secret=carrier.webhook_secret,
        )
        worker = build_worker(
            temporal.client, settings, build_activities(settings, session_factory(engine))
        )
        async with (
            worker,
            serving(create_app(settings, temporal.client, engine)) as api_url,
            httpx.AsyncClient(base_url=api_url, timeout=60) as http,
        ):

            async def act(return_id: str, action: str, role: str, body: Any = None) -> Any:
                answer = await http.post(
                    f"/v1/returns/{return_id}/{action}", json=body or {}, headers=auth[role]
                )
                assert answer.status_code == 200, answer.text
                return answer.json()

            async def closed(return_id: str) -> dict[str, Any]:
                async def read() -> dict[str, Any] | None:
                    body = (await http.get(f"/v1/returns/{return_id}", headers=auth["ops"])).json()
                    return body if body["status"] == "closed" else None

                body = await until(read)
                assert body is not None, f"{return_id} did not close"
                return body  # type: ignore[no-any-return]

            # The carrier's event for the label made under the previous release still finds it.
            tracking = waiting_parcel["label"]["tracking_number"]
            event, signed = carrier.event(tracking, "in_transit", f"evt_{uuid.uuid4().hex[:8]}")
            shipped = await http.post(
                "/v1/carrier-events", content=event, headers={**signed, **auth["integration"]}
            )
            assert shipped.json()["forwarded"] is True, shipped.text
            await act(waiting_parcel["id"], "receive", "warehouse", receipt)
            # One of two shirts arrives under this code: paid for, the other waited for, until
            # an agent says it is not coming; the return then closes, paid once.
            part = await act(two_shirts["id"], "receive", "warehouse", receipt)
            assert part["status"] == "received" and part["missing_until"] is not None

            async def paid_for_one() -> bool:
                body = await http.get(f"/v1/returns/{two_shirts['id']}", headers=auth["ops"])
                return body.json()["refunded_amount"] == 2725  # type: ignore[no-any-return]

            assert await until(paid_for_one)
            gone = {"reason": "lost by the carrier"}
            await act(two_shirts["id"], "not-coming", "agent", gone)
            approved = await act(waiting_review["id"], "approve", "agent")
            assert approved["status"] == "label_sent"
            await act(waiting_review["id"], "receive", "warehouse", receipt)
            await act(waiting_agent["id"], "refund", "agent")
            # An exchange requested before replacements named their item sends the whole one.
            await act(exchange["id"], "receive", "warehouse", receipt)

            async def replacement() -> Any:
                body = (await http.get(f"/v1/returns/{exchange['id']}", headers=auth["ops"])).json()
                return body["replacement"]

            sent = await until(replacement)
            assert sent is not None and [i["quantity"] for i in sent["items"]] == [1]
            await act(exchange["id"], "replacement", "integration", {"status": "fulfilled"})
            assert (await closed(exchange["id"]))["refunded_amount"] == 0
            finals = [
                await closed(r["id"])
                for r in (waiting_parcel, waiting_review, waiting_agent, two_shirts)
            ]
            history = (
                await http.get(f"/v1/returns/{two_shirts['id']}/history", headers=auth["ops"])
            ).json()
        async with session_factory(engine)() as session:
            paid = dict(
                (
                    await session.execute(
                        select(LedgerEntryRow.return_id, func.sum(LedgerEntryRow.amount))
                        .where(LedgerEntryRow.status == "succeeded")
                        .group_by(LedgerEntryRow.return_id)
                    )
                ).all()
            )
        await engine.dispose()
    assert [body["refunded_amount"] for body in finals] == [2725, 107100, 2725, 2725]
    assert finals[3]["items"][0]["quantity_released"] == 1
    assert any(
        "1 missing unit released: lost by the carrier" in event["summary"]
        for event in history["events"]
    ), "\n".join(event["summary"] for event in history["events"])
    assert all(body["errors"] == [] for body in finals)
    assert paid == {
        waiting_parcel["id"]: 2725,
        waiting_review["id"]: 107100,
        waiting_agent["id"]: 2725,
        two_shirts["id"]: 2725,
    }
