"""Function assets: the two layers, and each service's code, version and runtime settings."""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict, Unpack

from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from qip_platform.bundle import bundle_service
from qip_platform.component import Component
from qip_platform.layers import LayerDirs
from qip_platform.versions import LAMBDA_PYTHON, needs_pillow, service_version
from qip_shared.cdk import FunctionProps

# Every function's and layer's runtime: `python3.13` (see docs/deploy.md, "Runtime").
RUNTIME: lambda_.Runtime = getattr(lambda_.Runtime, "PYTHON_" + LAMBDA_PYTHON.replace(".", "_"))


class FunctionAssetsProps(TypedDict):
    """Where the layers and bundles are built, for which architecture, kept how long."""

    layer_dirs: LayerDirs
    build_dir: Path
    architecture: lambda_.Architecture
    log_retention: logs.RetentionDays


class FunctionAssets(Component):
    """The deps and Pillow layers; `props(service)` is what each service construct receives."""

    def __init__(
        self, scope: Construct, construct_id: str, **props: Unpack[FunctionAssetsProps]
    ) -> None:
        super().__init__(scope, construct_id)
        self._build_dir = props["build_dir"]
        self._architecture = props["architecture"]
        self._log_retention = props["log_retention"]
        layer_dirs = props["layer_dirs"]
        self.deps_layer = self._layer("DepsLayer", layer_dirs.deps, "pydantic, powertools, xray")
        self.pillow_layer = self._layer("PillowLayer", layer_dirs.pillow, "Pillow")

    def _layer(self, construct_id: str, path: Path, what: str) -> lambda_.LayerVersion:
        return lambda_.LayerVersion(
            self,
            construct_id,
            code=lambda_.Code.from_asset(str(path)),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[self._architecture],
            description=f"QIP {what} ({path.name})",
        )

    def props(self, service: str) -> FunctionProps:
        """Code, layers, runtime, version, architecture and log retention of one function."""
        layers: list[lambda_.ILayerVersion] = [self.deps_layer]
        if needs_pillow(service):
            layers.append(self.pillow_layer)
        return FunctionProps(
            code=lambda_.Code.from_asset(str(bundle_service(service, self._build_dir))),
            layers=layers,
            runtime=RUNTIME,
            version=service_version(service),
            architecture=self._architecture,
            log_retention=self._log_retention,
        )
