"""What a saved policy changed from the one before: its fields, each as it was and as it is.

Both versions are read through the policy's model first, so that a field added since the older
one was saved counts as its default (it did not change), and the first version is compared with
the built-in defaults it replaced.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from returns_service.domain.models import Policy


class PolicyChange(BaseModel):
    field: str
    before: Any
    after: Any


def _read(document: Mapping[str, Any] | None) -> dict[str, Any]:
    if document is None:
        return Policy().model_dump(mode="json")
    try:
        return Policy.model_validate(document).model_dump(mode="json")
    except ValidationError:  # kept by a release whose model took it: shown as it was stored
        return {**Policy().model_dump(mode="json"), **document}


def policy_changes(
    before: Mapping[str, Any] | None, after: Mapping[str, Any]
) -> list[PolicyChange]:
    """The fields `after` changed from `before` (None: the built-in defaults), in the policy's
    own order."""
    was, now = _read(before), _read(after)
    return [
        PolicyChange(field=name, before=was.get(name), after=now.get(name))
        for name in Policy.model_fields
        if was.get(name) != now.get(name)
    ]
