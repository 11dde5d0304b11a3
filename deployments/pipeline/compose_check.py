"""docker-compose files: refuse what would reach outside the app's sandbox, then rewrite.

A compose file is code that runs with the Docker daemon's privileges, so it is checked before
`docker-compose up` ever sees it. Refused (each message names the service and the key):
privileged containers, host namespaces (`network_mode`/`pid`/`ipc`/`uts`/`userns_mode: host`),
joining another container's namespaces (`container:<name>` could be another user's app),
added capabilities and devices, `security_opt` that turns confinement off, bind mounts of
host paths (relative ones too: a symlink in the repo can point anywhere on the host), the
Docker socket above all, build contexts / Dockerfiles / env_files / secrets outside the repo or
on a remote URL, `extends` from other files, and shared state with the rest of the engine:
external or renamed volumes and networks, volume `driver_opts` that mount host paths.

`service:<name>` namespaces stay allowed: they only join a service of the same file.

The rewrite publishes every port without a fixed host port (the engine picks a free one),
labels every service and its build, attaches services to Butler's network, and leaves
`${VAR}` strings alone: docker-compose interpolates them later from a clean environment.
"""

from __future__ import annotations

import copy
import hashlib
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.conf import settings

from deployments.runtime.base import (
    BRIDGE_PREFIX,
    CAP_ADD,
    PIDS_LIMIT,
    SECURITY_OPT,
    log_options,
)

from .ports import NON_APP_PORTS, PortSpec, parse_port_spec

COMPOSE_FILES = ("docker-compose.yml", "docker-compose.yaml", "compose.yml", "compose.yaml")
BUTLER_COMPOSE_FILE = "docker-compose.butler.yml"
MAIN_NAMES = ("web", "app", "frontend", "server", "api", "www", "site", "nginx", "proxy", "ui")
MAX_COMPOSE_BYTES = 512 * 1024
RESERVED_LABEL_PREFIX = "butler."


class ComposeRejected(Exception):
    """The compose file cannot run under Butler; the message says which service/key and why."""

    def __init__(self, message: str, *, service: str | None = None, key: str | None = None):
        super().__init__(message)
        self.service = service
        self.key = key


@dataclass
class ComposePlan:
    services: list[str]
    main_service: str
    main_port: int | None
    rewritten: dict
    notes: list[str] = field(default_factory=list)


@dataclass
class ComposeSummary:
    """A tolerant first look for detection (no validation: `check_compose` does that)."""

    services: list[str]
    main_service: str | None
    main_port: int | None
    images: list[str]  # `image:` of services that are not built
    build_dockerfiles: list[str]  # repo-relative Dockerfiles of built services


def find_compose_file(repo_dir: Path | str) -> str | None:
    """The repo's compose file name, in docker-compose's order of preference, or None."""
    root = Path(repo_dir)
    for name in COMPOSE_FILES:
        path = root / name
        if path.is_file() and _inside(root, path):
            return name
    return None


def _inside(root: Path, path: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root.resolve())
    except OSError:
        return False


def _load(repo_dir: Path, compose_file: str) -> dict:
    path = repo_dir / compose_file
    if not path.is_file() or not _inside(repo_dir, path):
        raise ComposeRejected(f"{compose_file} is not a file inside the repository")
    if path.stat().st_size > MAX_COMPOSE_BYTES:
        raise ComposeRejected(f"{compose_file} is larger than {MAX_COMPOSE_BYTES // 1024} KB")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8", errors="replace"))
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" (line {mark.line + 1}, column {mark.column + 1})"
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise ComposeRejected(f"{compose_file} is not valid YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise ComposeRejected(f"{compose_file} must be a mapping with a 'services' key")
    services = data.get("services")
    if not isinstance(services, dict) or not services:
        raise ComposeRejected(
            f"{compose_file} has no 'services': Butler runs compose files in the version 2/3 "
            "or Compose Specification format, with at least one service"
        )
    for name, service in services.items():
        if not isinstance(service, dict):
            raise ComposeRejected(
                f"service '{name}' must be a mapping of settings", service=str(name)
            )
    return data


# ---------------------------------------------------------------------------------------------
# Checks


class _Problems:
    def __init__(self) -> None:
        self.items: list[tuple[str, str | None, str | None]] = []

    def add(self, service: str | None, key: str, why: str) -> None:
        where = f"service '{service}': " if service is not None else ""
        self.items.append((f"{where}'{key}' {why}", service, key))

    def raise_if_any(self) -> None:
        if self.items:
            message = "; ".join(item[0] for item in self.items)
            raise ComposeRejected(message, service=self.items[0][1], key=self.items[0][2])


_HOST_MODES = ("network_mode", "pid", "ipc", "uts", "userns_mode", "cgroup")
_UNCONFINED = re.compile(
    r"^(seccomp|apparmor|systempaths)[:=]unconfined$|^label[:=]disable$|^(seccomp|apparmor)[:=]/",
    re.I,
)
_WINDOWS_PATH = re.compile(r"^[A-Za-z]:[\\/]")
_REMOTE = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|git@|github\.com/)", re.I)


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "no", "0", "off")
    return bool(value)


