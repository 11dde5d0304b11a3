"""Translate what the docker SDK and its HTTP stack raise into Butler's `RuntimeFailure`s.

Shared by `docker_engine`, `docker_build` and `docker_compose`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import docker.errors
import requests
import urllib3.exceptions

from .base import EngineUnavailable, RuntimeFailure


def _short(exc: BaseException, limit: int = 200) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _explanation(exc: docker.errors.APIError) -> str:
    return _short(exc.explanation or exc)


@contextlib.contextmanager
def _engine_errors(action: str) -> Iterator[None]:
    """Turn whatever the SDK or the HTTP stack raises into Butler's own errors."""
    try:
        yield
    except RuntimeFailure:
        raise
    except requests.exceptions.ConnectionError as exc:  # includes ConnectTimeout
        raise EngineUnavailable(_short(exc)) from exc
    except requests.exceptions.Timeout as exc:
        raise RuntimeFailure(
            f"Docker did not answer in time while trying to {action}. "
            "The engine may be overloaded; try again."
        ) from exc
    except docker.errors.APIError as exc:
        raise RuntimeFailure(f"Docker could not {action}: {_explanation(exc)}") from exc
    except (docker.errors.DockerException, urllib3.exceptions.HTTPError) as exc:
        raise RuntimeFailure(f"Could not {action}: {_short(exc)}") from exc
