"""Python dependencies: which manager installs them (pip with requirements.txt, uv, Pipenv,
Poetry, plain `pyproject.toml`, setup.py), and which packages they are — lock files included,
so a C library needed by a transitive dependency is still found.

Requirement strings are parsed by `packaging` (PEP 508: names, extras, markers), TOML files
with tomllib, Pipfile.lock as JSON.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from packaging.requirements import InvalidRequirement, Requirement

from .repo import Repo, read_toml


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class PyDeps:
    label: str
    names: set[str]
    fields: dict
    extras: dict[str, set[str]] = field(default_factory=dict)


def parse_requirement(text: str) -> Requirement | None:
    """A PEP 508 requirement (`psycopg[binary]>=3; python_version>'3.8'`), or None for
    options, URLs without a name, local paths and anything unreadable."""
    line = text.split(" #")[0].strip()
    line = re.split(r"\s+--hash[=\s]", line)[0].strip()
    if not line or line.startswith(("#", "-", ".", "/")):
        return None
    try:
        return Requirement(line)
    except InvalidRequirement:
        return None


def _collect(requirement: Requirement | None, names: set[str], extras: dict[str, set[str]]) -> None:
    if requirement is None:
        return
    name = _norm(requirement.name)
    names.add(name)
    if requirement.extras:
        extras.setdefault(name, set()).update(e.lower() for e in requirement.extras)


def _requirements(
    repo: Repo, rel: str, seen: list[str], names: set[str], extras: dict[str, set[str]]
) -> bool:
    """Collect names and included files of a requirements file; True if it needs the source."""
    if rel in seen or len(seen) > 20 or not repo.is_file(rel):
        return False
    seen.append(rel)
    base = rel.rpartition("/")[0]
    local = False
    text = (repo.read(rel) or "").lstrip("\ufeff").replace("\\\n", " ")
    for raw in text.splitlines():
        line = raw.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        include = re.match(r"^(?:-r|-c|--requirement|--constraint)[=\s]+(\S+)", line)
        if include:
            target = f"{base}/{include.group(1)}" if base else include.group(1)
            local |= _requirements(repo, target, seen, names, extras)
        elif line.startswith(("-e", "--editable", ".", "/", "file:")) or " @ file:" in line:
            local = True
        elif not line.startswith("-"):
            _collect(parse_requirement(line), names, extras)
    return local


def _lock_names(repo: Repo, rel: str) -> set[str]:
    """Every package a uv.lock or poetry.lock pins (`[[package]] name = ...`)."""
    data = read_toml(repo, rel) or {}
    packages = data.get("package") if isinstance(data.get("package"), list) else []
    return {_norm(str(p["name"])) for p in packages if isinstance(p, dict) and p.get("name")}


def _pipfile_spec(name: str, value: object) -> str | None:
    """A pip requirement for a Pipfile entry, None for git/path/editable entries."""
    if isinstance(value, str):
        return name if value.strip() in ("*", "") else f"{name}{value.strip()}"
    if not isinstance(value, dict) or any(
        k in value for k in ("git", "path", "file", "editable", "ref", "index")
    ):
        return None
    extras = value.get("extras")
    text = name + (f"[{','.join(map(str, extras))}]" if isinstance(extras, list) and extras else "")
    version = str(value.get("version") or "*").strip()
    text += "" if version == "*" else version
    markers = value.get("markers")
    return f"{text}; {markers}" if isinstance(markers, str) and markers else text


def _pipfile(repo: Repo) -> PyDeps:
    pipfile = read_toml(repo, "Pipfile") or {}
    packages = pipfile.get("packages") if isinstance(pipfile.get("packages"), dict) else {}
    names: set[str] = set()
    extras: dict[str, set[str]] = {}
    specs = [_pipfile_spec(str(n), v) for n, v in packages.items()]
    for spec in specs:
        if spec:
            _collect(parse_requirement(spec), names, extras)
    if repo.is_file("Pipfile.lock"):
        try:
            lock = json.loads(repo.read("Pipfile.lock") or "{}")
            names |= {_norm(n) for n in (lock.get("default") or {})}
        except (json.JSONDecodeError, AttributeError):
            repo.notes.append("Pipfile.lock is not valid JSON")
        return PyDeps("pipenv (Pipfile.lock)", names, {"pipenv": "deploy"}, extras)
    if all(specs):
        repo.notes.append(
            "Pipfile without Pipfile.lock: its packages are installed with pip (versions "
            "resolved at build time)"
        )
        return PyDeps("pip (Pipfile)", names, {"packages": [s for s in specs if s]}, extras)
    repo.notes.append("Pipfile without Pipfile.lock: pipenv resolves versions at build time")
    return PyDeps("pipenv (Pipfile)", names, {"pipenv": "skip-lock"}, extras)


def _packaged(repo: Repo, pyproject: dict, project: dict, poetry: dict) -> bool:
    name = str(project.get("name") or poetry.get("name") or "")
    module = name.replace("-", "_").lower()
    return bool(
        project.get("scripts")
        or poetry.get("scripts")
        or poetry.get("packages")
        or repo.is_dir("src")
        or (module and (repo.is_file(f"{module}/__init__.py") or repo.is_file(f"{module}.py")))
    )


def _pyproject(repo: Repo, pyproject: dict) -> PyDeps:
    project = pyproject.get("project") if isinstance(pyproject.get("project"), dict) else {}
    tool = pyproject.get("tool") if isinstance(pyproject.get("tool"), dict) else {}
    poetry = tool.get("poetry") if isinstance(tool.get("poetry"), dict) else {}
    has_build = isinstance(pyproject.get("build-system"), dict)
    packaged = _packaged(repo, pyproject, project, poetry)
    names: set[str] = set()
    extras: dict[str, set[str]] = {}
    packages = [str(d) for d in project.get("dependencies") or []]
    for spec in packages:
        _collect(parse_requirement(spec), names, extras)
    if repo.is_file("uv.lock"):
        names |= _lock_names(repo, "uv.lock")
        workspace = isinstance(tool.get("uv"), dict) and "workspace" in tool["uv"]
        fields = {"uv": True, "uv_locked": True, "copy_source_first": workspace}
        return PyDeps("uv (uv.lock)", names, fields, extras)
    poetry_deps = poetry.get("dependencies") if isinstance(poetry.get("dependencies"), dict) else {}
    if repo.is_file("poetry.lock") or (poetry_deps and not packages):
        names |= {_norm(n) for n in poetry_deps if n != "python"}
        names |= _lock_names(repo, "poetry.lock")
        for dep, value in poetry_deps.items():
            if isinstance(value, dict) and isinstance(value.get("extras"), list):
                extras.setdefault(_norm(dep), set()).update(map(str, value["extras"]))
        fields: dict = {"poetry": True}
        if packaged and poetry.get("package-mode", True) is not False and has_build:
            fields["install_project"] = True
        label = "poetry (poetry.lock)" if repo.is_file("poetry.lock") else "poetry (pyproject.toml)"
        return PyDeps(label, names, fields, extras)
    fields = {"packages": packages}
    if has_build and packaged:
        fields["install_project"] = True
    elif has_build and not packages:
        fields.update(copy_source_first=True, install_project=True)
    return PyDeps("pip (pyproject.toml)", names, fields, extras)


def python_deps(repo: Repo) -> PyDeps:
    """How the repo's dependencies are installed, and their names."""
    if repo.is_file("requirements.txt"):
        names: set[str] = set()
        extras: dict[str, set[str]] = {}
        files: list[str] = []
        local = _requirements(repo, "requirements.txt", files, names, extras)
        if local:
            repo.notes.append(
                "requirements.txt installs local paths: installed after copying the source"
            )
        fields = {"requirement_files": files, "copy_source_first": local}
        return PyDeps("pip (requirements.txt)", names, fields, extras)
    pyproject = read_toml(repo, "pyproject.toml") if repo.is_file("pyproject.toml") else None
    if repo.is_file("uv.lock") and pyproject is not None:
        return _pyproject(repo, pyproject)
    if repo.is_file("Pipfile"):
        return _pipfile(repo)
    if pyproject is not None:
        return _pyproject(repo, pyproject)
    if repo.is_file("setup.py") or repo.is_file("setup.cfg"):
        text = (repo.read("setup.py") or "") + (repo.read("setup.cfg") or "")
        names = {n for n in ("gunicorn", "uvicorn") if re.search(rf"['\"]{n}\b", text)}
        return PyDeps("pip (setup.py)", names, {"copy_source_first": True, "install_project": True})
    repo.notes.append("No requirements.txt, pyproject.toml or Pipfile: no dependencies installed")
    return PyDeps("no dependency file", set(), {})
