"""An app that stops during start-up: the variable it reads that is not set, the database it
looked for on localhost."""

from __future__ import annotations

import re
from collections.abc import Collection

from .base import ENV_NAME, WHERE_TO_SET, Explanation, clean

# (pattern, group naming the variable); searched line by line, first hit wins.
_MISSING_VARIABLE = [
    re.compile(rf"ImproperlyConfigured: Set the ({ENV_NAME}) environment variable"),
    re.compile(rf"UndefinedValueError: ({ENV_NAME}) not found"),
    re.compile(rf"EnvError: Environment variable \"?({ENV_NAME})\"? not set"),
    re.compile(rf"Environment variable not found: ({ENV_NAME})"),
    re.compile(
        rf"(?i:missing|required|undefined|unset)\s+(?i:environment|env)\s+(?i:variables?)\s*:?\s*"
        rf"[\"'`]?({ENV_NAME})\b"
    ),
    re.compile(
        rf"(?i:environment|env)\s+(?i:variable)\s+[\"'`]?({ENV_NAME})[\"'`]?\s+"
        r"(?i:is\s+)?(?i:not\s+set|not\s+defined|missing|required|undefined|must\s+be\s+set)"
    ),
    re.compile(
        rf"\b({ENV_NAME})\s+(?i:environment\s+variable\s+)?(?i:is\s+not\s+set|is\s+not\s+defined|"
        r"must\s+be\s+set|is\s+required|is\s+missing|not\s+set)\b"
    ),
    re.compile(
        rf"(?i:please\s+set|you\s+must\s+set|no)\s+(?:the\s+)?[\"'`]?({ENV_NAME})[\"'`]?"
        r"(?:\s+(?i:environment\s+variable|env\s+var))"
    ),
    re.compile(rf"(?i:missing)\s+[\"'`]?({ENV_NAME})[\"'`]?\s*(?:$|\(|:|\.)"),
]
_KEY_ERROR = re.compile(rf"^KeyError: ['\"]({ENV_NAME})['\"]\s*$")
_ENVIRON_READ = re.compile(rf"environ\s*\[\s*['\"]({ENV_NAME})['\"]\s*\]")
_PROCESS_ENV = re.compile(rf"process\.env(?:\.({ENV_NAME})\b|\[\s*['\"]({ENV_NAME})['\"]\s*\])")
_UNDEFINED = re.compile(r"TypeError: .*(?:of undefined|undefined is not|of null|is undefined)")
_DJANGO_EMPTY_SETTING = re.compile(r"The (SECRET_KEY) setting must not be empty")
_PYDANTIC_HEADER = re.compile(r"validation errors? for (\w*Settings\w*|\w*Config\w*|Env\w*)")
_ENVALID_HEADER = re.compile(
    r"Missing environment variables?:\s*$|Invalid environment variables?", re.I
)


