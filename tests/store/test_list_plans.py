"""Every list filter, alone and combined, is served by an index: the database's own EXPLAIN of the
query the list runs says so, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import event

from returns_service.store.returns import ReturnFilter, encode_cursor, list_returns

AT = datetime(2026, 5, 1, tzinfo=UTC)
FILTERS = {
    "nothing": ReturnFilter(),
    "one status": ReturnFilter(statuses=["closed"]),
    "several statuses": ReturnFilter(statuses=["closed", "received", "refunded"]),
    "customer": ReturnFilter(customer_email="ann@example.com"),
    "order": ReturnFilter(order_id="o_1"),
    "reason": ReturnFilter(reason="defective"),
    "number": ReturnFilter(number="R-000001"),
    "tracking number": ReturnFilter(tracking_number="RT1"),
    "recipient": ReturnFilter(recipient_email="bea@example.com"),
    "shop's order number": ReturnFilter(order_number="1001"),
    "created between": ReturnFilter(
        created_after=datetime(2026, 1, 1, tzinfo=UTC), created_before=AT
    ),
    "status and customer": ReturnFilter(statuses=["closed"], customer_email="ann@example.com"),
    "reason and status": ReturnFilter(reason="defective", statuses=["closed"]),
    "statuses and time": ReturnFilter(statuses=["closed", "received"], created_after=AT),
}
# Filters that walk an index in page order, with no sort of everything that matches (on SQLite,
# which has no statistics to choose by; the bench shows PostgreSQL's choices over a million).
WALKS = {
    "nothing",
    "one status",
    "several statuses",
    "customer",
    "reason",
    "created between",
    "status and customer",
    "reason and status",
    "statuses and time",
}


async def plan_of(sessions, filters: ReturnFilter) -> str:
    async with sessions() as session:
        connection = await session.connection()
        seen: list[tuple[str, object]] = []

        def grab(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
            seen.append((statement, parameters))

        event.listen(connection.sync_connection, "before_cursor_execute", grab)
        await list_returns(session, filters, 50, encode_cursor(AT, "ret_x"))
        event.remove(connection.sync_connection, "before_cursor_execute", grab)
        statement, parameters = seen[-1]
        if connection.dialect.name == "sqlite":
            rows = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            return "\n".join(str(row[3]) for row in rows.all())
        # PostgreSQL would rightly scan an empty table: ask what it does when it must not.
        await connection.exec_driver_sql("SET enable_seqscan = off")
        rows = await connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
        return "\n".join(str(row[0]) for row in rows.all())


@pytest.mark.parametrize("name", list(FILTERS))
async def test_each_filter_is_served_by_an_index(any_sessions, name: str) -> None:
    plan = await plan_of(any_sessions, FILTERS[name])
    if "QUERY PLAN" in plan or "SEARCH" in plan or "SCAN" in plan:  # SQLite
        scans = [line for line in plan.splitlines() if line.startswith("SCAN")]
        assert all("USING" in line and "INDEX" in line for line in scans), plan
        assert "returns" in plan and "INDEX" in plan, plan
        if name in WALKS:
            assert "TEMP B-TREE" not in plan, plan
    else:  # PostgreSQL, whose choice between walking and sorting follows its statistics
        assert "Seq Scan" not in plan, plan
        assert "Index" in plan, plan
