"""Settings that cannot work are refused when a process starts, naming what is wrong, rather than
failing on the first return that needs them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from returns_service.config import Settings


@pytest.mark.parametrize(
    ("chosen", "missing"),
    [
        ({"payments": "stripe"}, "RETURNS_STRIPE_API_KEY"),
        ({"carrier": "http", "carrier_api_key": "k"}, "RETURNS_CARRIER_API_BASE"),
        ({"inventory": "http", "wms_api_base": "http://wms"}, "RETURNS_WMS_API_KEY"),
    ],
)
def test_an_adapter_chosen_without_what_it_needs_is_refused(chosen, missing) -> None:
    with pytest.raises(ValidationError, match=missing):
        Settings(**chosen)


def test_a_carrier_secret_that_is_not_a_standard_webhooks_secret_is_refused() -> None:
    for wrong in ("", "whsec_", "whsec_not base64!", "whsec_c2hvcnQ="):
        with pytest.raises(ValidationError, match="carrier_webhook_secret"):
            Settings(carrier_webhook_secret=wrong)
    good = Settings(carrier_webhook_secret="whsec_" + "QUJD" * 8)
    assert good.carrier_webhook_secret is not None
