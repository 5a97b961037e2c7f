"""Delivery of a rendered notification through one integration: SES, Telegram, a webhook, an SNS topic.

`deliver` sends once and says how it went: a `DeliveryResult`, or an exception the notifier acts on —
`TransientDeliveryError` (a timeout, 5xx, 429, throttling: try again, after `retry_after` seconds when the
receiver said so) or `PermanentDeliveryError` (a 4xx, a refused address, a missing secret: retrying
cannot help, the notification is `failed`). Nothing here retries or logs; messages of both errors are
fit for the delivery log: they never contain a secret (a Telegram bot token is part of the request URL,
so it is scrubbed from everything said about a Telegram request).

HTTP uses the standard library (no dependency), through `riskgate.adapters.outbound_http`. Redirects
are not followed, except a 307/308 to the same scheme, host and port (the body and the signature stay
valid); a webhook must not be bounced elsewhere.

**Webhook destinations** (SSRF). A webhook's URL was checked when it was saved, but a name may resolve to
anything later. So the host is resolved when sending (getaddrinfo), *every* address it resolves to must
be public (`riskgate.domain.integrations.address_refusal`: no loopback, link-local/metadata, private,
CGNAT, ULA, multicast, reserved, nor IPv6 spellings of those), and the connection goes to the addresses
so vetted, never resolving the name again: DNS rebinding between check and connect cannot slip through.
TLS still verifies the certificate for the URL's host name (SNI and Host too). Any internal address is a
permanent failure, `DestinationNotAllowed` ("destination address not allowed"), never retried; no proxy
from the environment is used. The one exception is the local stack's own sink (`local_sinks`, from
`RISKGATE_WEBHOOK_LOCAL_SINKS`, which only the local stack sets). Telegram's base URL is configuration,
not user input, and is not vetted.

**Webhook signature.** With a signing secret, each request carries `X-Riskgate-Timestamp: <Unix
seconds>` and `X-Riskgate-Signature: sha256=<hex>`, the HMAC-SHA256 with the secret as key of the bytes
`<timestamp>.<body>`. A receiver recomputes it over the raw body, compares in constant time, and refuses
timestamps more than a few minutes old (replays). `X-Riskgate-Delivery` is the notification's id, the same
on every retry: receivers deduplicate on it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from email.message import Message as HeaderMessage
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from riskgate.adapters import outbound_http
from riskgate.adapters.delivery_errors import (
    MAX_DETAIL_LENGTH,
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
    one_line,
)
from riskgate.clock import Clock, system_now
from riskgate.domain.notifications import Message
from riskgate.settings import get_settings

DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org"
USER_AGENT = "riskgate"
SIGNATURE_HEADER = "X-Riskgate-Signature"
TIMESTAMP_HEADER = "X-Riskgate-Timestamp"
DELIVERY_HEADER = "X-Riskgate-Delivery"
EVENT_HEADER = "X-Riskgate-Event"
TOKEN_PLACEHOLDER = "<bot-token>"

# AWS error codes that mean "later", not "never" (any 5xx does too).
TRANSIENT_AWS_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "Throttled",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalError",
        "InternalErrorException",
        "RequestTimeout",
        "RequestTimeoutException",
        "KMSThrottling",
        "KMSThrottlingException",
    }
)


@dataclass(frozen=True)
class DeliveryResult:
    """What the receiver said, for the delivery log and the integration test's answer."""

    detail: str
    # The HTTP status the receiver answered (Telegram, webhooks); None for SES and SNS.
    status: int | None = None


def deliver(
    integration: Mapping[str, Any],
    secrets: Mapping[str, str],
    message: Message,
    *,
    delivery_id: str,
    telegram_api_url: str,
    ses_client: Any | None = None,
    sns_client: Any | None = None,
    timeout: float = 10,
    clock: Clock = system_now,
    local_sinks: Collection[str] | None = None,
    tls_context: ssl.SSLContext | None = None,
) -> DeliveryResult:
    """Send `message` once through `integration` (the stored item: `type`, `config`), whose secret
    fields are `secrets` (`IntegrationStore.read_secret`). `delivery_id` is the notification's id.
    Clients are created when not given (SNS in the topic's own region). `local_sinks`: the only loopback
    base URLs a webhook may reach (default: the settings'); `tls_context`: the certificates a webhook's
    TLS trusts (default: the system's)."""
    kind = str(integration.get("type") or "")
    config: Mapping[str, Any] = integration.get("config") or {}
    if kind == "email":
        return _email(config, message, ses_client or boto3.client("ses"))
    if kind == "telegram":
        return _telegram(config, secrets, message, telegram_api_url, timeout)
    if kind == "webhook":
        sinks = get_settings().webhook_local_sinks if local_sinks is None else local_sinks
        return _webhook(config, secrets, message, delivery_id, timeout, clock, sinks, tls_context)
    if kind == "sns":
        return _sns(config, message, sns_client)
    raise PermanentDeliveryError(f"{kind or 'no type'!r} is not an integration type")


