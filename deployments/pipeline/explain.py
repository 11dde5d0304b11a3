"""Turning evidence (an app's last log lines, a build's output, its listening sockets) into
what the user reads: the precise cause, and what to do about it.

Every function here is pure and returns an `Explanation`, or None when the evidence does not
show a known cause (the caller then keeps its generic message). Secrets never reach these
functions' output beyond what the evidence itself contains: they take variable *names*,
never values.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection
from dataclasses import dataclass, field

from .dockerfiles import analyze_dockerfile
from .ports import NON_APP_PORTS

WHERE_TO_SET = "Set it under the project's Environment Variables and redeploy."
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_ENV_NAME = r"[A-Z][A-Z0-9_]{1,63}"


@dataclass(frozen=True)
class Explanation:
    cause: str  # what happened, precisely
    action: str  # what to do
    variables: tuple[str, ...] = ()  # environment variables it names
    hosts: tuple[str, ...] = ()  # hosts a build could not reach
    extra: dict = field(default_factory=dict, compare=False)

    def __str__(self) -> str:
        return f"{self.cause} {self.action}".strip()


def _clean(text: str) -> str:
    return _ANSI.sub("", text or "").replace("\r", "")


# ---------------------------------------------------------------------------------------------
# An app that exits at start


# (pattern, group naming the variable); searched line by line, first hit wins.
_MISSING_VARIABLE = [
    re.compile(rf"ImproperlyConfigured: Set the ({_ENV_NAME}) environment variable"),
    re.compile(rf"UndefinedValueError: ({_ENV_NAME}) not found"),
    re.compile(rf"EnvError: Environment variable \"?({_ENV_NAME})\"? not set"),
    re.compile(rf"Environment variable not found: ({_ENV_NAME})"),
    re.compile(
        rf"(?i:missing|required|undefined|unset)\s+(?i:environment|env)\s+(?i:variables?)\s*:?\s*"
        rf"[\"'`]?({_ENV_NAME})\b"
    ),
    re.compile(
        rf"(?i:environment|env)\s+(?i:variable)\s+[\"'`]?({_ENV_NAME})[\"'`]?\s+"
        r"(?i:is\s+)?(?i:not\s+set|not\s+defined|missing|required|undefined|must\s+be\s+set)"
    ),
    re.compile(
        rf"\b({_ENV_NAME})\s+(?i:environment\s+variable\s+)?(?i:is\s+not\s+set|is\s+not\s+defined|"
        r"must\s+be\s+set|is\s+required|is\s+missing|not\s+set)\b"
    ),
    re.compile(
        rf"(?i:please\s+set|you\s+must\s+set|no)\s+(?:the\s+)?[\"'`]?({_ENV_NAME})[\"'`]?"
        r"(?:\s+(?i:environment\s+variable|env\s+var))"
    ),
    re.compile(rf"(?i:missing)\s+[\"'`]?({_ENV_NAME})[\"'`]?\s*(?:$|\(|:|\.)"),
]
_KEY_ERROR = re.compile(rf"^KeyError: ['\"]({_ENV_NAME})['\"]\s*$")
_ENVIRON_READ = re.compile(rf"environ\s*\[\s*['\"]({_ENV_NAME})['\"]\s*\]")
_PROCESS_ENV = re.compile(rf"process\.env(?:\.({_ENV_NAME})\b|\[\s*['\"]({_ENV_NAME})['\"]\s*\])")
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
    lines = _clean(logs).splitlines()
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
                match = re.match(rf"^\s+[\"']?({_ENV_NAME})[\"']?\s*[:=]", follow)
                if match:
                    found.append(match.group(1))
                elif follow.strip() and not follow.startswith((" ", "\t")):
                    break
            zod = re.findall(rf"\b({_ENV_NAME})\s*:\s*\[", line)
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
    text = _clean(logs)
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


# ---------------------------------------------------------------------------------------------
# An app that listens on localhost only


_LISTEN_WORDS = re.compile(
    r"listen|running|started|serving|\bready\b|available|accepting|bound|local\s*(?:url)?\s*:", re.I
)
_LOOPBACK_URL = re.compile(
    r"\b(?:https?|tcp|ws)://(?P<host>127\.0\.0\.1|localhost|\[::1\]|\[::ffff:127\.0\.0\.1\])"
    r":(?P<port>\d{1,5})\b"
)
_LOOPBACK_HOSTPORT = re.compile(
    r"(?<![\w.:/\[])(?P<host>127\.0\.0\.1|\[::1\])[:.](?P<port>\d{1,5})(?!\d)"
)
_WILDCARD_HINT = re.compile(
    r"0\.0\.0\.0|\[::\]|network\s*(?:url)?\s*:\s*https?://|on all (?:interfaces|addresses)", re.I
)


def loopback_from_logs(logs: str) -> list[int]:
    """Ports an app's log says it listens on at a loopback address only ("Server listening
    at http://127.0.0.1:3000"). Lines that also name 0.0.0.0 or a network URL do not count.
    This is a hint: many apps print `localhost` and listen everywhere."""
    text = _clean(logs)
    if _WILDCARD_HINT.search(text):
        return []
    ports: list[int] = []
    for line in text.splitlines():
        if not _LISTEN_WORDS.search(line):
            continue
        for pattern in (_LOOPBACK_URL, _LOOPBACK_HOSTPORT):
            for match in pattern.finditer(line):
                port = int(match.group("port"))
                if 0 < port <= 65535 and port not in NON_APP_PORTS and port not in ports:
                    ports.append(port)
    return ports


def _is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _is_wildcard(address: str) -> bool:
    return address in ("0.0.0.0", "::")


# Docker's embedded DNS server listens there (on a random port) in every container of a
# user-defined network: it is the engine's, never the app's.
DOCKER_DNS = "127.0.0.11"


def loopback_only(sockets: list[tuple[str, int]], port: int | None) -> list[tuple[str, int]]:
    """The loopback listeners that explain why `port` does not answer from outside: those
    on `port` when nothing listens there on every address; when nothing listens on `port` at
    all, loopback listeners on any app-like port."""
    sockets = [(a, p) for a, p in sockets if a != DOCKER_DNS]
    wildcard = {p for a, p in sockets if _is_wildcard(a)}
    loopback = [(a, p) for a, p in sockets if _is_loopback(a) and p not in wildcard]
    on_port = [(a, p) for a, p in loopback if p == port]
    if on_port:
        return on_port
    if port is not None and any(p == port for _, p in sockets):
        return []  # something listens on the port on a real address
    if wildcard - NON_APP_PORTS:
        return []  # it listens everywhere on another port: a port question, not loopback
    return [(a, p) for a, p in loopback if p not in NON_APP_PORTS]


def explain_loopback(port: int, addresses: list[str], *, from_logs: bool = False) -> Explanation:
    shown = ", ".join(dict.fromkeys(addresses)) or "127.0.0.1"
    how = "its log says it listens" if from_logs else "it listens"
    cause = (
        f"The app cannot be reached: {how} on {shown} port {port} inside the container, an "
        "address only the container itself can connect to."
    )
    action = (
        f"Make it listen on 0.0.0.0 (all addresses) at port {port}, or the port in $PORT: "
        "for example `app.listen({ host: '0.0.0.0', port })` in Fastify, `--host 0.0.0.0` "
        "for uvicorn or Vite, `--bind 0.0.0.0:$PORT` for gunicorn, or a HOST=0.0.0.0 "
        "environment variable if the app reads one."
    )
    return Explanation(cause, action, extra={"port": port, "addresses": addresses})


# ---------------------------------------------------------------------------------------------
# A build that failed


_HOST_ERRORS = [
    re.compile(r"getaddrinfo (?:ENOTFOUND|EAI_AGAIN) (?P<host>[\w.-]+\.[a-z]{2,})", re.I),
    re.compile(r"Could not resolve host:? (?P<host>[\w.-]+\.[a-z]{2,})", re.I),
    re.compile(r"Failed to establish a new connection.*?host='?(?P<host>[\w.-]+\.[a-z]{2,})", re.I),
    re.compile(r"HTTPSConnectionPool\(host='(?P<host>[\w.-]+)'", re.I),
    re.compile(
        r"(?:request to|Error when performing the request to|GET) https?://(?P<host>[\w.-]+\.[a-z]{2,})[^\s]*"
        r"(?:.*(?:failed|ENOTFOUND|ECONNREFUSED|ETIMEDOUT|ECONNRESET))",
        re.I,
    ),
    re.compile(r"unable to (?:access|connect to) '?https?://(?P<host>[\w.-]+\.[a-z]{2,})", re.I),
    re.compile(r"Temporary failure (?:in name )?resolving '(?P<host>[\w.-]+)'", re.I),
    re.compile(
        r"connect (?:ETIMEDOUT|ECONNREFUSED|ENETUNREACH) .*?\(?(?P<host>[a-z][\w.-]+\.[a-z]{2,})",
        re.I,
    ),
    re.compile(
        r"(?:Failed to fetch|Failed to download|Error downloading|could not download)"
        r".*?https?://(?P<host>[\w.-]+\.[a-z]{2,})",
        re.I,
    ),
]
_WHO = [
    # (pattern of the log, what reached out)
    (re.compile(r"fonts\.(?:googleapis|gstatic)\.com"), "Google Fonts (e.g. next/font/google)"),
    (
        re.compile(r"prebuild-install|node-pre-gyp|prebuilt", re.I),
        "a native module's prebuilt binary download",
    ),
    (
        re.compile(r"node-gyp.*(?:headers|nodejs\.org)|nodejs\.org/download", re.I),
        "node-gyp fetching Node's headers",
    ),
    (re.compile(r"sharp|libvips", re.I), "sharp's libvips download"),
    (
        re.compile(r"pngquant|mozjpeg|optipng|gifsicle|cwebp|imagemin", re.I),
        "an image optimiser's binary download",
    ),
    (re.compile(r"puppeteer|playwright|chromium", re.I), "a headless browser download"),
    (re.compile(r"cypress", re.I), "Cypress's binary download"),
]


def unreachable_hosts(log: str) -> list[str]:
    """Hosts a build step tried and failed to reach, in order of appearance."""
    text = _clean(log)
    hosts: list[str] = []
    for line in text.splitlines():
        for pattern in _HOST_ERRORS:
            for match in pattern.finditer(line):
                host = match.group("host").lower().rstrip(".")
                if host not in hosts and not host.endswith((".js", ".json", ".py", ".ts")):
                    hosts.append(host)
    return hosts


_BUILDKIT = re.compile(r"the --(\w+) option requires BuildKit|requires BuildKit", re.I)
_MISSING_TOOL = [
    (
        re.compile(r"pg_config executable not found|libpq-fe\.h: No such file", re.I),
        "psycopg2 compiles against libpq, which the image lacks",
        "Use psycopg2-binary, or a Debian-based image (Butler's generated images install libpq-dev for psycopg2).",
    ),
    (
        re.compile(
            r"mysql_config not found|Can not find valid pkg-config name|mysqlclient.*pkg-config",
            re.I,
        ),
        "mysqlclient compiles against the MySQL client library, which the image lacks",
        "Install default-libmysqlclient-dev and pkg-config in the image, or use PyMySQL.",
    ),
    (
        re.compile(
            r"gyp ERR! stack Error: not found: make|gyp ERR! .*(?:make|g\+\+|cc): not found|No C\+\+ compiler",
            re.I,
        ),
        "a native Node module had to be compiled, and the image has no compiler",
        "Use a dependency version with prebuilt binaries, or a Dockerfile that installs python3, make and g++ before the install.",
    ),
    (
        re.compile(
            r"error: command '(?:gcc|cc|x86_64-linux-gnu-gcc)' failed|gcc: (?:command )?not found|unable to execute 'gcc'",
            re.I,
        ),
        "a Python package had to be compiled, and the image has no C compiler",
        "Pin a version with wheels for this Python version, or a Dockerfile that installs gcc and the package's -dev libraries.",
    ),
]


_NPM_ENGINE = re.compile(
    r"EBADENGINE\s+package:\s*'(?P<package>[^']+)'.*?required:\s*\{\s*node:\s*'(?P<required>[^']+)'"
    r".*?current:\s*\{\s*node:\s*'(?P<current>[^']+)'",
    re.S,
)
_YARN_ENGINE = re.compile(
    r"(?P<package>\S+): The engine \"node\" is incompatible with this module\. Expected version "
    r"\"(?P<required>[^\"]+)\"\. Got \"(?P<current>[^\"]+)\""
)
_PNPM_ENGINE = re.compile(
    r"Unsupported engine.*?(?P<package>[@\w./-]+@[\w.-]+)?[^\n]*wanted:\s*\{\s*\"node\":\s*"
    r"\"(?P<required>[^\"]+)\"\s*\}\s*\(current:\s*\{\s*\"node\":\s*\"(?P<current>[^\"]+)\"",
)


def node_engine_mismatch(log: str) -> Explanation | None:
    """Dependencies whose `engines.node` the Node of the build does not meet (npm's
    EBADENGINE, yarn's and pnpm's engine errors): the likely cause of a failed build."""
    text = _clean(log)
    for pattern in (_NPM_ENGINE, _YARN_ENGINE, _PNPM_ENGINE):
        match = pattern.search(text)
        if match:
            package = match.group("package") or "a dependency"
            required, current = match.group("required"), match.group("current")
            cause = (
                f"The dependencies need a newer Node than the build ran: {package} requires "
                f"Node {required}, and the image runs Node {current.lstrip('v')}."
            )
            action = (
                f'Declare it in package.json ("engines": {{"node": "{required}"}}) so Butler '
                "picks a matching image, commit a lock file that pins versions supporting "
                f"Node {current.lstrip('v')}, or point BUTLER_NODE_IMAGE at an image that "
                "really runs the Node it is tagged with."
            )
            return Explanation(cause, action, extra={"required": required, "current": current})
    return None


def explain_build_failure(log_tail: str, error: str = "") -> Explanation | None:
    """Why a build failed, when its output says: a host it could not reach (fonts, CDNs,
    GitHub release downloads), BuildKit-only syntax, a missing compiler or C library, a
    dependency that needs a newer Node than the image runs."""
    text = f"{_clean(error)}\n{_clean(log_tail)}"
    buildkit = _BUILDKIT.search(text)
    if buildkit:
        option = f"--{buildkit.group(1)}" if buildkit.group(1) else "its syntax"
        return Explanation(
            f"The Dockerfile uses {option}, which needs BuildKit; Butler builds with Docker's "
            "classic builder.",
            f"Rewrite the step without {option} (a cache mount can simply be dropped).",
        )
    hosts = unreachable_hosts(text)
    if hosts:
        who = next((label for pattern, label in _WHO if pattern.search(text)), None)
        named = ", ".join(hosts[:3])
        by = f" ({who})" if who else ""
        cause = (
            f"A build step could not reach {named}{by}: the build runs on a network that only "
            "reaches the package registries."
        )
        action = (
            "Make the build work without that download: self-host the fonts or assets, pin a "
            "dependency version whose binaries come from the package registry, or have the "
            f"Docker host allow {hosts[0]}."
        )
        return Explanation(cause, action, hosts=tuple(hosts))
    for pattern, cause, action in _MISSING_TOOL:
        if pattern.search(text):
            return Explanation(f"The build failed: {cause}.", action)
    return node_engine_mismatch(text)


# ---------------------------------------------------------------------------------------------
# A base image that cannot be had

_SETTINGS = (
    ("BUTLER_PYTHON_IMAGE", re.compile(r"(?:^|/)python:")),
    ("BUTLER_NODE_IMAGE", re.compile(r"(?:^|/)node:")),
    ("BUTLER_NGINX_IMAGE", re.compile(r"(?:^|/)nginx:")),
)


def explain_missing_image(
    image: str,
    *,
    generated: bool,
    dockerfile: str = "Dockerfile",
    dockerfile_text: str = "",
    missing: Collection[str] = (),
    alternatives: Collection[str] = (),
) -> Explanation:
    """A base image neither present nor pullable. For a generated Dockerfile: the setting that
    maps it to a mirror. For the repo's own: which line to change, every other image the
    build needs that is missing too (`missing`, checked by the caller), and what Butler could
    build instead (`alternatives`: strategy families from the plan)."""
    if generated:
        setting = next((name for name, pattern in _SETTINGS if pattern.search(image)), None)
        cause = (
            f"The base image '{image}' is not available on this Docker Engine and cannot be pulled."
        )
        if setting:
            action = (
                f"Make it available (docker pull {image} on the Docker host), or set {setting} "
                "to a mirror that has it (e.g. registry.example.com/library/"
                f"{image.split('/')[-1].split(':')[0]}:{{version}}-slim)."
            )
        else:
            action = f"Make it available on the Docker host (docker pull {image})."
        return Explanation(cause, action)
    info = analyze_dockerfile(dockerfile_text) if dockerfile_text else None
    line = info.from_lines.get(image) if info else None
    images = [image, *(i for i in missing if i != image)]
    where = f"{dockerfile} line {line}" if line else dockerfile
    listed = "', '".join(images)
    cause = (
        f"The image{'s' if len(images) > 1 else ''} '{listed}' that {dockerfile} builds from "
        f"{'are' if len(images) > 1 else 'is'} not available on this Docker Engine and cannot "
        "be pulled."
    )
    action = (
        f"Change {where} to an image the engine has (or a mirror of it), or make it available "
        f"on the Docker host (docker pull {image})."
    )
    better = [a for a in alternatives if a not in ("dockerfile", "compose")]
    if better:
        action += (
            f" Butler can also build this repository without the Dockerfile: set the project's "
            f"strategy to '{better[0]}'."
        )
    return Explanation(cause, action)
