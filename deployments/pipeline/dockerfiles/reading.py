"""Reading Dockerfiles: instructions, variable substitution, the images a build needs."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, ARG, ENV, EXPOSE, ...
    value: str  # the rest of the logical line, continuations joined
    line: int  # 1-based line where the instruction starts


_DIRECTIVE = re.compile(r"^#\s*(\w+)\s*=\s*(\S+)\s*$")


def parse_dockerfile(text: str) -> list[Instruction]:
    """Logical instructions of a Dockerfile (comments dropped, `\\` continuations joined)."""
    lines = text.splitlines()
    escape = "\\"
    for raw in lines:  # parser directives only count before anything else
        match = _DIRECTIVE.match(raw.strip())
        if not match:
            break
        if match.group(1).lower() == "escape" and match.group(2) in ("\\", "`"):
            escape = match.group(2)
    out: list[Instruction] = []
    parts: list[str] = []
    start = 0
    for number, raw in enumerate(lines, 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue  # also inside a continuation, as Docker does
        if not parts:
            start = number
        body = raw.rstrip()
        if body.endswith(escape):
            parts.append(body[: -len(escape)])
            continue
        parts.append(body)
        keyword, _, value = " ".join(p.strip() for p in parts).partition(" ")
        out.append(Instruction(keyword.upper(), value.strip(), start))
        parts = []
    if parts:
        keyword, _, value = " ".join(p.strip() for p in parts).partition(" ")
        out.append(Instruction(keyword.upper(), value.strip(), start))
    return out


_VAR = re.compile(r"\\\$|\$(?:\{(\w+)(?::?([-+])([^}]*))?\}|(\w+))")


def substitute(value: str, env: dict[str, str]) -> str:
    """Docker's `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR:+alt}`; unknown names are empty."""

    def repl(match: re.Match[str]) -> str:
        if match.group(0) == "\\$":
            return "$"
        current = env.get(match.group(1) or match.group(4), "")
        if match.group(2) == "-":
            return current or match.group(3)
        if match.group(2) == "+":
            return match.group(3) if current else ""
        return current

    return _VAR.sub(repl, value)


def _assignments(value: str) -> list[tuple[str, str | None]]:
    """`K=V K2="a b"` pairs (ARG, ENV, LABEL style); a bare `K` has no value."""
    try:
        words = shlex.split(value, posix=True)
    except ValueError:
        words = value.split()
    pairs: list[tuple[str, str | None]] = []
    for word in words:
        name, sep, val = word.partition("=")
        pairs.append((name, val if sep else None))
    return pairs


@dataclass
class DockerfileInfo:
    base_images: list[str] = field(default_factory=list)
    exposed: list[str] = field(default_factory=list)  # final stage, after substitution
    stages: list[str] = field(default_factory=list)  # stage names ("" when unnamed)
    # Images used by `COPY --from=<image>` / `RUN --mount=from=<image>`, not stages.
    copied_images: list[str] = field(default_factory=list)
    # (line, what) for syntax only BuildKit understands; the classic builder refuses it.
    buildkit_only: list[tuple[int, str]] = field(default_factory=list)
    from_lines: dict[str, int] = field(default_factory=dict)  # image -> line of its FROM

    @property
    def images(self) -> list[str]:
        """Every image the build needs from a registry or the local engine."""
        return [*self.base_images, *(i for i in self.copied_images if i not in self.base_images)]


_MOUNT = re.compile(r"--mount=(\S+)")