def _is_host_path(source: str) -> bool:
    return source.startswith(("/", ".", "~")) or "/" in source or bool(_WINDOWS_PATH.match(source))


def _split_volume(entry: str) -> tuple[str | None, str]:
    """(source, target) of a short-syntax volume; source None for an anonymous volume."""
    rest = entry
    drive = ""
    if _WINDOWS_PATH.match(rest):
        drive, rest = rest[:2], rest[2:]
    parts = rest.split(":")
    if len(parts) == 1:
        return None, drive + parts[0]
    return drive + parts[0], parts[1]


def _in_repo(repo_dir: Path, base: str, rel: str) -> bool:
    """`rel` (relative to repo-relative `base`) stays inside the repo, symlinks resolved."""
    if rel.startswith(("/", "~")) or _WINDOWS_PATH.match(rel):
        return False
    joined = posixpath.normpath(posixpath.join(base or ".", rel))
    if joined == ".." or joined.startswith("../"):
        return False
    return _inside(repo_dir, repo_dir / joined)


def _check_volume(problems: _Problems, name: str, entry: object) -> None:
    if isinstance(entry, str):
        source, _ = _split_volume(entry)
        kind = "bind" if source is not None and _is_host_path(source) else "volume"
    elif isinstance(entry, dict):
        source = entry.get("source")
        source = str(source) if source is not None else None
        kind = str(entry.get("type") or "volume")
    else:
        problems.add(name, "volumes", f"entry {entry!r} is not understood")
        return
    if source is not None and "docker.sock" in source:
        problems.add(
            name,
            "volumes",
            f"mounts the Docker socket ({source}): that would give the app full control of "
            "the Docker host and every other app on it",
        )
    elif source is not None and "$" in source:
        problems.add(name, "volumes", f"source '{source}' uses a variable, so it cannot be checked")
    elif kind in ("bind", "npipe") or (kind == "volume" and source and _is_host_path(source)):
        problems.add(
            name,
            "volumes",
            f"binds the host path '{source}': bind mounts are not allowed, use a named volume",
        )


def _check_service(problems: _Problems, repo_dir: Path, name: str, svc: dict) -> None:
    if _truthy(svc.get("privileged", False)):
        problems.add(name, "privileged", "is not allowed")
    for key in _HOST_MODES:
        value = svc.get(key)
        text = "" if value is None else str(value).strip().lower()
        namespace = key.split("_")[0]
        if text == "host":
            problems.add(
                name, key, f"'host' is not allowed (it shares the host's {namespace} namespace)"
            )
        elif text.startswith("container:"):
            problems.add(
                name,
                key,
                f"'{value}' is not allowed (the container may belong to another app); "
                "use 'service:<name>' for a service of this file",
            )
        elif "$" in text:
            problems.add(name, key, f"'{value}' uses a variable, so it cannot be checked")
    for key in ("cap_add", "devices", "device_cgroup_rules", "external_links"):
        if svc.get(key):
            problems.add(name, key, "is not allowed")
    if svc.get("cgroup_parent"):
        problems.add(name, "cgroup_parent", "is not allowed (it escapes the resource limits)")
    if _truthy(svc.get("oom_kill_disable", False)):
        problems.add(name, "oom_kill_disable", "is not allowed")
    for opt in svc.get("security_opt") or []:
        if _UNCONFINED.match(str(opt).strip()) or "$" in str(opt):
            problems.add(name, "security_opt", f"'{opt}' turns off container confinement")
    for entry in svc.get("volumes_from") or []:
        if str(entry).startswith("container:"):
            problems.add(name, "volumes_from", f"'{entry}' reads another container's volumes")
    for entry in svc.get("volumes") or []:
        _check_volume(problems, name, entry)
    extends = svc.get("extends")
    if isinstance(extends, dict) and extends.get("file"):
        problems.add(name, "extends", "from another file is not supported: inline the service")
    _check_build(problems, repo_dir, name, svc.get("build"))
    env_files = svc.get("env_file")
    for entry in env_files if isinstance(env_files, list) else [env_files] if env_files else []:
        path = entry.get("path") if isinstance(entry, dict) else entry
        if not isinstance(path, str) or "$" in path or not _in_repo(repo_dir, "", path):
            problems.add(name, "env_file", f"'{path}' is outside the repository")


