"""The policy's history (issue 23, finding 8): each saved version says who saved it, when, and
what it changed from the one before; pages run newest first to the first version, which is
compared with the built-in defaults."""

from __future__ import annotations

from tests.api.conftest import Api


async def test_the_history_names_who_changed_what_newest_first(api: Api) -> None:
    admin = api.auth("admin")
    start = (await api.http.get("/v1/policy/history?limit=200", headers=admin)).json()["data"]
    try:
        first = await api.http.put(
            "/v1/policy", json={"return_window_days": 45, "auto_refund": False}, headers=admin
        )
        assert first.status_code == 200, first.text
        second = await api.http.put(
            "/v1/policy",
            json={"return_window_days": 60, "auto_refund": False, "reasons": ["defective"]},
            headers=admin,
        )
        assert second.status_code == 200, second.text
        page = await api.http.get("/v1/policy/history?limit=1", headers=api.auth("ops"))
        assert page.status_code == 200, page.text
        [newest] = page.json()["data"]
        assert newest["changed_by"] == "admin"
        changes = {c["field"]: (c["before"], c["after"]) for c in newest["changes"]}
        assert changes["return_window_days"] == (45, 60)
        assert changes["reasons"][1] == ["defective"]
        assert "auto_refund" not in changes, "unchanged from the version before"
        following = await api.http.get(
            f"/v1/policy/history?limit=1&before={page.json()['next_before']}",
            headers=api.auth("ops"),
        )
        [older] = following.json()["data"]
        assert older["version"] < newest["version"]
        assert {c["field"]: c["after"] for c in older["changes"]}["return_window_days"] == 45
        # Customers, the storefront's and the warehouse's keys and bad cursors are refused.
        assert (await api.http.get("/v1/policy/history")).status_code == 401
        for role in ("integration", "warehouse"):
            refused = await api.http.get("/v1/policy/history", headers=api.auth(role))
            assert refused.status_code == 403, role
        wrong = await api.http.get("/v1/policy/history?before=soon", headers=admin)
        assert wrong.status_code == 422 and "before" in wrong.text
    finally:
        await api.http.put("/v1/policy", json={}, headers=admin)
    everything = (await api.http.get("/v1/policy/history?limit=200", headers=admin)).json()
    assert len(everything["data"]) == len(start) + 3
