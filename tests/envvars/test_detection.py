"""The scanner over plain directories: every pattern, what it skips, and that it is safe."""

from __future__ import annotations

import os
import time

import pytest

from envvars import detection
from envvars.detection import detect_in_directory
from tests.envvars.conftest import write_tree


def scan(root, **kwargs):
    return detect_in_directory(root, time_budget=kwargs.pop("time_budget", 10.0), **kwargs)


def found(tmp_path, files):
    return scan(write_tree(tmp_path, files)).variables


# (file, content, variable, source, default, priority)
PATTERNS = [
    ("src/api.js", "fetch(process.env.API_URL)", "API_URL", "process.env", None, 5),
    ("src/a.ts", 'const k = process.env["STRIPE_KEY"];', "STRIPE_KEY", "process.env", None, 5),
    ("src/a.tsx", "process.env['SENTRY_DSN']", "SENTRY_DSN", "process.env", None, 5),
    ("src/a.mjs", "process.env.PUBLIC_URL || 'http://x'", "PUBLIC_URL", "process.env", "http://x", 5),
    ("src/a.cjs", 'process.env.TIMEOUT ?? "30"', "TIMEOUT", "process.env", "30", 5),
    ("src/App.vue", "import.meta.env.VITE_TITLE", "VITE_TITLE", "import.meta.env", None, 5),
    ("src/A.svelte", "{import.meta.env.VITE_X}", "VITE_X", "import.meta.env", None, 5),
    ("src/a.jsx", "const { REDIS_URL } = process.env;", "REDIS_URL", "process.env", None, 5),
    ("next.config.js", "env: { API: process.env.NEXT_API }", "NEXT_API", "process.env", None, 10),
    ("next.config.mjs", "process.env.NEXT_MJS", "NEXT_MJS", "process.env", None, 10),
    ("app.py", 'os.getenv("SECRET_KEY")', "SECRET_KEY", "os.getenv", None, 5),
    ("app.py", 'os.getenv("WORKERS", "4")', "WORKERS", "os.getenv", "4", 5),
    ("app.py", "getenv('BARE_GETENV', 2)", "BARE_GETENV", "os.getenv", "2", 5),
    ("app.py", 'os.environ["DATABASE_URL"]', "DATABASE_URL", "os.environ", None, 5),
    ("app.py", "os.environ.get('REDIS', 'redis://')", "REDIS", "os.environ.get", "redis://", 5),
    ("app.py", 'env("DJ_SECRET")', "DJ_SECRET", "django-environ", None, 5),
    ("app.py", 'env.bool("DJ_DEBUG", default=False)', "DJ_DEBUG", "django-environ", "False", 5),
    ("app.py", 'env.str(\n    "DJ_HOST",\n    default="h",\n)', "DJ_HOST", "django-environ", "h", 5),
    ("app.py", 'config("DC_KEY", default="k", cast=str)', "DC_KEY", "decouple", "k", 5),
    ("app.py", 'config("DC_INT", cast=int)', "DC_INT", "decouple", None, 5),
    ("proj/settings.py", 'os.getenv("IN_SETTINGS")', "IN_SETTINGS", "os.getenv", None, 10),
    ("proj/settings/base.py", 'env("IN_PKG")', "IN_PKG", "django-environ", None, 10),
    ("main.go", 'os.Getenv("GO_DSN")', "GO_DSN", "os.Getenv", None, 5),
    ("main.go", 'v, ok := os.LookupEnv("GO_OPT")', "GO_OPT", "os.LookupEnv", None, 5),
    ("app.rb", 'ENV["RB_KEY"]', "RB_KEY", "ENV[]", None, 5),
    ("app.rb", "ENV.fetch('RB_FETCH', 'dflt')", "RB_FETCH", "ENV.fetch", "dflt", 5),
    ("Dockerfile", "FROM x\nENV APP_MODE=prod", "APP_MODE", "Dockerfile ENV", "prod", 5),
    ("Dockerfile", "FROM x\nENV LEGACY_FORM some value", "LEGACY_FORM", "Dockerfile ENV", "some value", 5),
    ("Dockerfile", "FROM x\nARG BUILD_VERSION=1.0", "BUILD_VERSION", "Dockerfile ARG", "1.0", 5),
    ("Dockerfile.prod", "FROM x\nARG NO_DEFAULT", "NO_DEFAULT", "Dockerfile ARG", None, 5),
    ("docker-compose.yml", "image: ${IMAGE}", "IMAGE", "compose ${}", None, 10),
    ("compose.yaml", "image: ${TAG:-latest}", "TAG", "compose ${}", "latest", 10),
    ("docker-compose.yml", "image: ${TAG2-edge}", "TAG2", "compose ${}", "edge", 10),
    ("docker-compose.yml", "x: ${MUST:?set it}", "MUST", "compose ${}", None, 10),
    ("docker-compose.yml", "x: $BARE_REF", "BARE_REF", "compose ${}", None, 10),
    (
        "docker-compose.yml",
        "services:\n  web:\n    environment:\n      - FROM_HOST\n",
        "FROM_HOST",
        "compose environment",
        None,
        10,
    ),
    (".env.example", "# db\nDB_URL=postgres://localhost/db\n", "DB_URL", ".env.example", "postgres://localhost/db", 10),
    (".env.sample", "export SAMPLE_KEY='a b'\n", "SAMPLE_KEY", ".env.sample", "a b", 10),
    (".env.template", "TEMPLATE_KEY=\n", "TEMPLATE_KEY", ".env.template", None, 10),
    ("app.json", '{"env": {"HEROKU_A": "v"}}', "HEROKU_A", "app.json", "v", 10),
    (
        "app.json",
        '{"env": {"HEROKU_B": {"description": "d", "value": "x", "required": true}}}',
        "HEROKU_B",
        "app.json",
        "x",
        10,
    ),
    ("package.json", '{"scripts": {"start": "serve -l ${LISTEN_ON}"}}', "LISTEN_ON", "package.json scripts", None, 10),
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "content", "name", "source", "default", "priority"),
    PATTERNS,
    ids=[f"{p[0]}:{p[2]}" for p in PATTERNS],
)
def test_each_pattern_is_found_with_where_how_and_its_default(
    tmp_path, path, content, name, source, default, priority
):
    variables = found(tmp_path, {path: content})
    assert name in variables, variables
    var = variables[name]
    assert (var.detected_from, var.source, var.default, var.priority) == (
        path,
        source,
        default,
        priority,
    )


