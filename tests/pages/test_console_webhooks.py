"""Ops manage webhook endpoints on a page, with no curl (issue 23, finding 8): add one (its secret
shown once), send it a test event and read the answer in words, give it a new secret (the old one
still signs for a day), remove it (only with the box ticked)."""

from __future__ import annotations

import http.server
import socket
import threading
from typing import Any

from playwright.sync_api import Browser, expect
from standardwebhooks import Webhook

from tests.pages.conftest import Shop, new_page, shoot
from tests.pages.test_console import accessible, sign_in, staff


class Listener:
    """A webhook receiver on loopback that keeps each request's headers and body."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                listener.received.append((dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/returns-events"


def verifies(secret: str, headers: dict[str, str], body: bytes) -> bool:
    try:
        Webhook(secret).verify(body, {k.lower(): v for k, v in headers.items()})
    except Exception:  # noqa: BLE001 - standardwebhooks raises its own on a bad signature
        return False
    return True


def endpoints(stack: Shop) -> list[dict[str, Any]]:
    return stack.call("ops", "GET", "/v1/webhook-endpoints").json()["data"]  # type: ignore[no-any-return]


def test_ops_add_test_rotate_and_remove_an_endpoint_on_the_page(stack: Shop, browser: Browser):
    listener = Listener()
    ops = staff(stack, "ops", "Olivia Ops")
    page = new_page(browser)
    sign_in(page, stack.base, ops)
    try:
        page.goto(stack.base + "/console/webhooks")
        if not page.get_by_label("Address (URL)").is_visible():
            page.get_by_text("Add an endpoint").click()
        metadata = "http://169.254.169.254/latest/meta-data"  # never sent to, in any setting
        page.get_by_label("Address (URL)").fill(metadata)
        page.get_by_role("button", name="Add endpoint").click()
        expect(page.get_by_role("alert")).to_contain_text("webhooks are not sent to that address")
        expect(page.get_by_label("Address (URL)")).to_have_attribute("aria-invalid", "true")
        assert not [e for e in endpoints(stack) if e["url"] == metadata]

        page.get_by_label("Address (URL)").fill(listener.url)
        page.get_by_label("Description").fill("The ERP")
        page.get_by_role("button", name="Add endpoint").click()
        notice = page.get_by_role("status")
        expect(notice).to_contain_text("is added")
        secret = page.locator("#new-secret").inner_text()
        assert secret.startswith("whsec_"), secret
        made = [e for e in endpoints(stack) if e["url"] == listener.url]
        assert len(made) == 1 and made[0]["description"] == "The ERP", made
        assert "secret" not in made[0]  # shown once, never listed
        accessible(page)

        section = page.get_by_role("region", name=listener.url)
        section.get_by_role("button", name="Send a test event").click()
        expect(page.get_by_role("status")).to_contain_text(
            "The test event got through: the endpoint answered HTTP 204"
        )
        headers, body = listener.received[-1]
        assert b'"type":"webhook.test"' in body
        assert verifies(secret, headers, body)

        section.get_by_role("button", name="New secret").click()
        expect(page.get_by_role("status")).to_contain_text("A new signing secret")
        fresh = page.locator("#new-secret").inner_text()
        assert fresh.startswith("whsec_") and fresh != secret
        shoot(page, "console-webhooks-secret-desktop")
        section.get_by_role("button", name="Send a test event").click()
        expect(page.get_by_role("status")).to_contain_text("got through")
        headers, body = listener.received[-1]
        # For a day both secrets sign: a receiver switching over loses nothing.
        assert verifies(fresh, headers, body) and verifies(secret, headers, body)
        assert len({k.lower(): v for k, v in headers.items()}["webhook-signature"].split()) == 2

        section.get_by_role("button", name="Remove endpoint").click()
        expect(page.get_by_role("alert")).to_contain_text("Nothing was removed")
        assert [e for e in endpoints(stack) if e["url"] == listener.url]
        accessible(page)
        section = page.get_by_role("region", name=listener.url)
        section.get_by_label("Yes, remove it").check()
        section.get_by_role("button", name="Remove endpoint").click()
        expect(page.get_by_role("status")).to_contain_text("The endpoint is removed.")
        assert not [e for e in endpoints(stack) if e["url"] == listener.url]
    finally:
        for endpoint in endpoints(stack):
            if endpoint["url"] == listener.url:
                stack.call("ops", "DELETE", f"/v1/webhook-endpoints/{endpoint['id']}")
        listener.server.shutdown()


def test_a_test_event_to_a_closed_port_is_explained_in_german_on_a_phone(
    stack: Shop, browser: Browser
):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/hooks"
    made = stack.call(
        "ops", "POST", "/v1/webhook-endpoints", {"url": url, "events": ["return.refunded"]}
    ).json()
    try:
        page = new_page(browser, language="de-DE", phone=True)
        sign_in(page, stack.base, staff(stack, "ops", "Otto Telefon"), german=True)
        page.goto(stack.base + "/console/webhooks")
        section = page.get_by_role("region", name=url)
        section.get_by_role("button", name="Testereignis senden").click()
        expect(page.get_by_role("status")).to_contain_text(
            "Das Testereignis kam nicht an: keine Verbindung zum Endpunkt möglich."
        )
        # Nothing runs off a phone's screen sideways.
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= 375, wide
        accessible(page)
        shoot(page, "console-webhooks-test-phone-de")
    finally:
        stack.call("ops", "DELETE", f"/v1/webhook-endpoints/{made['id']}")


def test_a_host_that_is_not_found_is_said_so(stack: Shop, browser: Browser):
    """A new user's walk: a mistyped host was refused as "a private, loopback or cloud
    metadata address"."""
    page = new_page(browser)
    sign_in(page, stack.base, staff(stack, "ops", "Olaf Typo"))
    page.goto(stack.base + "/console/webhooks")
    page.get_by_label("Address (URL)").fill("https://hooks.no-such-shop.invalid/returns")
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_role("alert")).to_have_text(
        "Nothing was added: the address's host could not be found. Please check how it is spelled."
    )
    expect(page.get_by_label("Address (URL)")).to_have_value(
        "https://hooks.no-such-shop.invalid/returns"
    )
