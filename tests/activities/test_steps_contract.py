"""The activities the workflows call by their typed declarations (`domain/steps.py`) are the ones
the worker registers: the same names (mypy checks the types, this the names)."""

from __future__ import annotations

import inspect

from temporalio.activity import _Definition

from returns_service.activities.returns import ReturnActivities
from returns_service.activities.webhooks import WebhookActivities
from returns_service.domain.steps import ReturnSteps, WebhookSteps


def test_every_declared_step_is_registered_under_its_name():
    for declared, implemented in (
        (ReturnSteps, ReturnActivities),
        (WebhookSteps, WebhookActivities),
    ):
        steps = {
            name: _Definition.must_from_callable(method).name
            for name, method in inspect.getmembers(declared, inspect.isfunction)
            if _Definition.from_callable(method) is not None
        }
        assert steps, declared
        for name, activity_name in steps.items():
            implementation = getattr(implemented, name)
            assert implementation is not getattr(declared, name), f"{name} is not implemented"
            assert _Definition.must_from_callable(implementation).name == activity_name