def test_dockerfile_args_are_marked_build_time(tmp_path):
    variables = found(tmp_path, {"Dockerfile": "FROM x\nARG NEXT_PUBLIC_URL\nENV RUNTIME_ONLY=1"})
    assert variables["NEXT_PUBLIC_URL"].build_time and not variables["RUNTIME_ONLY"].build_time


def test_app_json_descriptions_are_kept(tmp_path):
    content = '{"env": {"TOKEN": {"description": "API token", "required": true}}}'
    assert found(tmp_path, {"app.json": content})["TOKEN"].description == "API token"


def test_a_literal_dollar_in_compose_is_not_a_variable(tmp_path):
    assert "NOT_A_VAR" not in found(tmp_path, {"docker-compose.yml": "cmd: echo $$NOT_A_VAR"})


def test_a_config_file_mention_outranks_code_and_keeps_its_default(tmp_path):
    variables = found(
        tmp_path,
        {
            "src/db.js": "connect(process.env.DATABASE_URL)",
            ".env.example": "DATABASE_URL=postgres://localhost/app\n",
        },
    )
    var = variables["DATABASE_URL"]
    assert (var.priority, var.detected_from, var.default) == (
        10,
        ".env.example",
        "postgres://localhost/app",
    )


def test_system_and_toolchain_names_are_ignored_but_debug_is_not(tmp_path):
    content = "\n".join(
        f"process.env.{n}"
        for n in ("NODE_ENV", "PATH", "HOME", "PORT", "HOSTNAME", "CI", "TZ", "LANG", "DEBUG")
    )
    content += "\nprocess.env.npm_package_version; process.env.http_proxy; process.env.APP_KEY"
    assert set(found(tmp_path, {"index.js": content})) == {"DEBUG", "APP_KEY"}


def test_lowercase_names_count_only_where_they_are_declared(tmp_path):
    variables = found(
        tmp_path,
        {"index.js": "process.env.some_lower; process.env.mixedCase", ".env.example": "lower_ok=1"},
    )
    assert set(variables) == {"mixedCase", "lower_ok"}


@pytest.mark.parametrize(
    "directory",
    ["node_modules/pkg", ".git", "vendor", "venv", ".venv", "__pycache__", "dist", "build", ".next", "out", "target", "coverage"],
)  # fmt: skip
def test_dependency_vcs_and_build_directories_are_skipped(tmp_path, directory):
    variables = found(
        tmp_path, {f"{directory}/x.js": "process.env.HIDDEN", "src/x.js": "process.env.SEEN"}
    )
    assert set(variables) == {"SEEN"}


