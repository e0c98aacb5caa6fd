"""How long to wait before trying something again: one growing backoff, and the schedules built
on it."""

from __future__ import annotations

from datetime import timedelta


def backoff(attempts: int, first: timedelta, factor: int, cap: timedelta) -> timedelta:
    """`first`, then `factor` times longer after each failed attempt, never more than `cap`
    (`attempts` counts the failures so far, from 1)."""
    return min(first * factor ** max(attempts - 1, 0), cap)


def webhook_retry(attempts: int) -> timedelta:
    """30 s, 1.5 min, 4.5 min, ... then every 6 hours: at least a dozen attempts in 72 hours;
    also the pause between rounds of an endpoint that looks down."""
    return backoff(attempts, timedelta(seconds=30), 3, timedelta(hours=6))


def relay_retry(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s, ... at most an hour: an outbox row (an email, a restock for the WMS)."""
    return backoff(attempts, timedelta(seconds=5), 2, timedelta(hours=1))
