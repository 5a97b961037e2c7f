"""A stand-in for the context object the Lambda runtime passes to a handler."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from riskgate_local.aws import ACCOUNT_ID, REGION


def function_arn(function_name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_name}"


@dataclass(frozen=True)
class LocalLambdaContext:
    """The attributes of Lambda's Python context that Powertools and handlers read."""

    function_name: str
    # The runtime reads it from AWS_LAMBDA_FUNCTION_MEMORY_SIZE, so handlers see a string.
    memory_limit_in_mb: str
    timeout_seconds: float
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    # Lambda passes these as None for functions invoked by AWS services.
    identity: None = None
    client_context: None = None
    tenant_id: None = None
    _started_at: float = field(default_factory=time.monotonic, init=False, repr=False)

    @property
    def invoked_function_arn(self) -> str:
        return function_arn(self.function_name)

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/[{self.function_version}]{self.aws_request_id}"

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self._started_at
        return max(0, int((self.timeout_seconds - elapsed) * 1000))
