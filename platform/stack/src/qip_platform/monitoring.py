"""CloudWatch alarms and dashboard of the design's "Monitoring and Observability"."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
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
    """The four alarms (error rate, duration, DLQ depth, throttles) and one dashboard."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine: sfn.StateMachine,
        functions: Mapping[str, lambda_.IFunction],
        queue: sqs.IQueue,
        dlq: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
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
            return cloudwatch.Alarm(
                self,
                construct_id,
                metric=metric,
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=what,
            )

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
        self.alarms = (
            self.error_rate_alarm,
            self.duration_alarm,
            self.dlq_alarm,
            self.throttle_alarm,
        )


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
