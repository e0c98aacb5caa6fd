"""The one settings object: environment variables with the RETURNS_ prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROLES = ("agent", "warehouse", "ops", "admin", "integration")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RETURNS_", extra="ignore")

    data_dir: Path = Field(
        default=Path("data"), description="Where the embedded stack keeps files."
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

    @model_validator(mode="after")
    def _payments_configured(self) -> Settings:
        if self.payments == "stripe" and self.stripe_api_key is None:
            raise ValueError("RETURNS_STRIPE_API_KEY is required when RETURNS_PAYMENTS=stripe")
        return self

    def store_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'returns.db'}"

    def email_folder(self) -> Path:
        return self.outbox_dir or self.data_dir / "outbox"
