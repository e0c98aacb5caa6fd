import pytest

from returns_service.domain.status import (
    TERMINAL,
    TRANSITIONS,
    Action,
    Event,
    InvalidTransition,
    Status,
    available_actions,
    next_status,
)


def test_the_happy_path_is_allowed_step_by_step():
    status = Status.REQUESTED
    for change in (
        Event.ELIGIBLE,
        Event.LABEL_CREATED,
        Action.SHIP,
        Action.RECEIVE,
        Action.REFUND,
        Action.CLOSE,
    ):
        status = next_status(status, change)
    assert status is Status.CLOSED


def test_terminal_statuses_allow_nothing_but_a_new_label_for_an_expired_return():
    for status in TERMINAL - {Status.EXPIRED}:
        assert available_actions(status) == []
        assert not any(status in table for table in TRANSITIONS.values())
    assert available_actions(Status.EXPIRED) == ["reissue_label"]
    assert [change for change, table in TRANSITIONS.items() if Status.EXPIRED in table] == [
        Action.REISSUE_LABEL
    ]
    assert next_status(Status.EXPIRED, Action.REISSUE_LABEL) is Status.LABEL_SENT


def test_cancel_only_before_receipt():
    assert "cancel" in available_actions(Status.LABEL_SENT)
    assert "cancel" not in available_actions(Status.SHIPPED)
    with pytest.raises(InvalidTransition, match="cannot cancel a return that is received"):
        next_status(Status.RECEIVED, Action.CANCEL)


def test_receive_from_approved_label_sent_or_shipped():
    for status in (Status.APPROVED, Status.LABEL_SENT, Status.SHIPPED):
        assert next_status(status, Action.RECEIVE) is Status.RECEIVED
    with pytest.raises(InvalidTransition):
        next_status(Status.PENDING_REVIEW, Action.RECEIVE)


def test_available_actions_for_review_and_receipt():
    assert available_actions(Status.PENDING_REVIEW) == ["approve", "reject", "cancel"]
    # Receiving again and releasing the missing units are the machine's in received; a return
    # offers them only while a partial receipt's units are waited for (ReturnState.actions).
    assert available_actions(Status.RECEIVED) == [
        "reject", "receive", "refund", "close", "release_missing"
    ]  # fmt: skip
