"""Per-file scanners: the patterns that find variable names (and defaults) in one file.

Each scanner takes the scan (whose `add()` filters and merges), the file's bytes, its
relative path and its priority. Patterns run over bytes and start with a literal, so a file
with nothing of interest costs one substring search per pattern.
"""

from __future__ import annotations

import io
import json
import re
import shlex
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from envvars.detection import _Scan

_JS_PATTERNS = (
    (re.compile(rb"process\.env\.([A-Za-z_$][\w$]*)"), "process.env"),
    (re.compile(rb"process\.env\[\s*[\"'`]([^\"'`\]\s]+)[\"'`]\s*\]"), "process.env"),
    (re.compile(rb"import\.meta\.env\.([A-Za-z_$][\w$]*)"), "import.meta.env"),
)
_JS_FALLBACK = re.compile(rb"\s*(?:\|\||\?\?)\s*([\"'`])([^\"'`\n]*)\1")
_JS_DESTRUCTURE = re.compile(rb"(?:const|let|var)\s*\{([^{}]{0,2000})\}\s*=\s*process\.env\b")

MAX_YAML_BYTES = 256 * 1024
_ARGS = rb"([^()]{0,400})"  # the rest of a call's arguments, up to the first parenthesis
# Each pattern starts with a literal (Python's `re` then skips ahead with a fast substring
# search; a leading look-behind would be tried at every byte). What may precede the match
# is checked afterwards: nothing identifier-like, or exactly one of the qualifiers.
_PY_PATTERNS = (
    (re.compile(rb"getenv\(\s*[\"'](\w+)[\"']" + _ARGS), "os.getenv", (b"os.",)),
    (re.compile(rb"environ\.get\(\s*[\"'](\w+)[\"']" + _ARGS), "os.environ.get", (b"os.",)),
    (re.compile(rb"environ\[\s*[\"'](\w+)[\"']\s*\]()"), "os.environ", (b"os.",)),
    (re.compile(rb"env(?:\.\w+)?\(\s*[\"'](\w+)[\"']" + _ARGS), "django-environ", ()),
    (re.compile(rb"config\(\s*[\"'](\w+)[\"']" + _ARGS), "decouple", (b"decouple.",)),
)
_POSITIONAL_DEFAULT = frozenset({"os.getenv", "os.environ.get", "ENV.fetch"})
_GO_PATTERNS = (
    (re.compile(rb"os\.Getenv\(\s*\"(\w+)\"\s*\)"), "os.Getenv", ()),
    (re.compile(rb"os\.LookupEnv\(\s*\"(\w+)\"\s*\)"), "os.LookupEnv", ()),
)
_RUBY_PATTERNS = (
    (re.compile(rb"ENV\[\s*[\"'](\w+)[\"']\s*\]()"), "ENV[]", ()),
    (re.compile(rb"ENV\.fetch\(\s*[\"'](\w+)[\"']" + _ARGS), "ENV.fetch", ()),
)
_IDENTIFIER_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.$")


def _stands_alone(data: bytes, start: int, qualifiers: tuple[bytes, ...]) -> bool:
    """The match at `start` is a bare name (`getenv(`) or qualified as allowed (`os.getenv(`)."""
    for qualifier in qualifiers:
        if data.endswith(qualifier, 0, start):
            start -= len(qualifier)
            break
    return start == 0 or data[start - 1] not in _IDENTIFIER_BYTES


_LITERAL = re.compile(r"""\s*(?:(["'])(.*?)\1|(-?\d+(?:\.\d+)?|True|False|true|false|nil))""")
_KWARG_DEFAULT = re.compile(r"\bdefault\s*=")
_COMPOSE_REF = re.compile(r"\$\$|\$\{([A-Za-z_]\w*)(?:(:?[-=?+])([^}]*))?\}|\$([A-Za-z_]\w*)")
_SCRIPT_REF = re.compile(r"\$\{?([A-Z_][A-Z0-9_]*)\}?")
_DOCKER_INSTRUCTION = re.compile(r"^[ \t]*(ENV|ARG)[ \t]+(.+)$", re.IGNORECASE | re.MULTILINE)


def _literal(text: str) -> str | None:
    match = _LITERAL.match(text)
    if not match:
        return None
    if match.group(1):
        return match.group(2)
    return match.group(3)


def _call_default(source: str, rest: bytes) -> str | None:
    """The default a call's remaining arguments give (`, "x"` or `default="x"`), if literal.

    Only `os.getenv`, `os.environ.get` and `ENV.fetch` take a positional default; for
    django-environ and decouple the second positional argument is a cast, not a default.
    """
    if not rest:
        return None
    text = rest.decode("utf-8", "replace")
    kwarg = _KWARG_DEFAULT.search(text)
    if kwarg:
        return _literal(text[kwarg.end() :])
    stripped = text.lstrip()
    if source in _POSITIONAL_DEFAULT and stripped.startswith(","):
        return _literal(stripped[1:])
    return None


