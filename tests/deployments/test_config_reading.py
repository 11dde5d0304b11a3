"""Config files read as what they are: JS/TS configs as code (comments, strings, template
literals, wrapper calls), package.json as JSON, TOML with tomllib, Procfiles, Railway and
Render files, compose files as YAML."""

from __future__ import annotations

import json

import pytest

from deployments.pipeline.detect import detect_project
from deployments.pipeline.detect.declared import build_script, parse_procfile, platform_config
from deployments.pipeline.detect.jsconfig import UNKNOWN, Call, read_js_config
from deployments.pipeline.detect.jstokens import strip_comments, tokenize
from deployments.pipeline.detect.node_frameworks import read_jsonc
from deployments.pipeline.detect.repo import Repo
from tests import samples


def _write(repo, files: dict[str, str]):
    for rel, content in files.items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return repo


@pytest.fixture
def repo(tmp_path):
    return tmp_path / "repo"


class TestTokenizer:
    def test_comments_are_dropped_and_strings_kept_whole(self):
        tokens = tokenize('a = "// not a comment" // a comment\n/* output: "export" */ b')
        assert [t.value for t in tokens] == ["a", "=", "// not a comment", "b"]
        assert tokens[-1].line == 2

    def test_a_regex_literal_with_slashes_is_not_a_comment(self):
        tokens = tokenize("const re = /https?:\\/\\/x/g; // end\nnext")
        assert [t.kind for t in tokens] == ["name", "name", "punct", "regex", "punct", "name"]

    def test_division_is_not_a_regex(self):
        kinds = [t.kind for t in tokenize("a = b / c / d")]
        assert kinds == ["name", "punct", "name", "punct", "name", "punct", "name"]

    def test_template_literals_with_substitutions_are_one_token(self):
        tokens = tokenize("x = `a ${ {b: '}'} } c` + 1")
        assert [t.kind for t in tokens] == ["name", "punct", "template", "punct", "num"]

    def test_escapes_are_decoded(self):
        assert tokenize(r"'it\'s \u0041\x42 \u{1F600}'")[0].value == "it's AB \U0001f600"

    def test_strip_comments_keeps_line_numbers_and_strings(self):
        text = 'const a = "/* keep */"; /* drop\n this */ b // drop\n'
        stripped = strip_comments(text)
        assert "/* keep */" in stripped and "drop" not in stripped
        assert stripped.count("\n") == text.count("\n")


NEXT_CONFIGS = {
    "a commented output": (
        "/** @type {import('next').NextConfig} */\n"
        "const nextConfig = {\n"
        '  // output: "export",\n'
        "  /* output: 'standalone' */\n"
        "  reactStrictMode: true,\n"
        "}\n"
        "export default nextConfig\n",
        None,
    ),
    "a template string": ("module.exports = { output: `standalone` }", "standalone"),
    "a typed const": (
        'import type { NextConfig } from "next";\n'
        "const config: NextConfig = {\n  output: 'export',\n};\nexport default config;\n",
        "export",
    ),
    "a plugin wrapper": (
        "const withMDX = require('@next/mdx')()\n"
        "const nextConfig = { pageExtensions: ['js', 'mdx'] }\n"
        "nextConfig.output = 'export'\n"
        "module.exports = withMDX(nextConfig)\n",
        "export",
    ),
    "a condition": (
        "module.exports = { output: process.env.STATIC ? 'export' : undefined }",
        UNKNOWN,
    ),
    "a function of the phase": (
        "module.exports = (phase) => {\n  const base = { output: 'standalone' }\n  return base\n}",
        "standalone",
    ),
    "a multi-line call with odd quoting": (
        "export default withSentryConfig(\n  {\n    'output'\n      :\n      \"standalone\",\n"
        "  },\n  { silent: true },\n)\n",
        "standalone",
    ),
    "a string that mentions output": (
        "// see https://nextjs.org/docs (output: 'export')\n"
        "export default { env: { NOTE: \"output: 'export'\" } }",
        None,
    ),
    "a shorthand property": (
        "const output = 'standalone'\nexport default { output }",
        "standalone",
    ),
}


