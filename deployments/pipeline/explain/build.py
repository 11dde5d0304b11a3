"""A build that failed: a host it could not reach, BuildKit-only syntax, a missing compiler or
library, a dependency needing a newer Node; a base image that cannot be had."""

from __future__ import annotations

import re
from collections.abc import Collection

from ..dockerfiles import analyze_dockerfile
from .base import Explanation, clean

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
    text = clean(log)
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
    text = clean(log)
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
    text = f"{clean(error)}\n{clean(log_tail)}"
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
    where = f"{dockerfile} line {line} (its FROM)" if line else f"the FROM line of {dockerfile}"
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