# --- e-mail ---------------------------------------------------------------------------------------------


def _email(config: Mapping[str, Any], message: Message, client: Any) -> DeliveryResult:
    recipients = [str(address) for address in config.get("to") or []]
    if not config.get("from") or not recipients:
        raise PermanentDeliveryError("the e-mail integration has no sender or no recipients")
    body: dict[str, Any] = {"Text": {"Data": message.text, "Charset": "UTF-8"}}
    if message.html is not None:
        body["Html"] = {"Data": message.html, "Charset": "UTF-8"}
    try:
        sent = client.send_email(
            Source=str(config["from"]),
            Destination={"ToAddresses": recipients},
            Message={"Subject": {"Data": message.subject, "Charset": "UTF-8"}, "Body": body},
        )
    except ClientError as error:
        raise _aws_failure(error, "SES") from error
    except BotoCoreError as error:
        raise TransientDeliveryError(f"SES could not be reached: {type(error).__name__}") from error
    count = len(recipients)
    return DeliveryResult(
        f"e-mail sent to {count} recipient{'s' if count != 1 else ''} (SES message {sent.get('MessageId')})"
    )


# --- SNS ------------------------------------------------------------------------------------------------


def _sns(config: Mapping[str, Any], message: Message, client: Any | None) -> DeliveryResult:
    topic_arn = str(config.get("topic_arn") or "")
    if not topic_arn:
        raise PermanentDeliveryError("the SNS integration has no topic ARN")
    client = _sns_client_for(topic_arn, client)
    try:
        sent = client.publish(TopicArn=topic_arn, Subject=message.subject, Message=message.text)
    except ClientError as error:
        raise _aws_failure(error, "SNS") from error
    except BotoCoreError as error:
        raise TransientDeliveryError(f"SNS could not be reached: {type(error).__name__}") from error
    return DeliveryResult(f"published to {topic_arn} (SNS message {sent.get('MessageId')})")


def _sns_client_for(topic_arn: str, client: Any | None) -> Any:
    """SNS answers only for topics in its own region: a customer's topic elsewhere gets a client of its
    region (the given one is the Lambda's region's)."""
    parts = topic_arn.split(":")
    region = parts[3] if len(parts) > 3 and parts[3] else None
    if client is not None and (region is None or client.meta.region_name == region):
        return client
    return boto3.client("sns", region_name=region)


