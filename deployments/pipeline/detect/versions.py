"""Python and Node versions: from the repo's pins and ranges, defaults from settings."""

from __future__ import annotations

import ast
import configparser
import re
from collections.abc import Callable

from django.conf import settings

from .repo import Repo, read_toml


def version_parts(text: str) -> tuple[int, ...] | None:
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


def satisfiable(prefix: tuple[int, ...], groups: list[list[Comparator]]) -> bool:
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


def pep440_groups(spec: str) -> list[list[Comparator]] | None:
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


def semver_groups(spec: str) -> list[list[Comparator]] | None:
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


# The release lines official images are published for (and base-images.sh builds here).
# A version outside them is served by the nearest one, with a warning naming both.
DEFAULT_PYTHON_VERSIONS = ("3.9", "3.10", "3.11", "3.12", "3.13", "3.14")
DEFAULT_NODE_VERSIONS = ("18", "20", "22", "24")


def _configured(name: str, default: tuple[str, ...]) -> list[str]:
    value = getattr(settings, name, None)
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",")]
    return [str(v) for v in (value or default) if str(v).strip()]


def supported_python_versions() -> list[str]:
    return _configured("BUTLER_PYTHON_VERSIONS", DEFAULT_PYTHON_VERSIONS)


def supported_node_versions() -> list[str]:
    return _configured("BUTLER_NODE_VERSIONS", DEFAULT_NODE_VERSIONS)


def _py_key(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.split("."))


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
    if default in known and satisfiable(prefix(default), groups):
        return default
    fitting = [v for v in known if satisfiable(prefix(v), groups)]
    if not fitting:
        return None

    def distance(v: str) -> tuple[bool, int, tuple[int, ...]]:
        a, b = prefix(v), prefix(default)
        gap = abs((a[0] - b[0]) * 100 + (a[-1] - b[-1] if len(a) > 1 else 0))
        return (not prefer(v), gap, tuple(-x for x in a))

    return min(fitting, key=distance)


def _nearest(
    wanted: list[tuple[int, ...]], supported: list[str], key: Callable[[str], tuple[int, ...]]
) -> str:
    """The supported version closest to any wanted one (the newer on a tie)."""

    def rank(v: str) -> tuple[int, tuple[int, ...]]:
        k = key(v)
        flat = lambda t: t[0] * 100 + (t[1] if len(t) > 1 else 0)  # noqa: E731
        return (min(abs(flat(k) - flat(w)) for w in wanted), tuple(-x for x in k))

    return min(supported, key=rank)


def _span(versions: list[tuple[int, ...]], label: Callable[[tuple[int, ...]], str]) -> str:
    low, high = min(versions), max(versions)
    return label(low) if low == high else f"{label(low)} to {label(high)}"


def _python_fallback(repo: Repo, source: str, spec: str, groups) -> str | None:
    """For a readable range no supported Python meets: the nearest one, with a warning."""
    universe = [(2, m) for m in range(0, 8)] + [(3, m) for m in range(0, 30)]
    wanted = [v for v in universe if groups and satisfiable(v, groups)]
    if not wanted:
        return None
    supported = supported_python_versions()
    chosen = _nearest(wanted, supported, _py_key)
    span = _span(wanted, lambda v: f"{v[0]}.{v[1]}")
    repo.notes.append(
        f"Warning: {source} '{spec}' asks for Python {span}, which no image Butler uses serves "
        f"(it has {', '.join(supported)}); using Python {chosen}, the nearest. If the app "
        "needs that version, point BUTLER_PYTHON_IMAGE at a mirror that has it."
    )
    return chosen


def _setup_python_requires(repo: Repo) -> str | None:
    """`python_requires` of setup.cfg ([options]) or setup.py (a literal keyword argument)."""
    text = repo.read("setup.cfg") if repo.is_file("setup.cfg") else None
    if text:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(text)
            value = parser.get("options", "python_requires", fallback="").strip()
        except configparser.Error:
            value = ""
        if value:
            return value
    text = repo.read("setup.py", 256_000) if repo.is_file("setup.py") else None
    if text:
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            return None
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.keyword)
                and node.arg == "python_requires"
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                return node.value.value
    return None


