"""Small, realistic sample repositories for detection, pipeline and benchmark tests.

Every factory writes a repo into `path` (created if needed), commits it on branch `main` and
returns the path. Calling it again on the same path with other options (say `marker="v2"`)
commits a second version, which is how redeploy tests get a new commit. Each app answers
`GET /` with a page containing its marker (the module constants below, or `marker=`), and
reads `PORT` where choosing the port is the app's job.

Dependency sets are pinned and kept small so real builds stay fast on a small machine.
Node lock files are only written when asked (`lockfile=...`): they are generated for real by
the package manager inside a `node` container, so asking needs the Docker Engine and the npm
registry; without one the image build uses `npm install`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

FLASK_MARKER = "hello from flask"
FASTAPI_MARKER = "hello from fastapi"
DJANGO_MARKER = "hello from django"
EXPRESS_MARKER = "hello from express"
NEXTJS_MARKER = "hello from nextjs"
VITE_MARKER = "hello from vite"
STATIC_MARKER = "hello from a static site"
DOCKERFILE_MARKER = "hello from a dockerfile"
COMPOSE_MARKER = "hello from compose"
PROCFILE_MARKER = "hello from a procfile app"
FRONTEND_MARKER = "hello from the frontend"
BACKEND_MARKER = "hello from the backend"

FLASK_VERSION = "3.1.3"
FASTAPI_VERSION = "0.115.12"
DJANGO_VERSION = "5.2.8"
EXPRESS_VERSION = "4.21.2"
NEXT_VERSION = "14.2.35"
REACT_VERSION = "18.3.1"
VITE_VERSION = "5.4.21"
NODE_IMAGE = "node:20-slim"  # only to generate lock files

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@e", "-c", "commit.gpgsign=false"]


def _write(path: Path, files: dict[str, str]) -> None:
    for rel, content in files.items():
        target = path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")


def _commit(path: Path, message: str, *, branch: str = "main") -> Path:
    run = {"cwd": path, "check": True, "capture_output": True}
    if not (path / ".git").exists():
        subprocess.run([*GIT, "init", "-q", "-b", branch], **run)
    subprocess.run([*GIT, "add", "-A"], **run)
    subprocess.run([*GIT, "commit", "-q", "--allow-empty", "-m", message], **run)
    return path


def write_files(path: Path, files: dict[str, str | bytes]) -> Path:
    """Write `files` under `path` exactly as given (text or bytes)."""
    for rel, content in files.items():
        target = path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    return path


def git_repo(
    path: Path | str,
    files: dict[str, str | bytes],
    *,
    message: str = "initial",
    branch: str = "main",
) -> Path:
    """Commit `files` (verbatim) to the repo at `path`, creating it on `branch` if needed."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    write_files(path, files)
    return _commit(path, message, branch=branch)


def _repo(path: Path | str, files: dict[str, str], message: str) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    _write(path, files)
    return _commit(path, message)


def _remove(path: Path, *names: str) -> None:
    for name in names:
        target = path / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def _html(title: str, body: str) -> str:
    return (
        f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{title}</title></head>\n"
        f"<body>{body}</body></html>\n"
    )


# ---------------------------------------------------------------------------------------------
# Python apps


def flask_repo(
    path: Path | str,
    *,
    marker: str = FLASK_MARKER,
    layout: str = "app",
    with_gunicorn: bool = False,
    python_version: str | None = None,
) -> Path:
    """A Flask app. `layout`: "app" (app.py), "factory" (package with create_app() and no
    module-level app), "package" (`app = Flask(...)` in myapp/__init__.py), "wsgi" (wsgi.py
    calling the package's factory)."""
    requirements = f"flask=={FLASK_VERSION}\n" + ("gunicorn==23.0.0\n" if with_gunicorn else "")
    view = f"""
        @app.get("/")
        def index():
            return "<h1>{marker}</h1>"

        @app.get("/health")
        def health():
            return {{"ok": True}}
    """
    view = textwrap.dedent(view)
    files = {"requirements.txt": requirements, ".gitignore": "__pycache__/\n.venv/\n"}
    if layout == "app":
        files["app.py"] = (
            "import os\n\nfrom flask import Flask\n\napp = Flask(__name__)\n"
            + view
            + '\n\nif __name__ == "__main__":\n'
            '    app.run(host="0.0.0.0", port=int(os.environ.get("PORT", 5000)))\n'
        )
    elif layout in ("factory", "wsgi"):
        body = textwrap.indent(view, "    ")
        files["myapp/__init__.py"] = (
            "from flask import Flask\n\n\ndef create_app(config=None):\n"
            "    app = Flask(__name__)\n    app.config.update(config or {})\n"
            + body
            + "    return app\n"
        )
        if layout == "wsgi":
            files["wsgi.py"] = "from myapp import create_app\n\napp = create_app()\n"
    elif layout == "package":
        files["myapp/__init__.py"] = "from flask import Flask\n\napp = Flask(__name__)\n" + view
    else:
        raise ValueError(f"unknown layout {layout!r}")
    if python_version:
        files[".python-version"] = python_version + "\n"
    return _repo(path, files, f"flask app: {marker}")


def fastapi_repo(
    path: Path | str, *, marker: str = FASTAPI_MARKER, module: str = "main.py"
) -> Path:
    """A FastAPI app in `module` ("main.py", or "app/main.py" for the package layout)."""
    files = {
        "requirements.txt": f"fastapi=={FASTAPI_VERSION}\n",
        module: f"""
            from fastapi import FastAPI
            from fastapi.responses import HTMLResponse

            app = FastAPI(title="sample")


            @app.get("/", response_class=HTMLResponse)
            def index() -> str:
                return "<h1>{marker}</h1>"


            @app.get("/api/items/{{item_id}}")
            def item(item_id: int) -> dict:
                return {{"id": item_id}}
        """,
    }
    if "/" in module:
        files[module.rsplit("/", 1)[0] + "/__init__.py"] = ""
    return _repo(path, files, f"fastapi app: {marker}")


