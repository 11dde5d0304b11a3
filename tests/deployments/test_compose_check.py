import os
import textwrap

import pytest
import yaml

from deployments.pipeline.compose_check import (
    ComposeRejected,
    check_compose,
    find_compose_file,
    write_compose,
)
from tests import samples

LABELS = {"butler.managed": "true", "butler.project": "7"}
NETWORK = "butler-test-net"


def _compose(repo, text: str, name: str = "docker-compose.yml") -> str:
    repo.mkdir(parents=True, exist_ok=True)
    (repo / name).write_text(textwrap.dedent(text).lstrip())
    return name


def _check(repo, name="docker-compose.yml"):
    return check_compose(repo, name, labels=LABELS, network=NETWORK)


def _rejected(repo, text: str) -> ComposeRejected:
    name = _compose(repo, text)
    with pytest.raises(ComposeRejected) as info:
        _check(repo, name)
    return info.value


@pytest.fixture
def repo(tmp_path):
    return tmp_path / "repo"


class TestFinding:
    def test_it_prefers_docker_compose_yml(self, repo):
        _compose(repo, "services: {}", "compose.yaml")
        _compose(repo, "services: {}", "docker-compose.yml")
        assert find_compose_file(repo) == "docker-compose.yml"

    def test_it_ignores_its_own_output_and_symlinks_out_of_the_repo(self, repo, tmp_path):
        _compose(repo, "services: {}", "docker-compose.butler.yml")
        outside = tmp_path / "elsewhere.yml"
        outside.write_text("services: {}")
        os.symlink(outside, repo / "compose.yml")
        assert find_compose_file(repo) is None


class TestRefusals:
    @pytest.mark.parametrize("kind", sorted(samples.MALICIOUS_COMPOSE))
    def test_each_malicious_sample_is_refused_naming_service_and_key(self, repo, kind):
        service, key, _ = samples.MALICIOUS_COMPOSE[kind]
        samples.malicious_compose_repo(repo, kind)
        with pytest.raises(ComposeRejected) as info:
            _check(repo)
        assert (info.value.service, info.value.key) == (service, key)
        assert f"service '{service}': '{key}'" in str(info.value)

    def test_the_docker_socket_is_called_out(self, repo):
        samples.malicious_compose_repo(repo, "docker_socket")
        with pytest.raises(ComposeRejected, match=r"Docker socket .*control of the Docker host"):
            _check(repo)

    def test_top_level_volume_binding_a_host_path_is_refused(self, repo):
        samples.malicious_compose_repo(repo, "driver_opts")
        with pytest.raises(ComposeRejected, match="top-level volume 'etc' has 'driver_opts'"):
            _check(repo)

    @pytest.mark.parametrize(
        ("body", "key"),
        [
            ("volumes:\n  - type: bind\n    source: ./src\n    target: /src", "volumes"),
            ("volumes:\n  - ${HOME}/.aws:/root/.aws", "volumes"),
            ("volumes:\n  - C:\\Users:/data", "volumes"),
            ("pid: container:other", "pid"),
            ("uts: host", "uts"),
            ("security_opt:\n  - apparmor=unconfined", "security_opt"),
            ("security_opt:\n  - label:disable", "security_opt"),
            ("volumes_from:\n  - container:someone-else", "volumes_from"),
            ("build:\n  context: https://github.com/x/y.git", "build"),
            ("build:\n  context: .\n  dockerfile: ../../Dockerfile", "build"),
            ("build:\n  context: .\n  network: host", "build"),
            ("env_file:\n  - .env\n  - /etc/environment", "env_file"),
            ("extends:\n  file: ../base.yml\n  service: web", "extends"),
            ("external_links:\n  - other_db", "external_links"),
            ("cgroup_parent: /", "cgroup_parent"),
            ("privileged: 'true'", "privileged"),
        ],
    )
    def test_more_ways_out_are_refused(self, repo, body, key):
        text = "services:\n  api:\n    image: x\n" + textwrap.indent(body, "    ") + "\n"
        error = _rejected(repo, text)
        assert (error.service, error.key) == ("api", key)

    def test_a_symlinked_build_context_out_of_the_repo_is_refused(self, repo, tmp_path):
        repo.mkdir()
        os.symlink(tmp_path, repo / "ctx")
        error = _rejected(repo, "services:\n  web:\n    build: ./ctx\n")
        assert error.key == "build"

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            (
                "networks:\n  shared:\n    external: true\nservices:\n  web:\n    image: x\n",
                "top-level network 'shared' is external",
            ),
            (
                "volumes:\n  data:\n    name: other_app_data\nservices:\n  web:\n    image: x\n",
                "top-level volume 'data' sets 'name'",
            ),
            (
                "secrets:\n  key:\n    file: /etc/shadow\nservices:\n  web:\n    image: x\n",
                "top-level secret 'key' file '/etc/shadow'",
            ),
        ],
    )
    def test_shared_state_with_other_apps_is_refused(self, repo, text, message):
        assert message in str(_rejected(repo, text))

    def test_every_problem_is_reported_at_once(self, repo):
        error = _rejected(
            repo,
            """
            services:
              web:
                image: x
                privileged: true
              worker:
                image: x
                cap_add: [NET_ADMIN]
            """,
        )
        assert "service 'web': 'privileged'" in str(error)
        assert "service 'worker': 'cap_add'" in str(error)

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("services:\n  web: [unclosed\n", "not valid YAML (line"),
            ("just a string\n", "must be a mapping"),
            ("version: '3'\n", "has no 'services'"),
            ("services: {}\n", "has no 'services'"),
            ("services:\n  web: nginx\n", "service 'web' must be a mapping"),
        ],
    )
    def test_unusable_files_get_a_clear_message(self, repo, text, message):
        assert message in str(_rejected(repo, text))

    def test_what_is_safe_is_allowed(self, repo):
        _compose(
            repo,
            """
            services:
              web:
                image: nginx:alpine
                privileged: false
                network_mode: bridge
                security_opt: [no-new-privileges:true]
                volumes: [data:/data, /tmp/scratch, {type: tmpfs, target: /run}]
                env_file: .env
              sidecar:
                image: busybox
                network_mode: service:web
                pid: service:web
            volumes:
              data: {}
            """,
        )
        (repo / ".env").write_text("A=1\n")
        assert _check(repo).services == ["web", "sidecar"]


