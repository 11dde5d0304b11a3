"""Python and Node versions: from the repo's pins and ranges, defaults from settings."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.conf import settings

from .repo import _Repo, _toml


def _vparts(text: str) -> tuple[int, ...] | None:
    match = re.match(r"^\s*v?(\d+(?:\.\d+)*)", text)
    return tuple(int(x) for x in match.group(1).split(".")) if match else None


def _pad(v: tuple[int, ...]) -> tuple[int, int, int]:
    padded = (*v, 0, 0, 0)
    return (padded[0], padded[1], padded[2])


Comparator = tuple[str, tuple[int, ...]]


def _test(version: tuple[int, int, int], comp: Comparator) -> bool:
    op, ref = comp
    if op == "=*":  # prefix match: ==3.11.* or a bare "18"
        return version[: len(ref)] == ref
    if op == "!*":
        return version[: len(ref)] != ref
    target = _pad(ref)
    return {
        ">=": version >= target,
        ">": version > target,
        "<=": version <= target,
        "<": version < target,
        "==": version == target,
        "!=": version != target,
    }[op]


def _satisfiable(prefix: tuple[int, ...], groups: list[list[Comparator]]) -> bool:
    """Does any version starting with `prefix` satisfy one of the AND-groups?"""
    numbers = {0, 999}
    for group in groups:
        for _, ref in group:
            for n in ref:
                numbers |= {n, n + 1, max(n - 1, 0)}
    free = 3 - len(prefix)
    candidates = [prefix]
    for _ in range(free):
        candidates = [(*c, n) for c in candidates for n in numbers]
    return any(all(_test(_pad(c), comp) for comp in group) for group in groups for c in candidates)


_PEP440 = re.compile(r"(~=|===|==|!=|<=|>=|<|>|\^|~|=)?\s*(\d+(?:\.\d+)*)(\.\*)?")


def _pep440_groups(spec: str) -> list[list[Comparator]] | None:
    """Simple PEP 440 specifiers (and Poetry's ^, ~, ||) as AND-groups; None if not simple."""
    groups = []
    for alternative in spec.split("||"):
        if _PEP440.sub("", alternative).replace(",", "").strip():
            return None  # pre-releases, markers, anything not simple
        group: list[Comparator] = []
        for op, number, star in _PEP440.findall(alternative):
            op, ref = op or "==", tuple(int(x) for x in number.split("."))
            if star:
                group.append(("!*" if op == "!=" else "=*", ref))
            elif op == "^":
                group += [(">=", ref), ("=*", ref[:1])]
            elif op == "~":
                group += [(">=", ref), ("=*", ref[:2] if len(ref) > 1 else ref)]
            elif op == "~=":
                group += [(">=", ref), ("=*", ref[:-1] if len(ref) > 1 else ref)]
            elif op in ("=", "==="):
                group.append(("==", ref))
            else:
                group.append((op, ref))
        if not group:
            return None
        groups.append(group)
    return groups


def _semver_groups(spec: str) -> list[list[Comparator]] | None:
    groups = []
    for alternative in spec.split("||"):
        text = alternative.strip().replace(",", " ")
        hyphen = re.match(r"^(\S+)\s+-\s+(\S+)$", text)
        if hyphen:
            text = f">={hyphen.group(1)} <={hyphen.group(2)}"
        group: list[Comparator] = []
        for token in re.findall(r"(?:[<>]=?|=|\^|~>?)?\s*[v\dxX*][\w.*]*", text):
            match = re.match(r"^([<>]=?|=|\^|~>?)?\s*v?(.*)$", token.strip())
            if not match:
                return None
            op = match.group(1) or ""
            nums = []
            for part in match.group(2).split("."):
                if not part.isdigit():
                    break
                nums.append(int(part))
            ref = tuple(nums)
            if not ref:  # "*", "x"
                continue
            if op in ("", "="):
                group.append(("==", ref) if len(ref) == 3 else ("=*", ref))
            elif op == "^":
                group += [(">=", ref), ("=*", ref[:1])]
            elif op in ("~", "~>"):
                group += [(">=", ref), ("=*", ref[:2] if len(ref) > 1 else ref)]
            elif op == ">" and len(ref) < 3:  # >18 means >=19
                group.append((">=", (*ref[:-1], ref[-1] + 1)))
            elif op == "<=" and len(ref) < 3:  # <=20 means <21
                group.append(("<", (*ref[:-1], ref[-1] + 1)))
            else:
                group.append((op, ref))
        if not group and text not in ("", "*", "x", "X", "latest"):
            return None
        groups.append(group)
    return groups


def _choose(
    default: str,
    known: list[str],
    prefix: Callable[[str], tuple[int, ...]],
    groups: list[list[Comparator]] | None,
    prefer: Callable[[str], bool] = lambda v: True,
) -> str | None:
    """The default when it satisfies the range, else the fitting version closest to it."""
    if groups is None:
        return None
    if _satisfiable(prefix(default), groups):
        return default
    fitting = [v for v in known if _satisfiable(prefix(v), groups)]
    if not fitting:
        return None

    def distance(v: str) -> tuple[bool, int, tuple[int, ...]]:
        a, b = prefix(v), prefix(default)
        gap = abs((a[0] - b[0]) * 100 + (a[-1] - b[-1] if len(a) > 1 else 0))
        return (not prefer(v), gap, tuple(-x for x in a))

    return min(fitting, key=distance)


def _python_version(repo: _Repo) -> str:
    default = str(settings.BUTLER_DEFAULT_PYTHON_VERSION)
    known = [f"3.{m}" for m in range(8, 15)]

    def exact(text: str, source: str) -> str | None:
        parts = _vparts(text)
        if parts and len(parts) >= 2 and parts[0] == 3:
            version = f"{parts[0]}.{parts[1]}"
            repo.notes.append(f"Python {version} from {source}")
            return version
        repo.notes.append(f"{source}: '{text.strip()}' is not a CPython version; using {default}")
        return None

    text = repo.read(".python-version")
    if text and text.strip():
        line = next(
            (ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")), ""
        )
        if line:
            return exact(line, ".python-version") or default
    text = repo.read("runtime.txt")
    if text and text.strip():
        return exact(text.strip().removeprefix("python-"), "runtime.txt") or default
    spec, source = None, ""
    pipfile = _toml(repo, "Pipfile")
    requires = pipfile.get("requires", {}) if pipfile else {}
    if isinstance(requires, dict) and requires.get("python_version"):
        return exact(str(requires["python_version"]), "Pipfile") or default
    pyproject = _toml(repo, "pyproject.toml") or {}
    project = pyproject.get("project") if isinstance(pyproject.get("project"), dict) else {}
    poetry_deps = pyproject.get("tool", {}).get("poetry", {}).get("dependencies", {})
    if project.get("requires-python"):
        spec, source = str(project["requires-python"]), "requires-python"
    elif isinstance(poetry_deps, dict) and isinstance(poetry_deps.get("python"), str):
        spec, source = poetry_deps["python"], "tool.poetry python"
    if not spec:
        return default
    chosen = _choose(
        default, known, lambda v: tuple(int(x) for x in v.split(".")), _pep440_groups(spec)
    )
    if chosen is None:
        repo.notes.append(
            f"{source} '{spec}' is not a simple range Butler reads; using Python {default}"
        )
        return default
    repo.notes.append(f"Python {chosen} (satisfies {source} '{spec}')")
    return chosen


# fmt: off
NODE_CODENAMES = {
    "argon": "4", "boron": "6", "carbon": "8", "dubnium": "10", "erbium": "12", "fermium": "14",
    "gallium": "16", "hydrogen": "18", "iron": "20", "jod": "22", "krypton": "24",
}
# fmt: on


def _node_range(repo: _Repo, source: str, value: str, default: str) -> str | None:
    lowered = value.lower()
    if lowered.startswith("lts/") and lowered[4:] in NODE_CODENAMES:
        return NODE_CODENAMES[lowered[4:]]
    if lowered in ("node", "stable", "latest", "current", "lts/*", "lts", "*"):
        return default
    version = _choose(
        default,
        [str(m) for m in range(14, 41)],
        lambda v: (int(v),),
        _semver_groups(value),
        prefer=lambda v: int(v) % 2 == 0,  # LTS lines
    )
    if version is None:
        repo.notes.append(f"{source} '{value}' is not a range Butler reads; using Node {default}")
    return version


def _node_version(repo: _Repo, pkg: dict) -> str:
    """engines.node decides; a .nvmrc/.node-version pin that satisfies it is more precise."""
    default = str(settings.BUTLER_DEFAULT_NODE_VERSION)
    engines = pkg.get("engines") if isinstance(pkg.get("engines"), dict) else {}
    wanted = str(engines.get("node") or "").strip()
    pin_source, pin = "", ""
    for name in (".nvmrc", ".node-version"):
        lines = (repo.read(name, 4096) or "").splitlines()
        first = next((ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")), "")
        if first:
            pin_source, pin = name, first
            break
    pinned = _node_range(repo, pin_source, pin, default) if pin else None
    if wanted:
        groups = _semver_groups(wanted)
        if pinned and groups is not None and _satisfiable((int(pinned),), groups):
            repo.notes.append(
                f"Node {pinned} from {pin_source} (satisfies engines.node '{wanted}')"
            )
            return pinned
        chosen = _node_range(repo, "engines.node", wanted, default)
        if chosen:
            repo.notes.append(f"Node {chosen} from engines.node '{wanted}'")
            return chosen
    if pinned:
        repo.notes.append(f"Node {pinned} from {pin_source} '{pin}'")
        return pinned
    return default
