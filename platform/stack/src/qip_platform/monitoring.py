"""CloudWatch alarms and dashboard of the design's "Monitoring and Observability"."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from qip_shared import config

PERIOD = Duration.minutes(5)
ERROR_RATE_PERCENT = 5
AVERAGE_DURATION_MS = 60_000
DLQ_DEPTH = 10
# The functions' own Powertools metrics (dimensions service + stage).
CUSTOM_NAMESPACE = config.METRICS_NAMESPACE


@dataclass(frozen=True)
class _Metrics:
    """The pipeline's metrics the alarms and the dashboard share."""

    failed: cloudwatch.IMetric
    started: cloudwatch.IMetric
    error_rate: cloudwatch.IMetric
    duration: cloudwatch.IMetric
    dlq_depth: cloudwatch.IMetric
    throttles: cloudwatch.IMetric


def _pipeline_metrics(
    state_machine: sfn.StateMachine, functions: Mapping[str, lambda_.IFunction], dlq: sqs.IQueue
) -> _Metrics:
    failed = state_machine.metric_failed(period=PERIOD, statistic="Sum")
    started = state_machine.metric_started(period=PERIOD, statistic="Sum")
    error_rate = cloudwatch.MathExpression(
        expression="IF(started > 0, 100 * failed / started, 0)",
        using_metrics={"failed": failed, "started": started},
        label="Pipeline error rate (%)",
        period=PERIOD,
    )
    duration = state_machine.metric_time(period=PERIOD, statistic="Average")
    dlq_depth = dlq.metric_approximate_number_of_messages_visible(
        period=PERIOD, statistic="Maximum"
    )
    throttle_metrics = {
        f"t{i}": fn.metric_throttles(period=PERIOD, statistic="Sum")
        for i, fn in enumerate(functions.values())
    }
    throttles = cloudwatch.MathExpression(
        expression=" + ".join(throttle_metrics),
        using_metrics=throttle_metrics,
        label="Throttled invocations (all functions)",
        period=PERIOD,
    )

    return _Metrics(failed, started, error_rate, duration, dlq_depth, throttles)


