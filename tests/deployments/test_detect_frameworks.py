"""Detection of what real repositories push: framework outputs and start commands, package
managers, Python dependency managers and the C libraries their packages compile against,
and versions no image serves."""

from __future__ import annotations

import json

import pytest

from deployments.pipeline.detect import DetectionError, detect_project
from tests import samples


def _write(repo, files: dict[str, str | dict]):
    for rel, content in files.items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content) if isinstance(content, dict) else content)
    return repo


def _cmd(plan) -> str:
    line = next(ln for ln in plan.generated_dockerfile.splitlines() if ln.startswith("CMD "))
    return json.loads(line[4:])[2]


def _pkg(deps=None, dev=None, scripts=None, **extra) -> dict:
    return {
        "name": "app",
        "dependencies": deps or {},
        "devDependencies": dev or {},
        "scripts": scripts or {},
        **extra,
    }


@pytest.fixture
def repo(tmp_path):
    return tmp_path / "repo"


class TestNodeFrameworks:
    def test_nuxt_3_ships_its_self_contained_output(self, repo):
        _write(repo, {"package.json": _pkg({"nuxt": "^3.12.0"}, scripts={"build": "nuxt build"})})
        plan = detect_project(repo)
        text = plan.generated_dockerfile
        assert plan.strategy == "nuxt"
        assert _cmd(plan) == "exec node .output/server/index.mjs"
        assert "COPY --from=build --chown=app:app /app/.output ./.output" in text
        assert "RUN test -e .output/server/index.mjs ||" in text
        assert "HOST=0.0.0.0" in text

    def test_nuxt_latest_with_a_declared_start_keeps_the_app(self, repo):
        _write(
            repo,
            {
                "package.json": _pkg(
                    {"nuxt": "latest"}, scripts={"build": "nuxt build", "start": "nuxt start"}
                ),
                "render.yaml": "services:\n- type: web\n  buildCommand: yarn; yarn build\n  startCommand: yarn start\n",
            },
        )
        plan = detect_project(repo)
        assert plan.strategy == "nuxt" and "Nuxt 3+" in plan.summary
        assert _cmd(plan) == "exec yarn start"
        assert "COPY --from=build --chown=app:app /app ./" in plan.generated_dockerfile

    def test_nuxt_2_runs_nuxt_start(self, repo):
        _write(repo, {"package.json": _pkg({"nuxt": "^2.17.0"}, scripts={"build": "nuxt build"})})
        plan = detect_project(repo)
        assert plan.summary.startswith("Nuxt 2 app")
        assert _cmd(plan) == "exec node_modules/.bin/nuxt start"

    def test_nuxt_generate_is_a_static_site(self, repo):
        _write(repo, {"package.json": _pkg({"nuxt": "^3"}, scripts={"build": "nuxt generate"})})
        plan = detect_project(repo)
        assert plan.strategy == "node-static"
        assert "for d in .output/public dist;" in plan.generated_dockerfile

    def test_sveltekit_adapter_node_runs_its_build(self, repo):
        _write(
            repo,
            {
                "package.json": _pkg(
                    dev={"@sveltejs/kit": "^2", "@sveltejs/adapter-node": "^5", "vite": "^5"},
                    scripts={"build": "vite build"},
                ),
                "svelte.config.js": "import adapter from '@sveltejs/adapter-node';\n"
                "// adapter: adapter-static would be another choice\n"
                "export default { kit: { adapter: adapter({ out: 'server' }) } };\n",
            },
        )
        plan = detect_project(repo)
        assert plan.strategy == "sveltekit"
        assert _cmd(plan) == "exec node server"
        assert "RUN test -e server/index.js ||" in plan.generated_dockerfile

    def test_sveltekit_adapter_static_is_served_by_nginx_from_its_pages(self, repo):
        _write(
            repo,
            {
                "package.json": _pkg(
                    dev={"@sveltejs/kit": "^2", "@sveltejs/adapter-static": "^3"},
                    scripts={"build": "vite build"},
                ),
                "svelte.config.js": "import adapter from '@sveltejs/adapter-static';\n"
                "export default { kit: { adapter: adapter({ pages: 'public', fallback: '200.html' }) } };\n",
            },
        )
        plan = detect_project(repo)
        assert plan.strategy == "node-static"
        assert "for d in public;" in plan.generated_dockerfile
        assert "/index.html; }" in plan.generated_dockerfile  # fallback for client routing

    def test_sveltekit_adapter_auto_is_refused_saying_what_to_install(self, repo):
        _write(
            repo,
            {
                "package.json": _pkg(
                    dev={"@sveltejs/kit": "^2", "@sveltejs/adapter-auto": "^3"},
                    scripts={"build": "vite build"},
                ),
                "svelte.config.js": "import adapter from '@sveltejs/adapter-auto';\n"
                "export default { kit: { adapter: adapter() } };\n",
            },
        )
        with pytest.raises(DetectionError, match=r"adapter-auto.*@sveltejs/adapter-node"):
            detect_project(repo)

    def test_astro_static_serves_dist_without_spa_fallback(self, repo):
        _write(
            repo,
            {
                "package.json": _pkg({"astro": "^4"}, scripts={"build": "astro build"}),
                "astro.config.mjs": "import { defineConfig } from 'astro/config';\n"
                "// output: 'server',\nexport default defineConfig({});\n",
            },
        )
        plan = detect_project(repo)
        assert plan.strategy == "node-static" and plan.summary.startswith("Astro static site")
        assert "for d in dist;" in plan.generated_dockerfile
        assert "$uri.html =404" in plan.generated_dockerfile

    def test_astro_server_with_the_node_adapter(self, repo):
        _write(
            repo,
            {
                "package.json": _pkg(
                    {"astro": "^4", "@astrojs/node": "^8"}, scripts={"build": "astro build"}
                ),
                "astro.config.mjs": "import node from '@astrojs/node';\n"
                "export default { output: 'server', adapter: node({ mode: 'standalone' }) };\n",
            },
        )
        plan = detect_project(repo)
        assert plan.strategy == "astro"
        assert _cmd(plan) == "exec node ./dist/server/entry.mjs"
        assert "HOST=0.0.0.0" in plan.generated_dockerfile

    def test_remix_builds_then_runs_its_start_script(self, repo):
        _write(
            repo,
            {
                "package.json": _pkg(
                    {"@remix-run/serve": "^2", "@remix-run/node": "^2"},
                    {"@remix-run/dev": "^2"},
                    {"build": "remix vite:build", "start": "remix-serve ./build/server/index.js"},
                )
            },
        )
        plan = detect_project(repo)
        assert plan.strategy == "remix"
        assert "RUN npm run build" in plan.generated_dockerfile
        assert _cmd(plan) == "exec npm start"

    def test_gatsby_is_served_from_public(self, repo):
        _write(
            repo,
            {
                "package.json": _pkg(
                    {"gatsby": "^3"}, scripts={"build": "gatsby build", "start": "npm run develop"}
                )
            },
        )
        plan = detect_project(repo)
        assert plan.strategy == "node-static" and "Gatsby" in plan.summary
        assert "for d in public;" in plan.generated_dockerfile

    def test_vite_out_dir_is_relative_to_its_root(self, repo):
        _write(
            repo,
            {
                "package.json": _pkg(dev={"vite": "^5"}, scripts={"build": "tsc -b && vite build"}),
                "vite.config.ts": "export default defineConfig({\n  root: './src',\n"
                "  build: { outDir: '../dist' },\n})\n",
            },
        )
        plan = detect_project(repo)
        assert "for d in dist build out;" in plan.generated_dockerfile

    def test_a_typescript_server_is_compiled_before_it_starts(self, repo):
        _write(
            repo,
            {
                "package.json": _pkg(
                    {"express": "^4"}, {"typescript": "^5"}, {"start": "node dist/server.js"}
                ),
                "tsconfig.json": '{\n  // compiled output\n  "compilerOptions": {"outDir": "dist",},\n}\n',
                "src/server.ts": "import express from 'express'\n",
            },
        )
        plan = detect_project(repo)
        text = plan.generated_dockerfile
        assert plan.strategy == "node"
        assert "RUN node_modules/.bin/tsc -p tsconfig.json" in text
        assert "RUN test -e dist/server.js ||" in text
        assert text.index("tsc -p") < text.index("npm prune --omit=dev")

    def test_a_build_whose_start_file_is_missing_says_so(self, repo):
        _write(
            repo,
            {
                "package.json": _pkg(
                    {"express": "^4"},
                    {"esbuild": "^0.20"},
                    {"build": "esbuild src/a.ts --outfile=out/a.js", "start": "node out/a.js"},
                )
            },
        )
        assert "RUN test -e out/a.js ||" in detect_project(repo).generated_dockerfile


