"""Python apps: Django, Flask, FastAPI, a Procfile `web:` line, a generic entry point."""

from __future__ import annotations

import ast
import re
import shlex
import time
from dataclasses import dataclass

from .. import dockerfiles as df
from .commands import command_port, first_tool, hardcoded_port, start_command
from .declared import platform_config
from .plan import BuildPlan, generated_plan
from .python_deps import python_deps
from .repo import Repo
from .system_packages import system_packages
from .versions import python_version

# fmt: off
PY_MARKERS = (
    "manage.py", "requirements.txt", "pyproject.toml", "Pipfile", "setup.py", "setup.cfg",
    "runtime.txt", ".python-version",
)
APP_FILES = (
    "app.py", "wsgi.py", "main.py", "application.py", "server.py", "run.py", "asgi.py", "api.py",
    "__init__.py",
)
# fmt: on
PY_ENTRIES = ("main.py", "app.py", "server.py", "run.py", "application.py", "wsgi.py", "bot.py")
APP_FILE_RANK = {name: rank for rank, name in enumerate(APP_FILES)}
FACTORY_NAMES = ("create_app", "make_app", "create_application", "get_app", "app_factory")
# UI frameworks that run a script with their own server: (dependency, command template).
# Gradio listens on 127.0.0.1:7860 unless told otherwise, which no one outside could reach.
SCRIPT_SERVERS = {
    "streamlit": "streamlit run {entry} --server.port ${{PORT:-{port}}} --server.address 0.0.0.0 "
    "--server.headless true",
    "gradio": "env GRADIO_SERVER_NAME=0.0.0.0 GRADIO_SERVER_PORT=${{PORT:-{port}}} python {entry}",
}
SCRIPT_ENTRIES = ("streamlit_app.py", "Home.py", "dashboard.py", *PY_ENTRIES)


def _script_server(repo: Repo, names: set[str]) -> tuple[str, str] | None:
    """(framework, entry file) of a Streamlit or Gradio app: a top file importing it."""
    for framework in SCRIPT_SERVERS:
        if framework not in names:
            continue
        imports = re.compile(rf"^\s*(?:import|from)\s+{framework}\b", re.M)
        candidates = [
            *SCRIPT_ENTRIES,
            *sorted(f for f in repo.walk() if "/" not in f and f.endswith(".py")),
        ]
        for entry in dict.fromkeys(candidates):
            source = repo.read(entry, 256_000) if repo.is_file(entry) else None
            if source and imports.search(source):
                return framework, entry
    return None


@dataclass
class _AppRef:
    framework: str | None  # "flask" | "fastapi" | None (made by a factory call)
    path: str
    attr: str
    factory: bool = False
    needs_args: bool = False


def _callee(node: ast.AST) -> str:
    """`Flask` for `Flask(...)` and `flask.Flask(...)`; "" for anything but a call."""
    if not isinstance(node, ast.Call):
        return ""
    if isinstance(node.func, ast.Name):
        return node.func.id
    return node.func.attr if isinstance(node.func, ast.Attribute) else ""


def _scan_module(tree: ast.Module, rel: str) -> tuple[list[_AppRef], set[str]]:
    refs: list[_AppRef] = []
    imports: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imports.add(node.module.split(".")[0])
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            callee = _callee(node.value) if node.value else ""
            framework = {"Flask": "flask", "FastAPI": "fastapi"}.get(callee)
            if framework or callee in FACTORY_NAMES:
                for target in targets:
                    if isinstance(target, ast.Name):
                        refs.append(_AppRef(framework, rel, target.id))
        elif isinstance(node, ast.FunctionDef) and node.name in FACTORY_NAMES:
            calls = {_callee(n) for n in ast.walk(node)}
            framework = "flask" if "Flask" in calls else "fastapi" if "FastAPI" in calls else None
            required = len(node.args.args) - len(node.args.defaults)
            if framework:
                refs.append(
                    _AppRef(framework, rel, node.name, factory=True, needs_args=required > 0)
                )
    return refs, imports


def _module_of(rel: str) -> tuple[str, str] | None:
    """(import root, dotted module) for a .py file; None if a part is not an identifier."""
    parts = rel[:-3].split("/")
    root = ""
    if parts[0] == "src" and len(parts) > 1:
        root, parts = "src", parts[1:]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if not parts or not all(p.isidentifier() for p in parts):
        return None
    return root, ".".join(parts)


