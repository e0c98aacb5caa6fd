"""The API's request metric is labelled by what the service decides (route template, status) and
by the method only as far as HTTP defines one: a client inventing methods or paths cannot make
the metrics grow a series per request (each series is memory in the API and in Prometheus)."""

from __future__ import annotations

from returns_service import metrics


def _series() -> set[tuple[str, str, str]]:
    return {
        (sample.labels["route"], sample.labels["method"], sample.labels["status"])
        for family in metrics.REQUESTS.collect()
        for sample in family.samples
        if sample.name.endswith("_count")
    }


async def test_invented_methods_and_paths_add_no_series(api):
    await api.http.get("/v1/returns/ret_nothing", headers=api.auth("ops"))
    before = _series()
    for n in range(30):
        await api.http.request(f"BREW{n}", f"/v1/returns/ret_{n}", headers=api.auth("ops"))
        await api.http.request(f"BREW{n}", f"/no/such/page/{n}")
        await api.http.get(f"/no/such/page/{n}?q={n}")
        await api.http.get(f"/v1/returns/ret_{n}", headers=api.auth("ops"))
    added = _series() - before
    assert len(added) <= 4, added
    assert all(method in {"GET", "other"} for _, method, _ in added), added
    assert not any("ret_" in route or "/no/such" in route for route, _, _ in _series())
