"""What cannot run, explained: from an app's last log lines, its listening sockets and a
build's output to a cause and what to do; and readiness failing fast when the cause is known."""

from __future__ import annotations

import time

import pytest

from deployments.pipeline import ready
from deployments.pipeline.explain import (
    explain_app_exit,
    explain_build_failure,
    explain_missing_image,
    loopback_from_logs,
    loopback_only,
    missing_variables,
    unreachable_hosts,
)
from deployments.pipeline.ready import AppExited, ListensOnLoopback, Moved, wait_until_ready
from deployments.runtime.base import ContainerSpec
from deployments.runtime.docker_engine import DockerRuntime


class TestMissingVariables:
    @pytest.mark.parametrize(
        ("log", "name"),
        [
            (
                'Traceback (most recent call last):\n  File "/app/app.py", line 3, in <module>\n'
                '    TOKEN = os.environ["API_TOKEN"]\n'
                "  File \"<frozen os>\", line 714, in __getitem__\nKeyError: 'API_TOKEN'\n",
                "API_TOKEN",
            ),
            (
                "django.core.exceptions.ImproperlyConfigured: Set the DJANGO_SECRET environment variable",
                "DJANGO_SECRET",
            ),
            ("fatal: DATABASE_URL is not set", "DATABASE_URL"),
            ("Error: Missing required environment variable: STRIPE_KEY", "STRIPE_KEY"),
            ("Error: environment variable SESSION_SECRET must be set", "SESSION_SECRET"),
            (
                "decouple.UndefinedValueError: SECRET_KEY not found. Declare it as envvar or "
                "define a default value.",
                "SECRET_KEY",
            ),
            (
                "/app/index.js:3\nconst parts = process.env.REDIS_URL.split(':')\n"
                "                                   ^\n\n"
                "TypeError: Cannot read properties of undefined (reading 'split')\n"
                "    at Object.<anonymous> (/app/index.js:3:37)\n",
                "REDIS_URL",
            ),
            (
                "pydantic_core._pydantic_core.ValidationError: 1 validation error for Settings\n"
                "openai_api_key\n  Field required [type=missing, input_value={}, input_type=dict]\n",
                "OPENAI_API_KEY",
            ),
            (
                "================================\n Missing environment variables:\n"
                "    JWT_SECRET: undefined\n================================\n",
                "JWT_SECRET",
            ),
            ("error: Environment variable not found: DATABASE_URL.", "DATABASE_URL"),
            (
                "django.core.exceptions.ImproperlyConfigured: The SECRET_KEY setting must not be empty.",
                "SECRET_KEY",
            ),
            (
                "\x1b[31mError:\x1b[0m Please set the MAPBOX_TOKEN environment variable",
                "MAPBOX_TOKEN",
            ),
        ],
        ids=[
            "keyerror",
            "django-environ",
            "is-not-set",
            "missing-required",
            "must-be-set",
            "decouple",
            "node-undefined",
            "pydantic-settings",
            "envalid",
            "prisma",
            "django-secret-key",
            "ansi-please-set",
        ],
    )
    def test_the_variable_is_named(self, log, name):
        assert missing_variables(log)[0] == name
        explanation = explain_app_exit(log)
        assert name in str(explanation)
        assert "Environment Variables" in str(explanation)

    def test_a_lowercase_key_error_is_not_a_variable(self):
        assert explain_app_exit("KeyError: 'user_id'\n") is None

    def test_ordinary_output_explains_nothing(self):
        assert explain_app_exit("starting up\nListening on port 3000\nbye\n") is None

    def test_a_set_variable_is_not_called_unset(self):
        explanation = explain_app_exit("fatal: API_KEY is not set", env_names={"API_KEY"})
        assert "is set for this project" in str(explanation)


