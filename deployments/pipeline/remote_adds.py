"""`ADD <url>` in a Dockerfile, fetched by Butler instead of the Docker daemon.

The daemon downloads `ADD` URLs itself, from the host's own network: a Dockerfile could read
services listening only on the host's loopback (`ADD http://127.0.0.1:…`) or the cloud
metadata address into its image. Butler downloads every such URL through `core.fetch` (the
address checked, then pinned), puts the file in the build context, and builds with
`COPY .butler-fetch/<n>/<name> <dest>` in its place, which is what `ADD <url>` does: a file,
not extracted, mode 0600. Every other line of the Dockerfile is left exactly as it was.
(A later `COPY . .` also copies `.butler-fetch/` into the image: the classic builder cannot
leave out of the context what a step then copies from it.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from posixpath import basename
from urllib.parse import unquote, urlsplit

from core.fetch import FetchFailed

FETCH_DIR = ".butler-fetch"
_URL = re.compile(r"^https?://", re.I)
_DIRECTIVE = re.compile(r"^#\s*escape\s*=\s*(\S)\s*$", re.I)
_VAR = re.compile(r"\$(?:\{(\w+)(?::?-([^}]*))?\}|(\w+))")


class RemoteAddRefused(Exception):
    """An `ADD <url>` that Butler will not (or could not) fetch; the message says why."""


def localize_remote_adds(
    text: str,
    *,
    build_args: dict[str, str],
    fetch: Callable[[str], bytes],
    on_fetch: Callable[[str, int], None] | None = None,
) -> tuple[str, dict[str, bytes]]:
    """The Dockerfile with its remote `ADD`s turned into `COPY`s, and the fetched files by
    their path in the build context. `text` comes back unchanged when it has none."""
    lines = text.splitlines(keepends=True)
    escape = "\\"
    for raw in lines:
        match = _DIRECTIVE.match(raw.strip())
        if match:
            escape = match.group(1)
        elif raw.strip():
            break
    out: list[str] = []
    files: dict[str, bytes] = {}
    known: dict[str, str] = {}
    index = 0
    while index < len(lines):
        raw = lines[index]
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            out.append(raw)
            index += 1
            continue
        end = index
        while lines[end].rstrip("\r\n").rstrip().endswith(escape) and end + 1 < len(lines):
            end += 1
        block = lines[index : end + 1]
        logical = " ".join(
            part.rstrip("\r\n").rstrip().removesuffix(escape).strip()
            for part in block
            if part.strip() and not part.strip().startswith("#")
        )
        keyword, _, value = logical.partition(" ")
        keyword = keyword.upper()
        _remember(keyword, value, known, build_args)
        if keyword == "ADD":
            replaced = _rewrite_add(value, known, files, fetch, on_fetch)
            if replaced is not None:
                out.append(replaced)
                index = end + 1
                continue
        out.extend(block)
        index = end + 1
    return ("".join(out) if files else text), files


def _remember(keyword: str, value: str, known: dict[str, str], build_args: dict[str, str]):
    """ARG defaults (or the build's args) and ENV values, for `${VAR}` in a URL."""
    if keyword == "FROM":
        known.clear()
        return
    if keyword not in ("ARG", "ENV"):
        return
    if keyword == "ENV" and "=" not in value.split(" ", 1)[0]:
        name, _, rest = value.partition(" ")
        known[name] = rest.strip().strip("\"'")
        return
    for item in value.split():
        name, eq, default = item.partition("=")
        if keyword == "ARG":
            known[name] = build_args.get(name, default.strip("\"'") if eq else known.get(name, ""))
        elif eq:
            known[name] = _substitute(default.strip("\"'"), known)


def _substitute(value: str, known: dict[str, str]) -> str:
    def repl(match: re.Match) -> str:
        name = match.group(1) or match.group(3)
        if name in known and known[name] != "":
            return known[name]
        if match.group(2) is not None:
            return match.group(2)
        return match.group(0)

    return _VAR.sub(repl, value)


def _rewrite_add(value, known, files, fetch, on_fetch) -> str | None:
    if value.lstrip().startswith("["):
        try:
            words = json.loads(value)
        except ValueError:
            return None
        flags = []
    else:
        words = value.split()
        flags = []
        while words and words[0].startswith("--"):
            flags.append(words.pop(0))
    if len(words) < 2:
        return None
    *sources, dest = words
    remote = [s for s in sources if _URL.match(s)]
    if not remote:
        return None
    local = [s for s in sources if not _URL.match(s)]
    fetched = []
    for source in remote:
        url = _substitute(source, known)
        if "$" in url:
            raise RemoteAddRefused(
                f"ADD {source}: Butler downloads ADD URLs itself and cannot tell what this "
                "variable holds. Write the URL out, or download it in a RUN step."
            )
        try:
            data = fetch(url)
        except FetchFailed as exc:
            raise RemoteAddRefused(f"ADD {url}: {exc}") from None
        name = basename(unquote(urlsplit(url).path)) or "download"
        path = f"{FETCH_DIR}/{len(files)}/{name}"
        files[path] = data
        fetched.append(path)
        if on_fetch is not None:
            on_fetch(url, len(data))
    many = len(sources) > 1 and not dest.endswith("/")
    dest = dest + "/" if many else dest
    copy_flags = [f for f in flags if f.startswith("--chown")]
    lines = []
    if local:
        lines.append(" ".join(["ADD", *flags, *local, dest]))
    lines.append(" ".join(["COPY", *copy_flags, *fetched, dest]))
    return "\n".join(lines) + "\n"