class TestNodeManagers:
    def test_yarn_berry_comes_from_npm_with_node_modules(self, repo):
        lock = '__metadata:\n  version: 8\n  cacheKey: 10c0\n\n"left-pad@npm:1.3.0":\n'
        _write(
            repo,
            {
                "package.json": _pkg({"express": "^4"}, scripts={"start": "node s.js"}),
                "yarn.lock": lock,
                ".yarnrc.yml": "nodeLinker: node-modules\n",
                "s.js": "",
            },
        )
        text = detect_project(repo).generated_dockerfile
        assert "RUN npm install -g --force @yarnpkg/cli-dist@4" in text
        assert "YARN_NODE_LINKER=node-modules" in text
        assert "RUN yarn install --immutable" in text
        assert "COPY package.json yarn.lock .yarnrc.yml ./" in text

    def test_yarn_berry_without_a_lock_does_not_ask_for_immutable(self, repo):
        _write(
            repo,
            {
                "package.json": _pkg(
                    {"express": "^4"},
                    scripts={"start": "node s.js"},
                    packageManager="yarn@4.5.3+sha512.abc",
                ),
                "s.js": "",
            },
        )
        text = detect_project(repo).generated_dockerfile
        assert "@yarnpkg/cli-dist@4.5.3" in text
        assert "RUN yarn install\n" in text


