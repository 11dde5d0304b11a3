"""Letting the user steer detection: a forced strategy, a root_dir inside the repository, the
deployable subfolders listed when nothing is found at the top, and what else would build
when a compose file is refused."""

from __future__ import annotations

import os

import pytest

from deployments.pipeline.compose_check import ComposeRejected
from deployments.pipeline.detect import (
    DetectionError,
    RootDirError,
    deployable_subfolders,
    detect_project,
    resolve_root_dir,
    validate_root_dir,
)
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


def _monorepo(repo):
    samples.vite_repo(repo / "frontend")
    samples.flask_repo(repo / "backend")
    _write(repo, {"README.md": "# two apps\n", "backend/Dockerfile": "FROM python:3.11-slim\n"})
    return repo


class TestStrategy:
    def test_a_forced_family_skips_what_comes_first(self, repo):
        samples.compose_repo(repo)  # a compose file and a Dockerfile
        plan = detect_project(repo, strategy="dockerfile")
        assert plan.strategy == "dockerfile"
        assert plan.dockerfile == "Dockerfile"

    def test_forcing_python_ignores_a_dockerfile_and_package_json(self, repo):
        samples.flask_repo(repo)
        _write(
            repo,
            {
                "Dockerfile": "FROM python:3.11-slim\n",
                "package.json": '{"scripts": {"start": "node x"}}',
            },
        )
        assert detect_project(repo, strategy="python").strategy == "flask"

    def test_forcing_node_builds_tooling_package_json_as_node(self, repo):
        samples.flask_repo(repo)
        _write(repo, {"package.json": '{"main": "index.js"}', "index.js": "require('http')"})
        assert detect_project(repo, strategy="node").strategy == "node"

    def test_a_family_that_does_not_fit_says_what_would(self, repo):
        samples.static_repo(repo)
        with pytest.raises(DetectionError) as info:
            detect_project(repo, strategy="python")
        message = str(info.value)
        assert "strategy is set to 'python'" in message and "no Python app" in message
        assert "It would build as static" in message

    def test_an_unknown_strategy_is_refused(self, repo):
        samples.static_repo(repo)
        with pytest.raises(DetectionError, match="Unknown strategy 'rails'"):
            detect_project(repo, strategy="rails")

    def test_the_plan_names_alternatives(self, repo):
        samples.compose_repo(repo)
        assert detect_project(repo).alternatives[:1] == ["dockerfile"]


class TestRootDir:
    @pytest.mark.parametrize(
        ("value", "normalised"),
        [("", ""), ("frontend", "frontend"), ("./apps/web/", "apps/web"), ("a//b", "a/b")],
    )
    def test_valid_folders_are_normalised(self, value, normalised):
        assert validate_root_dir(value) == normalised

    @pytest.mark.parametrize(
        ("value", "reason"),
        [
            ("../other", "'..' is not allowed"),
            ("apps/../../x", "'..' is not allowed"),
            ("/etc", "not an absolute path"),
            ("~/code", "not an absolute path"),
            ("C:/x", "not an absolute path"),
            ("a\x00b", "control character"),
            ("a\\b", "backslash"),
            ("x" * 300, "longer than 255"),
            ("/".join("a" * 11), "deeper than 10"),
            (".git/hooks", "inside .git"),
        ],
    )
    def test_bad_values_get_a_message(self, value, reason):
        with pytest.raises(RootDirError, match=reason.replace(".", r"\.").replace("(", r"\(")):
            validate_root_dir(value)

    def test_a_symlink_out_of_the_repo_is_refused(self, repo, tmp_path):
        outside = tmp_path / "outside"
        samples.static_repo(outside)
        _monorepo(repo)
        os.symlink(outside, repo / "web")
        with pytest.raises(RootDirError, match="symlink 'web', which leads outside"):
            resolve_root_dir(repo, "web")
        with pytest.raises(DetectionError, match="leads outside the repository"):
            detect_project(repo, root_dir="web")

    def test_a_symlink_inside_the_repo_is_followed(self, repo):
        _monorepo(repo)
        os.symlink(repo / "frontend", repo / "site")
        assert resolve_root_dir(repo, "site") == (repo / "frontend").resolve()

    def test_a_missing_folder_or_a_file_is_refused(self, repo):
        _monorepo(repo)
        with pytest.raises(RootDirError, match="does not exist"):
            resolve_root_dir(repo, "mobile")
        with pytest.raises(RootDirError, match="is a file"):
            resolve_root_dir(repo, "README.md")

    def test_the_plan_is_relative_to_the_root_dir_and_names_the_context(self, repo):
        _monorepo(repo)
        plan = detect_project(repo, root_dir="frontend")
        assert plan.strategy == "node-static"
        assert plan.context_dir == "frontend"
        assert plan.dockerfile == "Dockerfile.butler"
        assert "COPY package.json ./" in plan.generated_dockerfile
        assert plan.notes[0] == "Building the folder frontend/ of the repository (root_dir)"

    def test_a_root_dir_with_its_own_dockerfile(self, repo):
        _monorepo(repo)
        plan = detect_project(repo, root_dir="backend")
        assert (plan.strategy, plan.dockerfile, plan.context_dir) == (
            "dockerfile",
            "Dockerfile",
            "backend",
        )
        assert detect_project(repo, root_dir="backend", strategy="python").strategy == "flask"


