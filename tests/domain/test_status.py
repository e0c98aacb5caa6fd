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


def test_terminal_statuses_allow_nothing_but_a_new_label_or_a_refund_that_failed_later():
    for status in TERMINAL - {Status.EXPIRED}:
        assert available_actions(status) == []
    leaving = {
        status: [change for change, table in TRANSITIONS.items() if status in table]
        for status in TERMINAL
    }
    # No person's action leaves a final status but a new label for an expired return; a refund
    # the payment processor failed after it paid it opens a closed return again (it is owed).
    assert leaving == {
        Status.CLOSED: [Event.REFUND_FAILED],
        Status.REJECTED: [],
        Status.CANCELLED: [],
        Status.EXPIRED: [Action.REISSUE_LABEL],
    }
    assert available_actions(Status.EXPIRED) == ["reissue_label"]
    assert next_status(Status.EXPIRED, Action.REISSUE_LABEL) is Status.LABEL_SENT
    assert next_status(Status.CLOSED, Event.REFUND_FAILED) is Status.REFUNDED


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
