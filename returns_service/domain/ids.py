"""Ids derived from business identity: the same key always gives the same id."""

from __future__ import annotations

import hashlib


def derived(key: str, length: int = 16) -> str:
    """The first `length` hex digits of the key's SHA-256."""
    return hashlib.sha256(key.encode()).hexdigest()[:length]
