"""The local stack composed: moto and the resources, the admin token, the gateway, the stream and queue
pollers, the notification sink and outbox."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial
from types import TracebackType
from typing import Any

from riskgate.clock import iso, system_now
from riskgate.resources import (
    API_FUNCTION,
    AUDIT_FORWARDER_BATCH_SIZE,
    AUDIT_FORWARDER_FUNCTION,
    AUDIT_FORWARDER_RETRY_ATTEMPTS,
    AUDIT_STREAM_FILTER,
    AUTHORIZER_FUNCTION,
    DEFAULT_AUDIT_RETENTION_DAYS,
    DEFAULT_EXPIRY_REMINDER_DAYS,
    DEFAULT_MAX_UPLOAD_BYTES,
    DISPATCH_STREAM_FILTER,
    DISPATCHER_BATCH_SIZE,
    DISPATCHER_FUNCTION,
    DISPATCHER_RETRY_ATTEMPTS,
    EVALUATOR_BATCH_SIZE,
    EVALUATOR_FUNCTION,
    EVALUATOR_RETRY_ATTEMPTS,
    EVALUATOR_STREAM_FILTER,
    EXPIRY_CHECKER_FUNCTION,
    FINDINGS_RETIRER_BATCH_SIZE,
    FINDINGS_RETIRER_FUNCTION,
    FINDINGS_RETIRER_RETRY_ATTEMPTS,
    FINDINGS_RETIRER_STREAM_FILTER,
    LOCAL_EXPIRY_CHECK_INTERVAL_SECONDS,
    NOTIFIER_BATCH_SIZE,
    NOTIFIER_FUNCTION,
    NOTIFY_VISIBILITY_TIMEOUT_SECONDS,
    POLICY_STREAM_FILTER,
    REEVALUATION_PLANNER_BATCH_SIZE,
    REEVALUATION_PLANNER_FUNCTION,
    REEVALUATION_PLANNER_RETRY_ATTEMPTS,
    REEVALUATOR_BATCH_SIZE,
    REEVALUATOR_FUNCTION,
    REGISTRY_INGESTER_FUNCTION,
    REGISTRY_WORK_BATCH_SIZE,
    SCHEDULED_EVENT_DETAIL_TYPE,
    SCHEDULED_EVENT_SOURCE,
    UPLOAD_INGEST_BATCH_SIZE,
    UPLOAD_INGESTER_FUNCTION,
    FunctionSpec,
)
from riskgate_local.aws import (
    EnvironmentPatch,
    LocalResources,
    MotoServer,
    accept_every_ses_sender,
    aws_environment,
    create_resources,
    overriding_aws_variables,
)
from riskgate_local.console import CONSOLE_DIST, console_site
from riskgate_local.consumers import STREAM, Consumer
from riskgate_local.eventbridge import deliver_event
from riskgate_local.gateway import (
    LOCAL_EVENTBRIDGE_ROUTE,
    LOCAL_EXPIRY_CHECK_ROUTE,
    LOCAL_OUTBOX_ROUTE,
    GatewayServer,
    RestApiGateway,
    eventbridge_route,
    expiry_check_route,
    outbox_route,
)
from riskgate_local.lambdas import Handler, LocalFunction
from riskgate_local.outbox import LocalSink, Outbox
from riskgate_local.periodic import PeriodicTask
from riskgate_local.pollers import Poller
from riskgate_local.streams import StreamPoller

logger = logging.getLogger(__name__)

# Stores the admin token's hash in the table; gets the table name and the token (None: make one up)
# and returns the token in use.
AdminBootstrap = Callable[[str, str | None], str]

# The periodic task standing in for the expiry checker's EventBridge Scheduler schedule.
EXPIRY_CHECK_TASK = "scheduler-expiry-check"

# Seconds between two reads of the stream: quick enough that a status shows up "at once" locally,
# slow enough to cost nothing while idle.
STREAM_POLL_INTERVAL_SECONDS = 0.25

# Hosts a webhook integration may reach over plain http locally (RISKGATE_WEBHOOK_INSECURE_HOSTS): the
# loopback addresses, where the local stack's own sink listens. Everywhere else webhooks need https.
LOCAL_WEBHOOK_INSECURE_HOSTS = "127.0.0.1,localhost"
# Hosts a Harbor registry connection may reach over plain http locally (RISKGATE_REGISTRY_INSECURE_HOSTS):
# the loopback addresses, where a local Harbor (or the tests' fake one) listens. Deployed: https only.
LOCAL_REGISTRY_INSECURE_HOSTS = "127.0.0.1,localhost,::1"


def scheduled_event(moment: datetime) -> dict[str, Any]:
    """The event EventBridge Scheduler sends the expiry checker (the schedule's Input, its context
    attribute replaced by the time the run was scheduled for)."""
    return {"source": SCHEDULED_EVENT_SOURCE, "detail-type": SCHEDULED_EVENT_DETAIL_TYPE, "time": iso(moment)}


def bootstrap_admin_token(table_name: str, token: str | None) -> str:
    """The bootstrap token of `riskgate admin create-token`: user `admin`, `administrator` on `global`."""
    # Imported here: the store builds boto3 clients, which must see the local endpoint first.
    from riskgate.adapters.store import Store
    from riskgate.auth.tokens import generate_token

    secret = token or generate_token()
    Store(table_name).ensure_admin_token(secret)
    return secret


class LocalStack:
    """Everything `make run` serves, startable in-process (tests) as well as from `python -m`.

    The handlers default to the real ones, named as Lambda names them in `riskgate.resources`;
    tests pass small callables instead. Nothing is imported, created or bound before `start()`.

    Five consumers read the table's stream, as five event source mappings do on AWS: the evaluator
    (image summaries), the findings retirer (image summaries whose findings were replaced), the audit
    forwarder (new audit items), the re-evaluation planner (policy items) and the dispatcher (new trigger
    events), each with its filter, retry cap and failure queue
    from `riskgate.resources`. The planner's work queue, `resources.reevaluation_queue_url`, is polled for
    the re-evaluator, and the notify queue, `resources.notify_queue_url` (subscribed to the events topic:
    moto delivers the dispatcher's publishes to it), for the notifier, as their SQS event sources would.

    Notifications land locally: e-mail in moto's SES (which takes every sender as verified, as in an
    account whose senders are), Telegram and webhook calls in a local HTTP sink (`sink_url`; the
    Telegram API base URL points at it unless `telegram_api_url` says otherwise). `outbox.items()`, and
    `GET /_local/outbox`, list both. The security event log's archive is the moto bucket
    `resources.audit_archive_bucket`, one JSON object per event under `events/YYYY/MM/DD/<event id>.json`
    (Object Lock, compliance mode, `audit_retention_days`); its bus is `resources.audit_bus_name`. Both
    live in the stack's moto server, which every boto3 client of the process reaches while it runs.

    EventBridge Scheduler's stand-in (the periodic task `scheduler-expiry-check`) invokes the expiry
    checker every `expiry_check_interval_seconds` with a scheduled event of the current time;
    `run_expiry_check(as_of)`, and `POST /_local/expiry-check` (a route only the local API has), run it
    for any time.

    Registry connections: the registry-work queue, `resources.registry_work_queue_url`, is polled for the
    registry ingester; a rule on moto's default bus puts ECR's and Inspector's scan events on it, and
    `deliver_event(event)` puts such an event on that bus as the registry would (ECR repositories and
    findings are seeded through moto's own endpoints, at `aws_endpoint_url`). The moto server listens on
    `aws_port` (0: any free port).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        admin_token: str | None = None,
        api_handler: Handler | str = API_FUNCTION.handler,
        authorizer: Handler | str = AUTHORIZER_FUNCTION.handler,
        evaluator: Handler | str = EVALUATOR_FUNCTION.handler,
        audit_forwarder: Handler | str = AUDIT_FORWARDER_FUNCTION.handler,
        reevaluation_planner: Handler | str = REEVALUATION_PLANNER_FUNCTION.handler,
        reevaluator: Handler | str = REEVALUATOR_FUNCTION.handler,
        expiry_checker: Handler | str = EXPIRY_CHECKER_FUNCTION.handler,
        dispatcher: Handler | str = DISPATCHER_FUNCTION.handler,
        notifier: Handler | str = NOTIFIER_FUNCTION.handler,
        upload_ingester: Handler | str = UPLOAD_INGESTER_FUNCTION.handler,
        findings_retirer: Handler | str = FINDINGS_RETIRER_FUNCTION.handler,
        registry_ingester: Handler | str = REGISTRY_INGESTER_FUNCTION.handler,
        admin_bootstrap: AdminBootstrap = bootstrap_admin_token,
        name_prefix: str = "riskgate-local",
        stream_poll_interval_seconds: float = STREAM_POLL_INTERVAL_SECONDS,
        max_retry_attempts: int | None = None,
        audit_retention_days: int = DEFAULT_AUDIT_RETENTION_DAYS,
        expiry_check_interval_seconds: float = LOCAL_EXPIRY_CHECK_INTERVAL_SECONDS,
        expiry_reminder_days: str = DEFAULT_EXPIRY_REMINDER_DAYS,
        telegram_api_url: str | None = None,
        sink_port: int = 0,
        notify_visibility_timeout_seconds: int = NOTIFY_VISIBILITY_TIMEOUT_SECONDS,
        aws_port: int = 0,
    ) -> None:
        self._host = host
        self._port = port
        self._requested_admin_token = admin_token
        self._admin_bootstrap = admin_bootstrap
        self._name_prefix = name_prefix
        self._stream_poll_interval_seconds = stream_poll_interval_seconds
        # None: each stream consumer's own cap (riskgate.resources); tests set one for all.
        self._max_retry_attempts = max_retry_attempts
        self._audit_retention_days = audit_retention_days
        if expiry_check_interval_seconds <= 0:
            raise ValueError("expiry_check_interval_seconds must be positive")
        self._expiry_check_interval_seconds = expiry_check_interval_seconds
        self._expiry_reminder_days = expiry_reminder_days
        # None: the local sink. Otherwise where the Telegram channel sends (another stand-in, the real API).
        self._telegram_api_url = telegram_api_url
        # The notifier's retry backoff; tests shorten it to see a failing delivery come back.
        if notify_visibility_timeout_seconds < 0:
            raise ValueError("notify_visibility_timeout_seconds must not be negative")
        self._notify_visibility_timeout_seconds = notify_visibility_timeout_seconds
        self.api_function = _local_function(f"{name_prefix}-api", api_handler, API_FUNCTION)
        self.authorizer_function = _local_function(
            f"{name_prefix}-authorizer", authorizer, AUTHORIZER_FUNCTION
        )
        self.evaluator_function = _local_function(f"{name_prefix}-evaluator", evaluator, EVALUATOR_FUNCTION)
        self.audit_forwarder_function = _local_function(
            f"{name_prefix}-audit-forwarder", audit_forwarder, AUDIT_FORWARDER_FUNCTION
        )
        self.reevaluation_planner_function = _local_function(
            f"{name_prefix}-reevaluation-planner", reevaluation_planner, REEVALUATION_PLANNER_FUNCTION
        )
        self.reevaluator_function = _local_function(
            f"{name_prefix}-reevaluator", reevaluator, REEVALUATOR_FUNCTION
        )
        self.expiry_checker_function = _local_function(
            f"{name_prefix}-expiry-checker", expiry_checker, EXPIRY_CHECKER_FUNCTION
        )
        self.dispatcher_function = _local_function(
            f"{name_prefix}-dispatcher", dispatcher, DISPATCHER_FUNCTION
        )
        self.notifier_function = _local_function(f"{name_prefix}-notifier", notifier, NOTIFIER_FUNCTION)
        self.upload_ingester_function = _local_function(
            f"{name_prefix}-upload-ingester", upload_ingester, UPLOAD_INGESTER_FUNCTION
        )
        self.findings_retirer_function = _local_function(
            f"{name_prefix}-findings-retirer", findings_retirer, FINDINGS_RETIRER_FUNCTION
        )
        self.registry_ingester_function = _local_function(
            f"{name_prefix}-registry-ingester", registry_ingester, REGISTRY_INGESTER_FUNCTION
        )
        self._environment = EnvironmentPatch()
        if aws_port < 0:
            raise ValueError("aws_port must not be negative")
        self._moto = MotoServer(port=aws_port)
        self._gateway_server: GatewayServer | None = None
        self._sink = LocalSink(port=sink_port)
        self._outbox: Outbox | None = None
        self._pollers: dict[str, Poller] = {}
        self._tasks: list[PeriodicTask] = []
        self._resources: LocalResources | None = None
        self._admin_token: str | None = None
        self._started = False
        self._running = False

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> LocalStack:
        """Start everything; once only (a stopped stack is not restarted, make a new one)."""
        if self._started:
            raise RuntimeError("this local stack was already started")
        self._started = True
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        endpoint_url = self._moto.start()
        logger.info("AWS endpoint (moto): %s", endpoint_url)
        # Before any handler module is imported or any client created: boto3 resolves endpoint and
        # credentials when a client is made, and the handlers make theirs lazily.
        self._environment.unset(*overriding_aws_variables(os.environ))
        self._environment.set(aws_environment(endpoint_url))
        self._resources = create_resources(
            self._name_prefix,
            audit_retention_days=self._audit_retention_days,
            notify_visibility_timeout_seconds=self._notify_visibility_timeout_seconds,
        )
        accept_every_ses_sender()
        sink_url = self._sink.start()
        self._outbox = Outbox(self._sink)
        self._environment.set(
            {
                "RISKGATE_TABLE_NAME": self._resources.table_name,
                "RISKGATE_EVENTS_TOPIC_ARN": self._resources.events_topic_arn,
                "RISKGATE_AUDIT_RETENTION_DAYS": str(self._audit_retention_days),
                "RISKGATE_AUDIT_BUS_NAME": self._resources.audit_bus_name,
                "RISKGATE_AUDIT_ARCHIVE_BUCKET": self._resources.audit_archive_bucket,
                "RISKGATE_REEVALUATION_QUEUE_URL": self._resources.reevaluation_queue_url,
                "RISKGATE_EXPIRY_REMINDER_DAYS": self._expiry_reminder_days,
                # Integration secrets go to moto's Secrets Manager, under this stack's own prefix.
                "RISKGATE_SECRETS_PREFIX": self._name_prefix,
                "RISKGATE_PAGE_TOKEN_SECRET_ID": self._resources.page_token_secret_arn,
                # Webhooks may use plain http to these hosts; of loopback destinations, only the sink itself
                # (its exact base URL) is allowed: no other local port is reachable through a webhook.
                "RISKGATE_WEBHOOK_INSECURE_HOSTS": LOCAL_WEBHOOK_INSECURE_HOSTS,
                "RISKGATE_WEBHOOK_LOCAL_SINKS": sink_url,
                # Telegram's Bot API is the local sink unless the caller named another base URL.
                "RISKGATE_TELEGRAM_API_URL": self._telegram_api_url or sink_url,
                "RISKGATE_UPLOADS_BUCKET": self._resources.uploads_bucket,
                "RISKGATE_MAX_UPLOAD_BYTES": str(DEFAULT_MAX_UPLOAD_BYTES),
                # The API queues Harbor webhooks and sync requests there, the ingester a sync's next page.
                "RISKGATE_REGISTRY_WORK_QUEUE_URL": self._resources.registry_work_queue_url,
                # A Harbor connection may name a loopback http URL here only.
                "RISKGATE_REGISTRY_INSECURE_HOSTS": LOCAL_REGISTRY_INSECURE_HOSTS,
                "POWERTOOLS_SERVICE_NAME": "riskgate",
                "POWERTOOLS_METRICS_NAMESPACE": "Riskgate",
                "POWERTOOLS_TRACE_DISABLED": "true",
            }
        )
        _forget_cached_settings()
        for function in (
            self.api_function,
            self.authorizer_function,
            self.evaluator_function,
            self.audit_forwarder_function,
            self.reevaluation_planner_function,
            self.reevaluator_function,
            self.expiry_checker_function,
            self.dispatcher_function,
            self.notifier_function,
            self.upload_ingester_function,
            self.findings_retirer_function,
            self.registry_ingester_function,
        ):
            function.load()
        self._admin_token = self._admin_bootstrap(self._resources.table_name, self._requested_admin_token)

        # The CDK stack's event source mappings, each with a poller of its own: on the stream, its own
        # iterators, so one consumer's failures never hold another back.
        for consumer in self._consumers(self._resources):
            poller = consumer.poller(self._resources.stream_arn, max_retry_attempts=self._max_retry_attempts)
            self._pollers[consumer.name] = poller
            self.add_periodic_task(
                f"{poller.kind}-poller-{consumer.name}",
                self._stream_poll_interval_seconds,
                partial(poller.run, lambda: self._running),
            )

        # EventBridge Scheduler's stand-in: a scheduled event of the current time, every interval (the
        # first as the tasks start, before `_running` is set: hence not the public `run_expiry_check`).
        self.add_periodic_task(
            EXPIRY_CHECK_TASK, self._expiry_check_interval_seconds, partial(self._invoke_expiry_checker, None)
        )

        gateway = RestApiGateway(
            self.api_function,
            self.authorizer_function,
            local_routes={
                LOCAL_EXPIRY_CHECK_ROUTE: expiry_check_route(self._invoke_expiry_checker),
                LOCAL_OUTBOX_ROUTE: outbox_route(self._outbox.items),
                LOCAL_EVENTBRIDGE_ROUTE: eventbridge_route(self.deliver_event),
            },
            site=console_site(),
        )
        self._gateway_server = GatewayServer(gateway, self._host, self._port)
        url = self._gateway_server.start()
        for task in self._tasks:
            task.start()
        self._running = True
        logger.info("local stack ready at %s (moto at %s)", url, endpoint_url)
        logger.info(
            "the console is at %s/ (%s)",
            url,
            "built" if (CONSOLE_DIST / "index.html").is_file() else "not built yet: run `make console`",
        )
        logger.info(
            'the expiry checker runs every %g s; POST %s%s {"as_of": "<ISO time>"} runs it for any time',
            self._expiry_check_interval_seconds,
            url,
            LOCAL_EXPIRY_CHECK_ROUTE[1],
        )
        logger.info(
            "security events go to the bus %s and the archive s3://%s/events/ (in moto)",
            self._resources.audit_bus_name,
            self._resources.audit_archive_bucket,
        )
        logger.info(
            "notifications: Telegram's API is %s; the local sink at %s takes webhooks pointed at it; e-mail "
            "stays in moto's SES; GET %s%s lists what arrived",
            self._telegram_api_url or "the local sink",
            sink_url,
            url,
            LOCAL_OUTBOX_ROUTE[1],
        )

    def _consumers(self, resources: LocalResources) -> tuple[Consumer, ...]:
        """What consumes the table's stream and the queues, as on AWS: five stream consumers, each with its
        filter, retry cap and failure queue; the re-evaluation work queue, the notify queue (subscribed to
        the events topic: moto delivers the dispatcher's publishes to it), the upload queue and the
        registry-work queue."""
        return (
            Consumer(
                "evaluator",
                self.evaluator_function,
                STREAM,
                EVALUATOR_BATCH_SIZE,
                filter_pattern=EVALUATOR_STREAM_FILTER,
                retry_attempts=EVALUATOR_RETRY_ATTEMPTS,
                failure_queue_url=resources.evaluator_failure_queue_url,
            ),
            Consumer(
                "audit-forwarder",
                self.audit_forwarder_function,
                STREAM,
                AUDIT_FORWARDER_BATCH_SIZE,
                filter_pattern=AUDIT_STREAM_FILTER,
                retry_attempts=AUDIT_FORWARDER_RETRY_ATTEMPTS,
                failure_queue_url=resources.audit_forwarder_failure_queue_url,
            ),
            Consumer(
                "reevaluation-planner",
                self.reevaluation_planner_function,
                STREAM,
                REEVALUATION_PLANNER_BATCH_SIZE,
                filter_pattern=POLICY_STREAM_FILTER,
                retry_attempts=REEVALUATION_PLANNER_RETRY_ATTEMPTS,
                failure_queue_url=resources.reevaluation_planner_failure_queue_url,
            ),
            Consumer(
                "dispatcher",
                self.dispatcher_function,
                STREAM,
                DISPATCHER_BATCH_SIZE,
                filter_pattern=DISPATCH_STREAM_FILTER,
                retry_attempts=DISPATCHER_RETRY_ATTEMPTS,
                failure_queue_url=resources.dispatcher_failure_queue_url,
            ),
            Consumer(
                "findings-retirer",
                self.findings_retirer_function,
                STREAM,
                FINDINGS_RETIRER_BATCH_SIZE,
                filter_pattern=FINDINGS_RETIRER_STREAM_FILTER,
                retry_attempts=FINDINGS_RETIRER_RETRY_ATTEMPTS,
                failure_queue_url=resources.findings_retirer_failure_queue_url,
            ),
            Consumer(
                "reevaluator",
                self.reevaluator_function,
                resources.reevaluation_queue_url,
                REEVALUATOR_BATCH_SIZE,
            ),
            Consumer("notifier", self.notifier_function, resources.notify_queue_url, NOTIFIER_BATCH_SIZE),
            Consumer(
                "upload-ingester",
                self.upload_ingester_function,
                resources.upload_queue_url,
                UPLOAD_INGEST_BATCH_SIZE,
            ),
            Consumer(
                "registry-ingester",
                self.registry_ingester_function,
                resources.registry_work_queue_url,
                REGISTRY_WORK_BATCH_SIZE,
            ),
        )

    def stop(self) -> None:
        """Stop serving, stop the background tasks, stop moto, restore the environment. Idempotent."""
        self._running = False
        if self._gateway_server is not None:
            self._gateway_server.stop()
            self._gateway_server = None
        for task in reversed(self._tasks):
            task.stop()
        self._tasks.clear()
        self._pollers = {}
        self._sink.stop()
        self._outbox = None
        self._moto.stop()
        self._environment.restore()
        _forget_cached_settings()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    # -- what callers use ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._gateway_server is None:
            raise RuntimeError("the local stack is not running")
        return self._gateway_server.url

    @property
    def aws_endpoint_url(self) -> str:
        """The moto server every boto3 client of this process reaches (`http://127.0.0.1:<port>`)."""
        if not self._running:
            raise RuntimeError("the local stack is not running")
        return self._moto.endpoint_url

    @property
    def admin_token(self) -> str:
        if self._admin_token is None:
            raise RuntimeError("the local stack is not running")
        return self._admin_token

    @property
    def resources(self) -> LocalResources:
        if self._resources is None:
            raise RuntimeError("the local stack is not running")
        return self._resources

    @property
    def sink_url(self) -> str:
        """The local HTTP sink's base URL: Telegram's API locally, and where local webhooks can point."""
        return self.sink.url

    @property
    def sink(self) -> LocalSink:
        """The sink itself: every request it received, raw (Telegram tokens included), failed ones too."""
        if self._outbox is None:
            raise RuntimeError("the local stack is not running")
        return self._sink

    @property
    def outbox(self) -> Outbox:
        """What was delivered: e-mail from moto's SES and the sink's requests (`outbox.items()`)."""
        if self._outbox is None:
            raise RuntimeError("the local stack is not running")
        return self._outbox

    @property
    def periodic_tasks(self) -> tuple[PeriodicTask, ...]:
        """The background tasks registered so far (stream and queue pollers, the schedule, others)."""
        return tuple(self._tasks)

    def run_expiry_check(self, as_of: datetime | None = None) -> dict[str, Any]:
        """Invoke the expiry checker as the schedule does, with a scheduled event of `as_of` (a moment
        with its zone; None: now), and return its result (`{"as_of", "due", "expired", "reminded",
        "skipped"}` for the real checker)."""
        if not self._running:
            raise RuntimeError("the local stack is not running")
        return self._invoke_expiry_checker(as_of)

    def deliver_event(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Put an AWS service's event on moto's default bus, routed by its rules as EventBridge routes it
        (`riskgate_local.eventbridge.deliver_event`): an ECR or Inspector scan event reaches the
        registry-work queue, and the ingester."""
        if not self._running:
            raise RuntimeError("the local stack is not running")
        return deliver_event(event)

    def add_periodic_task(
        self, name: str, interval_seconds: float, action: Callable[[], Any]
    ) -> PeriodicTask:
        """Run `action` every `interval_seconds` for as long as the stack runs.

        The hook for what is still to come locally (the scheduler ticking a handler, the e-mail
        outbox); started with the stack (at once when it already runs), stopped with it.
        """
        task = PeriodicTask(name, interval_seconds, action)
        self._tasks.append(task)
        if self._running:
            task.start()
        return task

    def wait_until_idle(self, timeout: float = 10.0) -> None:
        """Wait until every stream poller has delivered every change made before this call."""
        stream_pollers = [poller for poller in self._pollers.values() if isinstance(poller, StreamPoller)]
        if not stream_pollers:
            raise RuntimeError("the local stack is not running")
        deadline = time.monotonic() + timeout
        for poller in stream_pollers:
            if not poller.wait_until_idle(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"the stream pollers did not catch up within {timeout} s")

    def _invoke_expiry_checker(self, as_of: datetime | None) -> dict[str, Any]:
        result = self.expiry_checker_function.invoke(scheduled_event(as_of or system_now()))
        if not isinstance(result, dict):
            raise TypeError(f"the expiry checker returned {type(result).__name__}, not an object")
        return result


def _local_function(name: str, handler: Handler | str, spec: FunctionSpec) -> LocalFunction:
    """Timeouts and memory as the CDK stack sets them (riskgate.resources): what the context object
    reports to the handler."""
    return LocalFunction(name, handler, timeout_seconds=spec.timeout_seconds, memory_mb=spec.memory_mb)


# The handlers' cached ports: (module, function) created once per process from the settings.
_CACHED_PORTS = (
    ("riskgate.adapters.store", "default_store"),
    ("riskgate.adapters.audit_sinks", "default_sinks"),
    ("riskgate.adapters.reevaluation", "default_table"),
    ("riskgate.adapters.reevaluation", "default_queue"),
    ("riskgate.handlers.dispatcher", "sns_client"),
    ("riskgate.handlers.notifier", "clients"),
    ("riskgate.adapters.page_keys", "secrets_provider"),
    ("riskgate.adapters.uploads", "default_uploads"),
    ("riskgate.adapters.uploads", "default_objects"),
    ("riskgate.adapters.registry_clients", "aws_registries"),
    ("riskgate.adapters.registry_clients", "_sqs"),
)


def _forget_cached_settings() -> None:
    """Drop what the handlers cached from the environment: settings are read once per process, and
    the store and the audit sinks keep clients bound to the endpoint of their time. An in-process stack
    (tests) changes both; the real Lambda never does."""
    from riskgate.settings import get_settings

    get_settings.cache_clear()
    for module_name, attribute in _CACHED_PORTS:
        # Only when the module is already imported: importing it here would do it too early.
        cached = getattr(sys.modules.get(module_name), attribute, None)
        if cached is not None and hasattr(cached, "cache_clear"):
            cached.cache_clear()