def _check_build(problems: _Problems, repo_dir: Path, name: str, build: object) -> None:
    if build is None:
        return
    spec = {"context": build} if isinstance(build, str) else build
    if not isinstance(spec, dict):
        problems.add(name, "build", "is not understood")
        return
    context = str(spec.get("context") or ".")
    if _REMOTE.match(context):
        problems.add(name, "build", f"context '{context}' is remote: build from the repository")
        return
    if "$" in context or not _in_repo(repo_dir, "", context):
        problems.add(name, "build", f"context '{context}' is outside the repository")
        return
    dockerfile = spec.get("dockerfile")
    if dockerfile is not None and (
        "$" in str(dockerfile) or not _in_repo(repo_dir, context, str(dockerfile))
    ):
        problems.add(name, "build", f"dockerfile '{dockerfile}' is outside the repository")
    if str(spec.get("network") or "").lower() == "host":
        problems.add(name, "build", "network 'host' is not allowed")
    if spec.get("ssh"):
        problems.add(name, "build", "ssh forwarding is not allowed")
    extra = spec.get("additional_contexts") or {}
    values = extra.values() if isinstance(extra, dict) else extra
    for value in values:
        if _REMOTE.match(str(value)) or not _in_repo(repo_dir, "", str(value)):
            problems.add(name, "build", f"additional context '{value}' is outside the repository")


def _check_top_level(problems: _Problems, repo_dir: Path, data: dict, network: str) -> None:
    if data.get("include"):
        problems.add(None, "include", "is not supported: put every service in one file")
    for key in ("volumes", "networks", "secrets", "configs"):
        section = data.get(key) or {}
        if not isinstance(section, dict):
            continue
        for item, conf in section.items():
            if not isinstance(conf, dict):
                continue
            where = f"top-level {key[:-1]} '{item}'"
            if _truthy(conf.get("external", False)) and not (key == "networks" and item == network):
                problems.add(
                    None, key, f"{where} is external: it would share state with other apps"
                )
            if conf.get("name") and key in ("volumes", "networks"):
                problems.add(
                    None, key, f"{where} sets 'name': it could reuse another app's {key[:-1]}"
                )
            opts = conf.get("driver_opts") or {}
            if key == "volumes" and isinstance(opts, dict):
                o = str(opts.get("o", "")).lower()
                if (
                    "device" in opts
                    or "bind" in o
                    or str(opts.get("type", "")).lower() in ("none", "bind")
                ):
                    problems.add(None, key, f"{where} has 'driver_opts' that mount a host path")
            if key == "networks" and str(conf.get("driver", "")).lower() in (
                "host",
                "macvlan",
                "ipvlan",
            ):
                problems.add(None, key, f"{where} uses driver '{conf['driver']}'")
            path = conf.get("file")
            if (
                key in ("secrets", "configs")
                and path is not None
                and ("$" in str(path) or not _in_repo(repo_dir, "", str(path)))
            ):
                problems.add(None, key, f"{where} file '{path}' is outside the repository")


# ---------------------------------------------------------------------------------------------
# Rewrite


def _version(data: dict) -> tuple[int, int] | None:
    raw = data.get("version")
    if raw is None:
        return None
    match = re.match(r"^\s*(\d+)(?:\.(\d+))?", str(raw))
    return (int(match.group(1)), int(match.group(2) or 0)) if match else None


def _labels_dict(value: object) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    if isinstance(value, list):
        out = {}
        for item in value:
            key, _, val = str(item).partition("=")
            out[key] = val
        return out
    return {}


def _merge_labels(existing: object, labels: dict[str, str]) -> tuple[dict[str, str], bool]:
    current = _labels_dict(existing)
    dropped = any(k.startswith(RESERVED_LABEL_PREFIX) for k in current)
    merged = {k: v for k, v in current.items() if not k.startswith(RESERVED_LABEL_PREFIX)}
    merged.update(labels)
    return merged, dropped


