"""Issue 24: a real Prometheus (Debian's) with deploy/prometheus/'s configuration and alert rules
scrapes `returns dev` (its targets pointed at the dev stack's ports, nothing else changed) and
finds the service's metrics through its HTTP API; promtool checks the rules; every metric the
rules name is one the service exports."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import yaml
from prometheus_client import REGISTRY

from returns_service import metrics
from tests.factories import order_payload
from tests.stack import dev_ports, free_port, start_dev

DEPLOY = Path(__file__).parent.parent.parent / "deploy" / "prometheus"


def exported() -> set[str]:
    """Every series name the service's metrics make (a counter's `_total`, a histogram's parts)."""
    assert metrics.REQUESTS is not None  # (imported: registered)
    names = set()
    for family in REGISTRY.collect():
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names |= {family.name + part for part in ("_bucket", "_count", "_sum")}
        else:
            names.add(family.name)
    return names


def test_the_rules_are_valid_and_name_only_metrics_the_service_exports():
    checked = subprocess.run(
        ["promtool", "check", "config", str(DEPLOY / "prometheus.yml")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 9 rules found" in checked.stdout
    rules = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
    named = {
        name
        for group in rules["groups"]
        for rule in group["rules"]
        for name in re.findall(r"\b(returns_[a-z_]+)", rule["expr"])
    }
    assert named and named <= exported(), named - exported()


def test_the_dashboard_draws_only_metrics_the_service_exports():
    """Each query of deploy/grafana/dashboards/returns.json names the service's metrics (the
    Temporal SDK's are checked against a scrape in test_metrics.py)."""
    dashboard = json.loads((DEPLOY.parent / "grafana" / "dashboards" / "returns.json").read_text())
    named = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\b(returns_[a-z_]+)", target["expr"])
    }
    assert len(named) >= 8 and named <= exported(), named - exported()


def test_prometheus_scrapes_the_dev_stack_with_the_deployed_configuration(tmp_path: Path):
    ports = dev_ports()
    process = start_dev(tmp_path / "data", ports)
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    targets = {
        "returns-api": ports["api_metrics"], "returns-worker": ports["worker_metrics"],
        "temporal-sdk-api": ports["sdk_metrics"], "temporal-sdk-worker": ports["sdk_metrics"] + 1,
    }  # fmt: skip
    config["global"]["scrape_interval"] = "1s"
    config["global"]["evaluation_interval"] = "1s"
    for job in config["scrape_configs"]:
        del job["dns_sd_configs"]
        job["static_configs"] = [{"targets": [f"127.0.0.1:{targets[job['job_name']]}"]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    shutil.copy(DEPLOY / "alerts.yml", tmp_path / "alerts.yml")
    port = free_port()
    prometheus = subprocess.Popen(
        [
            "prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        keys = json.loads((tmp_path / "data" / "api-keys.json").read_text())
        with httpx.Client(base_url=f"http://127.0.0.1:{ports['api']}", timeout=30) as http:
            http.put("/v1/orders/o_1", json=order_payload(), headers=bearer(keys, "integration"))
            item = {"order_id": "o_1", "line_id": "l1", "quantity": 1, "reason": "wrong_size"}
            made = http.post(
                "/v1/returns", json={"items": [item]}, headers=bearer(keys, "integration")
            )
            assert made.status_code == 201
        asked = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
        deadline = time.monotonic() + 60
        found: dict[str, list] = {}
        queries = {
            "created": "returns_created_total",
            "workers": 'up{job="returns-worker"} == 1',
            "label_sent": 'returns_status_changes_total{status="label_sent"}',
            "sdk": 'up{job="temporal-sdk-worker"} == 1',
        }
        while time.monotonic() < deadline and not all(found.get(q) for q in queries):
            for name, query in queries.items():
                try:
                    answer = asked.get("/api/v1/query", params={"query": query}).json()
                except httpx.TransportError:
                    break  # not listening yet
                found[name] = answer.get("data", {}).get("result", [])
            time.sleep(1)
        assert all(found.get(q) for q in queries), found
        assert float(found["created"][0]["value"][1]) == 1
        # Every rule loaded, and each evaluated without an error.
        while True:
            loaded = asked.get("/api/v1/rules").json()["data"]["groups"][0]["rules"]
            if {r["health"] for r in loaded} == {"ok"} or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert len(loaded) == 9 and {r["health"] for r in loaded} == {"ok"}, loaded
    finally:
        prometheus.terminate()
        prometheus.wait(30)
        process.send_signal(signal.SIGINT)
        process.wait(60)


def bearer(keys: dict[str, str], role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {keys[role]}"}