def python_version(repo: Repo) -> str:
    default = str(settings.BUTLER_DEFAULT_PYTHON_VERSION)
    supported = supported_python_versions()

    def exact(text: str, source: str) -> str | None:
        parts = version_parts(text)
        if not parts or len(parts) < 2 or parts[0] not in (2, 3):
            repo.notes.append(
                f"{source}: '{text.strip()}' is not a CPython version; using {default}"
            )
            return None
        version = f"{parts[0]}.{parts[1]}"
        if version in supported:
            repo.notes.append(f"Python {version} from {source}")
            return version
        chosen = _nearest([parts[:2]], supported, _py_key)
        repo.notes.append(
            f"Warning: {source} asks for Python {version}, which no image Butler uses serves "
            f"(it has {', '.join(supported)}); using Python {chosen}, the nearest. If the app "
            "needs that version, point BUTLER_PYTHON_IMAGE at a mirror that has it."
        )
        return chosen

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
    pipfile = read_toml(repo, "Pipfile")
    requires = pipfile.get("requires", {}) if pipfile else {}
    if isinstance(requires, dict) and requires.get("python_version"):
        return exact(str(requires["python_version"]), "Pipfile") or default
    pyproject = read_toml(repo, "pyproject.toml") or {}
    project = pyproject.get("project") if isinstance(pyproject.get("project"), dict) else {}
    tool = pyproject.get("tool") if isinstance(pyproject.get("tool"), dict) else {}
    poetry = tool.get("poetry") if isinstance(tool.get("poetry"), dict) else {}
    poetry_deps = poetry.get("dependencies") if isinstance(poetry.get("dependencies"), dict) else {}
    if project.get("requires-python"):
        spec, source = str(project["requires-python"]), "requires-python"
    elif isinstance(poetry_deps.get("python"), str):
        spec, source = poetry_deps["python"], "tool.poetry python"
    elif setup_spec := _setup_python_requires(repo):
        spec, source = setup_spec, "python_requires"
    if not spec:
        return default
    groups = pep440_groups(spec)
    chosen = _choose(default, supported, _py_key, groups)
    if chosen is None and groups is not None:
        fallback = _python_fallback(repo, source, spec, groups)
        if fallback:
            return fallback
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


def _node_range(repo: Repo, source: str, value: str, default: str) -> str | None:
    """The supported Node line for a range or pin; the nearest one (with a warning) when
    none fits; None when the range cannot be read."""
    lowered = value.lower()
    supported = supported_node_versions()
    if lowered.startswith("lts/") and lowered[4:] in NODE_CODENAMES:
        value = NODE_CODENAMES[lowered[4:]]
    elif lowered in ("node", "stable", "latest", "current", "lts/*", "lts", "*"):
        return default
    groups = semver_groups(value)
    version = _choose(
        default,
        supported,
        lambda v: (int(v),),
        groups,
        prefer=lambda v: int(v) % 2 == 0,  # LTS lines
    )
    if version is not None:
        return version
    wanted = [(m,) for m in range(0, 60) if groups and satisfiable((m,), groups)]
    if wanted:
        chosen = _nearest(wanted, supported, lambda v: (int(v),))
        span = _span(wanted, lambda v: str(v[0]))
        repo.notes.append(
            f"Warning: {source} '{value}' asks for Node {span}, which no image Butler uses "
            f"serves (it has {', '.join(supported)}); using Node {chosen}, the nearest. If "
            "the app needs that version, point BUTLER_NODE_IMAGE at a mirror that has it."
        )
        return chosen
    repo.notes.append(f"{source} '{value}' is not a range Butler reads; using Node {default}")
    return None


def node_version(repo: Repo, pkg: dict, *, unpinned: list[str] | None = None) -> str:
    """engines.node decides; a .nvmrc/.node-version pin that satisfies it is more precise.

    With neither, and dependencies that resolve to their newest release at every install
    (`unpinned`: "latest", "*" without a lock file), the newest supported LTS line: those
    releases follow the newest Node, not Butler's default.
    """
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
        groups = semver_groups(wanted)
        if pinned and groups is not None and satisfiable((int(pinned),), groups):
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
    if unpinned:
        newest = max(
            (v for v in supported_node_versions() if v.isdigit() and int(v) % 2 == 0),
            key=int,
            default=default,
        )
        if newest != default:
            repo.notes.append(
                f"Node {newest}: {', '.join(unpinned[:3])} resolve to their newest release "
                "(no version, no lock file), which follows the newest Node; declare "
                "engines.node to choose"
            )
            return newest
    return default