class TestDatabases:
    def test_postgres_on_localhost_names_database_url(self):
        log = (
            'psycopg2.OperationalError: connection to server at "localhost" (127.0.0.1), '
            "port 5432 failed: Connection refused\n"
        )
        explanation = explain_app_exit(log)
        assert "PostgreSQL" in explanation.cause and "localhost" in explanation.cause
        assert "DATABASE_URL" in explanation.action and "PGDATABASE" in explanation.action

    def test_postgres_on_the_default_socket_names_what_the_code_reads(self):
        log = (
            'psycopg2.OperationalError: connection to server on socket "/var/run/postgresql/'
            '.s.PGSQL.5432" failed: No such file or directory\n'
        )
        explanation = explain_app_exit(log, code_reads={"PGDATABASE", "PGUSER"})
        assert explanation.variables[0] == "PGDATABASE"
        assert "/var/run/postgresql/.s.PGSQL.5432" in explanation.cause

    def test_a_database_url_to_localhost_says_localhost_is_the_container(self):
        log = "Error: connect ECONNREFUSED 127.0.0.1:5432\n"
        explanation = explain_app_exit(log, env_names={"DATABASE_URL"})
        assert "DATABASE_URL is set" in explanation.cause
        assert "container itself" in explanation.cause

    @pytest.mark.parametrize(
        ("log", "name"),
        [
            (
                "MySQLdb.OperationalError: (2002, \"Can't connect to local MySQL server through "
                "socket '/run/mysqld/mysqld.sock' (2)\")",
                "MYSQL_HOST",
            ),
            (
                "redis.exceptions.ConnectionError: Error 111 connecting to localhost:6379. "
                "Connection refused.",
                "REDIS_URL",
            ),
            ("MongoServerSelectionError: connect ECONNREFUSED 127.0.0.1:27017", "MONGODB_URI"),
        ],
    )
    def test_other_databases(self, log, name):
        assert name in str(explain_app_exit(log))

    def test_a_real_host_that_is_down_is_not_a_missing_variable(self):
        log = 'connection to server at "db.internal" (10.0.0.5), port 5432 failed: timeout'
        assert explain_app_exit(log) is None


class TestLoopback:
    @pytest.mark.parametrize(
        "log",
        [
            '{"level":30,"time":1,"msg":"Server listening at http://127.0.0.1:3000"}',
            "INFO:     Uvicorn running on http://127.0.0.1:8000 (Press CTRL+C to quit)",
            " * Running on http://127.0.0.1:5000",
            "[INFO] Listening at: http://127.0.0.1:8000 (7)",
            "  ➜  Local:   http://localhost:3000/\n  ➜  Network: use --host to expose",
        ],
    )
    def test_the_log_names_a_loopback_port(self, log):
        assert loopback_from_logs(log) in ([3000], [8000], [5000])

    def test_a_network_url_or_all_addresses_is_not_loopback(self):
        assert (
            loopback_from_logs("Local: http://localhost:8501\nNetwork URL: http://172.17.0.2:8501")
            == []
        )
        assert loopback_from_logs("listening on http://0.0.0.0:3000 (http://localhost:3000)") == []

    def test_sockets_on_loopback_only_are_the_cause(self):
        assert loopback_only([("127.0.0.1", 3000), ("::1", 3000)], 3000) == [
            ("127.0.0.1", 3000),
            ("::1", 3000),
        ]

    def test_a_wildcard_listener_is_fine(self):
        assert loopback_only([("0.0.0.0", 3000), ("127.0.0.1", 3000)], 3000) == []
        assert loopback_only([("::", 8000), ("127.0.0.1", 9229)], 8000) == []

    def test_a_loopback_app_on_another_port_is_found(self):
        assert loopback_only([("127.0.0.1", 5000)], 8000) == [("127.0.0.1", 5000)]
        assert loopback_only([("127.0.0.1", 5432)], 8000) == []  # a database, not the app

    def test_a_proxy_on_all_addresses_in_front_of_a_local_app_is_a_port_question(self):
        assert loopback_only([("0.0.0.0", 80), ("127.0.0.1", 3000)], 3000) == []

    def test_dockers_own_dns_server_is_not_the_app(self):
        assert loopback_only([("127.0.0.11", 40113)], 8000) == []

    def test_proc_net_tcp_is_parsed(self):
        text = (
            "  sl  local_address rem_address   st tx_queue rx_queue\n"
            "   0: 0100007F:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000\n"
            "   1: 00000000:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000\n"
            "   2: 0100007F:0BB8 0100007F:A1B2 01 00000000:00000000 00:00000000 00000000\n"
            "  sl  local_address                         remote_address   st\n"
            "   0: 00000000000000000000000001000000:0BB8 00000000000000000000000000000000:0000 0A\n"
            "   1: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A\n"
        )
        assert DockerRuntime.parse_proc_net_tcp(text) == [
            ("127.0.0.1", 3000),
            ("0.0.0.0", 8000),
            ("::1", 3000),
            ("::", 80),
        ]


