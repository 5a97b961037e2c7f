"""The local stack behind `make run`: the real handlers against an in-process moto server.

`LocalStack` composes a moto server with the table, topic and queue the CDK stack declares, an HTTP
server that turns requests into API Gateway REST proxy events (authorizer included) and a poller that
feeds the table's stream to the evaluator as Lambda would.
"""

from riskgate_local.stack import LocalStack

__all__ = ["LocalStack"]
