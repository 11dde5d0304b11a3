import pytest

from deployments.pipeline.ports import (
    expose_ports,
    parse_port_spec,
    pick_app_port,
    ports_from_logs,
)


class TestExposePorts:
    def test_it_reads_a_plain_expose(self):
        assert expose_ports("FROM python:3.11-slim\nEXPOSE 8000\n") == [8000]

    def test_it_accepts_tcp_and_skips_udp(self):
        assert expose_ports("FROM x\nEXPOSE 8000/tcp 53/udp 9000/TCP\n") == [8000, 9000]

    def test_it_keeps_the_order_of_several_ports_and_lines(self):
        text = "FROM x\nEXPOSE 3000 3001\nexpose 4000\nEXPOSE 3000\n"
        assert expose_ports(text) == [3000, 3001, 4000]

    @pytest.mark.parametrize(
        "lines",
        [
            "ARG PORT=8080\nEXPOSE $PORT",
            "ARG PORT=8080\nEXPOSE ${PORT}",
            "ENV PORT=8080\nEXPOSE ${PORT}/tcp",
            "ENV PORT 8080\nEXPOSE $PORT",
            "ARG APP_PORT=8080\nENV PORT=${APP_PORT}\nEXPOSE $PORT",
            "EXPOSE ${PORT:-8080}",
        ],
    )
    def test_it_resolves_variables_from_arg_and_env_defaults(self, lines):
        assert expose_ports(f"FROM python:3.11-slim\n{lines}\n") == [8080]

    def test_a_global_arg_reaches_a_stage_that_redeclares_it(self):
        text = "ARG PORT=5000\nFROM python:3.11-slim\nARG PORT\nEXPOSE $PORT\n"
        assert expose_ports(text) == [5000]

    def test_a_global_arg_not_redeclared_in_the_stage_is_empty(self):
        text = "ARG PORT=5000\nFROM python:3.11-slim\nEXPOSE $PORT\n"
        assert expose_ports(text) == []

    def test_a_variable_without_default_gives_no_port(self):
        assert expose_ports("FROM x\nARG PORT\nEXPOSE $PORT\n") == []

    def test_only_the_final_stage_counts(self):
        text = (
            "FROM node:20-slim AS build\nEXPOSE 5173\nRUN npm run build\n"
            "FROM nginx:alpine\nEXPOSE 80\n"
        )
        assert expose_ports(text) == [80]

    def test_a_stage_built_on_another_inherits_its_ports_and_env(self):
        text = (
            "FROM python:3.11-slim AS base\nENV PORT=7000\nEXPOSE 9000\nFROM base\nEXPOSE $PORT\n"
        )
        assert expose_ports(text) == [9000, 7000]

    def test_continuations_and_comments_are_handled(self):
        text = "FROM x\n# EXPOSE 1111\nEXPOSE 8000 \\\n  # a comment inside\n  8001\n"
        assert expose_ports(text) == [8000, 8001]

    def test_the_escape_directive_is_honoured(self):
        text = "# escape=`\nFROM x\nEXPOSE 8000 `\n  8001\n"
        assert expose_ports(text) == [8000, 8001]

    def test_a_range_gives_its_first_port(self):
        assert expose_ports("FROM x\nEXPOSE 7000-7005\n") == [7000]

    def test_nonsense_is_ignored(self):
        assert expose_ports("FROM x\nEXPOSE http 99999 0\n") == []

    def test_no_from_means_nothing(self):
        assert expose_ports("EXPOSE 80\n") == []


def test_pick_app_port_skips_database_and_debugger_ports():
    assert pick_app_port([5432, 8000]) == 8000
    assert pick_app_port([9229]) == 9229
    assert pick_app_port([]) is None


