"""Schemathesis against the app's own OpenAPI document, on the whole stack as `returns dev` runs
it: generated requests (valid and invalid) to every operation, checked for server errors,
conformance of responses to the schema, rejection of invalid data and ignored authentication.

The suite's run is derandomized (the same cases every time); a longer run explores afresh:
RETURNS_FUZZ_EXAMPLES=1000 pytest tests/api/test_fuzz.py
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    ignored_auth,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
)

from returns_service.app import create_app
from returns_service.config import Settings
from tests.stack import dev_ports, start_dev

EXAMPLES = int(os.environ.get("RETURNS_FUZZ_EXAMPLES", "25"))
# The suite's run is the same every time (a finding fails it, not a throw of the dice); a run
# given its own count explores afresh.
SUITE = "RETURNS_FUZZ_EXAMPLES" not in os.environ


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    ports = dev_ports()
    data: Path = tmp_path_factory.mktemp("fuzz")
    # The providers' event endpoints as a shop that registered its webhooks has them.
    secrets = {
        "RETURNS_STRIPE_WEBHOOK_SECRET": "whsec_fuzz",
        "RETURNS_EASYPOST_WEBHOOK_SECRET": "fuzz",
        "RETURNS_SHOPIFY_SHOP": "fuzz.myshopify.com",
        "RETURNS_SHOPIFY_ACCESS_TOKEN": "shpat_fuzz",
        "RETURNS_SHOPIFY_WEBHOOK_SECRET": "fuzz",
        # Nothing leaves the machine: a signed webhook could not be generated anyway.
        "RETURNS_SHOPIFY_API_BASE": "http://127.0.0.1:9",
    }
    process = start_dev(data, ports, env=secrets)
    keys = json.loads((data / "api-keys.json").read_text())
    try:
        yield f"http://127.0.0.1:{ports['api']}", keys
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(60)


# The app's own document, the same one it serves at /openapi.json.
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi())


def filter_query(ctx: Any, query: dict[str, Any] | None) -> bool:
    """A query value that is null or an empty list is sent as nothing at all: a "negative" case
    made of one (an unknown parameter with no value) is a valid request, and its 200 no miss
    (found on GET /v1/policy/history: `?limit=28` called schema-violating)."""
    return not query or all(value is not None and value != [] for value in query.values())


@schema.hooks.apply(filter_query)
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=SUITE,
)
def test_every_operation_holds_against_generated_requests(
    case: Any, stack: tuple[str, dict[str, str]]
) -> None:
    base_url, keys = stack
    case.call_and_validate(
        base_url=base_url,
        headers={"Authorization": f"Bearer {keys['admin']}"},
        checks=[
            not_a_server_error,
            response_schema_conformance,
            negative_data_rejection,
            ignored_auth,
        ],
    )


def test_a_query_parameter_of_one_value_given_twice_is_refused_on_its_name(
    stack: tuple[str, dict[str, str]],
):
    """Schemathesis found `number=a&number=b` quietly searched for `b`."""
    base, keys = stack
    ops = {"Authorization": f"Bearer {keys['ops']}"}
    twice = httpx.get(f"{base}/v1/returns?number=R-1&number=R-2", headers=ops)
    assert twice.status_code == 422, twice.text
    assert twice.json()["errors"] == [
        {"field": "number", "message": "given more than once; give it once"}
    ]
    several = httpx.get(f"{base}/v1/returns?status=approved&status=closed", headers=ops)
    assert several.status_code == 200, several.text
