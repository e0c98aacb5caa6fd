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
_taken_from: Any = None  # the propagator the API's was made from (restored when tracing stops)


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


# What a client writes into a request's span: kept short (a path or a User-Agent of 100,000
# characters went to the tracing backend whole), and the client's address not at all.
CLIENT_WRITTEN = ("http.target", "http.url", "url.full", "url.path", "http.user_agent",
                  "user_agent.original")  # fmt: skip
ADDRESSES = ("http.target", "http.url", "url.full")  # each without its query string
CLIENT_ADDRESS = ("net.peer.ip", "client.address", "net.sock.peer.addr", "network.peer.address")
LONGEST = 256


def _strip_queries(span: Any, *_: Any) -> None:
    """Keeps query strings out of a span: a list asked for by a customer's email
    (`?customer_email=`), a webhook address carrying its receiver's token, would otherwise go to
    the tracing backend with the request's address. The addresses keep their path; the route's
    template names the span. What else the client wrote is cut short, and its address left out."""
    attributes = getattr(span, "attributes", None) or {}
    for key in CLIENT_WRITTEN:
        value = attributes.get(key)
        if not isinstance(value, str):
            continue
        kept = value.split("?", 1)[0] if key in ADDRESSES else value
        kept = kept if len(kept) <= LONGEST else kept[:LONGEST] + "..."
        if kept != value:
            span.set_attribute(key, kept)
    for key in ("url.query", *CLIENT_ADDRESS):
        if attributes.get(key):
            span.set_attribute(key, "")


def _inject_only(propagator: Any) -> Any:
    """`propagator` for what this process sends (the httpx calls), never taking up a trace context
    a client sent: with it anyone could hide a return's trace (a `traceparent` not sampled) or
    choose the trace id its log lines carry. Each request starts a trace of its own. (Temporal's
    headers have the SDK's interceptor's own propagator.)"""
    from opentelemetry.context import Context
    from opentelemetry.propagators.textmap import (
        TextMapPropagator,
        default_getter,
        default_setter,
    )

    class InjectOnly(TextMapPropagator):
        def extract(self, carrier: Any, context: Any = None, getter: Any = default_getter) -> Any:
            return context if context is not None else Context()

        def inject(self, carrier: Any, context: Any = None, setter: Any = default_setter) -> None:
            propagator.inject(carrier, context, setter)

        @property
        def fields(self) -> set[str]:
            return set(propagator.fields)

    return InjectOnly()


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
    global _provider, _taken_from
    if _provider is None:
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().uninstrument()
    _provider.force_flush()
    _provider = None
    if _taken_from is not None:
        from opentelemetry import propagate

        propagate.set_global_textmap(_taken_from)
        _taken_from = None


def interceptors() -> list[Any]:
    """The Temporal client's interceptors: the SDK's tracing one while tracing is on."""
    if _provider is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(_provider.get_tracer("returns_service.temporal"))]


def instrument(app: Any) -> None:
    """Trace each request `app` answers (while tracing is on), named by its route's template."""
    global _taken_from
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
    from opentelemetry import propagate

    if _taken_from is None:
        _taken_from = propagate.get_global_textmap()
        propagate.set_global_textmap(_inject_only(_taken_from))


def trace_id() -> str | None:
    """The current span's trace id in hex (for log lines), or None outside a trace."""
    if _provider is None:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
