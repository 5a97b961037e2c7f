"""The local stack behind `make run`: the real handlers against an in-process moto server.

`LocalStack` composes a moto server with the table, topic, queues, audit bus and archive bucket the CDK
stack declares, an HTTP server that turns requests into API Gateway REST proxy events (authorizer
included) and pollers that feed the table's stream to the evaluator and the audit forwarder as Lambda
would.
"""

from riskgate_local.stack import LocalStack

__all__ = ["LocalStack"]