def test_binary_and_oversized_files_are_skipped(tmp_path):
    result = scan(
        write_tree(
            tmp_path,
            {
                "bin.js": b"\x00\x01process.env.IN_BINARY",
                "big.js": "process.env.IN_BIG_FILE\n" + "x" * detection.MAX_FILE_BYTES,
                "ok.js": "process.env.IN_TEXT",
            },
        )
    )
    assert set(result.variables) == {"IN_TEXT"}
    assert result.skipped_files >= 2 and result.scanned_files == 1


def test_a_symlink_out_of_the_repository_reveals_nothing(tmp_path):
    outside = tmp_path / "outside"
    write_tree(outside, {"secret.js": "process.env.OUTSIDE_SECRET", ".env": "OUTSIDE_ENV=1\n"})
    repo = write_tree(tmp_path / "repo", {"index.js": "process.env.INSIDE"})
    (repo / ".env.example").symlink_to("/etc/passwd")
    (repo / ".env.sample").symlink_to(outside / ".env")
    (repo / "linked.js").symlink_to(outside / "secret.js")
    (repo / "src").symlink_to(outside, target_is_directory=True)
    (repo / "sub").mkdir()
    (repo / "sub" / "up").symlink_to("..", target_is_directory=True)

    result = scan(repo)
    assert set(result.variables) == {"INSIDE"}
    assert not any(name in result.variables for name in ("root", "daemon", "OUTSIDE_ENV"))
    assert all(
        not v.detected_from.startswith(("src/", "sub/up")) for v in result.variables.values()
    )


def test_a_directory_swapped_for_a_symlink_is_not_followed(tmp_path, monkeypatch):
    """Even if a directory became a symlink between listing and opening (O_NOFOLLOW)."""
    outside = write_tree(tmp_path / "outside", {"x.js": "process.env.OUTSIDE"})
    repo = write_tree(tmp_path / "repo", {"lib/x.js": "process.env.LIB"})
    real_open = os.open

    def swapping_open(path, flags, *args, dir_fd=None, **kwargs):
        if path == "lib" and dir_fd is not None:
            os.rename(repo / "lib", tmp_path / "lib-moved")
            (repo / "lib").symlink_to(outside, target_is_directory=True)
        return real_open(path, flags, *args, dir_fd=dir_fd, **kwargs)

    monkeypatch.setattr(detection.os, "open", swapping_open)
    assert "OUTSIDE" not in scan(repo).variables


def test_the_time_budget_is_honoured_and_says_it_stopped_early(tmp_path):
    write_tree(
        tmp_path,
        {f"pkg{i}/m{j}.js": f"process.env.V_{i}_{j}" for i in range(20) for j in range(20)},
    )
    started = time.monotonic()
    result = scan(tmp_path, time_budget=0.0)
    assert result.truncated and time.monotonic() - started < 1.0
    assert len(result.variables) < 400
    full = scan(tmp_path)
    assert not full.truncated and len(full.variables) == 400


def test_files_at_the_root_come_before_deeper_ones(tmp_path, monkeypatch):
    write_tree(tmp_path, {".env.example": "ROOT_VAR=1", "deep/a/b/c.js": "process.env.DEEP"})
    seen = []
    real = detection._Scan.scan_file

    def spy(self, dir_fd, name, path, kind):
        seen.append(path)
        return real(self, dir_fd, name, path, kind)

    monkeypatch.setattr(detection._Scan, "scan_file", spy)
    scan(tmp_path)
    assert seen == [".env.example", "deep/a/b/c.js"]


def test_the_default_budget_comes_from_settings(settings, tmp_path):
    settings.BUTLER_DETECT_TIME_BUDGET = 0.0
    write_tree(tmp_path, {"a/x.js": "process.env.A"})
    assert detect_in_directory(tmp_path).truncated


def test_lookalike_calls_on_other_objects_are_not_env_reads(tmp_path):
    content = (
        'self.env("NOT_ENV")\napp.config("NOT_CONFIG")\nmyos.getenv("NOT_OS")\n'
        'environment("NOT_ENVIRONMENT")\nos.getenv("REAL_ONE")\ndecouple.config("REAL_TWO")\n'
    )
    assert set(found(tmp_path, {"app.py": content})) == {"REAL_ONE", "REAL_TWO"}