def _find_app(repo: Repo, framework: str, required: bool) -> _AppRef | None:
    candidates = [
        f
        for f in repo.walk()
        if f.endswith(".py") and f.split("/")[-1] not in ("setup.py", "manage.py", "conftest.py")
    ]
    candidates.sort(
        key=lambda f: (
            f.count("/") - f.startswith("src/"),
            APP_FILE_RANK.get(f.split("/")[-1], 99),
            f,
        )
    )
    instances: list[_AppRef] = []
    factories: list[_AppRef] = []
    for rel in candidates[:400]:
        if time.monotonic() > repo.deadline:
            break
        text = repo.read(rel, 512_000) or ""
        if (
            "Flask" not in text
            and "FastAPI" not in text
            and not any(f in text for f in FACTORY_NAMES)
        ):
            continue
        try:
            refs, imports = _scan_module(ast.parse(text), rel)
        except (SyntaxError, ValueError):
            continue
        for ref in refs:
            fw = ref.framework or (framework if (framework in imports or required) else None)
            if fw != framework or _module_of(rel) is None:
                continue
            (factories if ref.factory else instances).append(ref)
    return (instances or factories or [None])[0]


def _find_manage(repo: Repo) -> str | None:
    if repo.is_file("manage.py"):
        return "."
    dirs = sorted(
        {f.split("/")[0] for f in repo.walk() if f.count("/") == 1 and f.endswith("/manage.py")}
    )
    return dirs[0] if len(dirs) == 1 else None


def _django(repo: Repo, base: str) -> str | None:
    """The gunicorn target (`mysite.wsgi:application`) of the project whose manage.py is in
    `base`: WSGI_APPLICATION from the settings, else the settings package's wsgi.py."""
    prefix = "" if base == "." else f"{base}/"
    manage = repo.read(f"{prefix}manage.py") or ""
    match = re.search(r"DJANGO_SETTINGS_MODULE['\"]\s*,\s*['\"]([\w.]+)['\"]", manage)
    settings_module = match.group(1) if match else None
    texts = []
    if settings_module:
        path = settings_module.replace(".", "/")
        for rel in (f"{prefix}{path}.py", f"{prefix}{path}/__init__.py"):
            if repo.is_file(rel):
                texts.append(repo.read(rel) or "")
                folder = rel.rpartition("/")[0]
                texts += [
                    repo.read(f) or ""
                    for f in repo.walk()
                    if f.startswith(folder + "/") and f.endswith(".py")
                ]
    joined = "\n".join(texts)
    wsgi = re.search(r"WSGI_APPLICATION\s*=\s*['\"]([\w.]+)\.(\w+)['\"]", joined)
    target = None
    if wsgi and repo.is_file(f"{prefix}{wsgi.group(1).replace('.', '/')}.py"):
        target = f"{wsgi.group(1)}:{wsgi.group(2)}"
    elif settings_module and repo.is_file(f"{prefix}{settings_module.split('.')[0]}/wsgi.py"):
        target = f"{settings_module.split('.')[0]}.wsgi:application"
    else:
        found = sorted(
            f
            for f in repo.walk()
            if f.startswith(prefix) and f[len(prefix) :].count("/") == 1 and f.endswith("/wsgi.py")
        )
        if found:
            target = found[0][len(prefix) : -3].replace("/", ".") + ":application"
    if not target:
        repo.notes.append("manage.py found but no wsgi module: not treated as a Django project")
        return None
    local_db = re.search(
        r"(postgres(?:ql)?|mysql|mariadb|redis|mongodb)(?:\+\w+)?://[^'\"\s]*@(?:localhost|127\.0\.0\.1)\b",
        joined,
    )
    if local_db:
        repo.notes.append(
            f"Warning: the settings default to a {local_db.group(1)} database on localhost, where "
            "nothing runs inside the container: pages that use the database fail until "
            "DATABASE_URL is set under the project's Environment Variables"
        )
    if texts and "STATIC_ROOT" not in joined:
        repo.notes.append("STATIC_ROOT is not set in the settings: collectstatic will be skipped")
    repo.notes.append(
        "collectstatic runs at build time; if the settings need environment variables then, "
        "it is skipped and the build log says so"
    )
    return target


def _server_for(command: str, names: set[str]) -> list[str]:
    tool = first_tool(command)
    if (
        tool in ("gunicorn", "uvicorn", "daphne", "hypercorn", "waitress-serve")
        and tool not in names
    ):
        return ["waitress" if tool == "waitress-serve" else tool]
    return []


def _system_packages(
    repo: Repo, app: df.PythonApp, names: set[str], extras: dict[str, set[str]]
) -> None:
    needs = system_packages(names, extras)
    app.build_packages, app.runtime_packages = needs.build, needs.runtime
    app.fallback_packages = needs.fallback
    if needs.build:
        repo.notes.append(
            f"{', '.join(needs.reasons)} compile(s) against C libraries: the build stage installs "
            f"{' '.join(needs.build)}; the final image keeps only the libraries they link to"
        )
    elif needs.runtime:
        repo.notes.append(
            f"{', '.join(needs.reasons)} load(s) {' '.join(needs.runtime)} at run time: installed"
        )


