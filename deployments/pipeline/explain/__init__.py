"""Turning evidence (an app's last log lines, a build's output, its listening sockets) into
what the user reads: the precise cause, and what to do about it.

Every function here is pure and returns an `Explanation`, or None when the evidence does not
show a known cause (the caller then keeps its generic message). Secrets never reach these
functions' output beyond what the evidence itself contains: they take variable *names*,
never values.

`app` explains an app that stops at start, `network` one that listens on loopback only,
`build` a failed build or a missing base image.
"""

from .app import explain_app_exit, missing_variables, unreachable_database
from .base import WHERE_TO_SET, Explanation
from .build import (
    explain_build_failure,
    explain_missing_image,
    node_engine_mismatch,
    unreachable_hosts,
)
from .network import DOCKER_DNS, explain_loopback, loopback_from_logs, loopback_only

__all__ = [
    "DOCKER_DNS",
    "WHERE_TO_SET",
    "Explanation",
    "explain_app_exit",
    "explain_build_failure",
    "explain_loopback",
    "explain_missing_image",
    "loopback_from_logs",
    "loopback_only",
    "missing_variables",
    "node_engine_mismatch",
    "unreachable_database",
    "unreachable_hosts",
]
