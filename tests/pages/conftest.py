"""The pages in a real browser: `returns dev` started once for the module's tests, Debian's
Chromium driven by Playwright, the shop and the warehouse played through the JSON API."""

from __future__ import annotations

import email
import email.policy
import json
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from PIL import Image
from playwright.sync_api import Browser, Page, sync_playwright

from tests.factories import order_payload
from tests.stack import dev_ports, start_dev

# The shop's look for these tests: a dark green, and a logo of that colour.
ACCENT = "#0b6e4f"
ACCENT_RGB = (11, 110, 79)
# The shop's CDN: product images from it are shown, from anywhere else not.
IMAGE_HOST = "images.nordwind.example"
SCREENSHOTS = Path(__file__).parent.parent.parent / "docs" / "screenshots"
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("Debian's chromium is not installed (.ci/run installs it)")
    return found


@dataclass
class Shop:
    """The shop's systems and its warehouse, through the API with their keys."""

    base: str
    keys: dict[str, str]
    data_dir: Path
    temporal: str

    def call(self, role: str, method: str, path: str, body: Any = None) -> httpx.Response:
        answer = httpx.request(
            method,
            self.base + path,
            json=body,
            headers={"Authorization": f"Bearer {self.keys[role]}"},
            timeout=30,
        )
        assert answer.status_code < 300, answer.text
        return answer

    def put_order(
        self, order_id: str, number: str, email: str, lines: list[dict[str, Any]]
    ) -> None:
        self.call(
            "integration",
            "PUT",
            f"/v1/orders/{order_id}",
            order_payload(number=number, email=email, lines=lines),
        )

    def ship_and_receive(self, return_id: str) -> dict[str, Any]:
        self.call("integration", "POST", f"/v1/returns/{return_id}/ship", {})
        current = self.call("warehouse", "GET", f"/v1/returns/{return_id}").json()
        items = [
            {"item_id": item["id"], "quantity": item["quantity"], "condition": "good"}
            for item in current["items"]
        ]
        body = {"location": "WH1", "items": items}
        return self.call("warehouse", "POST", f"/v1/returns/{return_id}/receive", body).json()

    def emails(self, return_id: str, wait: float = 20.0) -> dict[str, EmailMessage]:
        """The customer's emails of the return kept as .eml files by the relay, by subject,
        once the label's is there."""
        return self.emails_any(
            return_id, wait, lambda s: "label" in s.lower() or "etikett" in s.lower()
        )

    def emails_any(
        self, return_id: str, wait: float = 20.0, until: Callable[[str], bool] | None = None
    ) -> dict[str, EmailMessage]:
        """The same, once one whose subject `until` likes is there (default: any at all)."""
        deadline = time.monotonic() + wait
        while True:
            found = {
                message["Subject"]: message
                for message in (
                    email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                    for path in (self.data_dir / "outbox").glob(f"email_{return_id}_*.eml")
                )
            }
            if any((until or bool)(subject) for subject in found):
                return found  # type: ignore[return-value]
            assert time.monotonic() < deadline, f"no such email for {return_id}: {list(found)}"
            time.sleep(0.2)

    def read(self, return_id: str) -> dict[str, Any]:
        return self.call("ops", "GET", f"/v1/returns/{return_id}").json()  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    root = tmp_path_factory.mktemp("pages")
    data_dir = root / "data"
    logo = root / "logo.png"
    Image.new("RGB", (120, 40), ACCENT_RGB).save(logo)
    ports = dev_ports()
    brand = {
        "RETURNS_SHOP_NAME": "Nordwind Outfitters",
        "RETURNS_SHOP_ACCENT": ACCENT,
        "RETURNS_SHOP_LOGO": str(logo),
        # The webhook receivers of the console's tests listen on loopback.
        "RETURNS_WEBHOOKS_ALLOW_PRIVATE": "true",
        "RETURNS_IMAGE_HOSTS": f'["{IMAGE_HOST}"]',
    }
    process = start_dev(data_dir, ports, env=brand)
    try:
        keys = json.loads((data_dir / "api-keys.json").read_text())
        yield Shop(
            f"http://127.0.0.1:{ports['api']}", keys, data_dir, f"127.0.0.1:{ports['temporal']}"
        )
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(60)


# Module-scoped: Playwright's sync API runs an event loop of its own while it is open, and the
# suite's async tests after these must not find one running.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


def new_page(
    browser: Browser, language: str = "en-GB", phone: bool = False, zone: str = "UTC"
) -> Page:
    context = browser.new_context(
        locale=language,
        extra_http_headers={"Accept-Language": language},
        viewport=PHONE if phone else DESKTOP,
        accept_downloads=True,
        timezone_id=zone,
    )
    page = context.new_page()
    page.set_default_timeout(20_000)
    return page


_axe = Axe()


def serious_violations(page: Page) -> list[str]:
    """What axe-core finds serious or critical on the page, as `rule: target` lines."""
    results = _axe.run(page)
    return [
        f"{violation['id']}: {[node['target'] for node in violation['nodes']]}"
        for violation in results.response["violations"]
        if violation.get("impact") in ("serious", "critical")
    ]


def shoot(page: Page, name: str) -> None:
    """The page as it looks, at the page's width: kept under docs/ for the README when
    RETURNS_SCREENSHOTS=1 (so that an ordinary run leaves the tree as it was)."""
    picture = page.screenshot(full_page=True)
    assert picture.startswith(b"\x89PNG")
    if os.environ.get("RETURNS_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / f"{name}.png").write_bytes(picture)
