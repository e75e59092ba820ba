"""The images API: `GET /images` and `GET /images/{id}` on the upload API, same authorizer."""

from __future__ import annotations

from typing import TypedDict, Unpack

from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from qip_images_api.construct import ImagesApiFunction
from qip_platform.component import Component, StackSettings, allow, allow_objects
from qip_platform.functions import FunctionAssets
from qip_platform.storage import Storage
from qip_platform.upload_api import UploadApi
from qip_shared import keys
from qip_shared.record import OWNER_INDEX_NAME


class ImagesApiProps(TypedDict):
    """The shared resources, the settings, the function assets and the API to add routes to."""

    storage: Storage
    settings: StackSettings
    assets: FunctionAssets
    upload_api: UploadApi


class ImagesApi(Component):
    """The images-api function and its two read routes behind the upload API's Cognito."""

    def __init__(
        self, scope: Construct, construct_id: str, **props: Unpack[ImagesApiProps]
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = self._images_api(props)
        upload_api = props["upload_api"]
        integration = apigw.LambdaIntegration(self.function)
        images = upload_api.api.root.add_resource("images")
        # The id is the image key (`uploads/...`): a greedy parameter keeps its slashes.
        one = images.add_resource("{id+}")
        for resource in (images, one):
            resource.add_method(
                "GET",
                integration,
                authorizer=upload_api.authorizer,
                authorization_type=apigw.AuthorizationType.COGNITO,
                request_validator=upload_api.validator,
            )
        self.url = upload_api.api.url_for_path("/images")

    def _images_api(self, props: ImagesApiProps) -> lambda_.Function:
        storage, settings = props["storage"], props["settings"]
        images = ImagesApiFunction(
            self,
            "ImagesApi",
            table=storage.table,
            upload_bucket=storage.upload_bucket,
            cors_origins=settings.cors_origins,
            **props["assets"].props("images-api"),
        )
        fn = images.function
        log_actions = ["logs:CreateLogStream", "logs:PutLogEvents"]
        allow(fn, "WriteOwnLogs", log_actions, [images.log_group.log_group_arn])
        table = storage.table
        allow(fn, "ReadRecords", ["dynamodb:GetItem"], [table.table_arn])
        allow(
            fn,
            "QueryOwnerIndex",
            ["dynamodb:Query"],
            [f"{table.table_arn}/index/{OWNER_INDEX_NAME}"],
        )
        # A presigned GET carries this role's authority: it may read the outputs only.
        bucket = storage.upload_bucket
        allow_objects(fn, "SignOutputs", ["s3:GetObject"], bucket, keys.PROCESSED_PREFIX)
        return fn
