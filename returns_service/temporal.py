"""The one Temporal client factory: pydantic models cross the boundary as JSON. Where the settings
give it a port, the Temporal SDK serves its own Prometheus metrics there (workflow task and
activity latencies, schedule-to-start, the sticky cache, polls): one runtime per process. While
tracing is on, its calls, workflows and activities are spans of the request's trace."""

from __future__ import annotations

from functools import lru_cache

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from returns_service import tracing
from returns_service.config import Settings


@lru_cache(maxsize=1)
def runtime(bind_address: str) -> Runtime:
    """The process's runtime exporting the SDK's metrics on `bind_address` (made once)."""
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind_address)))


async def connect(settings: Settings) -> Client:
    port = settings.temporal_metrics_port
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        runtime=runtime(f"{settings.metrics_host}:{port}") if port is not None else None,
        # Spans for its calls, and (a worker built on it takes them up) for workflows and
        # activities, while tracing is on.
        interceptors=tracing.interceptors(),
    )
