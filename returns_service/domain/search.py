"""The return workflow's custom search attributes, so that the Temporal UI and CLI find a return
by its number, status, customer or orders:
`temporal workflow list --query "ReturnStatus='pending_review'"`.

They must be registered on the namespace before a workflow sets them (an unregistered one fails
every workflow task): `returns dev` registers them, the API registers them when it may and
otherwise starts returns without them (`StartReturn.indexed`), and `docker-compose.yml` registers
them on the cluster."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

RETURN_NUMBER = SearchAttributeKey.for_keyword("ReturnNumber")
RETURN_STATUS = SearchAttributeKey.for_keyword("ReturnStatus")
CUSTOMER_EMAIL = SearchAttributeKey.for_keyword("CustomerEmail")
ORDER_IDS = SearchAttributeKey.for_keyword_list("OrderIds")
ALL: tuple[SearchAttributeKey, ...] = (RETURN_NUMBER, RETURN_STATUS, CUSTOMER_EMAIL, ORDER_IDS)


def dev_server_flags() -> list[str]:
    """`temporal server start-dev` flags that register them."""
    kinds = {RETURN_NUMBER: "Keyword", RETURN_STATUS: "Keyword", CUSTOMER_EMAIL: "Keyword"}
    flags = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={kinds.get(key, 'KeywordList')}"]
    return flags