class TestPythonManagers:
    def test_uv_syncs_into_a_venv_in_a_build_stage(self, repo):
        _write(
            repo,
            {
                "pyproject.toml": '[project]\nname = "svc"\nrequires-python = ">=3.12"\n'
                'dependencies = ["fastapi"]\n',
                "uv.lock": "version = 1\n",
                "main.py": "from fastapi import FastAPI\napp = FastAPI()\n",
            },
        )
        plan = detect_project(repo)
        text = plan.generated_dockerfile
        assert plan.strategy == "fastapi" and "uv (uv.lock)" in plan.summary
        assert (
            "RUN python -m venv /opt/butler-tools && /opt/butler-tools/bin/pip install uv" in text
        )
        assert "RUN /opt/butler-tools/bin/uv sync --frozen --no-dev --no-install-project" in text
        assert "COPY --from=build /opt/venv /opt/venv" in text
        assert text.index("uv sync --frozen --no-dev --no-editable") < text.index(
            "FROM python:3.12-slim\n"
        )

    def test_poetry_installs_into_the_venv_with_its_lock(self, repo):
        _write(
            repo,
            {
                "pyproject.toml": '[tool.poetry]\nname = "svc"\n[tool.poetry.dependencies]\n'
                'python = "^3.11"\nflask = "^3"\n',
                "poetry.lock": "",
                "app.py": "from flask import Flask\napp = Flask(__name__)\n",
            },
        )
        text = detect_project(repo).generated_dockerfile
        assert "/opt/butler-tools/bin/pip install poetry" in text
        assert "poetry install --no-root --no-interaction --only main" in text
        assert "RUN python -m venv /opt/venv" in text

    def test_a_pipfile_without_lock_is_installed_with_pip(self, repo):
        _write(
            repo,
            {
                "Pipfile": '[packages]\nflask = "*"\nrequests = {version = ">=2", extras = ["socks"]}\n',
                "app.py": "from flask import Flask\napp = Flask(__name__)\n",
            },
        )
        text = detect_project(repo).generated_dockerfile
        assert "RUN pip install flask 'requests[socks]>=2'" in text
        assert "pipenv" not in text


class TestSystemPackages:
    def test_psycopg2_gets_libpq_in_the_build_stage_only(self, repo):
        _write(
            repo,
            {
                "requirements.txt": "Django==5.2\npsycopg2==2.9.10  # not -binary\n",
                "main.py": "print(1)\n",
            },
        )
        plan = detect_project(repo)
        text = plan.generated_dockerfile
        build, final = text.split("\nFROM python:3.11-slim\n")
        assert "gcc libpq-dev" in build and "libpq-dev" not in final
        assert "dpkg -S" in build  # the libraries the modules link to are listed there
        assert "apt-get install -y --no-install-recommends $packages" in final
        assert any("psycopg2 compile(s) against C libraries" in n for n in plan.notes)

    def test_mysqlclient_gets_the_client_library(self, repo):
        _write(repo, {"requirements.txt": "mysqlclient\n", "main.py": "print(1)\n"})
        assert (
            "default-libmysqlclient-dev gcc pkg-config" in detect_project(repo).generated_dockerfile
        )

    def test_psycopg_3_binary_needs_nothing_and_plain_needs_libpq_at_run_time(self, repo):
        _write(repo, {"requirements.txt": "psycopg[binary]>=3\n", "main.py": "print(1)\n"})
        assert "apt-get" not in detect_project(repo).generated_dockerfile
        _write(repo, {"requirements.txt": "psycopg>=3\n"})
        text = detect_project(repo).generated_dockerfile
        assert "apt-get install -y --no-install-recommends libpq5" in text

    def test_a_transitive_dependency_in_a_lock_counts(self, repo):
        lock = '[[package]]\nname = "psycopg2"\nversion = "2.9.10"\n'
        _write(
            repo,
            {
                "pyproject.toml": '[project]\nname="x"\ndependencies=["some-orm"]\n',
                "uv.lock": lock,
                "main.py": "print(1)\n",
            },
        )
        assert "libpq-dev" in detect_project(repo).generated_dockerfile

    def test_packages_that_usually_have_wheels_compile_only_as_a_fallback(self, repo):
        _write(repo, {"requirements.txt": "lxml==4.6.0\n", "main.py": "print(1)\n"})
        text = detect_project(repo).generated_dockerfile
        assert "|| (echo 'Butler: pip could not install from wheels alone" in text
        assert "libxml2-dev" in text and "AS build" not in text