def _service_ports(svc: dict) -> list[PortSpec]:
    out = []
    for entry in svc.get("ports") or []:
        spec = parse_port_spec(entry)
        if spec is not None:
            out.append(spec)
    return out


def _tcp_ports(specs: list[PortSpec]) -> list[int]:
    return [p.number for p in specs if p.protocol in ("", "tcp") and p.number is not None]


def _choose_main(services: dict, ports: dict[str, list[int]]) -> str:
    def rank(name: str) -> tuple[int, int]:
        lowered = name.lower()
        if lowered in MAIN_NAMES:
            return (0, MAIN_NAMES.index(lowered))
        hit = next((i for i, word in enumerate(MAIN_NAMES) if word in lowered), None)
        return (1, hit) if hit is not None else (2, 0)

    names = list(services)
    app_ported = [n for n in names if any(p not in NON_APP_PORTS for p in ports.get(n, []))]
    pool = app_ported or [n for n in names if ports.get(n)] or names
    return min(pool, key=lambda n: (rank(n), names.index(n)))


def _expose_ports(svc: dict) -> list[int]:
    out = []
    for entry in svc.get("expose") or []:
        spec = parse_port_spec(str(entry))
        if spec is not None and spec.number is not None:
            out.append(spec.number)
    return out


def _attach_network(svc: dict, network: str) -> None:
    nets = svc.get("networks")
    if nets is None:
        svc["networks"] = ["default", network]
    elif isinstance(nets, list):
        if network not in nets:
            nets.append(network)
    elif isinstance(nets, dict):
        nets.setdefault(network, {})


def _add_alias(svc: dict, alias: str) -> None:
    nets = svc.get("networks")
    if nets is None:
        nets = ["default"]
    if isinstance(nets, list):
        nets = {n: {} for n in nets}
    svc["networks"] = nets
    for net_name, conf in list(nets.items()):
        conf = conf if isinstance(conf, dict) else {}
        aliases = list(conf.get("aliases") or [])
        if alias not in aliases:
            aliases.append(alias)
        conf["aliases"] = aliases
        nets[net_name] = conf


def check_compose(
    repo_dir: Path, compose_file: str, *, labels: dict[str, str], network: str
) -> ComposePlan:
    """Validate `compose_file` and return the plan with the rewritten document.

    Raises ComposeRejected naming the service and key of everything that is not allowed.
    """
    repo_dir = Path(repo_dir)
    data = _load(repo_dir, compose_file)
    problems = _Problems()
    for name, svc in data["services"].items():
        _check_service(problems, repo_dir, str(name), svc)
    _check_top_level(problems, repo_dir, data, network)
    problems.raise_if_any()

    doc = copy.deepcopy(data)
    notes: list[str] = []
    version = _version(doc)
    build_labels_ok = version is None or version >= (3, 3) or (2, 3) <= version < (3, 0)
    publish_ip = str(getattr(settings, "BUTLER_PUBLISH_IP", "") or "")
    host_ip = "" if publish_ip in ("", "0.0.0.0") else publish_ip
    if ":" in host_ip:
        host_ip = f"[{host_ip}]"
    ports: dict[str, list[int]] = {}
    for name, svc in doc["services"].items():
        specs = _service_ports(svc)
        if specs:
            svc["ports"] = [spec.container_only(host_ip) for spec in specs]
            if any(spec.published for spec in specs):
                notes.append(
                    f"service '{name}': fixed host ports dropped, the engine picks free ones"
                )
        ports[name] = _tcp_ports(specs)
        merged, dropped = _merge_labels(svc.get("labels"), labels)
        svc["labels"] = merged
        if dropped:
            notes.append(f"service '{name}': labels starting with 'butler.' were replaced")
        build = svc.get("build")
        if build is not None and build_labels_ok:
            build = {"context": build} if isinstance(build, str) else build
            build["labels"], _ = _merge_labels(build.get("labels"), labels)
            svc["build"] = build
        elif build is not None:
            notes.append(
                f"service '{name}': compose file version {doc.get('version')} has no build "
                "labels; its image is found by the compose project name instead"
            )
        if svc.get("container_name"):
            alias = str(svc.pop("container_name"))
            if "network_mode" not in svc:
                _add_alias(svc, alias)
            notes.append(
                f"service '{name}': container_name '{alias}' removed (names must be unique on "
                "the host); it stays reachable under that name as a network alias"
            )
        if network:
            if "network_mode" in svc:
                notes.append(f"service '{name}': has network_mode, not attached to {network}")
            else:
                _attach_network(svc, network)

        _harden(svc)

    nets = doc.get("networks")
    if not isinstance(nets, dict):
        nets = {}
    if network:
        nets[network] = {"external": True}
    _own_bridges(nets, labels.get("butler.project", ""))
    doc["networks"] = nets

    main = _choose_main(doc["services"], ports)
    main_ports = ports.get(main) or []
    main_port = main_ports[0] if main_ports else None
    if main_port is None:
        exposed = _expose_ports(doc["services"][main])
        if exposed and "network_mode" not in doc["services"][main]:
            main_port = exposed[0]
            doc["services"][main]["ports"] = [PortSpec(str(main_port)).container_only(host_ip)]
            notes.append(f"service '{main}': publishing its exposed port {main_port}")
    return ComposePlan(
        services=[str(n) for n in doc["services"]],
        main_service=str(main),
        main_port=main_port,
        rewritten=doc,
        notes=notes,
    )


