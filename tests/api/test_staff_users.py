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


async def test_an_admin_changes_an_account_and_the_shop_keeps_one_admin(api):
    """PATCH /v1/staff-users/{id} (api.md): name, role, active, password; the shop's last active
    admin is neither demoted nor disabled, so someone can always run the team."""
    admin = api.auth("admin")

    async def make(role: str) -> str:
        body = {"email": f"{role}.{uuid.uuid4().hex[:6]}@shop.example", "name": "Ada Admin",
                "role": role, "password": "kettle morning harbour"}  # fmt: skip
        made = await api.http.post("/v1/staff-users", json=body, headers=admin)
        assert made.status_code == 201, made.text
        return str(made.json()["id"])

    ada = await make("admin")
    for row in (await api.http.get("/v1/staff-users", headers=admin)).json():
        if row["role"] == "admin" and row["active"] and row["id"] != ada:
            gone = await api.http.patch(f"/v1/staff-users/{row['id']}", json={"active": False},
                                        headers=admin)  # fmt: skip
            assert gone.status_code == 200, gone.text
    for change in ({"role": "agent"}, {"active": False}):
        kept = await api.http.patch(f"/v1/staff-users/{ada}", json=change, headers=admin)
        assert kept.status_code == 409 and kept.json()["code"] == "last_admin", kept.text
    disabled = await api.http.post(f"/v1/staff-users/{ada}/disable", headers=admin)
    assert disabled.status_code == 409
    listed = {
        row["id"]: row for row in (await api.http.get("/v1/staff-users", headers=admin)).json()
    }
    assert listed[ada]["role"] == "admin" and listed[ada]["active"] is True

    await make("admin")  # another admin: now Ada may step down
    weak = await api.http.patch(f"/v1/staff-users/{ada}", json={"password": "password1234"},
                                headers=admin)  # fmt: skip
    assert weak.status_code == 422 and weak.json()["errors"][0]["field"] == "password"
    changed = await api.http.patch(
        f"/v1/staff-users/{ada}", json={"role": "agent", "name": "Ada Agent"}, headers=admin
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["role"] == "agent" and changed.json()["name"] == "Ada Agent"
    for refused in ({"role": "owner"}, {"active": "maybe"}, {"email": "x@y.z"}):
        answer = await api.http.patch(f"/v1/staff-users/{ada}", json=refused, headers=admin)
        assert answer.status_code == 422, refused
    agent = await api.http.patch(f"/v1/staff-users/{ada}", json={}, headers=api.auth("agent"))
    assert agent.status_code == 403