class TestVersionsNoImageServes:
    def test_an_ancient_node_gets_the_nearest_with_a_warning(self, repo):
        _write(
            repo,
            {
                "package.json": _pkg(
                    {"express": "^4"}, scripts={"start": "node s.js"}, engines={"node": "4.0.0"}
                ),
                "s.js": "",
            },
        )
        plan = detect_project(repo)
        assert plan.base_images == ["node:18-slim"]
        assert any(
            "engines.node '4.0.0' asks for Node 4" in w and "using Node 18" in w
            for w in plan.warnings
        )

    def test_a_future_node_range_gets_the_newest(self, repo):
        _write(
            repo,
            {
                "package.json": _pkg(
                    {"express": "^4"}, scripts={"start": "node s.js"}, engines={"node": ">=30"}
                ),
                "s.js": "",
            },
        )
        plan = detect_project(repo)
        assert plan.base_images == ["node:24-slim"]
        assert any("Node 30 to 59" in w for w in plan.warnings)

    def test_python_requires_in_the_past(self, repo):
        _write(
            repo,
            {
                "pyproject.toml": '[project]\nname="x"\nrequires-python="<3.7"\n',
                "main.py": "print(1)\n",
            },
        )
        plan = detect_project(repo)
        assert plan.base_images == ["python:3.9-slim"]
        assert any(
            "asks for Python 2.0 to 3.6" in w and "using Python 3.9" in w for w in plan.warnings
        )

    def test_python_requires_in_the_future(self, repo):
        _write(
            repo,
            {
                "pyproject.toml": '[project]\nname="x"\nrequires-python=">=3.20"\n',
                "main.py": "print(1)\n",
            },
        )
        assert detect_project(repo).base_images == ["python:3.14-slim"]

    def test_a_pinned_python_no_image_serves(self, repo):
        _write(repo, {".python-version": "3.6.15\n", "main.py": "print(1)\n"})
        plan = detect_project(repo)
        assert plan.base_images == ["python:3.9-slim"]
        assert any(".python-version asks for Python 3.6" in w for w in plan.warnings)

    def test_supported_versions_come_from_settings(self, repo, settings):
        settings.BUTLER_NODE_VERSIONS = "20,22"
        _write(
            repo,
            {
                "package.json": _pkg(
                    {"express": "^4"}, scripts={"start": "node s.js"}, engines={"node": "18.x"}
                ),
                "s.js": "",
            },
        )
        assert detect_project(repo).base_images == ["node:20-slim"]


class TestDjangoSettings:
    def test_a_database_url_defaulting_to_localhost_is_a_warning(self, repo):
        samples.django_repo(repo)
        settings = repo / "mysite" / "settings.py"
        settings.write_text(
            settings.read_text()
            + "\nimport dj_database_url\nDATABASES = {'default': dj_database_url.config("
            "default='postgresql://postgres:postgres@localhost:5432/mysite')}\n"
        )
        plan = detect_project(repo)
        assert any(
            "postgresql database on localhost" in w and "DATABASE_URL" in w for w in plan.warnings
        )


class TestUnpinnedDependencies:
    def test_latest_without_a_lock_builds_on_the_newest_node(self, repo):
        _write(repo, {"package.json": _pkg({"nuxt": "latest"}, scripts={"build": "nuxt build"})})
        plan = detect_project(repo)
        assert plan.base_images == ["node:24-slim"]
        assert any("nuxt resolve to their newest release" in n for n in plan.notes)

    def test_a_lock_file_keeps_the_default(self, repo):
        _write(
            repo,
            {
                "package.json": _pkg({"nuxt": "latest"}, scripts={"build": "nuxt build"}),
                "package-lock.json": "{}",
            },
        )
        assert detect_project(repo).base_images == ["node:20-slim"]
