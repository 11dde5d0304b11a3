"""The runtime seam: the only way Butler talks to a container engine.

    from deployments.runtime import get_runtime, BuildFailed

    runtime = get_runtime()
    image_id = runtime.build_image(...)

The backend is the class named by `settings.BUTLER_RUNTIME` (default: the real Docker Engine),
chosen the way django-q2 picks its broker; tests of pipeline logic set it to
`deployments.runtime.fake.FakeRuntime`.
"""

from __future__ import annotations

import os
import threading

from django.conf import settings
from django.utils.module_loading import import_string

from .base import (
    INSTANCE_LABEL,
    MANAGED_LABEL,
    BaseImageMissing,
    BuildFailed,
    ComposeFailed,
    ContainerInfo,
    ContainerNotFound,
    ContainerSpec,
    EngineUnavailable,
    ImageInfo,
    Runtime,
    RuntimeFailure,
)

__all__ = [
    "INSTANCE_LABEL",
    "MANAGED_LABEL",
    "BaseImageMissing",
    "BuildFailed",
    "ComposeFailed",
    "ContainerInfo",
    "ContainerNotFound",
    "ContainerSpec",
    "EngineUnavailable",
    "ImageInfo",
    "Runtime",
    "RuntimeFailure",
    "get_runtime",
    "reset_runtime",
]

DEFAULT_RUNTIME = "deployments.runtime.docker_engine.DockerRuntime"

_lock = threading.Lock()
_runtimes: dict[tuple[int, str], Runtime] = {}


def get_runtime() -> Runtime:
    """The configured backend, built once per process (a forked worker builds its own)."""
    path = getattr(settings, "BUTLER_RUNTIME", "") or DEFAULT_RUNTIME
    key = (os.getpid(), path)
    with _lock:
        runtime = _runtimes.get(key)
        if runtime is None:
            runtime = import_string(path)()
            _runtimes[key] = runtime
        return runtime


def reset_runtime() -> None:
    """Forget cached backends (tests that swap `BUTLER_RUNTIME` or mutate a fake)."""
    with _lock:
        _runtimes.clear()