class TestBuildFailures:
    def test_an_unreachable_host_is_named_with_who_reached_for_it(self):
        log = (
            "error /app/node_modules/pngquant-bin: Command failed.\n"
            "⚠ getaddrinfo ENOTFOUND raw.githubusercontent.com\n"
            "  ⚠ pngquant pre-build test failed\n"
        )
        explanation = explain_build_failure(log)
        assert explanation.hosts == ("raw.githubusercontent.com",)
        assert "raw.githubusercontent.com" in explanation.cause
        assert "image optimiser" in explanation.cause

    @pytest.mark.parametrize(
        ("log", "host"),
        [
            (
                "FetchError: request to https://fonts.googleapis.com/css2?family=Inter failed, "
                "reason: getaddrinfo ENOTFOUND fonts.googleapis.com",
                "fonts.googleapis.com",
            ),
            ("prebuild-install warn install getaddrinfo ENOTFOUND github.com", "github.com"),
            ("curl: (6) Could not resolve host: cdn.example.net", "cdn.example.net"),
            (
                "WARNING: Retrying ... Failed to establish a new connection: [Errno -2] Name or "
                "service not known')': /simple/x/ host='pypi.internal.corp'",
                "pypi.internal.corp",
            ),
            (
                "fatal: unable to access 'https://gitlab.example.com/x.git/': Could not resolve",
                "gitlab.example.com",
            ),
        ],
    )
    def test_hosts_from_each_kind_of_tool(self, log, host):
        assert host in unreachable_hosts(log)
        assert host in explain_build_failure(log).cause

    def test_a_font_download_is_named_as_such(self):
        log = "Failed to fetch `Inter` from Google Fonts.\nrequest to https://fonts.gstatic.com/s/a.woff2 failed, reason: getaddrinfo ENOTFOUND fonts.gstatic.com"
        assert "Google Fonts" in explain_build_failure(log).cause

    def test_buildkit_syntax_is_explained(self):
        error = (
            "the --mount option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/"
        )
        explanation = explain_build_failure("", error)
        assert "--mount" in explanation.cause and "classic builder" in explanation.cause

    def test_pg_config_is_explained(self):
        log = "Error: pg_config executable not found.\n"
        assert "libpq" in str(explain_build_failure(log))

    def test_an_ordinary_failure_explains_nothing(self):
        assert explain_build_failure("Step 3/9 : RUN make\nmake: *** [all] Error 2") is None


class TestMissingImages:
    def test_a_generated_image_names_its_setting(self):
        explanation = explain_missing_image("node:16-slim", generated=True)
        assert "BUTLER_NODE_IMAGE" in explanation.action
        assert "node:16-slim" in explanation.cause

    def test_a_repo_dockerfile_names_the_line_all_missing_images_and_an_alternative(self):
        text = (
            "FROM python:3.12-slim-bullseye\n\nCOPY --from=ghcr.io/astral-sh/uv:latest /uv /bin/uv\n"
            "COPY . /app\n"
        )
        explanation = explain_missing_image(
            "python:3.12-slim-bullseye",
            generated=False,
            dockerfile_text=text,
            missing=["ghcr.io/astral-sh/uv:latest"],
            alternatives=["python"],
        )
        assert "Dockerfile line 1" in explanation.action
        assert "ghcr.io/astral-sh/uv:latest" in explanation.cause
        assert "strategy to 'python'" in explanation.action


# ---------------------------------------------------------------------------------------------
# Readiness on the fake runtime


@pytest.fixture
def fake(fake_runtime, monkeypatch):
    monkeypatch.setattr(ready, "LOG_CHECK_SECONDS", 0.05)
    monkeypatch.setattr(ready, "LOOPBACK_GRACE_SECONDS", 0.2)
    fake_runtime.images["app:1"] = object()  # run_container only checks the tag exists
    return fake_runtime


def _start(fake, port=3000):
    return fake.run_container(
        ContainerSpec(
            name="app",
            image="app:1",
            env={},
            labels={},
            container_port=port,
            network="n",
            memory="64m",
            cpus=1.0,
        )
    )