class TestJsConfig:
    @pytest.mark.parametrize("case", list(NEXT_CONFIGS), ids=list(NEXT_CONFIGS))
    def test_next_output_is_read_from_code_not_text(self, case):
        text, expected = NEXT_CONFIGS[case]
        assert read_js_config(text).get("output") == expected

    def test_vite_out_dir_inside_define_config(self):
        config = read_js_config(
            "import { defineConfig } from 'vite'\nimport react from '@vitejs/plugin-react'\n"
            "export default defineConfig({\n  plugins: [react()],\n  root: './src',\n"
            "  build: {\n    outDir: '../dist', // where the site goes\n  },\n})\n"
        )
        assert config.get("root") == "./src"
        assert config.get("build.outDir") == "../dist"
        assert config.get("plugins") == [Call("react", "@vitejs/plugin-react", [])]

    def test_vite_config_returned_by_a_function(self):
        config = read_js_config(
            "export default defineConfig(({ mode }) => {\n"
            "  const env = loadEnv(mode, process.cwd())\n"
            "  return { build: { outDir: 'build' } }\n})"
        )
        assert config.get("build.outDir") == "build"

    def test_svelte_adapter_names_its_module_and_options(self):
        config = read_js_config(
            "import adapter from '@sveltejs/adapter-static';\n"
            "const config = { kit: { adapter: adapter({ pages: 'public', fallback: '200.html' }) } };\n"
            "export default config;\n"
        )
        adapter = config.get("kit.adapter")
        assert isinstance(adapter, Call) and adapter.module == "@sveltejs/adapter-static"
        assert adapter.args == [{"pages": "public", "fallback": "200.html"}]

    def test_commonjs_require_names_the_module(self):
        config = read_js_config(
            "const adapter = require('@sveltejs/adapter-node')\n"
            "module.exports = { kit: { adapter: adapter() } }"
        )
        assert config.get("kit.adapter").module == "@sveltejs/adapter-node"

    def test_a_missing_key_is_absent_and_a_computed_one_unknown(self):
        config = read_js_config("export default { a: compute(), b: [1, 'two', {c: null}] }")
        assert config.get("a") == Call("compute", None, [])
        assert config.get("b") == [1, "two", {"c": None}]
        assert config.get("nope", "default") == "default"
        assert read_js_config("export default someFunction").get("x") is UNKNOWN

    def test_nuxt_config_with_define_nuxt_config_and_satisfies(self):
        config = read_js_config(
            "export default defineNuxtConfig({\n  ssr: false, // SPA\n"
            "  nitro: { preset: 'node-server' },\n}) satisfies NuxtConfig\n"
        )
        assert config.get("ssr") is False
        assert config.get("nitro.preset") == "node-server"

    def test_jsonc_with_comments_and_trailing_commas(self):
        text = '{\n  // compiler\n  "compilerOptions": { "outDir": "./dist", },\n}\n'
        assert read_jsonc(text) == {"compilerOptions": {"outDir": "./dist"}}


class TestNextConfigDecidesTheBuild:
    def _nextjs(self, repo, config: str, name: str = "next.config.mjs"):
        samples.nextjs_repo(repo)
        (repo / "next.config.js").unlink()
        return detect_project(_write(repo, {name: config}))

    def test_an_export_in_a_comment_builds_a_server(self, repo):
        plan = self._nextjs(repo, NEXT_CONFIGS["a commented output"][0])
        assert plan.strategy == "nextjs"
        assert "next start" in plan.generated_dockerfile

    def test_a_real_export_builds_a_static_site_and_checks_for_its_index(self, repo):
        plan = self._nextjs(repo, NEXT_CONFIGS["a typed const"][0], "next.config.ts")
        assert plan.strategy == "node-static"
        assert "Butler expected `npm run build` to write index.html into one of /app/out/" in (
            plan.generated_dockerfile
        )

    def test_a_computed_output_is_noted(self, repo):
        plan = self._nextjs(repo, NEXT_CONFIGS["a condition"][0])
        assert plan.strategy == "nextjs"
        assert any("`output` is computed" in n for n in plan.notes)

    def test_standalone_checks_its_server_file(self, repo):
        plan = self._nextjs(repo, "export default { output: 'standalone', distDir: 'build' }")
        text = plan.generated_dockerfile
        assert "RUN test -e build/standalone/server.js ||" in text
        assert "COPY --from=build --chown=app:app /app/build/standalone ./" in text


class TestPackageJson:
    def test_a_byte_order_mark_is_allowed(self, repo):
        samples.express_repo(repo)
        text = (repo / "package.json").read_text()
        (repo / "package.json").write_text("\ufeff" + text)
        assert detect_project(repo).strategy == "node"

    def test_invalid_json_says_where(self, repo):
        _write(repo, {"package.json": '{\n  "name": "x",\n}'})
        with pytest.raises(Exception, match=r"package.json is not valid JSON \(line 3"):
            detect_project(repo)


class TestProcfile:
    def test_crlf_bom_comments_and_first_wins(self):
        text = "\ufeff# processes\r\nweb:gunicorn app:app\r\n\r\nweb: other\r\nworker: celery\r\n"
        assert parse_procfile(text) == {"web": "gunicorn app:app", "worker": "celery"}

    def test_an_empty_command_is_ignored(self):
        assert parse_procfile("web:\nrelease: migrate\n") == {"release": "migrate"}


