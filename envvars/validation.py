"""What a variable may be called and hold. Messages name the key and say what to fix."""

from __future__ import annotations

import re

from core.errors import ApplicationError

KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_KEY_LENGTH = 256
MAX_VALUE_BYTES = 32 * 1024
KEY_RULE = (
    "a key starts with a letter or '_' and contains only letters, digits and '_' "
    f"(at most {MAX_KEY_LENGTH} characters)"
)


def key_problem(key: object) -> str | None:
    if not isinstance(key, str) or not key:
        return "Invalid key '': a key is required"
    if len(key) > MAX_KEY_LENGTH:
        return f"Invalid key '{key[:40]}…': it is longer than {MAX_KEY_LENGTH} characters"
    if not KEY_PATTERN.fullmatch(key):
        return f"Invalid key {_shown(key)}: {KEY_RULE}"
    return None


def value_problem(key: str, value: object) -> str | None:
    if not isinstance(value, str):
        return f"The value of '{key}' must be a string (got {_json_type(value)})"
    if "\x00" in value:
        return f"The value of '{key}' contains a null byte, which an environment cannot hold"
    if len(value) * 4 > MAX_VALUE_BYTES and len(value.encode("utf-8")) > MAX_VALUE_BYTES:
        return f"The value of '{key}' is larger than {MAX_VALUE_BYTES // 1024} KB"
    return None


def check_variables(variables: dict[str, str], *, field: str = "variables") -> None:
    """Raise one 400 listing every bad key and value in `variables`."""
    problems = [p for p in (key_problem(k) for k in variables) if p]
    problems += [
        p for k, v in variables.items() if not key_problem(k) for p in [value_problem(k, v)] if p
    ]
    if problems:
        raise ApplicationError("; ".join(problems) + ".", field=field)


def check_variable(key: str, value: str | None, *, field: str = "value") -> None:
    problem = key_problem(key)
    if problem:
        raise ApplicationError(problem + ".", field="key")
    if value is not None:
        problem = value_problem(key, value)
        if problem:
            raise ApplicationError(problem + ".", field=field)


def _shown(key: str) -> str:
    # repr-like quoting keeps control characters visible without echoing them raw.
    shown = key if key.isprintable() else key.encode("unicode_escape").decode("ascii")
    return f"'{shown[:80]}'"


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