class TestRewrite:
    @pytest.fixture(autouse=True)
    def _publish_on_every_address(self, settings):
        # These read the rewrite without a host IP; the loopback default has its own test.
        settings.BUTLER_PUBLISH_IP = "0.0.0.0"

    def test_the_sample_is_rewritten_with_free_host_ports_labels_and_network(self, repo):
        samples.compose_repo(repo, host_port=8080)
        plan = _check(repo)
        web = plan.rewritten["services"]["web"]
        assert plan.services == ["web", "redis"]
        assert (plan.main_service, plan.main_port) == ("web", 8000)
        assert web["ports"] == ["8000"]
        assert web["labels"] == LABELS
        assert web["build"] == {"context": ".", "labels": LABELS}
        assert web["networks"] == ["default", NETWORK]
        assert plan.rewritten["services"]["redis"]["labels"] == LABELS
        networks = plan.rewritten["networks"]
        assert networks[NETWORK] == {"external": True}
        bridge = networks["default"]["driver_opts"]["com.docker.network.bridge.name"]
        assert bridge.startswith("butler") and len(bridge) <= 15  # covered by the firewall
        assert plan.rewritten["version"] == "3.8"
        assert web["environment"] == ["PORT=8000"]

    def test_every_service_gets_the_hardening_single_containers_get(self, repo):
        samples.compose_repo(repo, host_port=8080)
        plan = _check(repo)
        for svc in plan.rewritten["services"].values():
            assert svc["cap_drop"] == ["ALL"] and "SYS_ADMIN" not in svc["cap_add"]
            assert "no-new-privileges:true" in svc["security_opt"]
            assert svc["pids_limit"] == 1024 and svc["mem_limit"] and svc["cpus"]
            assert svc["logging"]["options"]["max-size"]

    def test_variables_are_left_for_compose_to_interpolate(self, repo):
        _compose(
            repo,
            """
            services:
              app:
                image: "myorg/app:${TAG:-latest}"
                ports: ["${HOST_PORT:-8080}:${APP_PORT:-3000}"]
                environment:
                  SECRET: ${SECRET}
            """,
        )
        plan = _check(repo)
        app = plan.rewritten["services"]["app"]
        assert app["image"] == "myorg/app:${TAG:-latest}"
        assert app["ports"] == ["${APP_PORT:-3000}"]
        assert app["environment"] == {"SECRET": "${SECRET}"}
        assert plan.main_port == 3000

    def test_long_syntax_ports_and_labels_lists_are_handled(self, repo):
        _compose(
            repo,
            """
            services:
              frontend:
                image: x
                labels: ["team=web", "butler.project=999"]
                ports:
                  - target: 80
                    published: 8080
                    protocol: tcp
                  - "127.0.0.1:5353:53/udp"
            """,
        )
        plan = _check(repo)
        front = plan.rewritten["services"]["frontend"]
        assert front["ports"] == ["80/tcp", "53/udp"]
        assert front["labels"] == {"team": "web", **LABELS}  # butler.* cannot be spoofed
        assert any("butler." in n for n in plan.notes)

    def test_the_publish_ip_setting_pins_the_host_ip(self, repo, settings):
        settings.BUTLER_PUBLISH_IP = "127.0.0.1"
        _compose(repo, "services:\n  web:\n    image: x\n    ports: ['8080:80']\n")
        assert _check(repo).rewritten["services"]["web"]["ports"] == ["127.0.0.1::80"]

    @pytest.mark.parametrize(
        ("services", "main", "port"),
        [
            ({"db": ["5432:5432"], "api": ["8000:8000"]}, "api", 8000),
            ({"worker": ["9000"], "web": ["80"], "api": ["8000"]}, "web", 80),
            ({"my-frontend": ["3000"], "backend": ["8000"]}, "my-frontend", 3000),
            ({"db": ["5432"], "cache": []}, "db", 5432),
            ({"one": ["7000"], "two": ["7001"]}, "one", 7000),
        ],
    )
    def test_the_main_service_is_the_published_one_with_the_best_name(
        self, repo, services, main, port
    ):
        doc = {"services": {n: {"image": "x", "ports": p} for n, p in services.items()}}
        _compose(repo, yaml.safe_dump(doc))
        plan = _check(repo)
        assert (plan.main_service, plan.main_port) == (main, port)

    def test_a_main_service_with_only_expose_gets_it_published(self, repo):
        _compose(
            repo, "services:\n  web:\n    image: x\n    expose: ['8000']\n  db:\n    image: y\n"
        )
        plan = _check(repo)
        assert (plan.main_service, plan.main_port) == ("web", 8000)
        assert plan.rewritten["services"]["web"]["ports"] == ["8000"]

    def test_container_name_becomes_a_network_alias(self, repo):
        _compose(repo, "services:\n  db:\n    image: x\n    container_name: mydb\n")
        db = _check(repo).rewritten["services"]["db"]
        assert "container_name" not in db
        assert db["networks"]["default"] == {"aliases": ["mydb"]}
        assert NETWORK in db["networks"]

    def test_old_file_versions_get_no_build_labels(self, repo):
        _compose(repo, "version: '3.2'\nservices:\n  web:\n    build: .\n")
        plan = _check(repo)
        assert plan.rewritten["services"]["web"]["build"] == "."
        assert any("no build labels" in n for n in plan.notes)

    def test_network_mode_services_are_not_attached(self, repo):
        _compose(
            repo,
            "services:\n  web:\n    image: x\n  side:\n    image: y\n    network_mode: service:web\n",
        )
        side = _check(repo).rewritten["services"]["side"]
        assert "networks" not in side

    def test_existing_networks_keep_theirs_and_gain_butlers(self, repo):
        _compose(
            repo,
            """
            services:
              web:
                image: x
                networks: [front]
              api:
                image: y
                networks:
                  back: {aliases: [api.internal]}
            networks:
              front: {}
              back: {}
            """,
        )
        doc = _check(repo).rewritten
        assert doc["services"]["web"]["networks"] == ["front", NETWORK]
        assert doc["services"]["api"]["networks"] == {
            "back": {"aliases": ["api.internal"]},
            NETWORK: {},
        }
        assert set(doc["networks"]) == {"front", "back", "default", NETWORK}
        assert doc["networks"][NETWORK] == {"external": True}
        bridges = {
            doc["networks"][n]["driver_opts"]["com.docker.network.bridge.name"]
            for n in ("front", "back", "default")
        }
        assert len(bridges) == 3 and all(b.startswith("butler") for b in bridges)

    def test_write_compose_writes_a_loadable_file_outside_the_clone(self, repo, tmp_path):
        samples.compose_repo(repo)
        plan = _check(repo)
        outside = tmp_path / "butler-owned"
        outside.mkdir()
        path = write_compose(outside, plan)
        assert path == outside / "docker-compose.butler.yml"
        assert yaml.safe_load(path.read_text()) == plan.rewritten
        assert not (repo / "docker-compose.butler.yml").exists()
        assert find_compose_file(repo) == "docker-compose.yml"
