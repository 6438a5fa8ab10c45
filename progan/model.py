"""What a saved network is: an architecture name, its options and the image size it was built for."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Mapping

from progan.errors import CheckpointError
from progan.interfaces import Architecture, Discriminator, Generator
from progan.plugins import PluginHost


@dataclass(frozen=True)
class ModelSpec:
    """Enough to rebuild G and D without any code from the file: stored as JSON metadata ``model``."""

    arch: str
    arch_options: dict[str, Any]
    resolution: int
    channels: int
    latent_size: int
    package: str  # the distribution that registered ``arch``, named when it is missing

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str], path: str) -> "ModelSpec":
        try:
            data = json.loads(metadata["model"])
            return cls(**data)
        except KeyError:
            raise CheckpointError(f"{path}: metadata key 'model' is missing; not a progan file") from None
        except (json.JSONDecodeError, TypeError) as exc:
            raise CheckpointError(f"{path}: metadata 'model' is malformed ({exc})") from None


def architecture(spec: ModelSpec, host: PluginHost, *, path: str = "") -> Architecture:
    """The architecture named by ``spec``, with a clear error naming the package when it is missing."""
    host.require("architectures", spec.arch, spec.package, source=path)
    return host.create("architectures", spec.arch, dict(spec.arch_options))


def build(spec: ModelSpec, host: PluginHost, *, path: str = "") -> tuple[Generator, Discriminator]:
    return architecture(spec, host, path=path).build(resolution=spec.resolution, channels=spec.channels)
