"""Return labels through EasyPost's SDK against a local server that behaves as EasyPost's API:
a return shipment from the customer to the shop at the lowest accepted rate, bought once even
when the worker dies between buying and recording it, refused plainly when EasyPost will not
ship, and refunded when it was never used."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.exceptions import ApplicationError

from returns_service.activities.easypost import EasyPostLabels
from returns_service.activities.labels import StoreCarrier
from returns_service.activities.ports import CarrierUnavailable
from returns_service.store.tables import CarrierShipmentRow, LabelRow
from tests.activities.test_carrier import ANN, WAREHOUSE, a_return
from tests.api.conftest import serving
from tests.fakes.easypost import FakeEasyPost


@pytest.fixture
async def easypost() -> AsyncIterator[tuple[FakeEasyPost, str]]:
    fake = FakeEasyPost()
    async with serving(fake.app()) as url:
        fake.base_url = url
        yield fake, f"{url}/v2"


def labels(sessions: Any, fake: FakeEasyPost, url: str, **accepted: Any) -> EasyPostLabels:
    return EasyPostLabels(sessions, fake.api_key, url, **accepted)


async def test_a_return_label_is_a_return_shipment_at_the_lowest_accepted_rate(easypost, sessions):
    fake, url = easypost
    carrier = StoreCarrier(sessions, labels(sessions, fake, url, carriers=["USPS"]), WAREHOUSE)
    request = await a_return(sessions)
    label = await carrier.create_label(request)

    [shipment] = fake.shipments.values()
    assert shipment["is_return"] is True and shipment["reference"] == request.number
    assert shipment["from_address"]["street1"] == ANN.line1
    assert shipment["from_address"]["email"] == "ann@example.com"
    assert shipment["to_address"]["name"] == WAREHOUSE.name
    assert shipment["to_address"]["zip"] == WAREHOUSE.postal_code
    # USPS only: the cheaper of its two services, not UPS.
    assert shipment["selected_rate"]["service"] == "GroundAdvantage"
    assert label.carrier == "USPS" and label.tracking_number == shipment["tracking_code"]
    async with sessions() as session:
        row = await session.scalar(select(LabelRow).where(LabelRow.return_id == request.return_id))
    assert row is not None and row.pdf is not None and row.pdf.startswith(b"%PDF")

    # A service named: the cheapest of it, whatever the carrier.
    other = StoreCarrier(sessions, labels(sessions, fake, url, services=["Ground"]), WAREHOUSE)
    await other.create_label(await a_return(sessions))
    assert list(fake.shipments.values())[-1]["selected_rate"]["carrier"] == "UPS"


async def test_a_worker_killed_between_buying_and_recording_buys_one_label(easypost, sessions):
    fake, url = easypost
    lost: list[str] = []

    def die_before_answering(shipment: dict[str, Any]) -> None:
        if not lost:
            lost.append(shipment["id"])
            raise RuntimeError("the worker is killed: the answer never arrives")

    fake.on_bought = die_before_answering
    carrier = StoreCarrier(sessions, labels(sessions, fake, url), WAREHOUSE)
    request = await a_return(sessions)
    with pytest.raises(CarrierUnavailable):
        await carrier.create_label(request)
    assert fake.purchases == 1
    # The next attempt (another worker) finds the shipment and takes its label.
    label = await StoreCarrier(sessions, labels(sessions, fake, url), WAREHOUSE).create_label(
        request
    )
    again = await carrier.create_label(request)
    assert fake.purchases == 1 and len(fake.shipments) == 1
    assert (
        label.tracking_number == fake.shipments[lost[0]]["tracking_code"] == again.tracking_number
    )
    async with sessions() as session:
        kept = await session.scalar(
            select(CarrierShipmentRow).where(CarrierShipmentRow.return_id == request.return_id)
        )
    assert kept is not None and kept.shipment_id == lost[0]


async def test_what_easypost_will_not_ship_is_refused_with_its_reason(easypost, sessions):
    fake, url = easypost
    nowhere_known = ANN.model_copy(update={"postal_code": "00000"})
    carrier = StoreCarrier(sessions, labels(sessions, fake, url), WAREHOUSE)
    with pytest.raises(ApplicationError) as refused:
        await carrier.create_label(await a_return(sessions, nowhere_known))
    assert refused.value.type == "LabelRefused"
    assert "Unable to verify address" in refused.value.message
    # No rate among the accepted carriers.
    picky = StoreCarrier(sessions, labels(sessions, fake, url, carriers=["FedEx"]), WAREHOUSE)
    with pytest.raises(ApplicationError) as no_rate:
        await picky.create_label(await a_return(sessions))
    assert no_rate.value.type == "LabelRefused"
    # No return address set: refused before EasyPost is asked.
    nowhere = StoreCarrier(sessions, labels(sessions, fake, url), None)
    before = len(fake.shipments)
    with pytest.raises(ApplicationError) as unset:
        await nowhere.create_label(await a_return(sessions))
    assert "RETURNS_RETURN_ADDRESS" in unset.value.message and len(fake.shipments) == before
    assert fake.purchases == 0


async def test_a_wrong_key_or_an_unreachable_easypost_leaves_the_label_to_be_asked_again(
    easypost, sessions
):
    fake, url = easypost
    wrong = EasyPostLabels(sessions, "EZTK_wrong", url)
    with pytest.raises(CarrierUnavailable, match="no longer active"):
        await StoreCarrier(sessions, wrong, WAREHOUSE).create_label(await a_return(sessions))
    gone = EasyPostLabels(sessions, fake.api_key, "http://127.0.0.1:9/v2", timeout=2)
    with pytest.raises(CarrierUnavailable):
        await StoreCarrier(sessions, gone, WAREHOUSE).create_label(await a_return(sessions))
    assert fake.purchases == 0


async def test_an_unused_label_is_refunded_once(easypost, sessions):
    fake, url = easypost
    source = labels(sessions, fake, url)
    request = await a_return(sessions)
    await StoreCarrier(sessions, source, WAREHOUSE).create_label(request)
    [shipment_id] = fake.shipments
    assert await source.refund(shipment_id) == "submitted"
    assert await source.refund(shipment_id) == "submitted"
    assert fake.refunds == [shipment_id]