def _buildkit_features(inst: Instruction) -> list[str]:
    found = []
    words = inst.value.split()
    if inst.keyword == "RUN":
        for mount in _MOUNT.findall(inst.value):
            kind = re.search(r"type=(\w+)", mount)
            found.append(f"RUN --mount={kind.group(1) if kind else 'bind'}")
        if any(w.startswith(("--network=", "--security=")) for w in words):
            found.append("RUN --network/--security")
    if inst.keyword in ("COPY", "ADD"):
        if any(w == "--link" or w.startswith("--link=") for w in words):
            found.append(f"{inst.keyword} --link")
        if any(w.startswith("--chmod") for w in words):
            found.append(f"{inst.keyword} --chmod")
        if any(w.startswith("--parents") or w.startswith("--exclude") for w in words):
            found.append(f"{inst.keyword} --parents/--exclude")
    if inst.keyword in ("RUN", "COPY") and re.search(r"<<-?\s*['\"]?\w+", inst.value):
        found.append(f"{inst.keyword} heredoc")
    return found


def analyze_dockerfile(text: str) -> DockerfileInfo:
    """Base images and the final stage's EXPOSE values, with ARG/ENV defaults resolved."""
    info = DockerfileInfo()
    global_args: dict[str, str] = {}
    stage_env: list[dict[str, str]] = []
    stage_expose: list[list[str]] = []
    env: dict[str, str] | None = None  # None until the first FROM
    for inst in parse_dockerfile(text):
        info.buildkit_only += [(inst.line, f) for f in _buildkit_features(inst)]
        if inst.keyword == "FROM":
            words = [w for w in inst.value.split() if not w.startswith("--")]
            if not words:
                continue
            image = substitute(words[0], global_args)
            name = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else ""
            parent = next((i for i, s in enumerate(info.stages) if s and s == image.lower()), None)
            if parent is not None:
                env = dict(stage_env[parent])
                stage_expose.append(list(stage_expose[parent]))
            else:
                env = {}
                stage_expose.append([])
                if image.lower() != "scratch" and image not in info.base_images:
                    info.base_images.append(image)
                    info.from_lines.setdefault(image, inst.line)
            info.stages.append(name)
            stage_env.append(env)
        elif inst.keyword == "ARG":
            for name, val in _assignments(inst.value):
                if env is None:
                    global_args[name] = substitute(val or "", global_args)
                elif val is not None:
                    env.setdefault(name, substitute(val, env))
                elif name in global_args:
                    env.setdefault(name, global_args[name])
        elif inst.keyword == "ENV" and env is not None:
            pairs = _assignments(inst.value)
            if pairs and pairs[0][1] is None and len(pairs) > 1:  # legacy `ENV KEY value words`
                key, _, rest = inst.value.partition(" ")
                env[key] = substitute(rest.strip().strip("\"'"), env)
            else:
                before = dict(env)  # one ENV line substitutes from the values before it
                for name, val in pairs:
                    env[name] = substitute(val or "", before)
        elif inst.keyword == "EXPOSE" and env is not None:
            stage_expose[-1].extend(
                word for word in substitute(inst.value, env).split() if word.strip()
            )
        if inst.keyword in ("COPY", "ADD", "RUN"):
            refs = re.findall(r"--from=(\S+)", inst.value)
            refs += re.findall(r"--mount=\S*?\bfrom=([^,\s]+)", inst.value)
            for ref in refs:
                image = substitute(ref, {**global_args, **(env or {})})
                known_stage = image.lower() in info.stages or image.isdigit()
                if not known_stage and image not in info.copied_images:
                    info.copied_images.append(image)
                    info.from_lines.setdefault(image, inst.line)
    if stage_expose:
        info.exposed = stage_expose[-1]
    return info


def without_cache_mounts(text: str) -> str | None:
    """The Dockerfile with `RUN --mount=type=cache,…` flags dropped, or None if it has none.

    A cache mount only speeds builds up (package caches kept between builds); the classic
    builder refuses the flag, so dropping it builds the same image more slowly. Other mounts
    (secrets, ssh, binds) change what a step can see and are left for the build to refuse.
    """
    pattern = re.compile(r"(?<=\s)--mount=(?=[^\s]*\btype=cache\b)\S+\s+")
    changed = pattern.sub("", text)
    return changed if changed != text else None
