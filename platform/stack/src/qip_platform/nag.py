"""cdk-nag findings accepted on purpose, each on its own construct, with a reason."""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Acknowledgment, Validations
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import IConstruct

from qip_platform.upload_api import UploadApi

XRAY_WILDCARD = "AwsSolutions-IAM5[Resource::*]"
API_LOGS_ROLE = (
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
    "AmazonAPIGatewayPushToCloudWatchLogs]"
)
NAG_REASONS: dict[str, str] = {
    XRAY_WILDCARD: (
        "Only for actions that support no resource-level permissions (service authorization "
        "reference): X-Ray PutTraceSegments/PutTelemetryRecords/GetSampling*, and for the state "
        "machine the CloudWatch Logs vended-delivery actions (CreateLogDelivery, ...)."
    ),
    "AwsSolutions-COG2": (
        "MFA is OPTIONAL (TOTP) so that machine clients of the upload API can authenticate; "
        "set Mfa.REQUIRED when the pool holds human users."
    ),
    "AwsSolutions-COG8": (
        "The Plus feature plan is billed per active user; the pool is admin-created users only "
        "(self sign-up off) with a 12-character complex password policy."
    ),
    "AwsSolutions-APIG3": (
        "No WAF web ACL by default (fixed monthly cost): the API is Cognito-authorized, "
        "stage-throttled (50 rps, burst 100) and only signs upload URLs; attach a web ACL in "
        "production accounts."
    ),
    "AwsSolutions-L1": (
        "python3.13 on purpose, not the latest runtime: bundles and layers ship bytecode compiled, "
        "and are import-tested, by a 3.13 interpreter (docs/deploy.md says what 3.14 needs)."
    ),
    API_LOGS_ROLE: (
        "The account-level API Gateway logging role needs exactly this AWS-managed service-role "
        "policy (logs:CreateLogGroup/CreateLogStream/PutLogEvents/Describe*)."
    ),
}


def _ack(scope: IConstruct, rule_id: str) -> None:
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=NAG_REASONS[rule_id]))


def acknowledge_findings(
    *,
    functions: Iterable[lambda_.Function],
    state_machine: sfn.StateMachine,
    upload_api: UploadApi,
) -> None:
    """The X-Ray wildcard on every role, each function's runtime, the pool's and API's findings."""
    for fn in functions:
        assert fn.role is not None
        _ack(fn.role, XRAY_WILDCARD)
        _ack(fn, "AwsSolutions-L1")
    _ack(state_machine.role, XRAY_WILDCARD)
    _ack(upload_api.user_pool, "AwsSolutions-COG2")
    _ack(upload_api.user_pool, "AwsSolutions-COG8")
    _ack(upload_api.api, "AwsSolutions-APIG3")
    _ack(upload_api.api, API_LOGS_ROLE)
