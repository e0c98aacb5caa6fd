"""Running the team from the pages (issue 23, finding 7): an admin adds a warehouse member, who
lands on the receiving station and sees only her links; a new role signs her out and she lands on
the role's own page; a new password replaces the old one; a disabled account cannot sign in."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Browser, Page, expect

from tests.pages.conftest import Shop, new_page, shoot
from tests.pages.test_console import PASSWORD, accessible, sign_in, staff

NEW_PASSWORD = "lantern pebble orchard"


def nav_links(page: Page) -> list[str]:
    return page.get_by_role("navigation", name="Console").get_by_role("link").all_inner_texts()


def test_an_admin_runs_the_team_from_the_staff_page(stack: Shop, browser: Browser):
    boss = staff(stack, "admin", "Berta Boss")
    email = f"wanda.{uuid.uuid4().hex[:6]}@shop.example"

    desk = new_page(browser, phone=False)
    sign_in(desk, stack.base, boss)
    desk.get_by_role("link", name="Team").click()
    expect(desk.get_by_role("heading", level=1)).to_have_text("Team")
    adding = desk.get_by_role("form", name="Add a person")
    adding.get_by_label("Name").fill("Wanda Lager")
    adding.get_by_label("Email").fill(email)
    adding.get_by_label("Role").select_option(label="Warehouse")
    adding.get_by_label("Password").fill("password1234")  # a guessable one: refused, marked
    adding.get_by_role("button", name="Add").click()
    expect(desk.get_by_role("alert")).to_contain_text("Nothing was changed")
    expect(adding.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    expect(adding.get_by_label("Email")).to_have_value(email)  # nothing typed is lost
    adding.get_by_label("Password").fill(PASSWORD)
    adding.get_by_role("button", name="Add").click()
    expect(desk.get_by_role("status")).to_contain_text("Added")
    wanda = desk.get_by_role("listitem").filter(has=desk.get_by_role("heading", name="Wanda Lager"))
    expect(wanda).to_contain_text(email)
    expect(wanda).to_contain_text("Warehouse")
    accessible(desk)
    shoot(desk, "console-staff-desktop")

    # She lands on the receiving station and sees only what the warehouse does.
    station = new_page(browser, phone=True)
    sign_in(station, stack.base, email)
    expect(station).to_have_url(re.compile(r"/console/receive$"))
    links = nav_links(station)
    assert "Receiving" in links and "Review queue" not in links and "Team" not in links
    station.goto(stack.base + "/console/staff")
    expect(station.get_by_role("heading", level=1)).not_to_have_text("Team")

    # A new role ends her session; signed in again she lands on the dashboard.
    wanda.get_by_label("Role of Wanda Lager").select_option(label="Operations")
    wanda.get_by_role("button", name="Change role").click()
    expect(desk.get_by_role("status")).to_contain_text("Role changed")
    station.goto(stack.base + "/console/receive")
    expect(station).to_have_url(re.compile(r"/console/login"))
    sign_in(station, stack.base, email)
    expect(station).to_have_url(re.compile(r"/console/dashboard$"))

    # A new password replaces the old one; a disabled account cannot sign in at all.
    wanda.get_by_label("New password for Wanda Lager").fill(NEW_PASSWORD)
    wanda.get_by_role("button", name="Set password").click()
    expect(desk.get_by_role("status")).to_contain_text("Password set")
    station.goto(stack.base + "/console/login")
    station.get_by_label("Email").fill(email)
    station.get_by_label("Password").fill(PASSWORD)
    station.get_by_role("button", name="Sign in").click()
    expect(station.get_by_role("alert")).to_be_visible()
    station.get_by_label("Password").fill(NEW_PASSWORD)
    station.get_by_role("button", name="Sign in").click()
    expect(station).to_have_url(re.compile(r"/console/dashboard$"))
    wanda.get_by_role("button", name="Disable Wanda Lager").click()
    expect(desk.get_by_role("status")).to_contain_text("Disabled")
    expect(wanda).to_contain_text("Disabled")
    station.goto(stack.base + "/console/dashboard")
    expect(station).to_have_url(re.compile(r"/console/login"))
    accessible(desk)

    # On a phone, in German, the page reads and fits.
    phone = new_page(browser, language="de-DE", phone=True)
    sign_in(phone, stack.base, boss, german=True)
    phone.goto(stack.base + "/console/staff")
    expect(phone.get_by_role("heading", name="Person hinzufügen")).to_be_visible()
    expect(phone.get_by_role("button", name="Wanda Lager aktivieren")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375 + 1
    accessible(phone)
    shoot(phone, "console-staff-phone-de")