class TestReadiness:
    def test_loopback_sockets_fail_at_once(self, fake, monkeypatch):
        monkeypatch.setattr(ready, "answers_http", lambda *a, **k: False)
        fake.listening = [("127.0.0.1", 3000), ("::1", 3000)]
        started = time.monotonic()
        with pytest.raises(ListensOnLoopback) as info:
            wait_until_ready(fake, _start(fake), host="127.0.0.1", timeout=30)
        assert time.monotonic() - started < 5
        message = str(info.value)
        assert "127.0.0.1, ::1 port 3000" in message and "0.0.0.0" in message
        assert isinstance(info.value, ready.NeverAnswered)  # the pipeline's message applies

    def test_a_loopback_log_line_fails_after_a_grace_when_sockets_are_unknown(
        self, fake, monkeypatch
    ):
        monkeypatch.setattr(ready, "answers_http", lambda *a, **k: False)
        fake.logs_text = '{"msg":"Server listening at http://127.0.0.1:3000"}\n'
        with pytest.raises(
            ListensOnLoopback, match=r"its log says it listens on 127\.0\.0\.1 port 3000"
        ):
            wait_until_ready(fake, _start(fake), host="127.0.0.1", timeout=30)

    def test_an_app_that_prints_localhost_but_answers_is_ready(self, fake, monkeypatch):
        calls = {"n": 0}

        def answers(host, port, timeout=2.0):
            calls["n"] += 1
            return calls["n"] > 3

        monkeypatch.setattr(ready, "answers_http", answers)
        fake.logs_text = "Server listening at http://localhost:3000\n"
        container = _start(fake)
        assert wait_until_ready(fake, container, host="127.0.0.1", timeout=30).id == container.id

    def test_a_wildcard_socket_on_another_port_moves(self, fake, monkeypatch):
        monkeypatch.setattr(ready, "answers_http", lambda *a, **k: False)
        fake.listening = [("0.0.0.0", 5055)]
        result = wait_until_ready(fake, _start(fake, port=8000), host="127.0.0.1", timeout=30)
        assert result == Moved(5055, "it listens there")

    def test_an_exit_with_a_missing_variable_names_it(self, fake, monkeypatch):
        monkeypatch.setattr(ready, "answers_http", lambda *a, **k: False)
        fake.container_exit_code = 1
        fake.logs_text = "Traceback ...\nKeyError: 'STRIPE_KEY'\n"
        with pytest.raises(AppExited) as info:
            wait_until_ready(fake, _start(fake), host="127.0.0.1", timeout=30)
        assert "environment variable STRIPE_KEY is not set" in str(info.value)
        assert "Set STRIPE_KEY under the project's Environment Variables" in str(info.value)


class TestNodeEngines:
    def test_npm_ebadengine_names_the_package_and_both_versions(self):
        log = (
            "npm WARN EBADENGINE Unsupported engine {\n"
            "npm WARN EBADENGINE   package: '@babel/helper-validator-identifier@8.0.6',\n"
            "npm WARN EBADENGINE   required: { node: '^22.18.0 || >=24.11.0' },\n"
            "npm WARN EBADENGINE   current: { node: 'v20.19.2', npm: '9.2.0' }\n"
            "npm WARN EBADENGINE }\n"
            "■  Nuxt build error: TypeError: trustedFunctions.difference is not a function\n"
        )
        explanation = explain_build_failure(log)
        assert "@babel/helper-validator-identifier@8.0.6 requires Node ^22.18.0 || >=24.11.0" in (
            explanation.cause
        )
        assert "runs Node 20.19.2" in explanation.cause
        assert '"engines": {"node": "^22.18.0 || >=24.11.0"}' in explanation.action

    def test_yarn_engine_error(self):
        log = (
            'error vite@7.0.0: The engine "node" is incompatible with this module. '
            'Expected version "^20.19.0 || >=22.12.0". Got "18.20.4"\n'
        )
        assert "requires Node ^20.19.0 || >=22.12.0" in str(explain_build_failure(log))

    def test_an_unreachable_host_comes_before_an_engine_warning(self):
        log = (
            "npm WARN EBADENGINE   package: 'x@1',\nnpm WARN EBADENGINE   required: { node: '>=22' },\n"
            "npm WARN EBADENGINE   current: { node: 'v20.1.0' }\n"
            "prebuild-install warn install getaddrinfo ENOTFOUND github.com\n"
        )
        assert explain_build_failure(log).hosts == ("github.com",)
