"""Labels: the built-in one reads as a label should (addresses, return number, tracking number),
and a carrier's API buys one label per return however often it fails, against a local server
that behaves as the documented carrier API."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select
from temporalio.exceptions import ApplicationError

from returns_service.activities.carrier import HttpCarrier
from returns_service.activities.labels import StoreCarrier
from returns_service.activities.ports import CarrierUnavailable
from returns_service.documents.label_pdf import label_pdf
from returns_service.domain.messages import CreateLabel
from returns_service.domain.models import Address, Customer, Order, ReturnItem
from returns_service.store.orders import put_order
from returns_service.store.tables import LabelRow
from tests.api.conftest import serving
from tests.conftest import free_port
from tests.factories import order_payload
from tests.fakes.carrier import FakeCarrier

NOW = datetime(2026, 11, 20, tzinfo=UTC)
WAREHOUSE = Address(
    name="Returns Centre", company="Shop GmbH", line1="Lagerstrasse 5", postal_code="20095",
    city="Hamburg", country="DE",
)  # fmt: skip
ANN = Address(name="Ann Lee", line1="12 Rue de la Paix", postal_code="75002", city="Paris",
              country="FR")  # fmt: skip


@pytest.fixture
async def carrier() -> AsyncIterator[tuple[FakeCarrier, str]]:
    fake = FakeCarrier()
    async with serving(fake.app()) as url:
        yield fake, url


async def a_return(sessions, address: Address | None = ANN) -> CreateLabel:
    order = Order.model_validate(
        {
            "id": f"o_{uuid.uuid4().hex[:8]}",
            **order_payload(number="C1", now=NOW),
            "shipping_address": address.model_dump() if address else None,
        }
    )
    async with sessions.begin() as session:
        await put_order(session, order, NOW)
    return CreateLabel(
        return_id=f"ret_{uuid.uuid4().hex[:12]}",
        number=f"R-{uuid.uuid4().int % 10**6:06d}",
        customer=Customer(email="ann@example.com"),
        items=[
            ReturnItem(
                id="ri_1",
                order_id=order.id,
                line_id="l1",
                sku="SKU-001",
                name="Shirt",
                quantity=1,
                reason="wrong_size",
            )
        ],  # fmt: skip
        created_at=NOW,
        expires_at=NOW + timedelta(days=14),
    )


async def label_text(sessions, return_id: str) -> str:
    async with sessions() as session:
        row = await session.scalar(select(LabelRow).where(LabelRow.return_id == return_id))
    return str(PdfReader(io.BytesIO(label_pdf(row))).pages[0].extract_text())


async def test_the_built_in_label_carries_both_addresses_and_both_numbers(sessions):
    request = await a_return(sessions)
    label = await StoreCarrier(sessions, return_address=WAREHOUSE).create_label(request)
    text = await label_text(sessions, request.return_id)
    for expected in (
        f"RETURN {request.number}",
        label.tracking_number,
        "Ann Lee",
        "12 Rue de la Paix",
        "75002 Paris",
        "Returns Centre",
        "Lagerstrasse 5",
        "20095 Hamburg",
        "1 x SKU-001 Shirt",
    ):
        assert expected in text, (expected, text)
    # Asked again (a retried activity): the same label, not a second one.
    again = await StoreCarrier(sessions, return_address=WAREHOUSE).create_label(request)
    assert again == label


async def test_a_carrier_failing_30_percent_of_calls_sells_one_label_per_return(carrier, sessions):
    fake, url = carrier
    fake.failure_rate = 0.3
    fake.hang_seconds = 1.0
    labels = StoreCarrier(sessions, HttpCarrier(url, fake.api_key, timeout=0.3), WAREHOUSE)
    requests = [await a_return(sessions) for _ in range(40)]

    async def until_made(request: CreateLabel):  # as Temporal retries the activity
        for _ in range(50):
            try:
                return await labels.create_label(request)
            except CarrierUnavailable:
                await asyncio.sleep(0.01)
        raise AssertionError("never made")

    made = await asyncio.gather(*(until_made(r) for r in requests))
    assert sum(fake.faults.values()) >= 10 and len(fake.faults) == 3
    assert len(fake.shipments) == 40  # one bought label per return, whatever was lost
    assert len({label.tracking_number for label in made}) == 40
    assert {s["reference"] for s in fake.shipments.values()} == {r.number for r in requests}
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(LabelRow)) == 40
    # The label kept and served is the carrier's own, for the carrier's tracking number.
    text = await label_text(sessions, requests[0].return_id)
    assert text.startswith("FakePost " + made[0].tracking_number)
    shipment = next(s for s in fake.shipments.values() if s["reference"] == requests[0].number)
    assert shipment["from_address"]["city"] == "Paris"
    assert shipment["to_address"]["city"] == "Hamburg"


async def test_a_label_the_carrier_refuses_is_a_definite_refusal_naming_the_field(
    carrier, sessions
):
    fake, url = carrier
    labels = StoreCarrier(sessions, HttpCarrier(url, fake.api_key), WAREHOUSE)
    nowhere = ANN.model_copy(update={"postal_code": "00000"})
    with pytest.raises(ApplicationError) as refused:
        await labels.create_label(await a_return(sessions, nowhere))
    assert refused.value.type == "LabelRefused" and refused.value.non_retryable
    assert refused.value.details[0]["field"] == "from_address.postal_code"
    with pytest.raises(ApplicationError):  # no address at all for the sender
        await labels.create_label(await a_return(sessions, None))
    assert fake.shipments == {}
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(LabelRow)) == 0


async def test_an_unreachable_carrier_leaves_the_label_to_be_asked_for_again(sessions):
    labels = StoreCarrier(sessions, HttpCarrier(f"http://127.0.0.1:{free_port()}", "k"))
    with pytest.raises(CarrierUnavailable):
        await labels.create_label(await a_return(sessions))
