"""The one settings object: environment variables with the RETURNS_ prefix."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from returns_service.domain.models import Address

ROLES = ("agent", "warehouse", "ops", "admin", "integration")
# The carrier whose drop-off QR codes EasyPost makes (its `label_qr_code` form, USPS's Label
# Broker): a `qr_drop_off` return is bought from it, and offered only where the shop takes it.
EASYPOST_QR_CARRIER = "USPS"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RETURNS_", extra="ignore")

    data_dir: Path = Field(
        default=Path("data"), description="Where the embedded stack keeps files."
    )
    # (Read by returns_service/logs.py before the settings, so that even a setting's mistake
    # is logged as asked.)
    log_format: Literal["text", "json"] = Field(
        default="text", description="How the processes log: lines, or one JSON object each."
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="The port this process serves its Prometheus metrics on (/metrics); none:"
        " not served.",
    )
    temporal_metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="The port the Temporal SDK serves its own Prometheus metrics on (this"
        " process's client and worker); none: not served.",
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="The address the metrics port listens on."
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy async URL of the store; default: SQLite in the data directory.",
    )
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = "returns"
    api_keys: dict[str, str] = Field(
        default_factory=dict, description='Role -> key, e.g. {"agent": "...", "ops": "..."}.'
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000", description="Base URL of the API, for links in emails."
    )
    temporal_ui_url: str = Field(
        default="http://127.0.0.1:8233", description="Base URL of the Temporal web UI."
    )
    workflow_answer_seconds: float = Field(
        default=15.0,
        gt=0,
        description="How long the API waits for a return's workflow (e.g. while no worker runs).",
    )
    outbox_dir: Path | None = Field(
        default=None, description="Folder for .eml copies of outgoing email; default: data/outbox."
    )

    session_secret: SecretStr | None = Field(
        default=None,
        description="Signs customer session tokens; default: derived from the API keys.",
    )
    customer_session_hours: float = Field(
        default=12, gt=0, le=24 * 30, description="How long a customer session token is valid."
    )
    customer_returns_per_hour: int = Field(
        default=10, ge=1, description="Returns one customer may create per hour (labels cost)."
    )
    session_failures_per_15_minutes: int = Field(
        default=10, ge=1, description="Wrong order/email pairs one client may try in 15 minutes."
    )
    max_body_bytes: int = Field(
        default=256 * 1024, ge=1024, description="Largest request body the API reads."
    )
    photo_max_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024, description="Largest photo a customer may upload."
    )
    upload_max_bytes: int = Field(
        default=30 * 1024 * 1024,
        ge=1024,
        description="Largest new-return form of the portal, its photos included.",
    )
    smtp_host: str | None = Field(
        default=None,
        description="SMTP server for customer email; unset: email stays in the outbox.",
    )
    smtp_port: int = Field(default=587, description="SMTP port.")
    smtp_username: str | None = Field(default=None, description="SMTP login, if it needs one.")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password.")
    smtp_starttls: bool = Field(
        default=False, description="Upgrade the SMTP connection with STARTTLS."
    )
    email_from: str = Field(
        default="Returns <returns@localhost>", description="From address of customer email."
    )
    email_templates: Path | None = Field(
        default=None,
        description="Folder with status_email.txt.j2/.html.j2 to override the built-in.",
    )
    webhooks_allow_private: bool = Field(
        default=False,
        description="Let webhook endpoints be on loopback or private addresses (development and"
        " tests); cloud metadata addresses stay refused.",
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses of the reverse proxies whose X-Forwarded-For is"
        " believed (empty: none; a client's own header is never trusted).",
    )
    staff_idle_minutes: int = Field(
        default=120,
        ge=1,
        le=7 * 24 * 60,
        description="A console session ends after this idle time.",
    )
    staff_failures_per_15_minutes: int = Field(
        default=10, ge=1, description="Wrong console passwords per client address and email."
    )
    shop_name: str = Field(
        default="Returns", max_length=80, description="The shop's name on every page and email."
    )
    locales_dir: Path | None = Field(
        default=None,
        description="A folder of the shop's own gettext catalogs (<code>/LC_MESSAGES/messages.po):"
        " more languages, or its own words for ours.",
    )
    shop_logo: Path | None = Field(
        default=None, description="An image file (PNG, JPEG, WebP, GIF) shown as the shop's logo."
    )
    shop_accent: str = Field(
        default="#1f5fbf",
        pattern=r"^#[0-9a-fA-F]{6}$",
        description="The shop's accent colour (#rrggbb) for buttons and links.",
    )
    workflow_cache_size: int = Field(
        default=50,
        ge=0,
        le=100_000,
        description="How many returns' workflows a worker keeps in memory between their steps"
        " (Temporal's sticky cache): one evicted is replayed from its history at its next step"
        " (more CPU then, less memory meanwhile; a return's steps come seconds apart while it is"
        " made, received and paid, days apart while it waits for its parcel, so the cache need"
        " only hold the returns a worker has busy at once: 50 hold a 2-core worker's ~16/s;"
        " raise it with the cores). bench/open_returns.py measures both.",
    )
    workflow_sandbox: bool = Field(
        default=False,
        description="Run workflows in the Temporal SDK's sandbox (slower; the tests always do,"
        " and replay recorded histories, which is what keeps the code deterministic).",
    )
    payments: Literal["builtin", "stripe"] = Field(
        default="builtin",
        description="Where refunds go: the built-in ledger, or Stripe (and the ledger).",
    )
    stripe_api_key: SecretStr | None = Field(
        default=None, description="Stripe secret key, when payments is stripe."
    )
    stripe_api_base: str = Field(
        default="https://api.stripe.com", description="Stripe's API base URL."
    )
    stripe_webhook_secret: SecretStr | None = Field(
        default=None,
        description="The signing secret (whsec_...) of the Stripe webhook endpoint"
        " POST /v1/payment-events/stripe; unset: the endpoint is refused.",
    )

    return_address: Address | None = Field(
        default=None,
        description='Where returns go, as JSON ({"name", "line1", "postal_code", "city",'
        ' "country", ...}); printed on labels and given to the carrier.',
    )
    carrier: Literal["builtin", "http", "easypost"] = Field(
        default="builtin",
        description="Who makes labels: the built-in carrier, a carrier's HTTP API, or EasyPost.",
    )
    easypost_api_key: SecretStr | None = Field(
        default=None, description="EasyPost API key, when carrier is easypost."
    )
    easypost_api_base: str = Field(
        default="https://api.easypost.com/v2", description="EasyPost's API base URL."
    )
    easypost_carriers: list[str] = Field(
        default_factory=list,
        description="The carriers the shop accepts for return labels (e.g. USPS, UPS,"
        " DHLExpress); empty: any of the account's.",
    )
    easypost_services: list[str] = Field(
        default_factory=list,
        description="The services the shop accepts (e.g. Ground, Priority); empty: any.",
    )
    easypost_parcel: dict[str, float] = Field(
        default_factory=lambda: {"length": 12.0, "width": 9.0, "height": 4.0, "weight": 32.0},
        description="The parcel a return label is bought for: inches and ounces, as EasyPost"
        " takes them.",
    )
    easypost_webhook_secret: SecretStr | None = Field(
        default=None,
        description="The secret of the EasyPost webhook for POST /v1/carrier-events/easypost;"
        " unset: the endpoint is refused.",
    )
    shopify_shop: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$",
        description="The Shopify store (my-shop.myshopify.com) whose orders come in by its"
        " webhooks and whose orders paid through Shopify are refunded there.",
    )
    shopify_access_token: SecretStr | None = Field(
        default=None, description="The app's Admin API access token (shpat_...) for the shop."
    )
    shopify_api_version: str = Field(
        default="2026-04",
        pattern=r"^\d{4}-\d{2}$",
        description="The Admin GraphQL API version every call is made against (pinned: the"
        " queries here are written for it).",
    )
    shopify_api_base: str = Field(
        default="",
        description="Shopify's base URL; default: https://<shop>. The GraphQL endpoint is"
        " <base>/admin/api/<version>/graphql.json.",
    )
    shopify_webhook_secret: SecretStr | None = Field(
        default=None,
        description="The app's client secret, which Shopify signs webhooks with"
        " (X-Shopify-Hmac-Sha256); unset: POST /v1/shopify/webhooks is refused.",
    )
    shopify_location_id: str | None = Field(
        default=None,
        pattern=r"^(gid://shopify/Location/)?\d+$",
        description="The Shopify location refunded items are restocked at (restockType"
        " RETURN) when the warehouse graded them sellable; unset: Shopify does not restock"
        " (NO_RESTOCK) and stock is kept here.",
    )
    carrier_api_base: str = Field(default="", description="The carrier API's base URL.")
    carrier_api_key: SecretStr | None = Field(
        default=None, description="The carrier API's key, when carrier is http."
    )
    carrier_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Standard Webhooks secret (whsec_...) carrier tracking events are signed"
        " with; unset: POST /v1/carrier-events is refused.",
    )
    inventory: Literal["builtin", "http"] = Field(
        default="builtin",
        description="Where restocks are told: the built-in stock levels, or a warehouse system"
        " (and the built-in levels).",
    )
    wms_api_base: str = Field(default="", description="The warehouse system's API base URL.")
    wms_api_key: SecretStr | None = Field(
        default=None, description="The warehouse system's API key, when inventory is http."
    )

    image_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts the pages show product images from (an order line's `image_url`),"
        ' e.g. ["cdn.shopify.com"]; the pages\' Content-Security-Policy allows these and no'
        " other. Empty: no images.",
    )

    @field_validator("image_hosts")
    @classmethod
    def _host_names(cls, value: list[str]) -> list[str]:
        for host in value:
            if not re.fullmatch(r"[A-Za-z0-9.-]{1,253}(:\d{1,5})?", host):
                raise ValueError(f"{host!r} is not a host name")
        return [host.lower() for host in value]

    @field_validator("carrier_webhook_secret")
    @classmethod
    def _standard_webhooks_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        try:
            key = base64.b64decode(value.get_secret_value().removeprefix("whsec_"), validate=True)
        except ValueError:
            key = b""
        if len(key) < 16:
            raise ValueError("not a Standard Webhooks secret: whsec_ and base64 of 16+ bytes")
        return value

    @model_validator(mode="after")
    def _adapters_configured(self) -> Settings:
        for chosen, needs in (
            (self.payments == "stripe", {"stripe_api_key": self.stripe_api_key}),
            (
                self.carrier == "http",
                {
                    "carrier_api_base": self.carrier_api_base,
                    "carrier_api_key": self.carrier_api_key,
                },
            ),
            (self.carrier == "easypost", {"easypost_api_key": self.easypost_api_key}),
            (
                self.shopify_shop is not None or self.shopify_access_token is not None,
                {
                    "shopify_shop": self.shopify_shop,
                    "shopify_access_token": self.shopify_access_token,
                },
            ),
            (
                self.inventory == "http",
                {"wms_api_base": self.wms_api_base, "wms_api_key": self.wms_api_key},
            ),
        ):
            missing = [f"RETURNS_{name.upper()}" for name, value in needs.items() if not value]
            if chosen and missing:
                raise ValueError(f"{', '.join(missing)} required by the adapter chosen")
        return self

    def shopify_graphql_url(self) -> str:
        base = self.shopify_api_base or f"https://{self.shopify_shop}"
        return f"{base.rstrip('/')}/admin/api/{self.shopify_api_version}/graphql.json"

    def session_key(self) -> bytes:
        """The key customer tokens are signed with: the configured secret, else one derived from
        the API keys (the same on every API instance that shares them)."""
        if self.session_secret is not None:
            return self.session_secret.get_secret_value().encode()
        material = json.dumps(sorted(self.api_keys.items())).encode()
        return hashlib.sha256(b"customer-sessions:" + material).digest()

    def drop_off_codes(self) -> bool:
        """Whether the carrier in use gives drop-off QR codes (`qr_drop_off` is offered)."""
        return (
            self.carrier != "easypost"
            or not self.easypost_carriers
            or EASYPOST_QR_CARRIER in self.easypost_carriers
        )

    def link_key(self) -> bytes:
        """The key links that open a label without signing in are signed with (the worker makes
        them for emails, the API checks them): derived from the session key, never equal to it."""
        return hmac.new(self.session_key(), b"label-links", hashlib.sha256).digest()

    def store_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'returns.db'}"

    def email_folder(self) -> Path:
        return self.outbox_dir or self.data_dir / "outbox"
