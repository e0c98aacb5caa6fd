"""The ports the activities call. Each has a built-in adapter over the store; real adapters
(a carrier API, a payment processor, SMTP, a WMS) implement the same protocol."""

from __future__ import annotations

from typing import Protocol

from returns_service.domain.messages import CreateLabel, IssueRefund, RestockItems
from returns_service.domain.models import Label, Model, Refund


class EmailMessage(Model):
    key: str
    return_id: str
    to: str
    subject: str
    body: str


class Carrier(Protocol):
    async def create_label(self, request: CreateLabel) -> Label: ...


class Payments(Protocol):
    async def refund(self, request: IssueRefund) -> list[Refund]: ...


class Inventory(Protocol):
    async def restock(self, request: RestockItems) -> dict[str, int]: ...


class Email(Protocol):
    async def send(self, message: EmailMessage) -> None: ...