def _aws_failure(error: ClientError, service: str) -> DeliveryError:
    """Throttling and AWS-side failures are transient; a refusal (MessageRejected, NotFound,
    AuthorizationError, an unverified sender, …) is permanent."""
    response: Mapping[str, Any] = error.response
    code = str(response.get("Error", {}).get("Code") or "")
    text = one_line(str(response.get("Error", {}).get("Message") or ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    detail = f"{service} refused: {code}: {text}" if text else f"{service} refused: {code}"
    if code in TRANSIENT_AWS_CODES or status >= 500 or status == 429:
        return TransientDeliveryError(detail)
    return PermanentDeliveryError(detail)


# --- Telegram -------------------------------------------------------------------------------------------


def _telegram(
    config: Mapping[str, Any], secrets: Mapping[str, str], message: Message, api_url: str, timeout: float
) -> DeliveryResult:
    token = secrets.get("bot_token") or ""
    chat_id = config.get("chat_id")
    if not token:
        raise PermanentDeliveryError("the Telegram integration has no bot token")
    if chat_id is None:
        raise PermanentDeliveryError("the Telegram integration has no chat_id")
    fields: dict[str, Any] = {"chat_id": chat_id, "text": message.text, "disable_web_page_preview": True}
    if message.payload.get("parse_mode"):
        fields["parse_mode"] = message.payload["parse_mode"]
    body = json.dumps(fields, ensure_ascii=False).encode("utf-8")
    url = f"{api_url.rstrip('/')}/bot{token}/sendMessage"
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    try:
        status, answer, response_headers = outbound_http.post(url, body, headers, timeout, "Telegram")
        return _telegram_outcome(status, answer, response_headers, chat_id)
    except DeliveryError as error:
        # The token is in the URL: whatever was said about the request must not repeat it.
        scrubbed = _scrub(error.detail, token)
        if isinstance(error, TransientDeliveryError):
            raise TransientDeliveryError(scrubbed, error.retry_after, status=error.status) from None
        raise PermanentDeliveryError(scrubbed, status=error.status) from None


def _telegram_outcome(status: int, answer: bytes, headers: HeaderMessage, chat_id: object) -> DeliveryResult:
    """Telegram answers JSON `{"ok", "result" | "error_code", "description", "parameters"}`."""
    document = _json_object(answer)
    description = one_line(str(document.get("description") or ""))
    parameters = _as_dict(document.get("parameters"))
    if 200 <= status < 300 and document.get("ok", True):
        result = _as_dict(document.get("result"))
        sent = f"Telegram message {result.get('message_id', '?')} sent to chat {chat_id}"
        return DeliveryResult(sent, status)
    said = f"Telegram answered {status}" + (f": {description}" if description else "")
    if status == 429:
        retry_after = outbound_http.delay_seconds(parameters.get("retry_after"))
        if retry_after is None:
            retry_after = outbound_http.retry_after(headers)
        raise TransientDeliveryError(said, retry_after, status=status)
    if status >= 500 or status == 408:
        raise TransientDeliveryError(said, outbound_http.retry_after(headers), status=status)
    if parameters.get("migrate_to_chat_id") is not None:
        said += f" (the group is now chat {parameters['migrate_to_chat_id']}: update chat_id)"
    raise PermanentDeliveryError(said, status=status)


def _scrub(text: str, token: str) -> str:
    text = text.replace(token, TOKEN_PLACEHOLDER)
    # A bot's id (before the colon) is public, the rest is the secret: scrub it alone too.
    secret_part = token.partition(":")[2]
    return text.replace(secret_part, TOKEN_PLACEHOLDER) if secret_part else text


# --- webhooks -------------------------------------------------------------------------------------------


def _webhook(
    config: Mapping[str, Any],
    secrets: Mapping[str, str],
    message: Message,
    delivery_id: str,
    timeout: float,
    clock: Clock,
    local_sinks: Collection[str],
    tls_context: ssl.SSLContext | None,
) -> DeliveryResult:
    url = str(config.get("url") or "")
    if not url:
        raise PermanentDeliveryError("the webhook integration has no URL")
    # Before anything is rendered onto the wire: resolved once, every address vetted, connected to those.
    opener = outbound_http.vetted_opener(url, local_sinks, tls_context)
    body = message.text.encode("utf-8")
    headers = {
        "Content-Type": message.content_type,
        "User-Agent": USER_AGENT,
        DELIVERY_HEADER: delivery_id,
    }
    if message.trigger:
        headers[EVENT_HEADER] = message.trigger
    secret = secrets.get("secret")
    if secret:
        timestamp = str(int(clock().timestamp()))
        headers[TIMESTAMP_HEADER] = timestamp
        headers[SIGNATURE_HEADER] = "sha256=" + signature(secret, timestamp, body)
    status, answer, response_headers = outbound_http.post(url, body, headers, timeout, "the webhook", opener)
    said = f"the webhook answered {status}"
    # For the delivery log (the receiver is a vetted public host); the integration test shows only status.
    excerpt = one_line(answer[:MAX_DETAIL_LENGTH].decode("utf-8", "replace"))
    if 200 <= status < 300:
        return DeliveryResult(said, status)
    said += f": {excerpt}" if excerpt else ""
    if status in (408, 425, 429) or status >= 500:
        raise TransientDeliveryError(said, outbound_http.retry_after(response_headers), status=status)
    raise PermanentDeliveryError(said, status=status)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of `<timestamp>.<body>` keyed with the secret: what `X-Riskgate-Signature`
    carries after `sha256=`. The timestamp is signed so that a captured request cannot be replayed later."""
    signed = timestamp.encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def _json_object(answer: bytes) -> dict[str, Any]:
    try:
        document = json.loads(answer.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def _as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
