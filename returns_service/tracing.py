"""Traces (OpenTelemetry), off unless the standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set: then each process exports its spans with OTLP over
HTTP, named by `OTEL_SERVICE_NAME` or its role. One trace runs from an HTTP request (FastAPI's
instrumentation) through the Temporal client's start or update, the workflow and its activities
(the SDK's `TracingInterceptor`, on the client and hence on the worker built on it) to the
activities' outgoing HTTP calls (httpx's instrumentation), the W3C trace context carried in
Temporal's headers and in `traceparent`.

The process's tracer provider is kept here rather than only as OpenTelemetry's global, so that a
test can collect one stack's spans (an in-memory exporter) and turn them off again."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

_provider: TracerProvider | None = None


def from_environment(service: str) -> TracerProvider | None:
    """The provider exporting with OTLP that the standard variables ask for, or None."""
    if not (
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        return None
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME") or f"returns-{service}"
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def start(provider: TracerProvider | None) -> None:
    """Trace this process into `provider` (nothing when None): outgoing httpx calls from here on,
    and the clients and apps made after this."""
    global _provider
    if provider is None or _provider is provider:
        return
    stop()
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    provider.add_span_processor(_without_queries())
    _provider = provider


def _strip_queries(span: Any, *_: Any) -> None:
    """Keeps query strings out of a span: a list asked for by a customer's email
    (`?customer_email=`), a webhook address carrying its receiver's token, would otherwise go to
    the tracing backend with the request's address. The addresses keep their path; the route's
    template names the span."""
    attributes = getattr(span, "attributes", None) or {}
    for key in ("http.target", "http.url", "url.full"):
        value = attributes.get(key)
        if isinstance(value, str) and "?" in value:
            span.set_attribute(key, value.split("?", 1)[0])
    if attributes.get("url.query"):
        span.set_attribute("url.query", "")


def _without_queries() -> Any:
    """A span processor that strips each span's queries as it starts, when the outgoing calls'
    instrumentation (httpx) has set their addresses."""
    from opentelemetry.sdk.trace import SpanProcessor

    class WithoutQueries(SpanProcessor):
        def on_start(self, span: Any, parent_context: Any = None) -> None:
            _strip_queries(span)

    return WithoutQueries()


def stop() -> None:
    """No more tracing; the spans still buffered are exported."""
    global _provider
    if _provider is None:
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().uninstrument()
    _provider.force_flush()
    _provider = None


def interceptors() -> list[Any]:
    """The Temporal client's interceptors: the SDK's tracing one while tracing is on."""
    if _provider is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(_provider.get_tracer("returns_service.temporal"))]


def instrument(app: Any) -> None:
    """Trace each request `app` answers (while tracing is on), named by its route's template."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=_provider,
        excluded_urls="healthz,readyz,static",
        # A request is one span, not one more for each message of the ASGI conversation.
        exclude_spans=["receive", "send"],
        # Called once the request's span holds its addresses (set after it started).
        server_request_hook=_strip_queries,
    )


def trace_id() -> str | None:
    """The current span's trace id in hex (for log lines), or None outside a trace."""
    if _provider is None:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