def _harden(svc: dict) -> None:
    """The limits and hardening every container Butler runs gets (the file was checked not
    to ask for more: no privileges, no added capabilities)."""
    svc["cap_drop"] = ["ALL"]
    svc["cap_add"] = list(CAP_ADD)
    own = [str(o) for o in svc.get("security_opt") or [] if not str(o).startswith("no-new-priv")]
    svc["security_opt"] = [*own, *SECURITY_OPT]
    svc["pids_limit"] = PIDS_LIMIT
    svc["mem_limit"] = settings.BUTLER_CONTAINER_MEMORY
    svc["cpus"] = float(settings.BUTLER_CONTAINER_CPUS)
    svc["logging"] = {"driver": "json-file", "options": log_options()}
    svc.pop("memswap_limit", None)
    svc.pop("oom_kill_disable", None)


def _own_bridges(nets: dict, project_id: str) -> None:
    """Every network of the stack (its default one included) on a `butler…` bridge, so the
    firewall that keeps containers away from this host covers it."""
    names = set(nets) | {"default"}
    for name in names:
        conf = nets.get(name)
        if conf is None:
            conf = {}
        if not isinstance(conf, dict) or _truthy(conf.get("external", False)):
            continue
        if str(conf.get("driver") or "bridge") != "bridge":
            continue
        digest = hashlib.sha256(
            f"{settings.BUTLER_INSTANCE_ID}:{project_id}:{name}".encode()
        ).hexdigest()
        opts = dict(conf.get("driver_opts") or {})
        opts["com.docker.network.bridge.name"] = f"{BRIDGE_PREFIX}{digest[:8]}"
        conf["driver_opts"] = opts
        nets[name] = conf


def write_compose(dest_dir: Path, plan: ComposePlan) -> Path:
    """Write the rewritten file into `dest_dir`, a folder of Butler's (never the clone: a
    repository could have committed that name as a symlink to a file on this host)."""
    path = Path(dest_dir) / BUTLER_COMPOSE_FILE
    path.write_text(
        "# Written by Butler from the repository's compose file.\n"
        + yaml.safe_dump(plan.rewritten, sort_keys=False, default_flow_style=False),
        encoding="utf-8",
    )
    return path


def inspect_compose(repo_dir: Path, compose_file: str) -> ComposeSummary | None:
    """Services, main service/port and images for the build plan; None if unreadable."""
    repo_dir = Path(repo_dir)
    try:
        data = _load(repo_dir, compose_file)
    except (ComposeRejected, OSError):
        return None
    services = data["services"]
    ports = {name: _tcp_ports(_service_ports(svc)) for name, svc in services.items()}
    main = _choose_main(services, ports)
    main_port = (ports.get(main) or _expose_ports(services[main]) or [None])[0]
    images, dockerfiles = [], []
    for svc in services.values():
        build = svc.get("build")
        if build is None:
            if isinstance(svc.get("image"), str) and svc["image"] not in images:
                images.append(svc["image"])
            continue
        spec = {"context": build} if isinstance(build, str) else build
        if isinstance(spec, dict):
            context = str(spec.get("context") or ".")
            rel = posixpath.normpath(
                posixpath.join(context, str(spec.get("dockerfile") or "Dockerfile"))
            )
            if _in_repo(repo_dir, "", rel) and rel not in dockerfiles:
                dockerfiles.append(rel)
    return ComposeSummary(
        services=[str(n) for n in services],
        main_service=str(main),
        main_port=main_port,
        images=images,
        build_dockerfiles=dockerfiles,
    )