class Monitoring(Construct):
    """The alarms (error rate, duration, DLQ depth, throttles, sweeps), their topic, a dashboard."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine: sfn.StateMachine,
        functions: Mapping[str, lambda_.IFunction],
        queue: sqs.IQueue,
        dlq: sqs.IQueue,
        alarm_emails: Sequence[str] = (),
        alarm_urls: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self.alarm_topic = self._alarm_topic(alarm_emails, alarm_urls)
        m = _pipeline_metrics(state_machine, functions, dlq)
        self._alarms(m)
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.hours(3))
        self.dashboard.add_widgets(*_pipeline_row(m, state_machine, queue))
        self.dashboard.add_widgets(*_function_row(m, functions))
        self.dashboard.add_widgets(*_custom_metrics_row())

    def _alarms(self, m: _Metrics) -> None:
        def alarm(
            construct_id: str, metric: cloudwatch.IMetric, threshold: float, what: str
        ) -> cloudwatch.Alarm:
            made = cloudwatch.Alarm(
                self,
                construct_id,
                metric=metric,
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=what,
            )
            # Someone hears both the alarm and its all-clear.
            made.add_alarm_action(cw_actions.SnsAction(self.alarm_topic))
            made.add_ok_action(cw_actions.SnsAction(self.alarm_topic))
            return made

        self.error_rate_alarm = alarm(
            "ErrorRateAlarm",
            m.error_rate,
            ERROR_RATE_PERCENT,
            f"More than {ERROR_RATE_PERCENT}% of pipeline executions failed",
        )
        self.duration_alarm = alarm(
            "DurationAlarm",
            m.duration,
            AVERAGE_DURATION_MS,
            "Average pipeline execution took more than 60 s",
        )
        self.dlq_alarm = alarm(
            "DlqDepthAlarm", m.dlq_depth, DLQ_DEPTH, f"More than {DLQ_DEPTH} messages in the DLQ"
        )
        self.throttle_alarm = alarm(
            "ThrottleAlarm", m.throttles, 0, "A QIP function had throttled invocations"
        )
        swept = cloudwatch.Metric(
            namespace=CUSTOM_NAMESPACE,
            metric_name="RecordsSwept",
            dimensions_map={"service": "qip-sweeper", "stage": "sweeper"},
            period=PERIOD,
            statistic="Sum",
        )
        self.swept_alarm = alarm(
            "SweptRecordsAlarm",
            swept,
            0,
            "The sweeper ended records FAILED that their execution left PROCESSING",
        )
        self.alarms = (
            self.error_rate_alarm,
            self.duration_alarm,
            self.dlq_alarm,
            self.throttle_alarm,
            self.swept_alarm,
        )

    def _alarm_topic(self, emails: Sequence[str], urls: Sequence[str]) -> sns.Topic:
        """The topic every alarm notifies, encrypted with a key CloudWatch may use."""
        # CloudWatch cannot publish to a topic under the AWS-managed SNS key: a key of our own.
        key = kms.Key(
            self,
            "AlarmTopicKey",
            description="QIP alarm topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
        )
        stack = Stack.of(self)
        alarms = stack.format_arn(
            service="cloudwatch",
            resource="alarm",
            resource_name="*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        # Only CloudWatch alarms of this account (the global condition keys it sends).
        from_our_alarms = {
            "StringEquals": {"aws:SourceAccount": stack.account},
            "ArnLike": {"aws:SourceArn": alarms},
        }
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsEncrypt",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions=from_our_alarms,
            )
        )
        topic = sns.Topic(self, "AlarmTopic", master_key=key, enforce_ssl=True)
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions=from_our_alarms,
            )
        )
        for email in emails:
            topic.add_subscription(subscriptions.EmailSubscription(email.strip()))
        for url in urls:
            topic.add_subscription(subscriptions.UrlSubscription(url.strip()))
        return topic


def _pipeline_row(
    m: _Metrics, state_machine: sfn.StateMachine, queue: sqs.IQueue
) -> list[cloudwatch.IWidget]:
    """Executions, duration, queues."""
    return [
        cloudwatch.GraphWidget(
            title="Pipeline executions",
            left=[
                m.started,
                state_machine.metric_succeeded(period=PERIOD, statistic="Sum"),
                m.failed,
            ],
            right=[m.error_rate],
        ),
        cloudwatch.GraphWidget(title="Pipeline duration (ms)", left=[m.duration]),
        cloudwatch.GraphWidget(
            title="Queues",
            left=[
                queue.metric_approximate_number_of_messages_visible(period=PERIOD),
                queue.metric_approximate_age_of_oldest_message(period=PERIOD),
            ],
            right=[m.dlq_depth],
        ),
    ]


def _function_row(
    m: _Metrics, functions: Mapping[str, lambda_.IFunction]
) -> list[cloudwatch.IWidget]:
    """Errors, p90 duration and throttles of every function."""
    return [
        cloudwatch.GraphWidget(
            title="Function errors",
            left=[fn.metric_errors(period=PERIOD, label=name) for name, fn in functions.items()],
        ),
        cloudwatch.GraphWidget(
            title="Function duration (p90, ms)",
            left=[
                fn.metric_duration(period=PERIOD, statistic="p90", label=name)
                for name, fn in functions.items()
            ],
        ),
        cloudwatch.GraphWidget(title="Throttles", left=[m.throttles]),
    ]


def _custom_metrics_row() -> list[cloudwatch.IWidget]:
    """The functions' own Powertools metrics."""
    return [
        cloudwatch.GraphWidget(
            title="Stage execution time (ms, from the functions)",
            left=[
                cloudwatch.MathExpression(
                    expression=(
                        f"SEARCH('{{{CUSTOM_NAMESPACE},service,stage}} "
                        "MetricName=\"StageExecutionTime\"', 'Average', 300)"
                    ),
                    label="",
                    period=PERIOD,
                    using_metrics={},
                )
            ],
        ),
        cloudwatch.GraphWidget(
            title="Image processing duration (ms, upload to terminal status, p90)",
            left=[
                cloudwatch.MathExpression(
                    expression=(
                        f"SEARCH('{{{CUSTOM_NAMESPACE},service,status}} "
                        f'service="{config.PROCESSING_DURATION_SERVICE}" '
                        f'MetricName="{config.PROCESSING_DURATION_METRIC}"'
                        "', 'p90', 300)"
                    ),
                    label="",
                    period=PERIOD,
                    using_metrics={},
                )
            ],
        ),
        cloudwatch.GraphWidget(
            title="Validation and pipeline failures",
            left=[
                cloudwatch.MathExpression(
                    expression=(
                        f"SEARCH('{{{CUSTOM_NAMESPACE},service,stage}} "
                        'MetricName=("ValidationFailures" OR "PipelineFailures")\', '
                        "'Sum', 300)"
                    ),
                    label="",
                    period=PERIOD,
                    using_metrics={},
                )
            ],
        ),
    ]
