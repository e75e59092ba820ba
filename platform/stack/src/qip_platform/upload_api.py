"""The upload API: Cognito-authorized REST endpoint that signs browser uploads."""

from __future__ import annotations

from typing import TypedDict, Unpack

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from qip_platform.component import Component, StackSettings, allow, allow_objects
from qip_platform.functions import FunctionAssets
from qip_platform.storage import Storage
from qip_shared import keys
from qip_upload_url.construct import UploadUrlFunction


class UploadApiProps(TypedDict):
    """The shared resources, the settings and the function assets."""

    storage: Storage
    settings: StackSettings
    assets: FunctionAssets


class UploadApi(Component):
    """The upload-url function, the user pool and its client, and the REST API in front."""

    def __init__(
        self, scope: Construct, construct_id: str, **props: Unpack[UploadApiProps]
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = self._upload_url(props)
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(username=True, email=True),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_digits=True,
                require_lowercase=True,
                require_uppercase=True,
                require_symbols=True,
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.user_pool_client = self.user_pool.add_client(
            "WebClient",
            auth_flows=cognito.AuthFlow(user_srp=True, user_password=True),
            generate_secret=False,
        )
        self.api = self._rest_api(props["settings"])

    def _upload_url(self, props: UploadApiProps) -> lambda_.Function:
        storage, settings = props["storage"], props["settings"]
        upload = UploadUrlFunction(
            self,
            "UploadUrl",
            upload_bucket=storage.upload_bucket,
            max_bytes=settings.max_bytes,
            upload_url_expires=settings.upload_url_expires,
            cors_origins=settings.cors_origins,
            **props["assets"].props("upload-url"),
        )
        fn = upload.function
        log_actions = ["logs:CreateLogStream", "logs:PutLogEvents"]
        allow(fn, "WriteOwnLogs", log_actions, [upload.log_group.log_group_arn])
        # A presigned POST carries this role's authority: it may create objects under uploads/ only.
        bucket = storage.upload_bucket
        allow_objects(fn, "SignUploads", ["s3:PutObject"], bucket, keys.UPLOAD_PREFIX)
        allow(fn, "HeadUploadBucket", ["s3:ListBucket"], [bucket.bucket_arn])
        return fn

    def _rest_api(self, settings: StackSettings) -> apigw.RestApi:
        # One authorizer for every route of the API (the images API adds its routes to it).
        self.authorizer = apigw.CognitoUserPoolsAuthorizer(
            self, "UploadAuthorizer", cognito_user_pools=[self.user_pool]
        )
        access_logs = logs.LogGroup(
            self,
            "ApiAccessLogGroup",
            retention=settings.log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        api = apigw.RestApi(
            self,
            "UploadApi",
            description="QIP upload URLs (Cognito-authorized presigned POST)",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=True,
            deploy_options=apigw.StageOptions(
                stage_name="v1",
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                tracing_enabled=True,
                metrics_enabled=True,
                throttling_rate_limit=50,
                throttling_burst_limit=100,
            ),
            # Preflight answers for the configured browser origins only (none: no CORS at all).
            default_cors_preflight_options=apigw.CorsOptions(
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type"],
            )
            if settings.cors_origins
            else None,
        )
        self.validator = validator = api.add_request_validator(
            "RequestValidator", validate_request_body=True, validate_request_parameters=True
        )
        resource = api.root.add_resource("upload-url")
        integration = apigw.LambdaIntegration(self.function)
        for verb in ("GET", "POST"):
            resource.add_method(
                verb,
                integration,
                authorizer=self.authorizer,
                authorization_type=apigw.AuthorizationType.COGNITO,
                request_validator=validator,
            )
        return api
