from returns_service.domain.messages import ApproveReturn, ReceiveItems, ReceivedItem, ReturnUpdate
from returns_service.domain.models import Actor, ReturnState
from tests.factories import order_payload


async def test_happy(harness):
    order = await harness.put_order(order_payload())
    handle = await harness.start(order)
    state = await handle.execute_update(ReturnUpdate.WAIT_DECIDED, result_type=ReturnState)
    print(state.status, state.eligibility)
    state = await handle.execute_update(
        ReturnUpdate.RECEIVE,
        ReceiveItems(actor=Actor(kind="warehouse"), location="WH1", items=[ReceivedItem(item_id="ri_1", quantity=1, condition="good")]),
        result_type=ReturnState,
    )
    result = await handle.result()
    print(result.status, result.refunds, result.refunded_amount)
    assert result.status == "closed"