class TestNothingAtTheTop:
    def test_the_error_lists_deployable_subfolders_and_says_to_set_root_dir(self, repo):
        _monorepo(repo)
        with pytest.raises(DetectionError) as info:
            detect_project(repo)
        message = str(info.value)
        assert "backend/ (Dockerfile" in message
        assert "frontend/ (Vite static build" in message
        assert "root_dir" in message

    def test_subfolders_two_levels_down(self, repo):
        samples.express_repo(repo / "apps" / "api")
        samples.static_repo(repo / "apps" / "site")
        _write(repo, {"package.json": '{"private": true, "workspaces": ["apps/*"]}'})
        assert [f for f, _ in deployable_subfolders(repo)] == ["apps/api", "apps/site"]

    def test_an_empty_folder_lists_nothing(self, repo):
        _write(repo, {"README.md": "# x\n"})
        with pytest.raises(DetectionError) as info:
            detect_project(repo)
        assert "these folders are" not in str(info.value)


class TestComposeRefusal:
    def test_a_refused_compose_file_names_the_dockerfile_that_would_build(self, repo):
        samples.compose_repo(repo)
        _write(
            repo,
            {
                "docker-compose.yml": "services:\n  proxy:\n    image: traefik:v2.11\n"
                "    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\n"
                "  web:\n    build: .\n"
            },
        )
        with pytest.raises(ComposeRejected) as info:
            detect_project(repo)
        message = str(info.value)
        assert "service 'proxy': 'volumes' mounts the Docker socket" in message
        assert "also has a Dockerfile" in message and "strategy to 'dockerfile'" in message
        assert (info.value.service, info.value.key) == ("proxy", "volumes")

    def test_without_an_alternative_the_refusal_stands_alone(self, repo):
        samples.malicious_compose_repo(repo, "privileged")
        with pytest.raises(ComposeRejected) as info:
            detect_project(repo)
        assert "strategy" not in str(info.value)


class TestDockerfileBuildKit:
    def test_cache_mounts_are_dropped_for_the_classic_builder(self, repo):
        _write(
            repo,
            {
                "Dockerfile": "FROM node:20\nCOPY package.json ./\n"
                "RUN --mount=type=cache,id=yarn,target=/usr/local/share/.cache/yarn \\\n"
                '    yarn install\nEXPOSE 3000\nCMD ["node", "index.js"]\n'
            },
        )
        plan = detect_project(repo)
        assert plan.strategy == "dockerfile"
        assert plan.dockerfile == "Dockerfile.butler"
        assert "--mount" not in plan.generated_dockerfile
        assert "RUN \\\n    yarn install" in plan.generated_dockerfile
        assert any("RUN --mount=type=cache (line 3) dropped" in n for n in plan.notes)

    def test_other_buildkit_syntax_is_a_warning(self, repo):
        _write(
            repo,
            {
                "Dockerfile": "FROM python:3.12-slim\nRUN --mount=type=secret,id=t cat /run/secrets/t\n"
            },
        )
        plan = detect_project(repo)
        assert plan.dockerfile == "Dockerfile"
        assert any("line 2 uses RUN --mount=secret" in w for w in plan.warnings)

    def test_images_copied_from_count_as_base_images(self, repo):
        _write(
            repo,
            {
                "Dockerfile": "FROM python:3.12-slim-bullseye\nCOPY --from=ghcr.io/astral-sh/uv:latest /uv /bin/uv\n"
            },
        )
        assert detect_project(repo).base_images == [
            "python:3.12-slim-bullseye",
            "ghcr.io/astral-sh/uv:latest",
        ]
