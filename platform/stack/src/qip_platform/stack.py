"""The deployable system: any stage selection composed into one least-privilege CDK stack.

A short composition of component constructs: storage, function assets, the stage functions
(picked from `stages.STAGE_FUNCTIONS`), the pipeline, ingest, the upload API, monitoring and the
accepted cdk-nag findings. Service constructs make the functions; each component grants its
functions exactly the actions they use, one statement per need (see `EXPECTED_GRANTS` in the
infra tests). Components do not appear in logical ids (`FlatIdStack`): the template is the one
the flat stack made.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Tags
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from qip_pipeline import names
from qip_pipeline.definition import ALL_STAGES, StageSelectionError, parse_stages
from qip_platform.component import FlatIdStack, StackSettings
from qip_platform.functions import FunctionAssets
from qip_platform.images_api import ImagesApi
from qip_platform.ingest import Ingest
from qip_platform.layers import LayerDirs
from qip_platform.monitoring import Monitoring
from qip_platform.nag import acknowledge_findings
from qip_platform.pipeline import WORKFLOWS, Pipeline
from qip_platform.stages import StageFunctions
from qip_platform.storage import Storage
from qip_platform.sweeper import Sweeper
from qip_platform.upload_api import UploadApi
from qip_shared.enums import StageName

__all__ = ["QipStack", "StackSettings"]

ARCHITECTURES = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}


def _check_choices(workflow: str, architecture: str) -> None:
    """Refuse an unknown workflow or architecture before anything is built."""
    if workflow.upper() not in WORKFLOWS:
        raise StageSelectionError(f"unknown workflow {workflow!r}; choose EXPRESS or STANDARD")
    if architecture not in ARCHITECTURES:
        raise StageSelectionError(
            f"unknown architecture {architecture!r}; choose {' or '.join(ARCHITECTURES)}"
        )


class QipStack(FlatIdStack):
    """The whole pipeline for a stage selection (default: every stage, Express workflow)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        layer_dirs: LayerDirs,
        build_dir: Path,
        stages: Sequence[str | StageName] = ALL_STAGES,
        workflow: str = "EXPRESS",
        architecture: str = "arm64",
        settings: StackSettings | None = None,
        **kwargs: Any,
    ) -> None:
        self.stages = parse_stages(stages)
        _check_choices(workflow, architecture)
        super().__init__(scope, construct_id, **kwargs)
        self.workflow = workflow.upper()
        self.settings = settings = settings or StackSettings()
        Tags.of(self).add("qip:stages", "+".join(s.value for s in self.stages))

        self.storage = Storage(self, "Storage", cors_origins=settings.cors_origins)
        assets = FunctionAssets(
            self,
            "FunctionAssets",
            layer_dirs=layer_dirs,
            build_dir=build_dir,
            architecture=ARCHITECTURES[architecture],
            log_retention=settings.log_retention,
        )
        stage_functions = self._add_pipeline(settings, assets)
        self._add_front_doors(settings, assets)
        # service -> function, in the order the dashboard and the alarms list them.
        self.functions: dict[str, lambda_.Function] = {
            **{names.STAGE_SERVICES[stage]: fn for stage, fn in stage_functions.items()},
            "trigger": self.ingest.function,
            "upload-url": self.upload_api.function,
            "images-api": self.images_api.function,
            "sweeper": self.sweeper.function,
        }
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            state_machine=self.pipeline.state_machine,
            functions=dict(self.functions),
            queue=self.ingest.queue,
            dlq=self.ingest.dlq,
            alarm_emails=settings.alarm_emails,
            alarm_urls=settings.alarm_urls,
        )
        self._outputs()
        acknowledge_findings(
            functions=self.functions.values(),
            state_machine=self.pipeline.state_machine,
            upload_api=self.upload_api,
        )

    def _add_pipeline(
        self, settings: StackSettings, assets: FunctionAssets
    ) -> dict[StageName, lambda_.Function]:
        """The selected stages' functions, the recipe parameter and the state machine."""
        stages_component = StageFunctions(
            self,
            "Stages",
            stages=self.stages,
            settings=settings,
            storage=self.storage,
            assets=assets,
        )
        stage_functions = stages_component.functions
        self.recipe_parameter = stages_component.recipe
        self.pipeline = Pipeline(
            self,
            "Pipeline",
            stage_functions=stage_functions,
            workflow=self.workflow,
            storage=self.storage,
            log_retention=settings.log_retention,
        )
        return stage_functions

    def _add_front_doors(self, settings: StackSettings, assets: FunctionAssets) -> None:
        """What starts and serves the pipeline: ingest, the upload and images APIs, the sweeper."""
        self.ingest = Ingest(
            self,
            "Ingest",
            storage=self.storage,
            state_machine=self.pipeline.state_machine,
            settings=settings,
            assets=assets,
        )
        self.upload_api = UploadApi(
            self, "UploadApi", storage=self.storage, settings=settings, assets=assets
        )
        self.images_api = ImagesApi(
            self,
            "ImagesApi",
            storage=self.storage,
            settings=settings,
            assets=assets,
            upload_api=self.upload_api,
        )
        self.sweeper = Sweeper(
            self,
            "Sweeper",
            storage=self.storage,
            state_machine=self.pipeline.state_machine,
            workflow=self.workflow,
            assets=assets,
        )

    def _outputs(self) -> None:
        """What `cdk deploy --outputs-file` writes: the `qip ... --outputs FILE` commands read
        the `names.OUTPUT_*` ones (keep those at the stack's top, so their ids stay as named)."""
        storage, api = self.storage, self.upload_api
        values = {
            names.OUTPUT_UPLOAD_API_URL: api.api.url_for_path("/upload-url"),
            names.OUTPUT_IMAGES_API_URL: self.images_api.url,
            "UserPoolId": api.user_pool.user_pool_id,
            "UserPoolClientId": api.user_pool_client.user_pool_client_id,
            names.OUTPUT_UPLOAD_BUCKET: storage.upload_bucket.bucket_name,
            names.OUTPUT_ARCHIVE_BUCKET: storage.archive_bucket.bucket_name,
            names.OUTPUT_TABLE: storage.table.table_name,
            names.OUTPUT_TOPIC: storage.topic.topic_arn,
            names.OUTPUT_STATE_MACHINE: self.pipeline.state_machine.state_machine_arn,
            names.OUTPUT_QUEUE_URL: self.ingest.queue.queue_url,
            names.OUTPUT_DLQ_URL: storage.dlq.queue_url,
            names.OUTPUT_STAGES: ",".join(stage.value for stage in self.stages),
            "DashboardName": self.monitoring.dashboard.dashboard_name,
            "AlarmTopicArn": self.monitoring.alarm_topic.topic_arn,
        }
        if self.recipe_parameter is not None:
            values[names.OUTPUT_RECIPE_PARAMETER] = self.recipe_parameter.parameter_name
        for name, value in values.items():
            CfnOutput(self, name, value=value)