def django_repo(
    path: Path | str,
    *,
    marker: str = DJANGO_MARKER,
    project: str = "mysite",
    secret_required: bool = False,
    procfile: bool = False,
) -> Path:
    """A minimal real Django project (`project`/settings.py, urls, wsgi) whose `/` view returns
    `marker`. `secret_required` makes the settings need APP_SECRET_KEY (collectstatic at build
    time then fails, which must not fail the build)."""
    secret = (
        'os.environ["APP_SECRET_KEY"]'
        if secret_required
        else 'os.environ.get("DJANGO_SECRET_KEY", "insecure-sample-key")'
    )
    files = {
        "requirements.txt": f"Django=={DJANGO_VERSION}\n",
        "manage.py": f"""
            #!/usr/bin/env python
            import os
            import sys


            def main():
                os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{project}.settings")
                from django.core.management import execute_from_command_line

                execute_from_command_line(sys.argv)


            if __name__ == "__main__":
                main()
        """,
        f"{project}/__init__.py": "",
        f"{project}/settings.py": f"""
            import os
            from pathlib import Path

            BASE_DIR = Path(__file__).resolve().parent.parent
            SECRET_KEY = {secret}
            DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
            ALLOWED_HOSTS = ["*"]
            INSTALLED_APPS = [
                "django.contrib.admin",
                "django.contrib.auth",
                "django.contrib.contenttypes",
                "django.contrib.sessions",
                "django.contrib.messages",
                "django.contrib.staticfiles",
            ]
            MIDDLEWARE = [
                "django.middleware.security.SecurityMiddleware",
                "django.contrib.sessions.middleware.SessionMiddleware",
                "django.middleware.common.CommonMiddleware",
                "django.middleware.csrf.CsrfViewMiddleware",
                "django.contrib.auth.middleware.AuthenticationMiddleware",
                "django.contrib.messages.middleware.MessageMiddleware",
            ]
            ROOT_URLCONF = "{project}.urls"
            TEMPLATES = [
                {{
                    "BACKEND": "django.template.backends.django.DjangoTemplates",
                    "DIRS": [],
                    "APP_DIRS": True,
                    "OPTIONS": {{
                        "context_processors": [
                            "django.template.context_processors.request",
                            "django.contrib.auth.context_processors.auth",
                            "django.contrib.messages.context_processors.messages",
                        ]
                    }},
                }}
            ]
            WSGI_APPLICATION = "{project}.wsgi.application"
            DATABASES = {{
                "default": {{
                    "ENGINE": "django.db.backends.sqlite3",
                    "NAME": BASE_DIR / "db.sqlite3",
                }}
            }}
            STATIC_URL = "static/"
            STATIC_ROOT = BASE_DIR / "staticfiles"
            DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
        """,
        f"{project}/urls.py": """
            from django.contrib import admin
            from django.urls import path

            from .views import index

            urlpatterns = [
                path("", index),
                path("admin/", admin.site.urls),
            ]
        """,
        f"{project}/views.py": f"""
            from django.http import HttpResponse


            def index(request):
                return HttpResponse("<h1>{marker}</h1>")
        """,
        f"{project}/wsgi.py": f"""
            import os

            from django.core.wsgi import get_wsgi_application

            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{project}.settings")
            application = get_wsgi_application()
        """,
        ".gitignore": "__pycache__/\ndb.sqlite3\nstaticfiles/\n",
    }
    if procfile:
        files["Procfile"] = (
            "release: python manage.py migrate --noinput\n"
            f"web: gunicorn {project}.wsgi --bind 0.0.0.0:$PORT\n"
        )
        files["requirements.txt"] += "gunicorn==23.0.0\n"
    return _repo(path, files, f"django app: {marker}")


def procfile_repo(
    path: Path | str, *, marker: str = PROCFILE_MARKER, command: str | None = None
) -> Path:
    """A standard-library Python server that only a Procfile `web:` line knows how to start."""
    files = {
        "serve.py": f"""
            import argparse
            from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


            class Handler(BaseHTTPRequestHandler):
                def do_GET(self):
                    body = b"<h1>{marker}</h1>"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)


            parser = argparse.ArgumentParser()
            parser.add_argument("--port", type=int, required=True)
            args = parser.parse_args()
            print(f"serving on port {{args.port}}", flush=True)
            ThreadingHTTPServer(("0.0.0.0", args.port), Handler).serve_forever()
        """,
        "Procfile": f"web: {command or 'python serve.py --port $PORT'}\n",
        "requirements.txt": "",
    }
    return _repo(path, files, f"procfile app: {marker}")


def _stdlib_server(marker: str, *, prelude: str = "", body: str | None = None) -> str:
    """A standard-library HTTP server reading PORT (default 8000); `body` is a Python
    expression for the page, `prelude` code placed before the handler."""
    body = body or repr(f"<h1>{marker}</h1>")
    return (
        "import os\n"
        "from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer\n"
        f"{prelude}\n\n"
        "class Handler(BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        f"        data = ({body}).encode()\n"
        "        self.send_response(200)\n"
        '        self.send_header("Content-Type", "text/html")\n'
        '        self.send_header("Content-Length", str(len(data)))\n'
        "        self.end_headers()\n"
        "        self.wfile.write(data)\n\n\n"
        'if __name__ == "__main__":\n'
        '    port = int(os.environ.get("PORT", "8000"))\n'
        '    print(f"Listening on http://0.0.0.0:{port}", flush=True)\n'
        '    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()\n'
    )


# ---------------------------------------------------------------------------------------------
# Node apps