class TestComposePortSpec:
    @pytest.mark.parametrize(
        ("spec", "container", "number", "rewritten"),
        [
            ("8080:80", "80", 80, "80"),
            ("80", "80", 80, "80"),
            (3000, "3000", 3000, "3000"),
            ("127.0.0.1:8080:80", "80", 80, "80"),
            ("127.0.0.1::80", "80", 80, "80"),
            ("[::1]:8080:80", "80", 80, "80"),
            ("53:53/udp", "53", 53, "53/udp"),
            ("8000-8001:8000-8001", "8000-8001", 8000, "8000-8001"),
            ("${WEB_PORT:-8080}:80", "80", 80, "80"),
            ("8080:${APP_PORT:-3000}", "${APP_PORT:-3000}", 3000, "${APP_PORT:-3000}"),
            ({"target": 80, "published": 8080, "protocol": "tcp"}, "80", 80, "80/tcp"),
        ],
    )
    def test_it_finds_the_container_port(self, spec, container, number, rewritten):
        parsed = parse_port_spec(spec)
        assert parsed.container == container
        assert parsed.number == number
        assert parsed.container_only() == rewritten

    def test_container_only_can_pin_the_host_ip(self):
        assert parse_port_spec("8080:80").container_only("127.0.0.1") == "127.0.0.1::80"

    @pytest.mark.parametrize("spec", [None, "", True, {"published": 80}, ["80"]])
    def test_it_returns_none_for_what_it_cannot_read(self, spec):
        assert parse_port_spec(spec) is None


class TestPortsFromLogs:
    @pytest.mark.parametrize(
        ("line", "port"),
        [
            ("Example app listening on port 3000", 3000),
            ("Server is running at http://localhost:4000", 4000),
            ("Listening at http://0.0.0.0:8000", 8000),
            ("[2024-05-01 10:00:00 +0000] [1] [INFO] Listening at: http://0.0.0.0:8000 (1)", 8000),
            (" * Running on http://127.0.0.1:5000", 5000),
            ("INFO:     Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit)", 8000),
            ("ready - started server on 0.0.0.0:3000, url: http://localhost:3000", 3000),
            ("   - Local:        http://localhost:3000", 3000),
            (
                "  \x1b[32m➜\x1b[39m  \x1b[1mLocal\x1b[22m:   \x1b[36mhttp://localhost:\x1b[1m5173\x1b[22m/\x1b[39m",
                5173,
            ),
            ("Server started on :8080", 8080),
            ("[GIN-debug] Listening and serving HTTP on :8080", 8080),
            ("⇨ http server started on [::]:1323", 1323),
            ("* Listening on http://0.0.0.0:3000", 3000),
            ("Puma starting in single mode... * Listening on tcp://0.0.0.0:9292", 9292),
            ("Tomcat started on port(s): 8080 (http) with context path ''", 8080),
            ("Tomcat started on port 8081 (http) with context path '/'", 8081),
            ("Netty started on port 8082", 8082),
            ("Starting development server at http://0.0.0.0:8000/", 8000),
            ("Listening on TCP address 0.0.0.0:8001", 8001),
            ("INFO:waitress:Serving on http://0.0.0.0:8080", 8080),
            ("[INFO] Running on http://0.0.0.0:8000 (CTRL + C to quit)", 8000),
            ("Accepting connections at http://localhost:3000", 3000),
            ("  http://127.0.0.1:8080", 8080),
            ("listening on 0.0.0.0:7000", 7000),
        ],
    )
    def test_it_recognises_common_listening_lines(self, line, port):
        assert ports_from_logs(line) == [port]

    @pytest.mark.parametrize(
        "line",
        [
            "Debugger listening on ws://127.0.0.1:9229/0f2c6d1e-8b5e",
            "Connected to postgres at db:5432",
            "Connecting to redis://cache:6379",
            "Error: listen EADDRINUSE: address already in use :::3000",
            "[2024-05-01 10:00:00 +0000] [7] [INFO] Booting worker with pid: 7",
            "Downloading https://registry.npmjs.org/express 12:30:45",
            "Control socket listening at /home/app/.gunicorn/gunicorn.ctl",
            "compiled in 1234 ms",
            "[vite] hmr update /src/main.js on port 24678",
        ],
    )
    def test_it_ignores_lines_that_are_not_the_app_listening(self, line):
        assert ports_from_logs(line) == []

    def test_it_keeps_order_of_appearance_without_duplicates(self):
        logs = (
            "ready - started server on 0.0.0.0:3000, url: http://localhost:3000\n"
            "Debugger listening on ws://127.0.0.1:9229/abc\n"
            "metrics server listening on port 9100\n"
            "admin listening on port 8081\n"
            "   - Local:        http://localhost:3000\n"
        )
        assert ports_from_logs(logs) == [3000, 8081]

    def test_flask_printing_every_address_gives_one_port(self):
        logs = (
            " * Running on all addresses (0.0.0.0)\n"
            " * Running on http://127.0.0.1:5000\n"
            " * Running on http://172.17.0.2:5000\n"
        )
        assert ports_from_logs(logs) == [5000]

    def test_empty_logs_give_nothing(self):
        assert ports_from_logs("") == []
