import json

import pytest

from deployments.pipeline.dockerfiles import (
    NodeApp,
    PythonApp,
    StaticSite,
    analyze_dockerfile,
    default_dockerignore,
    node_dockerfile,
    parse_dockerfile,
    python_dockerfile,
    static_dockerfile,
    substitute,
)


def _lines(text: str) -> list[str]:
    return text.splitlines()


def _index(text: str, needle: str) -> int:
    """Line number of the first line containing `needle` (fails the test if absent)."""
    for number, line in enumerate(_lines(text)):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in:\n{text}")


def _cmd(text: str) -> list[str]:
    line = next(ln for ln in _lines(text) if ln.startswith("CMD "))
    return json.loads(line[4:])


class TestParsing:
    def test_it_joins_continuations_and_drops_comments(self):
        text = (
            "FROM python:3.11-slim\n# note\nRUN apt-get update \\\n    && apt-get install -y curl\n"
        )
        insts = parse_dockerfile(text)
        assert [i.keyword for i in insts] == ["FROM", "RUN"]
        assert insts[1].value == "apt-get update && apt-get install -y curl"
        assert insts[1].line == 3

    def test_substitute_knows_docker_forms(self):
        env = {"A": "1", "EMPTY": ""}
        assert substitute("$A-${A}-${B:-2}-${A:+set}-${B:+x}-${EMPTY:-d}-\\$A", env) == (
            "1-1-2-set--d-$A"
        )

    def test_base_images_skip_stages_and_scratch_and_resolve_global_args(self):
        text = (
            "ARG NODE=20\n"
            "FROM --platform=linux/amd64 node:${NODE}-slim AS build\n"
            "FROM build AS test\n"
            "FROM scratch AS empty\n"
            "FROM nginx:alpine\n"
        )
        info = analyze_dockerfile(text)
        assert info.base_images == ["node:20-slim", "nginx:alpine"]
        assert info.stages == ["build", "test", "empty", ""]


def _python(**kwargs) -> str:
    defaults = {"version": "3.11", "command": "gunicorn app:app", "description": "test app"}
    return python_dockerfile(PythonApp(**{**defaults, **kwargs}))


class TestPython:
    def test_dependencies_are_installed_before_the_source_is_copied(self):
        text = _python(requirement_files=["requirements.txt"], servers=["gunicorn"])
        assert _index(text, "COPY requirements.txt") < _index(text, "pip install -r")
        assert _index(text, "pip install -r") < _index(text, "COPY --chown=app:app . .")
        assert _index(text, "pip install gunicorn") < _index(text, "COPY --chown=app:app . .")

    def test_local_requirements_copy_the_source_first(self):
        text = _python(requirement_files=["requirements.txt"], copy_source_first=True)
        assert _index(text, "COPY --chown=app:app . .") < _index(text, "pip install -r")

    def test_it_installs_a_server_only_when_asked(self):
        assert "pip install gunicorn" not in _python(requirement_files=["requirements.txt"])

    def test_it_runs_as_a_non_root_user_and_honours_port(self):
        text = _python(command="gunicorn --bind 0.0.0.0:${PORT:-8000} app:app")
        assert "USER app" in _lines(text)
        assert "ENV PORT=8000" in _lines(text)
        assert "EXPOSE 8000" in _lines(text)
        assert _cmd(text) == ["sh", "-c", "exec gunicorn --bind 0.0.0.0:${PORT:-8000} app:app"]

    def test_a_compound_command_is_not_exec_prefixed(self):
        command = "python manage.py migrate && exec gunicorn mysite.wsgi"
        assert _cmd(_python(command=command)) == ["sh", "-c", command]

    def test_collectstatic_cannot_fail_the_build(self):
        text = _python(collectstatic_dir=".")
        line = _lines(text)[_index(text, "collectstatic --noinput")]
        assert line.startswith("RUN ") and "|| echo" in line
        assert "SECRET_KEY=butler-build-only" in line
        assert "ENV SECRET_KEY" not in text  # the placeholder never reaches the image

    def test_collectstatic_runs_where_manage_py_is(self):
        assert "RUN cd backend && " in _python(collectstatic_dir="backend")

    def test_pipenv_and_poetry_and_project_installs(self):
        assert "pipenv requirements >" in _python(pipenv="deploy")
        assert "pipenv install --system --skip-lock" in _python(pipenv="skip-lock")
        assert "poetry install --no-root" in _python(poetry=True)
        text = _python(packages=["flask>=3", "requests"], install_project=True)
        assert "RUN pip install 'flask>=3' requests" in _lines(text)
        assert _index(text, "COPY --chown") < _index(text, "pip install --no-deps .")

    def test_the_base_image_comes_from_settings(self, settings):
        settings.BUTLER_PYTHON_IMAGE = "mirror.example/python:{version}-slim"
        assert _lines(_python(version="3.12"))[1] == "FROM mirror.example/python:3.12-slim"


