"""Issue 24, traces: with tracing on, one trace runs from a request creating a return through
the API's Temporal client, the workflow and its activities to the carrier's API that an activity
calls, with one trace id; the JSON log lines written inside it carry that id."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client

from returns_service import tracing
from tests.api.conftest import CUSTOMER_ADDRESS, RETURN_ADDRESS, api_on, serving
from tests.fakes.carrier import FakeCarrier


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.start(provider)
    yield exporter
    tracing.stop()


async def test_one_trace_from_the_request_through_the_workflow_to_the_carrier(
    api, spans, json_lines, tmp_path
):
    carrier = FakeCarrier()
    traced = Client(**{**api.temporal.config(), "interceptors": tracing.interceptors()})
    async with serving(carrier.app()) as url:
        settings = {
            "carrier": "http", "carrier_api_base": url, "carrier_api_key": carrier.api_key,
            "return_address": RETURN_ADDRESS,
        }  # fmt: skip
        async with api_on(traced, tmp_path, **settings) as stack:
            created = await stack.create(await stack.put_order(shipping_address=CUSTOMER_ADDRESS))
            assert created.status_code == 201, created.text
            sent = await stack.wait_for(created.json()["id"], "label_sent")
            assert sent["label"]["carrier"] == "FakePost"
            # An agent looks for the customer's returns by their email.
            email = sent["customer"]["email"]
            listed = await stack.http.get(
                "/v1/returns", params={"customer_email": email}, headers=stack.auth("agent")
            )
            assert [r["id"] for r in listed.json()["data"]] == [sent["id"]]
    finished = spans.get_finished_spans()
    # The request's span says which route, never whose returns: no query string leaves.
    [looked] = [s for s in finished if s.name == "GET /v1/returns"]
    assert looked.attributes.get("http.route") == "/v1/returns"
    assert not [
        (s.name, key) for s in finished for key, value in (s.attributes or {}).items()
        if email in str(value) or "customer_email" in str(value)
    ]  # fmt: skip
    [request] = [s for s in finished if s.name == "POST /v1/returns"]
    trace_id = request.context.trace_id
    mine = [s for s in finished if s.context.trace_id == trace_id]
    by_id = {s.context.span_id: s for s in mine}

    def ancestry(span):
        names = []
        while span.parent is not None and span.parent.span_id in by_id:
            span = by_id[span.parent.span_id]
            names.append(span.name)
        return names

    names = {s.name for s in mine}
    assert {
        "StartUpdateWithStartWorkflow:ReturnWorkflow", "RunWorkflow:ReturnWorkflow",
        "HandleUpdate:wait_decided", "RunActivity:register_return", "RunActivity:create_label",
    } <= names, names  # fmt: skip

    # The carrier was called from the label's activity, under the request that made the return.
    def called(span):  # httpx's instrumentation names them by either semantic convention
        attributes = span.attributes or {}
        address = attributes.get("url.full") or attributes.get("http.url")
        return attributes.get("http.request.method") or attributes.get("http.method"), address

    [bought] = [s for s in mine if called(s) == ("POST", f"{url}/v1/return-labels")]
    assert ancestry(bought)[:2] == ["RunActivity:create_label", "StartActivity:create_label"]
    assert "POST /v1/returns" in ancestry(bought)
    # A trace of its own for each other request; no span of an ASGI message.
    assert not [s for s in finished if s.name.endswith((" http send", " http receive"))]
    # The lines the workflow logged about it carry the trace's id.
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines() if line.strip()]
    changes = [line for line in lines if line.get("return_id") == sent["id"] and "status" in line]
    assert changes and {line["trace_id"] for line in changes} == {format(trace_id, "032x")}


async def test_tracing_is_off_unless_an_otlp_endpoint_is_set(monkeypatch):
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    assert tracing.from_environment("api") is None
    tracing.start(None)
    assert tracing.interceptors() == [] and tracing.trace_id() is None


async def test_a_clients_trace_context_is_not_taken_up_and_what_it_writes_is_cut_short(
    api, spans, tmp_path
):
    """Anyone could otherwise hide a return's trace (a `traceparent` not sampled) or choose the
    trace id its log lines carry, and send a path or User-Agent of any length to the backend."""
    chosen = "0badc0de" * 4
    traced = Client(**{**api.temporal.config(), "interceptors": tracing.interceptors()})
    async with api_on(traced, tmp_path) as stack:
        headers = {
            **stack.auth("ops"),
            "traceparent": f"00-{chosen}-00f067aa0ba902b7-00",
            "User-Agent": "UA-" + "y" * 10_000,
        }
        answer = await stack.http.get("/v1/returns/ret_" + "x" * 5_000, headers=headers)
        assert answer.status_code in (404, 422), answer.text
    finished = spans.get_finished_spans()
    [request] = [s for s in finished if s.name.startswith("GET /v1/returns")]
    assert request.parent is None and format(request.context.trace_id, "032x") != chosen
    assert not [
        (s.name, key) for s in finished for key, value in (s.attributes or {}).items()
        if len(str(value)) > 300 or (key in tracing.CLIENT_ADDRESS and value)
    ]  # fmt: skip
