"""What the ``event-processing`` stack watches: the function's errors and throttles, the DLQ,
and the delivery (the queue's backlog, or the async events lost), and its dashboard.

One minute over the threshold is enough for each. The function's errors guard its rollout:
CodeDeploy stops a canary of a new version and moves the live alias back when they fire.
"""

from __future__ import annotations

from functools import partial

from constructs import Construct

from modules.blocks.alarms import AlarmSpec, Metric, lambda_metric, metric_alarms
from modules.blocks.dashboard import DashboardProps, alarm_graph, dashboard
from modules.config import Settings
from modules.stack.contract import Observability

OLDEST_MESSAGE_ALARM_S = 900  # a backlog older than 15 minutes means processing has stalled
GRAPH_WIDTH = 8  # three graphs a row


def alarm_specs(function_name: str, dlq_name: str, queue_name: str | None) -> list[AlarmSpec]:
    """The alarms for queue delivery (``queue_name``) or direct (async) delivery (None)."""
    function_metric = partial(lambda_metric, function_name)

    def sqs_metric(name: str, queue: str) -> Metric:
        return Metric(namespace="AWS/SQS", name=name, dimensions={"QueueName": queue})

    specs = [
        AlarmSpec(
            key="errors",
            metric=function_metric("Errors"),
            statistic="Sum",
            threshold=0,
            guards_rollout=True,
            description="the processor failed on an input: it is retried, then kept in the DLQ with its reason. "
            "Read the function's log; a new version in its canary is rolled back by CodeDeploy",
        ),
        AlarmSpec(
            key="throttles",
            metric=function_metric("Throttles"),
            statistic="Sum",
            threshold=0,
            description="invocations were throttled: inputs arrive faster than reserved_concurrency allows. "
            "They wait (queue) or are retried (direct); raise event_processing.reserved_concurrency if it lasts",
        ),
        AlarmSpec(
            key="dlq-depth",
            metric=sqs_metric("ApproximateNumberOfMessagesVisible", dlq_name),
            statistic="Maximum",
            threshold=0,
            description="inputs failed every retry and wait in the DLQ: read the reason in each, fix the cause, "
            "then redrive them",
        ),
    ]
    if queue_name is not None:
        specs.append(
            AlarmSpec(
                key="oldest-message",
                metric=sqs_metric("ApproximateAgeOfOldestMessage", queue_name),
                statistic="Maximum",
                threshold=OLDEST_MESSAGE_ALARM_S,
                description=f"the queue's oldest input waits over {OLDEST_MESSAGE_ALARM_S} s: processing has "
                "stalled or cannot keep up. Check the errors and throttles alarms and the event source mapping",
            )
        )
    else:
        # An event that could not even reach the DLQ, or that expired, is lost.
        specs += [
            AlarmSpec(
                key="dlq-delivery-failures",
                metric=function_metric("DestinationDeliveryFailures"),
                statistic="Sum",
                threshold=0,
                description="a failed event could not be sent to the DLQ and is lost: check the DLQ's policy "
                "and key; the object is still in the bucket to process again",
            ),
            AlarmSpec(
                key="events-dropped",
                metric=function_metric("AsyncEventsDropped"),
                statistic="Sum",
                threshold=0,
                description="async events expired or ran out of retries unprocessed and are lost: raise "
                "max_event_age_s or max_retries, or use queue delivery; process the objects again",
            ),
        ]
    return specs


def observe(
    scope: Construct,
    settings: Settings,
    prefix: str,
    *,
    topic_arn: str,
    function_name: str,
    dlq_name: str,
    queue_name: str | None,
) -> Observability:
    """The alarms (to ``topic_arn``) and a dashboard with one graph per alarm, created in
    ``scope`` (the stack: their ids are Terraform addresses)."""
    specs = alarm_specs(function_name, dlq_name, queue_name)
    alarms = metric_alarms(scope, prefix, specs, [topic_arn])
    graphs = [alarm_graph(spec, width=GRAPH_WIDTH) for spec in specs]
    board = dashboard(
        scope, DashboardProps(name=prefix, region=settings.region, graphs=graphs, alarms=specs, layout="grid")
    )
    return Observability(specs={prefix: specs}, alarms={prefix: alarms}, dashboard=board)
