"""DynamoDB faults injected at the boto3 client layer, for the consumers' fault tests.

`dynamodb_calls()` sees every DynamoDB call made through any boto3 client while it is active (the
consumers' ports do not all share one client: the re-evaluation table makes its own), records it, and
fails the `nth` call of one operation with a fault of the shape `ClientError` carries, as
tests/integration/test_faults.py does for the API's client. The fault is raised before the request is
made, so it stands for an error that outlasted the SDK's own retries: nothing was written.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from botocore import xform_name
from botocore.client import BaseClient
from botocore.exceptions import ClientError


@dataclass(frozen=True)
class Call:
    """One DynamoDB call: its operation in the client's spelling (`transact_write_items`), its parameters
    and whether the fault was raised in its stead."""

    operation: str
    params: dict[str, Any]
    faulted: bool = False


@dataclass
class CallLog:
    calls: list[Call] = field(default_factory=list)

    def operations(self) -> list[str]:
        return [call.operation for call in self.calls]

    @property
    def faulted(self) -> Call | None:
        """The first call that met the fault."""
        return next((call for call in self.calls if call.faulted), None)

    def retried_in_place(self) -> bool:
        """Whether the faulted call was made again, with the same parameters, after the last fault."""
        faulted = [index for index, call in enumerate(self.calls) if call.faulted]
        if not faulted:
            return False
        first = self.calls[faulted[0]]
        after = self.calls[faulted[-1] + 1 :]
        return any(
            call.operation == first.operation and call.params == first.params and not call.faulted
            for call in after
        )


@contextmanager
def dynamodb_calls(
    fail: str | None = None, fault: Mapping[str, Any] | None = None, *, nth: int = 1, times: int = 1
) -> Iterator[CallLog]:
    """Record the DynamoDB calls made inside the block; with `fail` (an operation, `get_item`) and
    `fault` (a ClientError response), its `nth` call (1-based) raises `ClientError(fault)` instead of
    reaching the table, and so do the `times - 1` calls of that operation after it; no other fails."""
    log = CallLog()
    original = BaseClient._make_api_call
    seen = 0

    def patched(client: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        nonlocal seen
        if client.meta.service_model.service_name != "dynamodb":
            return original(client, operation_name, api_params)
        operation = xform_name(operation_name)
        params = copy.deepcopy(api_params)
        if fail is not None and fault is not None and operation == fail:
            seen += 1
            if nth <= seen < nth + times:
                log.calls.append(Call(operation, params, faulted=True))
                raise ClientError(copy.deepcopy(dict(fault)), operation_name)
        log.calls.append(Call(operation, params))
        return original(client, operation_name, api_params)

    with mock.patch.object(BaseClient, "_make_api_call", patched):
        yield log