def node_lockfile(path: Path | str, manager: str = "npm") -> None:
    """Generate a real lock file for `path`'s package.json with `manager` (npm, yarn, pnpm) in
    a throwaway node container (needs the Docker Engine and the npm registry)."""
    commands = {
        "npm": "npm install --package-lock-only --ignore-scripts --no-audit --no-fund",
        "yarn": "yarn install --ignore-scripts --non-interactive --no-progress && rm -rf node_modules",
        "pnpm": "npx --yes pnpm@9 install --lockfile-only --ignore-scripts",
    }
    path = Path(path).resolve()
    user = f"{os.getuid()}:{os.getgid()}"
    subprocess.run(
        [
            *("docker", "run", "--rm", "--label", "butler.test=samples", "-e", "HOME=/tmp"),
            *("-u", user, "-v", f"{path}:/app", "-w", "/app", NODE_IMAGE),
            *("sh", "-c", commands[manager]),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )


def _node_repo(
    path: Path | str,
    files: dict[str, str],
    package: dict,
    message: str,
    lockfile: str | None,
) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    _remove(path, "package-lock.json", "yarn.lock", "pnpm-lock.yaml")
    files = {**files, "package.json": json.dumps(package, indent=2) + "\n"}
    files.setdefault(".gitignore", "node_modules/\n.next/\ndist/\n")
    _write(path, files)
    if lockfile:
        node_lockfile(path, lockfile)
    return _commit(path, message)


def express_repo(
    path: Path | str,
    *,
    marker: str = EXPRESS_MARKER,
    lockfile: str | None = None,
    node_version: str | None = None,
    procfile: str | None = None,
) -> Path:
    """An Express app (`npm start` -> node server.js) reading PORT. `lockfile`: None, "npm",
    "yarn" or "pnpm" (generated for real, see `node_lockfile`)."""
    package = {
        "name": "express-sample",
        "version": "1.0.0",
        "private": True,
        "main": "server.js",
        "scripts": {"start": "node server.js"},
        "dependencies": {"express": EXPRESS_VERSION},
    }
    if node_version:
        package["engines"] = {"node": node_version}
    files = {
        "server.js": f"""
            const express = require("express");

            const app = express();
            const port = process.env.PORT || 3000;

            app.get("/", (req, res) => res.send("<h1>{marker}</h1>"));
            app.get("/health", (req, res) => res.json({{ ok: true }}));

            app.listen(port, "0.0.0.0", () => console.log(`Example app listening on port ${{port}}`));
        """,
    }
    if procfile:
        files["Procfile"] = f"web: {procfile}\n"
    return _node_repo(path, files, package, f"express app: {marker}", lockfile)


def nextjs_repo(
    path: Path | str,
    *,
    marker: str = NEXTJS_MARKER,
    router: str = "pages",
    output: str | None = None,
    lockfile: str | None = None,
) -> Path:
    """A minimal Next.js 14 app (pages or app router). `output`: None, "standalone" or
    "export" (static export, served by nginx)."""
    package = {
        "name": "nextjs-sample",
        "version": "1.0.0",
        "private": True,
        "scripts": {"dev": "next dev", "build": "next build", "start": "next start"},
        "dependencies": {"next": NEXT_VERSION, "react": REACT_VERSION, "react-dom": REACT_VERSION},
    }
    config = f"output: '{output}'," if output else ""
    files = {
        "next.config.js": f"/** @type {{import('next').NextConfig}} */\nmodule.exports = {{ {config} }};\n",
    }
    if router == "pages":
        files["pages/index.js"] = f"""
            export default function Home() {{
              const api = process.env.NEXT_PUBLIC_API_URL || "none";
              return (
                <main>
                  <h1>{marker}</h1>
                  <p id="api">API: {{api}}</p>
                </main>
              );
            }}
        """
    else:
        files["app/layout.js"] = """
            export const metadata = { title: "sample" };

            export default function RootLayout({ children }) {
              return (
                <html lang="en">
                  <body>{children}</body>
                </html>
              );
            }
        """
        files["app/page.js"] = f"""
            export default function Page() {{
              return <h1>{marker}</h1>;
            }}
        """
    return _node_repo(path, files, package, f"nextjs app: {marker}", lockfile)


def vite_repo(
    path: Path | str,
    *,
    marker: str = VITE_MARKER,
    lockfile: str | None = None,
    broken: bool = False,
) -> Path:
    """A vanilla Vite SPA (no framework, one dev dependency). The marker and the build-time
    `VITE_API_URL` are written into index.html, so a plain GET sees them without running JS."""
    package = {
        "name": "vite-sample",
        "version": "1.0.0",
        "private": True,
        "type": "module",
        "scripts": {"dev": "vite", "build": "vite build", "preview": "vite preview"},
        "devDependencies": {"vite": VITE_VERSION},
    }
    files = {
        "index.html": f"""
            <!doctype html>
            <html lang="en">
              <head><meta charset="UTF-8" /><title>vite sample</title></head>
              <body>
                <h1>{marker}</h1>
                <p id="api">API: %VITE_API_URL%</p>
                <div id="app"></div>
                <script type="module" src="/src/main.js"></script>
              </body>
            </html>
        """,
        "src/main.js": """
            const api = import.meta.env.VITE_API_URL || "none";
            document.querySelector("#app").textContent = `Routed by the client, API ${api}`;
        """
        + ("this is not javascript (\n" if broken else ""),
    }
    return _node_repo(path, files, package, f"vite app: {marker}", lockfile)


# ---------------------------------------------------------------------------------------------
# Static, Dockerfile, compose


def static_repo(path: Path | str, *, marker: str = STATIC_MARKER, folder: str = ".") -> Path:
    """A plain static site: index.html + about.html + style.css in `folder`."""
    prefix = "" if folder in ("", ".") else folder.rstrip("/") + "/"
    files = {
        f"{prefix}index.html": _html(marker, f"<h1>{marker}</h1><a href='about.html'>about</a>"),
        f"{prefix}about.html": _html("about", "<p>about this site</p>"),
        f"{prefix}style.css": "body { font-family: sans-serif; }\n",
        "README.md": "# A static site\n",
    }
    return _repo(path, files, f"static site: {marker}")


def dockerfile_repo(
    path: Path | str,
    *,
    marker: str = DOCKERFILE_MARKER,
    expose: str = "${PORT}",
    port: int = 8080,
    base_image: str = "python:3.11-slim",
) -> Path:
    """A repo with its own Dockerfile: `ARG PORT=<port>`, `ENV PORT=$PORT`, `EXPOSE <expose>`
    and a standard-library server reading PORT."""
    files = {
        "Dockerfile": f"""
            FROM {base_image}
            ARG PORT={port}
            ENV PORT=${{PORT}}
            WORKDIR /srv
            COPY server.py .
            EXPOSE {expose}
            CMD ["python", "server.py"]
        """,
        "server.py": _stdlib_server(marker),
    }
    return _repo(path, files, f"dockerfile app: {marker}")


def compose_repo(path: Path | str, *, marker: str = COMPOSE_MARKER, host_port: int = 8080) -> Path:
    """web (built here, a visit counter) + redis, with a fixed host port to be rewritten."""
    counter = textwrap.dedent(
        """
        import socket


        def hits():
            try:
                with socket.create_connection(("redis", 6379), timeout=2) as conn:
                    conn.sendall(b"INCR hits\\r\\n")
                    return conn.recv(64).decode().strip(":\\r\\n")
            except OSError:
                return "?"
        """
    )
    page = repr(f"<h1>{marker}</h1><p>visits: ") + " + hits() + '</p>'"
    server = _stdlib_server(marker, prelude=counter, body=page)
    files = {
        "docker-compose.yml": f"""
            version: "3.8"
            services:
              web:
                build: .
                ports:
                  - "{host_port}:8000"
                environment:
                  - PORT=8000
                depends_on:
                  - redis
              redis:
                image: redis:7
        """,
        "Dockerfile": """
            FROM python:3.11-slim
            WORKDIR /srv
            COPY server.py .
            EXPOSE 8000
            CMD ["python", "server.py"]
        """,
        "server.py": server,
    }
    return _repo(path, files, f"compose app: {marker}")


MALICIOUS_COMPOSE = {
    # kind: (service, key, service body lines)
    "privileged": ("web", "privileged", "privileged: true"),
    "docker_socket": ("web", "volumes", "volumes:\n  - /var/run/docker.sock:/var/run/docker.sock"),
    "host_bind": ("web", "volumes", "volumes:\n  - /etc:/host-etc:ro"),
    "relative_bind": ("web", "volumes", "volumes:\n  - ./data:/data"),
    "home_bind": ("web", "volumes", "volumes:\n  - ~/.ssh:/keys"),
    "long_bind": ("web", "volumes", "volumes:\n  - type: bind\n    source: /\n    target: /host"),
    "network_host": ("web", "network_mode", "network_mode: host"),
    "network_container": ("web", "network_mode", "network_mode: container:butler-web"),
    "pid_host": ("web", "pid", "pid: host"),
    "ipc_host": ("web", "ipc", "ipc: host"),
    "userns_host": ("web", "userns_mode", "userns_mode: host"),
    "cap_add": ("web", "cap_add", "cap_add:\n  - SYS_ADMIN"),
    "devices": ("web", "devices", "devices:\n  - /dev/sda:/dev/sda"),
    "security_opt": ("web", "security_opt", "security_opt:\n  - seccomp:unconfined"),
    "build_outside": ("web", "build", "build: ../.."),
    "build_absolute": ("web", "build", "build:\n  context: /etc"),
    "env_file_outside": ("web", "env_file", "env_file: ../../secrets.env"),
}


def malicious_compose_repo(path: Path | str, kind: str) -> Path:
    """A compose file Butler must refuse; `MALICIOUS_COMPOSE[kind]` names the service and key
    the refusal must mention. Extra kind "driver_opts": a top-level volume binding /etc."""
    if kind == "driver_opts":
        compose = """
            services:
              web:
                image: nginx:alpine
                volumes:
                  - etc:/data
            volumes:
              etc:
                driver: local
                driver_opts:
                  type: none
                  o: bind
                  device: /etc
        """
    else:
        service, _, body = MALICIOUS_COMPOSE[kind]
        compose = (
            f"services:\n  {service}:\n    image: nginx:alpine\n    ports:\n      - '8080:80'\n"
            + textwrap.indent(body, "    ")
            + "\n"
        )
    return _repo(path, {"docker-compose.yml": compose}, f"malicious compose: {kind}")


# ---------------------------------------------------------------------------------------------
# Failures


def crashing_repo(path: Path | str, *, message: str = "DATABASE_URL is not set") -> Path:
    """A Python app that builds fine, prints a line, then exits with status 1 saying why."""
    files = {
        "main.py": f"""
            import sys

            print("starting up", flush=True)
            sys.exit("fatal: {message}")
        """,
        "requirements.txt": "",
    }
    return _repo(path, files, "crashing app")


def silent_repo(path: Path | str) -> Path:
    """A Python app that runs forever and never listens on any port."""
    files = {
        "main.py": """
            import time

            print("worker started, waiting for jobs", flush=True)
            while True:
                time.sleep(60)
        """,
        "requirements.txt": "",
    }
    return _repo(path, files, "silent app")


def broken_build_repo(path: Path | str, *, kind: str = "dockerfile") -> Path:
    """A repo whose image build fails. `kind`: "dockerfile" (a RUN step exits 1, no network
    needed), "requirements" (an unknown pip package), "node" (a Vite build with a syntax error)."""
    if kind == "dockerfile":
        files = {
            "Dockerfile": """
                FROM python:3.11-slim
                RUN echo "compiling assets" && exit 1
                CMD ["python", "-m", "http.server"]
            """
        }
        return _repo(path, files, "broken build")
    if kind == "requirements":
        files = {
            "requirements.txt": "butler-sample-package-that-does-not-exist==0.0.1\n",
            "main.py": _stdlib_server("never served"),
        }
        return _repo(path, files, "broken build")
    if kind == "node":
        return vite_repo(path, broken=True)
    raise ValueError(f"unknown kind {kind!r}")


def missing_base_image_repo(path: Path | str, *, image: str = "python:2.1-slim") -> Path:
    """A Dockerfile whose base image exists nowhere."""
    files = {
        "Dockerfile": f"""
            FROM {image}
            COPY . /srv
            EXPOSE 8000
            CMD ["python", "/srv/main.py"]
        """,
        "main.py": "print('never runs')\n",
    }
    return _repo(path, files, "missing base image")


def env_page_repo(
    path: Path | str, *, marker: str, var: str = "GREETING", build_stage: bool = False
) -> Path:
    """A Dockerfile app (no package downloads) whose page shows `marker` and the value of the
    variable `var`. `build_stage` adds an earlier build stage, as multi-stage builds have."""
    stage = (
        "FROM python:3.11-slim AS assets\n"
        "RUN echo built > /built.txt && echo more >> /built.txt\n\n"
        if build_stage
        else ""
    )
    copy = "COPY --from=assets /built.txt /srv/built.txt\n" if build_stage else ""
    files = {
        "Dockerfile": f"{stage}FROM python:3.11-slim\nWORKDIR /srv\n{copy}COPY server.py .\n"
        'EXPOSE 8000\nCMD ["python", "server.py"]\n',
        "server.py": _stdlib_server(
            marker, body=f"'<h1>{marker}</h1><p>' + os.environ.get('{var}', '(unset)') + '</p>'"
        ),
    }
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    write_files(path, files)
    return _commit(path, f"env page: {marker}")


def slow_build_repo(path: Path | str, *, seconds: int = 60) -> Path:
    """A Dockerfile whose build sleeps (to be cancelled or killed in the middle)."""
    files = {
        "Dockerfile": f"""
            FROM python:3.11-slim
            RUN echo "first layer" > /first.txt
            RUN echo "sleeping" && sleep {seconds}
            CMD ["python", "-m", "http.server"]
        """
    }
    return _repo(path, files, "slow build")


def undetectable_repo(path: Path | str, *, kind: str = "docs") -> Path:
    """Nothing Butler can build: "docs" (README + notes) or "go" (a Go module, no Dockerfile)."""
    if kind == "docs":
        files = {"README.md": "# Notes\n\nJust some notes.\n", "notes/todo.txt": "- write code\n"}
    elif kind == "go":
        files = {
            "go.mod": "module example.com/hello\n\ngo 1.22\n",
            "main.go": """
                package main

                import (
                    "fmt"
                    "net/http"
                )

                func main() {
                    http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
                        fmt.Fprint(w, "hello from go")
                    })
                    http.ListenAndServe(":8080", nil)
                }
            """,
        }
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return _repo(path, files, f"undetectable: {kind}")


# ---------------------------------------------------------------------------------------------
# A frontend + backend pair


def split_pair(
    frontend_dir: Path | str,
    backend_dir: Path | str,
    *,
    frontend_marker: str = FRONTEND_MARKER,
    backend_marker: str = BACKEND_MARKER,
) -> tuple[Path, Path]:
    """A Node frontend (no dependencies, so it builds in seconds) and a Flask backend.

    The frontend's `/` shows the BACKEND_URL and VITE_API_URL it was given; `/api/hello`
    fetches `$BACKEND_URL/api/hello` server-side, proving the two can talk. The backend serves
    `/` (its marker) and `/api/hello` (JSON with its marker).
    """
    backend = _repo(
        backend_dir,
        {
            "requirements.txt": f"flask=={FLASK_VERSION}\n",
            "app.py": f"""
                from flask import Flask, jsonify

                app = Flask(__name__)


                @app.get("/")
                def index():
                    return "<h1>{backend_marker}</h1>"


                @app.get("/api/hello")
                def hello():
                    return jsonify(message="{backend_marker}")
            """,
        },
        f"backend: {backend_marker}",
    )
    package = {
        "name": "frontend-sample",
        "version": "1.0.0",
        "private": True,
        "scripts": {"start": "node server.js"},
    }
    lock = {
        "name": "frontend-sample",
        "version": "1.0.0",
        "lockfileVersion": 3,
        "requires": True,
        "packages": {"": {"name": "frontend-sample", "version": "1.0.0"}},
    }
    server = f"""
        const http = require("http");

        const port = process.env.PORT || 3000;
        const backend = process.env.BACKEND_URL || "";
        const viteApi = process.env.VITE_API_URL || "";

        http
          .createServer(async (req, res) => {{
            if (req.url === "/api/hello") {{
              try {{
                const reply = await fetch(`${{backend}}/api/hello`);
                res.writeHead(reply.status, {{ "Content-Type": "application/json" }});
                res.end(await reply.text());
              }} catch (err) {{
                res.writeHead(502, {{ "Content-Type": "text/plain" }});
                res.end(`backend unreachable: ${{err.message}}`);
              }}
              return;
            }}
            res.writeHead(200, {{ "Content-Type": "text/html" }});
            res.end(
              `<h1>{frontend_marker}</h1>` +
                `<p id="backend">BACKEND_URL=${{backend}}</p>` +
                `<p id="vite">VITE_API_URL=${{viteApi}}</p>`
            );
          }})
          .listen(port, () => console.log(`frontend listening on port ${{port}}`));
    """
    frontend = _repo(
        frontend_dir,
        {
            "package.json": json.dumps(package, indent=2) + "\n",
            "package-lock.json": json.dumps(lock, indent=2) + "\n",
            "server.js": server,
        },
        f"frontend: {frontend_marker}",
    )
    return frontend, backend


# ---------------------------------------------------------------------------------------------
# Real repositories' shapes: dependency managers, C libraries, frameworks, package managers.
# Lock files were generated once by the tools themselves (uv 0.9, Poetry 2, Pipenv) and are
# kept verbatim, so a build resolves exactly these versions.

UV_MARKER = "hello from uv"
POETRY_MARKER = "hello from poetry"
PIPENV_MARKER = "hello from pipenv"
PYPROJECT_MARKER = "hello from pyproject"
BERRY_MARKER = "hello from yarn berry"
SVELTEKIT_MARKER = "hello from sveltekit"
ASTRO_MARKER = "hello from astro"

UV_LOCK = 'version = 1\nrevision = 5\nrequires-python = ">=3.11"\n\n[[package]]\nname = "psycopg2"\nversion = "2.9.10"\nsource = { registry = "https://pypi.org/simple" }\nsdist = { url = "https://files.pythonhosted.org/packages/62/51/2007ea29e605957a17ac6357115d0c1a1b60c8c984951c19419b3474cdfd/psycopg2-2.9.10.tar.gz", hash = "sha256:12ec0b40b0273f95296233e8750441339298e6a572f7039da5b260e3c8b60e11", size = 385672, upload-time = "2024-10-16T11:24:54.832Z" }\nwheels = [\n    { url = "https://files.pythonhosted.org/packages/20/a2/c51ca3e667c34e7852157b665e3d49418e68182081060231d514dd823225/psycopg2-2.9.10-cp311-cp311-win32.whl", hash = "sha256:47c4f9875125344f4c2b870e41b6aad585901318068acd01de93f3677a6522c2", size = 1024538, upload-time = "2024-10-16T11:18:33.48Z" },\n    { url = "https://files.pythonhosted.org/packages/33/39/5a9a229bb5414abeb86e33b8fc8143ab0aecce5a7f698a53e31367d30caa/psycopg2-2.9.10-cp311-cp311-win_amd64.whl", hash = "sha256:0435034157049f6846e95103bd8f5a668788dd913a7c30162ca9503fdf542cb4", size = 1163736, upload-time = "2024-10-16T11:18:36.616Z" },\n    { url = "https://files.pythonhosted.org/packages/3d/16/4623fad6076448df21c1a870c93a9774ad8a7b4dd1660223b59082dd8fec/psycopg2-2.9.10-cp312-cp312-win32.whl", hash = "sha256:65a63d7ab0e067e2cdb3cf266de39663203d38d6a8ed97f5ca0cb315c73fe067", size = 1025113, upload-time = "2024-10-16T11:18:40.148Z" },\n    { url = "https://files.pythonhosted.org/packages/66/de/baed128ae0fc07460d9399d82e631ea31a1f171c0c4ae18f9808ac6759e3/psycopg2-2.9.10-cp312-cp312-win_amd64.whl", hash = "sha256:4a579d6243da40a7b3182e0430493dbd55950c493d8c68f4eec0b302f6bbf20e", size = 1163951, upload-time = "2024-10-16T11:18:44.377Z" },\n    { url = "https://files.pythonhosted.org/packages/ae/49/a6cfc94a9c483b1fa401fbcb23aca7892f60c7269c5ffa2ac408364f80dc/psycopg2-2.9.10-cp313-cp313-win_amd64.whl", hash = "sha256:91fd603a2155da8d0cfcdbf8ab24a2d54bca72795b90d2a3ed2b6da8d979dee2", size = 2569060, upload-time = "2025-01-04T20:09:15.28Z" },\n]\n\n[[package]]\nname = "uv-sample"\nversion = "0.1.0"\nsource = { virtual = "." }\ndependencies = [\n    { name = "psycopg2" },\n]\n\n[package.metadata]\nrequires-dist = [{ name = "psycopg2", specifier = "==2.9.10" }]\n'
POETRY_LOCK = '# This file is automatically @generated by Poetry 2.5.1 and should not be changed by hand.\n\n[[package]]\nname = "mysqlclient"\nversion = "2.2.7"\ndescription = "Python interface to MySQL"\noptional = false\npython-versions = ">=3.8"\ngroups = ["main"]\nfiles = [\n    {file = "mysqlclient-2.2.7-cp310-cp310-win_amd64.whl", hash = "sha256:2e3c11f7625029d7276ca506f8960a7fd3c5a0a0122c9e7404e6a8fe961b3d22"},\n    {file = "mysqlclient-2.2.7-cp311-cp311-win_amd64.whl", hash = "sha256:a22d99d26baf4af68ebef430e3131bb5a9b722b79a9fcfac6d9bbf8a88800687"},\n    {file = "mysqlclient-2.2.7-cp312-cp312-win_amd64.whl", hash = "sha256:4b4c0200890837fc64014cc938ef2273252ab544c1b12a6c1d674c23943f3f2e"},\n    {file = "mysqlclient-2.2.7-cp313-cp313-win_amd64.whl", hash = "sha256:201a6faa301011dd07bca6b651fe5aaa546d7c9a5426835a06c3172e1056a3c5"},\n    {file = "mysqlclient-2.2.7-cp39-cp39-win_amd64.whl", hash = "sha256:199dab53a224357dd0cb4d78ca0e54018f9cee9bf9ec68d72db50e0a23569076"},\n    {file = "mysqlclient-2.2.7-pp310-pypy310_pp73-win_amd64.whl", hash = "sha256:92af368ed9c9144737af569c86d3b6c74a012a6f6b792eb868384787b52bb585"},\n    {file = "mysqlclient-2.2.7-pp39-pypy39_pp73-win_amd64.whl", hash = "sha256:977e35244fe6ef44124e9a1c2d1554728a7b76695598e4b92b37dc2130503069"},\n    {file = "mysqlclient-2.2.7.tar.gz", hash = "sha256:24ae22b59416d5fcce7e99c9d37548350b4565baac82f95e149cac6ce4163845"},\n]\n\n[metadata]\nlock-version = "2.1"\npython-versions = "^3.11"\ncontent-hash = "72c0aa3e511ecdb75b323068f17f3eec6a819685263d86de33347211567fa1a3"\n'
PIPFILE_LOCK = '{\n    "_meta": {\n        "hash": {\n            "sha256": "c660c4460757ae3cd6dc8b06d545414e7902484b7879faad47c43d1968e1bbde"\n        },\n        "pipfile-spec": 6,\n        "requires": {},\n        "sources": [\n            {\n                "name": "pypi",\n                "url": "https://pypi.org/simple",\n                "verify_ssl": true\n            }\n        ]\n    },\n    "default": {\n        "python-dotenv": {\n            "hashes": [\n                "sha256:e324ee90a023d808f1959c46bcbc04446a10ced277783dc6ee09987c37ec10ca",\n                "sha256:f7b63ef50f1b690dddf550d03497b66d609393b40b564ed0d674909a68ebf16a"\n            ],\n            "index": "pypi",\n            "markers": "python_version >= \'3.8\'",\n            "version": "==1.0.1"\n        }\n    },\n    "develop": {}\n}\n'


def uv_psycopg2_repo(path: Path | str, *, marker: str = UV_MARKER) -> Path:
    """A uv project (pyproject.toml + uv.lock) using psycopg2 built from source against libpq.

    Like a Django app with `release: migrate`, it connects to PostgreSQL at start, configured
    by libpq's own variables (PGHOST, PGDATABASE, ...); with SKIP_DB=1 it serves a page naming
    the libpq it linked to instead.
    """
    prelude = (
        "import psycopg2\n\n"
        'if not os.environ.get("SKIP_DB"):\n'
        '    psycopg2.connect("")  # libpq reads PGHOST, PGDATABASE, ... from the environment\n'
    )
    body = repr(f"<h1>{marker}</h1><p>libpq ") + " + str(psycopg2.__libpq_version__) + '</p>'"
    files = {
        "pyproject.toml": (
            '[project]\nname = "uv-sample"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
            'dependencies = ["psycopg2==2.9.10"]\n'
        ),
        "uv.lock": UV_LOCK,
        "main.py": _stdlib_server(marker, prelude=prelude, body=body),
    }
    return git_repo(path, files, message=f"uv app: {marker}")


def poetry_mysqlclient_repo(path: Path | str, *, marker: str = POETRY_MARKER) -> Path:
    """A Poetry project (package-mode = false, poetry.lock) using mysqlclient, which compiles
    against the MySQL client library and needs it at run time."""
    body = (
        repr(f"<h1>{marker}</h1><p>mysqlclient ")
        + " + '.'.join(map(str, MySQLdb.version_info[:3])) + '</p>'"
    )
    files = {
        "pyproject.toml": (
            '[tool.poetry]\nname = "poetry-sample"\nversion = "0.1.0"\ndescription = ""\n'
            "authors = []\npackage-mode = false\n\n[tool.poetry.dependencies]\n"
            'python = "^3.11"\nmysqlclient = "2.2.7"\n'
        ),
        "poetry.lock": POETRY_LOCK,
        "main.py": _stdlib_server(marker, prelude="import MySQLdb\n", body=body),
    }
    return git_repo(path, files, message=f"poetry app: {marker}")


def pipenv_repo(path: Path | str, *, marker: str = PIPENV_MARKER) -> Path:
    """A Pipenv project (Pipfile + Pipfile.lock) whose page comes through python-dotenv."""
    prelude = "import dotenv\n"
    body = (
        repr(f"<h1>{marker}</h1><p>dotenv ") + " + str(dotenv.dotenv_values is not None) + '</p>'"
    )
    files = {
        "Pipfile": (
            '[[source]]\nurl = "https://pypi.org/simple"\nverify_ssl = true\nname = "pypi"\n\n'
            '[packages]\npython-dotenv = "==1.0.1"\n'
        ),
        "Pipfile.lock": PIPFILE_LOCK,
        "main.py": _stdlib_server(marker, prelude=prelude, body=body),
    }
    return git_repo(path, files, message=f"pipenv app: {marker}")


def pyproject_psycopg3_repo(path: Path | str, *, marker: str = PYPROJECT_MARKER) -> Path:
    """A plain pyproject.toml (`[project] dependencies`, no lock, no build system) using
    psycopg 3 without its binary extra: it loads libpq at run time, unlinked."""
    body = repr(f"<h1>{marker}</h1><p>libpq ") + " + str(psycopg.pq.version()) + '</p>'"
    files = {
        "pyproject.toml": (
            '[project]\nname = "pyproject-sample"\nversion = "0.1.0"\n'
            'dependencies = ["psycopg==3.2.3"]\n'
        ),
        "main.py": _stdlib_server(marker, prelude="import psycopg\n", body=body),
    }
    return git_repo(path, files, message=f"pyproject app: {marker}")


def yarn_berry_typescript_repo(path: Path | str, *, marker: str = BERRY_MARKER) -> Path:
    """A TypeScript HTTP server with no build script, whose start script runs the compiled
    dist/server.js; Yarn Berry (packageManager yarn@4) without a lock file."""
    package = {
        "name": "berry-ts-sample",
        "version": "1.0.0",
        "private": True,
        "packageManager": "yarn@4.5.3",
        "scripts": {"start": "node dist/server.js"},
        "devDependencies": {"typescript": "5.9.3", "@types/node": "20.9.5"},
    }
    files = {
        "package.json": json.dumps(package, indent=2) + "\n",
        "tsconfig.json": (
            "{\n  // compiled into dist/ before the app starts\n"
            '  "compilerOptions": {"target": "ES2022", "module": "commonjs", "outDir": "dist",\n'
            '    "rootDir": "src", "strict": true, "skipLibCheck": true,'
            ' "types": ["node"],},\n}\n'
        ),
        "src/server.ts": (
            'import { createServer } from "http";\n\n'
            "const port: number = Number(process.env.PORT ?? 3000);\n"
            "createServer((_req, res) => {\n"
            '  res.writeHead(200, { "Content-Type": "text/html" });\n'
            f'  res.end("<h1>{marker}</h1>");\n'
            '}).listen(port, "0.0.0.0", () => console.log(`listening on port ${port}`));\n'
        ),
        ".gitignore": "node_modules/\ndist/\n",
    }
    return git_repo(path, files, message=f"yarn berry app: {marker}")


def sveltekit_pnpm_repo(path: Path | str, *, marker: str = SVELTEKIT_MARKER) -> Path:
    """A SvelteKit app with adapter-node, installed with pnpm (packageManager pnpm@9)."""
    package = {
        "name": "sveltekit-sample",
        "version": "1.0.0",
        "private": True,
        "type": "module",
        "packageManager": "pnpm@9.8.0",
        "scripts": {"dev": "vite dev", "build": "vite build", "preview": "vite preview"},
        "devDependencies": {
            "@sveltejs/adapter-node": "5.5.7",
            "@sveltejs/kit": "2.70.4",
            "@sveltejs/vite-plugin-svelte": "5.1.0",
            "svelte": "5.57.3",
            "vite": "6.4.6",
        },
    }
    files = {
        "package.json": json.dumps(package, indent=2) + "\n",
        "svelte.config.js": (
            "import adapter from '@sveltejs/adapter-node';\n"
            "// import adapter from '@sveltejs/adapter-static';\n\n"
            "/** @type {import('@sveltejs/kit').Config} */\n"
            "const config = {\n  kit: {\n    adapter: adapter(),\n  },\n};\n\n"
            "export default config;\n"
        ),
        "vite.config.js": (
            "import { sveltekit } from '@sveltejs/kit/vite';\n"
            "import { defineConfig } from 'vite';\n\n"
            "export default defineConfig({ plugins: [sveltekit()] });\n"
        ),
        "src/app.html": (
            '<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8" />%sveltekit.head%'
            "</head>\n<body><div>%sveltekit.body%</div></body>\n</html>\n"
        ),
        "src/routes/+page.svelte": f"<h1>{marker}</h1>\n",
        ".gitignore": "node_modules/\nbuild/\n.svelte-kit/\n",
    }
    return git_repo(path, files, message=f"sveltekit app: {marker}")


def astro_yarn1_repo(path: Path | str, *, marker: str = ASTRO_MARKER) -> Path:
    """An Astro static site (dist/), installed with yarn 1 (packageManager yarn@1.22.22)."""
    package = {
        "name": "astro-sample",
        "version": "1.0.0",
        "private": True,
        "type": "module",
        "packageManager": "yarn@1.22.22",
        "scripts": {"dev": "astro dev", "build": "astro build", "preview": "astro preview"},
        "dependencies": {"astro": "5.9.4"},
    }
    files = {
        "package.json": json.dumps(package, indent=2) + "\n",
        "astro.config.mjs": (
            "import { defineConfig } from 'astro/config';\n\n"
            "// output: 'server' would need an adapter\n"
            "export default defineConfig({});\n"
        ),
        "src/pages/index.astro": f"---\nconst title = 'astro';\n---\n<h1>{marker}</h1>\n",
        "src/pages/about.astro": "<p>about</p>\n",
        ".gitignore": "node_modules/\ndist/\n",
    }
    return git_repo(path, files, message=f"astro app: {marker}")


LIVE_MARKER = "hello from a chatty app"


def live_repo(
    path: Path | str,
    *,
    build_ticks: int = 6,
    tick_seconds: float = 1.0,
    build_flood: int = 0,
    nonce: str = "",
    marker: str = LIVE_MARKER,
) -> Path:
    """An app for the live logs: its build prints `build tick <n> <unix time>` every
    `tick_seconds` (after `build_flood` lines at once, if any); its server logs every
    request on stderr, prints `tick <unix time>` on stdout every TICK_SECONDS (env, if set)
    and, for `GET /flood?rate=&seconds=`, `rate` lines a second for `seconds`. `nonce`
    makes the build step new, so it runs (and prints) again."""
    files = {
        "Dockerfile": """
            FROM python:3.11-slim
            WORKDIR /srv
            COPY build_ticks.py .
            RUN python -u build_ticks.py
            COPY server.py .
            ENV PORT=8080
            EXPOSE 8080
            CMD ["python", "-u", "server.py"]
        """,
        "build_ticks.py": f"""
            import sys, time

            # nonce: {nonce}
            for n in range({build_flood}):
                sys.stdout.write(f"build flood {{n}}\\n")
            sys.stdout.flush()
            for n in range(1, {build_ticks} + 1):
                print(f"build tick {{n}} {{time.time():.6f}}", flush=True)
                time.sleep({tick_seconds})
        """,
        "server.py": _stdlib_server(
            marker,
            prelude=(
                "import sys, threading, time\n"
                "from urllib.parse import parse_qs, urlparse\n\n"
                "def flood(rate, seconds):\n"
                "    started, n = time.time(), 0\n"
                "    while time.time() - started < seconds:\n"
                "        due = int((time.time() - started) * rate)\n"
                "        if due > n:\n"
                "            sys.stdout.write(''.join(f'flood {i} {time.time():.6f}\\n' for i in range(n, due)))\n"
                "            sys.stdout.flush()\n"
                "            n = due\n"
                "        time.sleep(0.005)\n\n"
                "def ticker(every):\n"
                "    while True:\n"
                "        print(f'tick {time.time():.6f}', flush=True)\n"
                "        time.sleep(every)\n\n"
                "if os.environ.get('TICK_SECONDS'):\n"
                "    threading.Thread(target=ticker, args=(float(os.environ['TICK_SECONDS']),), daemon=True).start()\n\n"
                "def start_flood(path):\n"
                "    query = parse_qs(urlparse(path).query)\n"
                "    rate = int(query.get('rate', ['10000'])[0])\n"
                "    seconds = float(query.get('seconds', ['30'])[0])\n"
                "    threading.Thread(target=flood, args=(rate, seconds), daemon=True).start()\n"
                "    return 'flooding'\n"
            ),
            body="start_flood(self.path) if self.path.startswith('/flood') else "
            + repr(f"<h1>{marker}</h1>"),
        ),
    }
    return _repo(path, files, f"live app: {marker} {nonce}")
