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


def test_the_adapters_in_use_and_what_a_real_label_still_needs_are_said_at_start(tmp_path):
    from returns_service.worker.main import adapters_in_use, missing_for_real_labels

    quick_start = Settings(data_dir=tmp_path)
    assert adapters_in_use(quick_start) == [
        "labels: built-in (a PDF made here; no carrier has seen it)",
        "refunds: built-in ledger (no money leaves: pay refunds yourself)",
        "orders: pushed by the shop to PUT /v1/orders/{id}",
    ]
    missing = missing_for_real_labels(quick_start)
    assert any("RETURNS_CARRIER=easypost" in line for line in missing)
    assert any("RETURNS_RETURN_ADDRESS" in line for line in missing)

    easypost = Settings(
        data_dir=tmp_path,
        carrier="easypost",
        easypost_api_key="EZAK_x",
        easypost_carriers=["USPS", "UPS"],
        payments="stripe",
        stripe_api_key="sk_live_x",
    )
    assert adapters_in_use(easypost) == [
        "labels: EasyPost at https://api.easypost.com/v2 (USPS, UPS)",
        "refunds: Stripe at https://api.stripe.com",
        "orders: pushed by the shop to PUT /v1/orders/{id}",
    ]
    [address, webhook] = missing_for_real_labels(easypost)
    assert "no EasyPost label is bought without it" in address
    assert "RETURNS_EASYPOST_WEBHOOK_SECRET" in webhook
    ready = easypost.model_copy(
        update={
            "return_address": {"name": "R", "line1": "1 A St", "postal_code": "1",
                               "city": "C", "country": "US"},
            "easypost_webhook_secret": "s",
        }
    )  # fmt: skip
    assert missing_for_real_labels(ready) == []
    with pytest.raises(ValueError, match="RETURNS_EASYPOST_API_KEY"):
        Settings(data_dir=tmp_path, carrier="easypost")

    shop = ready.model_copy(
        update={"shopify_shop": "my-shop.myshopify.com", "shopify_access_token": "shpat_x"}
    )
    assert adapters_in_use(shop)[2] == (
        "orders: Shopify my-shop.myshopify.com (API 2026-04), its webhooks on POST"
        " /v1/shopify/webhooks; orders paid there are refunded there"
    )
    [webhook] = missing_for_real_labels(shop)
    assert "RETURNS_SHOPIFY_WEBHOOK_SECRET" in webhook
    assert shop.shopify_graphql_url() == (
        "https://my-shop.myshopify.com/admin/api/2026-04/graphql.json"
    )
    with pytest.raises(ValueError, match="RETURNS_SHOPIFY_ACCESS_TOKEN"):
        Settings(data_dir=tmp_path, shopify_shop="my-shop.myshopify.com")
    with pytest.raises(ValueError, match="shopify_shop"):
        Settings(data_dir=tmp_path, shopify_shop="https://my-shop.com", shopify_access_token="x")