def detect_python(repo: Repo, *, forced: bool = False) -> BuildPlan | None:
    cfg = platform_config(repo)
    markers = [m for m in PY_MARKERS if repo.is_file(m)]
    manage_dir = _find_manage(repo)
    entry = repo.first(*PY_ENTRIES)
    web = cfg.start.command if cfg.start else ""
    pythonish = re.match(
        r"^(?:python\d?(?:\.\d+)?|gunicorn|uvicorn|daphne|hypercorn|waitress-serve|flask|fastapi)\b",
        web,
    )
    if not (markers or manage_dir or entry or pythonish):
        if web:
            repo.hints.append(
                f"{cfg.start.source}: '{web}' is not a Python command and there is no package.json"
            )
        return None
    first_note = len(repo.notes)
    version = python_version(repo)
    deps = python_deps(repo)
    names = deps.names
    command = start_command(repo, cfg)
    if cfg.build:
        repo.notes.append(
            f"{cfg.build.source} `{cfg.build.command}` is not run: Butler installs the "
            "dependencies itself (and runs collectstatic for Django); run migrations at start, "
            "e.g. with a Procfile 'release:' line"
        )
    app = df.PythonApp(version=version, command=command or "", description="", **deps.fields)
    _system_packages(repo, app, names, deps.extras)
    tail = f"{deps.label}, Python {version}"
    port = df.PYTHON_PORT
    gunicorn = f"gunicorn --bind 0.0.0.0:${{PORT:-{df.PYTHON_PORT}}} --access-logfile -"
    django_target = _django(repo, manage_dir) if manage_dir else None
    flask = fastapi = None
    if not django_target:
        flask = _find_app(repo, "flask", "flask" in names)
        if not flask:
            fastapi = _find_app(repo, "fastapi", "fastapi" in names)
        if "flask" in names and not flask and not fastapi:
            repo.notes.append(
                "Flask is required but no `app = Flask(...)` or create_app() was found"
            )
    if django_target:
        target = django_target
        app.collectstatic_dir = manage_dir
        chdir = "" if manage_dir == "." else f" --chdir {shlex.quote(manage_dir)}"
        strategy, what = "django", f"Django app ({target.split(':')[0]})"
        default_command = f"{gunicorn}{chdir} {target}"
        servers = [] if "gunicorn" in names else ["gunicorn"]
    elif flask:
        root, module = _module_of(flask.path) or ("", "")
        target = f"{module}:{flask.attr}()" if flask.factory else f"{module}:{flask.attr}"
        if flask.needs_args:
            repo.notes.append(f"{flask.attr}() takes arguments but gunicorn calls it with none")
        path_opt = f" --pythonpath {root}" if root else ""
        strategy, what = "flask", f"Flask app ({target}) with gunicorn"
        default_command = f"{gunicorn}{path_opt} {shlex.quote(target)}"
        servers = [] if "gunicorn" in names else ["gunicorn"]
    elif fastapi:
        root, module = _module_of(fastapi.path) or ("", "")
        extra = (f" --app-dir {root}" if root else "") + (" --factory" if fastapi.factory else "")
        target = f"{module}:{fastapi.attr}"
        strategy, what = "fastapi", f"FastAPI app ({target}) with uvicorn"
        default_command = (
            f"uvicorn {target} --host 0.0.0.0 --port ${{PORT:-{df.PYTHON_PORT}}}{extra}"
        )
        servers = [] if "uvicorn" in names else ["uvicorn"]
    elif command:
        strategy, what, default_command, servers = (
            "procfile",
            f"Python app ({cfg.start.source})",
            "",
            [],
        )
    elif script := _script_server(repo, names):
        framework, script_entry = script
        strategy, what = framework, f"{framework.capitalize()} app ({script_entry})"
        default_command = SCRIPT_SERVERS[framework].format(
            entry=shlex.quote(script_entry), port=df.PYTHON_PORT
        )
        servers = []
    elif entry or repo.is_file("__main__.py"):
        run = f"python {entry}" if entry else "python ."
        strategy, what, default_command, servers = "python", f"Python app ({run})", run, []
        port = hardcoded_port(repo.read(entry or "__main__.py", 256_000)) or port
    else:
        repo.hints.append(
            "Python project without an entry point: add a Procfile 'web:' line, or main.py/app.py"
        )
        del repo.notes[first_note:]  # they describe a Python build that will not happen
        return None
    if command:
        app.servers = _server_for(command, names)
        for server in app.servers:
            repo.notes.append(
                f"{server} is not in the dependencies: installed for the Procfile command"
            )
        port = command_port(command) or port
        if strategy != "procfile":
            what += f" ({cfg.start.source})"
    else:
        app.command = default_command
        app.servers = servers
        for server in servers:
            repo.notes.append(f"{server} is not in the dependencies: installed by Butler")
    if port != df.PYTHON_PORT:
        repo.notes.append(f"The app listens on {port} whatever PORT says")
    app.description = f"{what}, {tail}"
    return generated_plan(strategy, app.description, df.python_dockerfile(app), port, repo, [])
