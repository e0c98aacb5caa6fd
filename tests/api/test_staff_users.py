"""Staff accounts through the API: only an admin makes them; the password is never shown again;
a short password, a second account for one email or an unknown role is refused, naming the field."""

from __future__ import annotations

import uuid


async def test_an_admin_makes_staff_accounts_and_nobody_else_can(api):
    email = f"maria.{uuid.uuid4().hex[:6]}@shop.example"
    body = {"email": email, "name": "Maria", "role": "agent", "password": "a long pass phrase"}
    for role in ("agent", "ops", "integration"):
        refused = await api.http.post("/v1/staff-users", json=body, headers=api.auth(role))
        assert refused.status_code == 403, role
    made = await api.http.post("/v1/staff-users", json=body, headers=api.auth("admin"))
    assert made.status_code == 201, made.text
    assert made.json()["email"] == email and "password" not in made.text
    again = await api.http.post("/v1/staff-users", json=body, headers=api.auth("admin"))
    assert again.status_code == 409
    short = await api.http.post(
        "/v1/staff-users", json={**body, "email": "b" + email, "password": "short"},
        headers=api.auth("admin"),
    )  # fmt: skip
    assert short.status_code == 422 and short.json()["errors"][0]["field"] == "password"
    assert "short" not in short.text  # a password is never echoed, not even a wrong one
    boss = await api.http.post(
        "/v1/staff-users", json={**body, "email": "c" + email, "role": "owner"},
        headers=api.auth("admin"),
    )  # fmt: skip
    assert boss.status_code == 422 and boss.json()["errors"][0]["field"] == "role"
    listed = await api.http.get("/v1/staff-users", headers=api.auth("admin"))
    assert email in {row["email"] for row in listed.json()}
    staff_id = made.json()["id"]
    disabled = await api.http.post(f"/v1/staff-users/{staff_id}/disable", headers=api.auth("admin"))
    assert disabled.status_code == 200 and disabled.json()["active"] is False


async def test_a_guessable_password_or_the_accounts_own_email_or_name_is_refused(api):
    """Issue 21, defect 12: the account's own email, `password1234` and `qwertyuiop123` were
    accepted."""
    email = f"jonas.weber.{uuid.uuid4().hex[:6]}@shop.example"
    body = {"email": email, "name": "Jonas Weber", "role": "agent"}
    common = ("password1234", "qwertyuiop123", "ｐａｓｓｗｏｒｄ１２３４")
    for weak in (email, email.upper() + "!", *common, "WeberJonas2026"):
        refused = await api.http.post(
            "/v1/staff-users", json={**body, "password": weak}, headers=api.auth("admin")
        )
        assert refused.status_code == 422, weak
        assert refused.json()["errors"][0]["field"] == "password"
        assert weak not in refused.text  # never echoed
    listed = await api.http.get("/v1/staff-users", headers=api.auth("admin"))
    assert email not in {row["email"] for row in listed.json()}
    made = await api.http.post(
        "/v1/staff-users", json={**body, "password": "kettle morning harbour"},
        headers=api.auth("admin"),
    )  # fmt: skip
    assert made.status_code == 201, made.text
    reset = await api.http.post(
        f"/v1/staff-users/{made.json()['id']}/password",
        json={"password": "jonas.weber.2026"}, headers=api.auth("admin"),
    )  # fmt: skip
    assert reset.status_code == 422 and reset.json()["errors"][0]["field"] == "password"