def _scan_js(scan: _Scan, data: bytes, path: str, priority: int) -> None:
    if b"env" not in data:
        return
    for pattern, source in _JS_PATTERNS:
        for match in pattern.finditer(data):
            fallback = _JS_FALLBACK.match(data, match.end())
            default = fallback.group(2).decode("utf-8", "replace") if fallback else None
            scan.add(match.group(1).decode("ascii", "replace"), path, source, priority, default)
    if b"} = process.env" in data or b"}=process.env" in data:
        for match in _JS_DESTRUCTURE.finditer(data):
            for part in match.group(1).decode("utf-8", "replace").split(","):
                name, _, default = part.partition("=")
                name = name.split(":")[0].strip()
                value = _literal(default) if default else None
                if not name.startswith("..."):
                    scan.add(name, path, "process.env", priority, value)


def _scan_calls(patterns, triggers: tuple[bytes, ...]):
    def scanner(scan: _Scan, data: bytes, path: str, priority: int) -> None:
        if not any(trigger in data for trigger in triggers):
            return
        for pattern, source, qualifiers in patterns:
            for match in pattern.finditer(data):
                if not _stands_alone(data, match.start(), qualifiers):
                    continue
                default = _call_default(source, match.group(2)) if match.lastindex == 2 else None
                scan.add(match.group(1).decode("ascii", "replace"), path, source, priority, default)

    return scanner


_scan_py = _scan_calls(_PY_PATTERNS, (b"env", b"config("))
_scan_go = _scan_calls(_GO_PATTERNS, (b"Getenv(", b"LookupEnv("))
_scan_rb = _scan_calls(_RUBY_PATTERNS, (b"ENV",))


def _scan_env_example(scan: _Scan, data: bytes, path: str, priority: int) -> None:
    from dotenv.parser import parse_stream

    source = path.rsplit("/", 1)[-1]
    for binding in parse_stream(io.StringIO(data.decode("utf-8", "replace"))):
        if binding.key:
            default = binding.value or None
            scan.add(binding.key, path, source, priority, default, declared=True)


def _scan_app_json(scan: _Scan, data: bytes, path: str, priority: int) -> None:
    try:
        env = json.loads(data).get("env")
    except (ValueError, AttributeError):
        return
    if not isinstance(env, dict):
        return
    for name, spec in env.items():
        default = description = None
        if isinstance(spec, str):
            default = spec
        elif isinstance(spec, dict):
            value, text = spec.get("value"), spec.get("description")
            default = value if isinstance(value, str) and value != "" else None
            description = text if isinstance(text, str) else None
        scan.add(
            str(name), path, "app.json", priority, default, declared=True, description=description
        )


def _scan_package_json(scan: _Scan, data: bytes, path: str, priority: int) -> None:
    _scan_js(scan, data, path, priority)
    try:
        scripts = json.loads(data).get("scripts")
    except (ValueError, AttributeError):
        return
    if isinstance(scripts, dict):
        for command in scripts.values():
            if isinstance(command, str):
                for match in _SCRIPT_REF.finditer(command):
                    scan.add(match.group(1), path, "package.json scripts", priority)


def _scan_compose(scan: _Scan, data: bytes, path: str, priority: int) -> None:
    text = data.decode("utf-8", "replace")
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        for match in _COMPOSE_REF.finditer(line):
            name = match.group(1) or match.group(4)
            if not name:
                continue  # "$$", a literal dollar
            operator, argument = match.group(2), match.group(3)
            default = argument if operator in {"-", ":-", "=", ":="} else None
            scan.add(name, path, "compose ${}", priority, default)
    if len(data) <= MAX_YAML_BYTES:  # a real compose file is small; parsing YAML is not free
        for name in _compose_passthrough(text):
            scan.add(name, path, "compose environment", priority)


def _compose_passthrough(text: str) -> list[str]:
    """`environment:` entries with no value: Compose takes them from the caller's environment."""
    import yaml

    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        document = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError:
        return []
    services = document.get("services") if isinstance(document, dict) else None
    names: list[str] = []
    if not isinstance(services, dict):
        return names
    for service in services.values():
        env = service.get("environment") if isinstance(service, dict) else None
        if isinstance(env, list):
            names += [item for item in env if isinstance(item, str) and "=" not in item]
        elif isinstance(env, dict):
            names += [str(key) for key, value in env.items() if value is None]
    return names


def _scan_dockerfile(scan: _Scan, data: bytes, path: str, priority: int) -> None:
    text = re.sub(r"\\[ \t]*\r?\n", " ", data.decode("utf-8", "replace"))
    for match in _DOCKER_INSTRUCTION.finditer(text):
        instruction, rest = match.group(1).upper(), match.group(2).strip()
        try:
            tokens = shlex.split(rest)
        except ValueError:
            tokens = rest.split()
        if not tokens:
            continue
        if instruction == "ENV" and "=" not in tokens[0]:
            # Legacy form: `ENV NAME value with spaces`.
            name, _, value = rest.partition(" ")
            scan.add(name.strip(), path, "Dockerfile ENV", priority, value.strip() or None)
            continue
        for token in tokens:
            name, equals, value = token.partition("=")
            default = value if equals else None
            if instruction == "ARG":
                scan.add(name, path, "Dockerfile ARG", priority, default, build_time=True)
            else:
                scan.add(name, path, "Dockerfile ENV", priority, default)


SCANNERS = {
    "js": _scan_js,
    "py": _scan_py,
    "go": _scan_go,
    "rb": _scan_rb,
    "package_json": _scan_package_json,
    "app_json": _scan_app_json,
    "env_example": _scan_env_example,
    "compose": _scan_compose,
    "dockerfile": _scan_dockerfile,
}