class TestPlatformFiles:
    def test_railway_json_start_command_is_respected(self, repo):
        samples.express_repo(repo)
        railway = {
            "build": {"builder": "NIXPACKS"},
            "deploy": {"startCommand": "node server.js --x"},
        }
        plan = detect_project(_write(repo, {"railway.json": json.dumps(railway)}))
        assert "exec node server.js --x" in plan.generated_dockerfile
        assert any("railway.json deploy.startCommand" in n for n in plan.notes)

    def test_railway_toml_start_command_is_respected(self, repo):
        samples.flask_repo(repo, with_gunicorn=True)
        toml = '[deploy]\nstartCommand = "gunicorn app:app --bind 0.0.0.0:$PORT"\n'
        plan = detect_project(_write(repo, {"railway.toml": toml}))
        assert "exec gunicorn app:app --bind 0.0.0.0:$PORT" in plan.generated_dockerfile

    def test_render_yaml_web_service_start_command_is_respected(self, repo):
        samples.flask_repo(repo, with_gunicorn=True)
        render = (
            "# Render blueprint\nservices:\n  - type: worker\n    name: jobs\n"
            "    startCommand: python worker.py\n"
            "  - type: web\n    name: site\n    runtime: python\n"
            "    buildCommand: './build.sh'\n"
            '    startCommand: "gunicorn app:app"  # the web process\n'
        )
        plan = detect_project(_write(repo, {"render.yaml": render}))
        assert "exec gunicorn app:app" in plan.generated_dockerfile
        assert any("render.yaml service 'site' startCommand" in n for n in plan.notes)
        assert any("`./build.sh` is not run" in n for n in plan.notes)

    def test_a_procfile_beats_the_platform_files(self, repo):
        samples.procfile_repo(repo)
        railway = {"deploy": {"startCommand": "python other.py"}}
        plan = detect_project(_write(repo, {"railway.json": json.dumps(railway)}))
        assert "python serve.py --port $PORT" in plan.generated_dockerfile

    def test_a_render_build_command_running_another_script_is_the_build(self, repo):
        samples.express_repo(repo)
        pkg = json.loads((repo / "package.json").read_text())
        pkg["scripts"]["build:prod"] = "node build.js"
        render = "services:\n- type: web\n  buildCommand: yarn; yarn build:prod\n"
        plan = detect_project(
            _write(repo, {"package.json": json.dumps(pkg), "render.yaml": render})
        )
        assert "RUN npm run build:prod" in plan.generated_dockerfile

    def test_build_script_ignores_installs(self):
        scripts = {"build": "x", "build:prod": "y"}
        assert build_script("yarn; yarn build", scripts) == "build"
        assert build_script("npm ci && npm run build:prod", scripts) == "build:prod"
        assert build_script("npm install", scripts) is None

    def test_broken_platform_files_are_noted_and_ignored(self, repo):
        samples.flask_repo(repo)
        _write(repo, {"railway.json": "{ not json", "render.yaml": "services: [\n"})
        config = platform_config(Repo(repo))
        assert config.start is None
        assert any("railway.json is not valid JSON" in n for n in config.notes)
        assert any("render.yaml is not valid YAML" in n for n in config.notes)


class TestTomlFiles:
    def test_invalid_pyproject_is_noted(self, repo):
        _write(repo, {"pyproject.toml": "[project\nname=", "main.py": "print(1)\n"})
        plan = detect_project(repo)
        assert any("pyproject.toml is not valid TOML" in n for n in plan.notes)

    def test_python_requires_in_setup_cfg(self, repo):
        _write(
            repo,
            {
                "setup.cfg": "[options]\npython_requires = >=3.12\n",
                "setup.py": "from setuptools import setup\nsetup()\n",
                "main.py": "print(1)\n",
            },
        )
        assert detect_project(repo).base_images == ["python:3.12-slim"]

    def test_python_requires_in_setup_py(self, repo):
        setup = "from setuptools import setup\nsetup(name='x', python_requires='>=3.13')\n"
        _write(repo, {"setup.py": setup, "main.py": "print(1)\n"})
        assert detect_project(repo).base_images == ["python:3.13-slim"]


class TestComposeFiles:
    def test_comments_and_anchors_are_read_as_yaml(self, repo):
        compose = (
            "# services: web: privileged: true  (a comment)\n"
            "x-common: &common\n  restart: unless-stopped\n"
            "services:\n  web:\n    <<: *common\n    image: nginx:alpine\n"
            "    ports: ['8080:80']  # published\n"
        )
        plan = detect_project(_write(repo, {"compose.yaml": compose}))
        assert plan.strategy == "compose"
        assert plan.container_port == 80