def _node(**kwargs) -> str:
    defaults = {"kind": "node", "version": "20", "description": "test"}
    return node_dockerfile(NodeApp(**{**defaults, **kwargs}))


class TestNode:
    @pytest.mark.parametrize(
        ("manager", "lock", "version", "install", "setup"),
        [
            ("npm", "package-lock.json", None, "npm ci", None),
            ("npm", None, None, "npm install", None),
            ("yarn", "yarn.lock", None, "yarn install --frozen-lockfile", None),
            (
                "pnpm",
                "pnpm-lock.yaml",
                "9",
                "pnpm install --frozen-lockfile",
                "npm install -g pnpm@9",
            ),
        ],
    )
    def test_each_package_manager_installs_from_its_lock_file(
        self, manager, lock, version, install, setup
    ):
        files = ["package.json"] + ([lock] if lock else [])
        text = _node(manager=manager, lock_file=lock, manager_version=version, install_files=files)
        assert f"COPY {' '.join(files)} ./" in _lines(text)
        assert f"RUN {install}" in _lines(text)
        if setup:
            assert _index(text, setup) < _index(text, install)
        assert _index(text, f"RUN {install}") < _index(text, "COPY --chown=app:app . .")

    def test_a_plain_node_app_runs_npm_start_as_a_user_with_production_deps(self):
        text = _node(lock_file="package-lock.json", install_files=["package.json"], prune=True)
        assert "RUN npm ci --omit=dev" in _lines(text)
        assert "ENV NODE_ENV=production" in _lines(text)
        assert "USER app" in _lines(text)
        assert "EXPOSE 3000" in _lines(text)
        assert _cmd(text) == ["sh", "-c", "exec npm start"]

    def test_a_node_app_with_a_build_script_builds_in_a_separate_stage(self):
        text = _node(build=True, prune=True, lock_file="package-lock.json")
        assert [ln for ln in _lines(text) if ln.startswith("FROM")] == [
            "FROM node:20-slim AS build",
            "FROM node:20-slim",
        ]
        assert _index(text, "npm run build") < _index(text, "npm prune --omit=dev")
        assert "COPY --from=build --chown=app:app /app ./" in _lines(text)

    def test_nextjs_is_deps_then_build_then_runner(self):
        text = _node(kind="nextjs", build=True, build_args=["NEXT_PUBLIC_API_URL"])
        assert [ln for ln in _lines(text) if ln.startswith("FROM")] == [
            "FROM node:20-slim AS deps",
            "FROM node:20-slim AS build",
            "FROM node:20-slim AS runner",
        ]
        assert _index(text, "ARG NEXT_PUBLIC_API_URL") < _index(text, "RUN npm run build")
        assert "ENV NEXT_PUBLIC_API_URL" not in text
        assert _cmd(text) == [
            "sh",
            "-c",
            "exec node_modules/.bin/next start -H 0.0.0.0 -p ${PORT:-3000}",
        ]

    def test_nextjs_standalone_ships_only_the_server(self):
        text = _node(kind="nextjs", build=True, next_standalone=True, has_public_dir=True)
        assert "COPY --from=build --chown=app:app /app/.next/standalone ./" in _lines(text)
        assert "COPY --from=build --chown=app:app /app/public ./public" in _lines(text)
        assert _cmd(text) == ["sh", "-c", "exec node server.js"]

    def test_a_spa_is_built_with_node_and_served_by_nginx_with_a_fallback(self):
        text = _node(kind="spa", build=True, output_dirs=["build", "dist"])
        froms = [ln for ln in _lines(text) if ln.startswith("FROM")]
        assert froms == ["FROM node:20-slim AS build", "FROM nginx:alpine"]
        assert "try_files $uri $uri/ /index.html;" in text
        assert "for d in build dist;" in text
        assert "COPY --from=build /out /usr/share/nginx/html" in _lines(text)
        assert "EXPOSE 80" in _lines(text)
        assert "${PORT:-80}" in _cmd(text)[2]

    def test_the_node_and_nginx_images_come_from_settings(self, settings):
        settings.BUTLER_NODE_IMAGE = "mirror.example/node:{version}"
        settings.BUTLER_NGINX_IMAGE = "mirror.example/nginx:1"
        text = _node(kind="spa", version="18")
        assert "FROM mirror.example/node:18 AS build" in _lines(text)
        assert "FROM mirror.example/nginx:1" in _lines(text)


