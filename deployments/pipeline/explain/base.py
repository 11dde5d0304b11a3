"""What every explanation is: a cause and what to do."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

WHERE_TO_SET = "Set it under the project's Environment Variables and redeploy."
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
ENV_NAME = r"[A-Z][A-Z0-9_]{1,63}"  # what an environment variable name looks like


@dataclass(frozen=True)
class Explanation:
    cause: str  # what happened, precisely
    action: str  # what to do
    variables: tuple[str, ...] = ()  # environment variables it names
    hosts: tuple[str, ...] = ()  # hosts a build could not reach
    extra: dict = field(default_factory=dict, compare=False)

    def __str__(self) -> str:
        return f"{self.cause} {self.action}".strip()


def clean(text: str) -> str:
    """Log text without colour codes or carriage returns."""
    return _ANSI.sub("", text or "").replace("\r", "")
