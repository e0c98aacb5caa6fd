"""Issue 24, metrics: `returns dev` prints each process's metrics address; scraped before and
after a return's life, the service's own metrics move: the API's requests by route template, the
return created and the returns in each status; the worker's status changes and the refund it
paid. Traces: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, the API and the worker export the return's
spans to a collector with OTLP, in one trace."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import order_payload
from tests.fakes.otlp import FakeCollector
from tests.stack import dev_ports, start_dev

DASHBOARD = (
    Path(__file__).parent.parent.parent / "deploy" / "grafana" / "dashboards" / "returns.json"
)


def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample a process's /metrics holds, by name and labels."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_the_service_metrics_move_through_a_returns_life(tmp_path: Path) -> None:
    ports = dev_ports()
    data_dir = tmp_path / "data"
    collector = FakeCollector()
    receiving = collector.serve()
    otlp = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiving.server_address[1]}",
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # milliseconds between batches (5 s by default)
    }
    process = start_dev(data_dir, ports, env=otlp)
    try:
        assert process.stdout is not None
        printed = ""
        while "Temporal SDK" not in printed:
            printed += process.stdout.readline().decode()
        assert f"API http://127.0.0.1:{ports['api_metrics']}/metrics" in printed, printed
        assert f"worker http://127.0.0.1:{ports['worker_metrics']}/metrics" in printed, printed
        keys = json.loads((data_dir / "api-keys.json").read_text())
        auth = {role: {"Authorization": f"Bearer {key}"} for role, key in keys.items()}
        api_before = scrape(ports["api_metrics"])
        worker_before = scrape(ports["worker_metrics"])
        with httpx.Client(base_url=f"http://127.0.0.1:{ports['api']}", timeout=30) as http:
            http.put("/v1/orders/o_1", json=order_payload(), headers=auth["integration"])
            item = {"order_id": "o_1", "line_id": "l1", "quantity": 1, "reason": "wrong_size"}
            made = http.post("/v1/returns", json={"items": [item]}, headers=auth["integration"])
            assert made.status_code == 201, made.text
            return_id = made.json()["id"]
            http.post(f"/v1/returns/{return_id}/ship", json={}, headers=auth["integration"])
            receipt = {"location": "WH1", "items": [
                {"item_id": "ri_1", "quantity": 1, "condition": "good"}]}  # fmt: skip
            http.post(f"/v1/returns/{return_id}/receive", json=receipt, headers=auth["warehouse"])
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                current = http.get(f"/v1/returns/{return_id}", headers=auth["ops"]).json()
                if current["status"] == "closed":
                    break
                time.sleep(0.2)
            assert current["status"] == "closed"
        api_after = scrape(ports["api_metrics"])
        worker_after = scrape(ports["worker_metrics"])
        created = ("returns_created_total", {"resolution": "refund", "method": "label"})
        assert (
            value(api_after, created[0], **created[1])
            == value(api_before, created[0], **created[1]) + 1
        )
        posted = {"route": "/v1/returns", "method": "POST", "status": "201"}
        assert value(api_after, "returns_http_request_duration_seconds_count", **posted) >= 1
        # By the route's template, never a path with an id in it.
        routes = {dict(labels).get("route") for name, labels in api_after if "http" in name}
        assert "/v1/returns/{return_id}" in routes and not any(
            return_id in str(route) for route in routes
        )
        for status in ("label_sent", "shipped", "received", "refunded", "closed"):
            grew = value(worker_after, "returns_status_changes_total", status=status) - value(
                worker_before, "returns_status_changes_total", status=status
            )
            assert grew == 1, status
        # The returns in each status, read from the store every few seconds.
        deadline = time.monotonic() + 20
        while value(scrape(ports["api_metrics"]), "returns_in_status", status="closed") < 1:
            assert time.monotonic() < deadline, "returns_in_status never counted it"
            time.sleep(0.5)
        backlog = scrape(ports["api_metrics"])
        assert ("returns_email_outbox_oldest_pending_seconds", frozenset()) in backlog
        assert value(backlog, "returns_in_status", status="pending_review") == 0
        # The Temporal SDK's own, on the ports printed beside them; every one the dashboard
        # draws is among them.
        assert f"worker http://127.0.0.1:{ports['sdk_metrics'] + 1}/metrics" in printed
        sdk = {name for name, _ in scrape(ports["sdk_metrics"] + 1)}
        sdk |= {name for name, _ in scrape(ports["sdk_metrics"])}
        drawn = json.loads((DASHBOARD).read_text())
        temporal = {
            name
            for panel in drawn["panels"]
            for target in panel["targets"]
            for name in re.findall(r"\b(temporal_[a-z_]+)", target["expr"])
        }
        assert temporal and temporal <= sdk, temporal - sdk
        labels = "returns_labels_total"
        grew = value(worker_after, labels, carrier="builtin") - value(
            worker_before, labels, carrier="builtin"
        )
        assert grew == 1
        paid = {"currency": "EUR", "method": "original_payment"}
        assert value(worker_after, "returns_refunds_total", **paid) == 1
        assert (
            value(worker_after, "returns_refunded_minor_units_total", **paid)
            == current["refunded_amount"]
        )
        # The return's trace, exported by both processes: the request that made it, the
        # workflow and its activities.
        deadline = time.monotonic() + 20
        while True:
            [made_by] = [s for s in collector.spans if s.name == "POST /v1/returns"] or [None]
            traced = [s for s in collector.spans if made_by and s.trace_id == made_by.trace_id]
            names = {(s.service, s.name) for s in traced}
            wanted = {
                ("returns-api", "POST /v1/returns"),
                ("returns-api", "StartUpdateWithStartWorkflow:ReturnWorkflow"),
                ("returns-worker", "RunWorkflow:ReturnWorkflow"),
                ("returns-worker", "RunActivity:issue_refund"),
            }
            if wanted <= names or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert wanted <= names, names
        assert collector.refused == []
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(60)
        receiving.shutdown()