class TestStatic:
    def test_it_serves_the_folder_and_hides_dotfiles(self):
        text = static_dockerfile(StaticSite(description="site", source_dir="public"))
        assert "COPY public/ /usr/share/nginx/html/" in _lines(text)
        assert "deny all" in text
        assert "absolute_redirect off;" in text  # /about -> /about/ keeps the published port
        assert "/index.html;" not in text  # no SPA fallback: a missing page is a 404


def test_the_default_dockerignore_leaves_out_vcs_dependencies_and_caches():
    ignored = default_dockerignore().splitlines()
    for entry in (".git", "**/node_modules", "**/__pycache__", ".venv", "venv"):
        assert entry in ignored
    assert "Dockerfile.butler" not in ignored  # the classic builder must see it


class TestPythonBuildStage:
    def test_compiled_packages_build_in_a_stage_the_final_image_leaves_behind(self):
        text = _python(requirement_files=["requirements.txt"], build_packages=["gcc", "libpq-dev"])
        froms = [ln for ln in _lines(text) if ln.startswith("FROM")]
        assert froms == ["FROM python:3.11-slim AS build", "FROM python:3.11-slim"]
        build, final = text.split("\nFROM python:3.11-slim\n")
        assert "apt-get install -y --no-install-recommends gcc libpq-dev" in build
        assert "RUN python -m venv /opt/venv" in build
        assert "COPY --from=build /opt/venv /opt/venv" in final
        assert "gcc" not in final
        assert 'ENV VIRTUAL_ENV=/opt/venv PATH="/opt/venv/bin:$PATH"' in _lines(final)
        assert _index(final, "COPY --from=build") < _index(final, "USER app")

    def test_uv_needs_no_venv_of_its_own_and_installs_the_project_after_the_source(self):
        text = _python(uv=True, uv_locked=True)
        assert "python -m venv /opt/venv" not in text  # uv sync makes it
        assert _index(text, "--no-install-project") < _index(text, "COPY . .")
        assert _index(text, "COPY . .") < _index(text, "uv sync --frozen --no-dev --no-editable")

    def test_an_unlocked_uv_project_resolves(self):
        assert "RUN /opt/butler-tools/bin/uv sync --no-dev --no-install-project" in _python(uv=True)

    def test_dependencies_go_into_a_venv_even_in_one_stage(self):
        text = _python(requirement_files=["requirements.txt"])
        assert "AS build" not in text
        assert _index(text, "RUN python -m venv /opt/venv") < _index(text, "pip install -r")

    def test_runtime_only_libraries_are_installed_in_a_single_stage(self):
        text = _python(packages=["psycopg"], runtime_packages=["libpq5"])
        assert "AS build" not in text
        assert "apt-get install -y --no-install-recommends libpq5" in text

    def test_collectstatic_runs_in_the_final_stage(self):
        text = _python(poetry=True, collectstatic_dir=".")
        assert _index(text, "FROM python:3.11-slim\n".strip()) < _index(text, "collectstatic")


class TestExpectations:
    def test_a_missing_build_output_fails_with_what_and_where(self):
        text = _node(
            build=True,
            expect=[(".output/server/index.mjs", "the Nuxt server build")],
            ship=[".output"],
        )
        line = next(ln for ln in _lines(text) if ln.startswith("RUN test -e"))
        assert line.startswith("RUN test -e .output/server/index.mjs || (echo ")
        assert (
            "Butler expected the Nuxt server build at /app/.output/server/index.mjs after `npm run build`"
            in line
        )
        assert line.endswith("exit 1)")
        assert "COPY --from=build --chown=app:app /app/.output ./.output" in _lines(text)
        assert "npm prune" not in text  # nothing but .output is shipped

    def test_an_spa_without_index_says_where_it_looked(self):
        text = _node(kind="spa", build=True, output_dirs=["public"])
        assert (
            "Butler expected `npm run build` to write index.html into one of /app/public/" in text
        )

    def test_yarn_berry_is_installed_from_npm(self):
        text = _node(
            manager="yarn",
            manager_version="4",
            lock_file="yarn.lock",
            install_files=["package.json", "yarn.lock"],
        )
        assert "RUN npm install -g --force @yarnpkg/cli-dist@4" in _lines(text)
        assert "RUN yarn install --immutable" in _lines(text)
