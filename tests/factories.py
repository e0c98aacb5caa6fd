"""Orders and returns as a shop would send them."""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from returns_service.domain.models import Customer, ReturnItem, ReturnState, Status
from returns_service.store.tables import WebhookEndpointRow


def order_payload(
    number: str = "1001",
    email: str = "ann@example.com",
    delivered_days_ago: int = 3,
    now: datetime | None = None,
    lines: list[dict[str, Any]] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    delivered = now - timedelta(days=delivered_days_ago)
    lines = lines or [
        {
            "id": "l1",
            "sku": "SKU-001",
            "name": "Shirt",
            "quantity": 2,
            "unit_amount": 2500,
            "discount_amount": 500,
            "tax_amount": 950,
            "final_sale": False,
            "category": "apparel",
        }
    ]
    total = sum(
        line["unit_amount"] * line["quantity"]
        - line.get("discount_amount", 0)
        + line.get("tax_amount", 0)
        for line in lines
    )
    payload: dict[str, Any] = {
        "number": number,
        "customer": {"id": "c_1", "email": email},
        "currency": "EUR",
        "placed_at": (delivered - timedelta(days=2)).isoformat(),
        "fulfilled_at": (delivered - timedelta(days=1)).isoformat(),
        "delivered_at": delivered.isoformat(),
        "lines": lines,
        "shipping_amount": 490,
        "order_discount_amount": 0,
        "captures": [
            {
                "id": f"cap_{number}",
                "amount": total + 490,
                "captured_at": (delivered - timedelta(days=2)).isoformat(),
                "method": "card",
            }
        ],
    }
    payload.update(overrides)
    return payload


def expensive_line(quantity: int = 1) -> dict[str, Any]:
    return {
        "id": "l9",
        "sku": "SKU-TV",
        "name": "Television",
        "quantity": quantity,
        "unit_amount": 90000,
        "discount_amount": 0,
        "tax_amount": 17100 * quantity,
        "final_sale": False,
        "category": "electronics",
    }


def webhook_secret() -> str:
    """A Standard Webhooks secret as the API makes them."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def endpoint_row(endpoint_id: str, url: str, events: list[str], secret: str) -> WebhookEndpointRow:
    """A webhook endpoint put in the store directly (the API refuses loopback receivers)."""
    return WebhookEndpointRow(
        id=endpoint_id,
        url=url,
        events=events,
        secret=secret,
        enabled=True,
        created_at=datetime.now(UTC),
    )


STATE_AT = datetime(2026, 11, 29, 12, tzinfo=UTC)


def a_return_state(
    return_id: str, status: Status, version: int, at: datetime = STATE_AT
) -> ReturnState:
    """A return of one item of order o_1 as its workflow would record it at `version`."""
    return ReturnState(
        id=return_id,
        number=f"R-{return_id}",
        status=status,
        version=version,
        customer=Customer(email="ann@example.com"),
        currency="EUR",
        order_ids=["o_1"],
        resolution="refund",
        items=[
            ReturnItem(
                id="ri_1",
                order_id="o_1",
                line_id="l1",
                sku="S",
                name="N",
                quantity=1,
                reason="wrong_size",
            )
        ],
        created_at=at,
        updated_at=at + timedelta(seconds=version),
    )