def _first_unset(names: list[str], env_names: Collection[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        if name and name not in out:
            out.append(name)
    unset = [n for n in out if n not in env_names]
    return unset or out


def missing_variables(logs: str, *, env_names: Collection[str] = ()) -> list[str]:
    """Environment variables an app's start-up log says are missing, most certain first."""
    lines = clean(logs).splitlines()
    found: list[str] = []
    for i, line in enumerate(lines):
        key = _KEY_ERROR.match(line.strip())
        if key:
            found.append(key.group(1))
            continue
        empty = _DJANGO_EMPTY_SETTING.search(line)
        if empty:
            found.append(empty.group(1))
            continue
        for pattern in _MISSING_VARIABLE:
            match = pattern.search(line)
            if match:
                found.append(match.group(1))
                break
        if _UNDEFINED.search(line):
            # Node prints the source line (with a caret) just above the error.
            for previous in reversed(lines[max(0, i - 6) : i]):
                env = _PROCESS_ENV.search(previous)
                if env:
                    found.append(env.group(1) or env.group(2))
                    break
        if _PYDANTIC_HEADER.search(line):
            for field_line, next_line in zip(
                lines[i + 1 : i + 40], lines[i + 2 : i + 41], strict=False
            ):
                if re.match(r"^\s*Field required", next_line) and re.match(
                    r"^[A-Za-z_]\w*$", field_line.strip()
                ):
                    found.append(field_line.strip().upper())
        if _ENVALID_HEADER.search(line):
            for follow in lines[i + 1 : i + 30]:
                match = re.match(rf"^\s+[\"']?({ENV_NAME})[\"']?\s*[:=]", follow)
                if match:
                    found.append(match.group(1))
                elif follow.strip() and not follow.startswith((" ", "\t")):
                    break
            zod = re.findall(rf"\b({ENV_NAME})\s*:\s*\[", line)
            found += zod
    # A KeyError of a name the code reads from os.environ is certain; other KeyErrors of
    # upper-case names are very likely variables too (dict keys are rarely upper case).
    read = {m.group(1) for m in _ENVIRON_READ.finditer("\n".join(lines))}
    found.sort(key=lambda n: n not in read)
    return _first_unset(found, env_names)


_DATABASES = [
    # (pattern, what, variables to name, default port)
    (
        re.compile(
            r"connection to server (?:at \"(?P<host>[^\"]+)\"|on socket \"(?P<socket>[^\"]+)\")"
            r"[^,]*(?:, port (?P<port>\d+))? failed|could not connect to server: "
            r"(?:Connection refused|No such file or directory)",
            re.I,
        ),
        "PostgreSQL",
        ("DATABASE_URL", "PGHOST", "PGDATABASE", "PGUSER", "PGPASSWORD"),
    ),
    (
        re.compile(
            r"Can't connect to (?:local )?MySQL server (?:on '(?P<host>[^']+)'|through socket "
            r"'(?P<socket>[^']+)')",
            re.I,
        ),
        "MySQL",
        ("DATABASE_URL", "MYSQL_HOST", "MYSQL_DATABASE", "MYSQL_USER", "MYSQL_PASSWORD"),
    ),
    (
        re.compile(
            r"Error \d+ connecting to (?P<host>[\w.-]+):(?P<port>6379)|"
            r"ECONNREFUSED (?P<host2>127\.0\.0\.1|::1|localhost):(?P<port2>6379)"
        ),
        "Redis",
        ("REDIS_URL",),
    ),
    (
        re.compile(
            r"(?P<host>localhost|127\.0\.0\.1):(?P<port>27017)"
            r".*(?:refused|ECONNREFUSED|Errno 111|timed out)|ECONNREFUSED (?:127\.0\.0\.1|::1):27017",
            re.I,
        ),
        "MongoDB",
        ("MONGODB_URI", "MONGO_URL", "DATABASE_URL"),
    ),
    (
        re.compile(r"ECONNREFUSED (?P<host>127\.0\.0\.1|::1|localhost):(?P<port>5432)"),
        "PostgreSQL",
        ("DATABASE_URL", "PGHOST", "PGDATABASE", "PGUSER", "PGPASSWORD"),
    ),
    (
        re.compile(r"ECONNREFUSED (?P<host>127\.0\.0\.1|::1|localhost):(?P<port>3306)"),
        "MySQL",
        ("DATABASE_URL", "MYSQL_HOST", "MYSQL_DATABASE"),
    ),
]


def unreachable_database(
    logs: str, *, env_names: Collection[str] = (), code_reads: Collection[str] = ()
) -> Explanation | None:
    """A database the app looked for on localhost (or a local socket): nothing runs there
    inside the container. Names the variables that point it elsewhere."""
    text = clean(logs)
    for pattern, what, variables in _DATABASES:
        match = pattern.search(text)
        if not match:
            continue
        groups = {k: v for k, v in match.groupdict().items() if v}
        host = groups.get("host") or groups.get("host2")
        sock = groups.get("socket")
        if host and host not in ("localhost", "127.0.0.1", "::1", "0.0.0.0"):
            return None  # a real host that is down or unreachable: not a missing variable
        preferred = [v for v in variables if v in code_reads] or list(variables)
        already = [v for v in preferred if v in env_names]
        where = f"the local socket {sock}" if sock else f"{host or 'localhost'}"
        if already:
            cause = (
                f"The app could not reach its {what} database at {where}: {already[0]} is set, "
                "but localhost inside the container is the container itself, where no "
                "database runs."
            )
            action = f"Point {already[0]} at a database the container can reach, and redeploy."
            return Explanation(cause, action, variables=(already[0],))
        cause = (
            f"The app could not reach a {what} database: with no database configured it tried "
            f"{where}, and no database runs inside the container."
        )
        names = (
            preferred[0]
            if len(preferred) == 1
            else (f"{preferred[0]} (or {', '.join(preferred[1:])}, whichever the app reads)")
        )
        action = f"Set {names} to a database the app can reach. {WHERE_TO_SET}"
        return Explanation(cause, action, variables=tuple(preferred))
    return None


def explain_app_exit(
    logs: str, *, env_names: Collection[str] = (), code_reads: Collection[str] = ()
) -> Explanation | None:
    """Why an app stopped during start-up, when its log says: a variable that is not set,
    a database it looked for on localhost. `env_names` are the variables the project sets
    (names only); `code_reads` those the code is known to read."""
    database = unreachable_database(logs, env_names=env_names, code_reads=code_reads)
    names = missing_variables(logs, env_names=env_names)
    if names:
        name = names[0]
        if name in env_names:
            cause = f"The app stopped at start-up reading the environment variable {name}."
            action = (
                f"{name} is set for this project, but the app rejected its value or read it "
                "before it was set: check the value under Environment Variables."
            )
        else:
            cause = (
                f"The app stopped at start-up because the environment variable {name} is not set."
            )
            action = WHERE_TO_SET.replace("it", name, 1)
        return Explanation(cause, action, variables=tuple(names[:3]))
    return database
