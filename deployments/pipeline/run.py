"""The deployment pipeline: clone -> detect -> (generate) -> build -> run -> find port -> ready.

`run_deployment(deployment_id)` is what the worker calls. Every phase writes to the
deployment's log; a failure of any phase fails the deployment with a message that says what
happened and what to do, and leaves no container, image or work dir behind.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import shutil
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone

from deployments import gitrepo
from deployments.models import Deployment
from deployments.pipeline import compose_check, dockerfiles
from deployments.pipeline.detect import BuildPlan, DetectionError, detect_project
from deployments.pipeline.logs import DeploymentLog
from deployments.pipeline.ready import AppExited, Moved, NeverAnswered, wait_until_ready
from deployments.runtime import get_runtime
from deployments.runtime.base import (
    BuildFailed,
    ComposeFailed,
    ContainerInfo,
    ContainerSpec,
    RuntimeFailure,
    secret_values,
)
from projects.git_urls import GitUrlError, repo_owner_and_name
from projects.models import Project

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10
WAIT_POLL_SECONDS = 1.0
FRONTEND_API_VARS = ("BACKEND_URL", "NEXT_PUBLIC_API_URL", "VITE_API_URL", "REACT_APP_API_URL")


class PipelineFailure(Exception):
    """A failure whose message is fit for the user (and stored in `Deployment.error`)."""


# Errors whose message already says what happened and what to do; anything else is a bug.
EXPLAINED_FAILURES = (
    PipelineFailure,
    RuntimeFailure,
    gitrepo.GitError,
    GitUrlError,
    DetectionError,
    compose_check.ComposeRejected,
)


# ---------------------------------------------------------------------------------------------
# Claiming a deployment: one per project at a time, a frontend after its backend.


def _blocking(deployment: Deployment) -> Deployment | None:
    earlier = (
        Deployment.objects.filter(
            project_id=deployment.project_id, id__lt=deployment.id, status__in=Deployment.UNFINISHED
        )
        .order_by("id")
        .first()
    )
    if earlier:
        return earlier
    if deployment.after_id:
        after = Deployment.objects.filter(id=deployment.after_id).first()
        if after and not after.is_finished:
            return after
    return None


def claim(deployment_id: int, *, wait_seconds: float | None = None) -> Deployment | None:
    """Wait for the deployment's turn, then claim it (QUEUED -> CLONING) exactly once."""
    deadline = time.monotonic() + (
        wait_seconds if wait_seconds is not None else settings.BUTLER_TASK_TIMEOUT
    )
    announced = False
    while True:
        deployment = Deployment.objects.select_related("project").filter(id=deployment_id).first()
        if deployment is None or deployment.status != Deployment.Status.QUEUED:
            return None  # deleted, cancelled, or another worker has it
        blocker = _blocking(deployment)
        if blocker is None:
            break
        Deployment.objects.filter(id=deployment_id).update(heartbeat_at=timezone.now())
        if not announced:
            DeploymentLog(deployment).info(
                f"Waiting for deployment #{blocker.number} of {blocker.project.app_name} to finish"
            )
            announced = True
        if time.monotonic() > deadline:
            return None
        time.sleep(WAIT_POLL_SECONDS)
    now = timezone.now()
    claimed = Deployment.objects.filter(id=deployment_id, status=Deployment.Status.QUEUED).update(
        status=Deployment.Status.CLONING, started_at=now, heartbeat_at=now
    )
    if claimed != 1:
        return None
    deployment.refresh_from_db()
    return deployment


def run_deployment(deployment_id: int) -> str | None:
    deployment = claim(deployment_id)
    if deployment is None:
        return None
    return Pipeline(deployment).run()


# ---------------------------------------------------------------------------------------------


class Pipeline:
    def __init__(self, deployment: Deployment):
        self.deployment = deployment
        self.project: Project = deployment.project
        self.log = DeploymentLog(deployment)
        self.runtime = get_runtime()
        self.workdir = Path(settings.BUTLER_WORK_DIR) / f"deployment-{deployment.id}"
        self.src = self.workdir / "src"
        self.timings: dict[str, float] = {}
        self.container: ContainerInfo | None = None
        self.built_image: str | None = None
        self.compose_project: str | None = None
        self.env_snapshot_at = None
        self._stop_heartbeat = threading.Event()

    # -- bookkeeping ------------------------------------------------------------------------

    def _save(self, **fields) -> None:
        for name, value in fields.items():
            setattr(self.deployment, name, value)
        Deployment.objects.filter(id=self.deployment.id).update(**fields)

    def _status(self, status: str) -> None:
        self._save(status=status, phase_timings=self.timings)

    @contextmanager
    def phase(self, name: str):
        started = time.monotonic()
        try:
            yield
        finally:
            self.timings[name] = round(time.monotonic() - started, 3)
            self._save(phase_timings=self.timings)

    def _heartbeat(self) -> None:
        try:
            while not self._stop_heartbeat.wait(HEARTBEAT_SECONDS):
                Deployment.objects.filter(id=self.deployment.id).update(heartbeat_at=timezone.now())
        finally:
            close_old_connections()

    # -- the run ----------------------------------------------------------------------------

    def run(self) -> str:
        beat = threading.Thread(target=self._heartbeat, daemon=True)
        beat.start()
        try:
            self._run()
            return Deployment.Status.RUNNING
        except Exception as exc:
            self._fail(exc)
            return Deployment.Status.FAILED
        finally:
            self._stop_heartbeat.set()
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.log.flush()

    def _run(self) -> None:
        d = self.deployment
        self.log.info(f"Deployment #{d.number} of {self.project.app_name} (trace {d.trace_id})")
        Project.objects.filter(id=self.project.id).exclude(status=Project.Status.RUNNING).update(
            status=Project.Status.DEPLOYING, updated_at=timezone.now()
        )
        self.runtime.ping()
        with self.phase("clone"):
            self._clone()
        with self.phase("detect"):
            plan = self._detect()
        env = self._environment(plan)
        self.runtime.ensure_network(settings.BUTLER_NETWORK)
        if plan.strategy == "compose":
            self._deploy_compose(plan, env)
        else:
            self._deploy_image(plan, env)
        self._succeed()

    def _clone(self) -> None:
        d = self.deployment
        branch = f" (branch {d.branch})" if d.branch else ""
        self.log.info(f"Cloning {d.git_url}{branch}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        result = gitrepo.clone(
            url=d.git_url, dest=self.src, branch=d.branch or None, on_output=self.log.build
        )
        self.tree_sha = result.tree_sha
        self._save(commit_sha=result.commit_sha)
        self.log.info(f"Cloned commit {result.commit_sha[:12]} of branch {result.branch}")

    def _detect(self) -> BuildPlan:
        plan = detect_project(self.src)
        self._save(strategy=plan.strategy, generated_dockerfile=plan.generated_dockerfile or "")
        self.log.info(f"Detected: {plan.summary}")
        for note in plan.notes:
            self.log.info(note)
        return plan

    def _environment(self, plan: BuildPlan) -> tuple[dict[str, str], dict[str, str]]:
        """The container's env and build args; values are masked in every log line from here.

        Build args are the variables the project marks build-time, plus the public names a
        frontend build bakes in (`VITE_*`, `NEXT_PUBLIC_*`, …) that have a value.
        """
        from envvars.services import envvars_for_deploy

        self.env_snapshot_at = timezone.now()
        deploy_env = envvars_for_deploy(project=self.project)
        env = dict(deploy_env.runtime)
        for key in deploy_env.unreadable:
            self.log.warning(
                f"Warning: {key} could not be decrypted with the configured keys and is not set. "
                "Set it again, or add the key it was encrypted with to BUTLER_ENCRYPTION_KEYS."
            )
        env.update(self._backend_urls(env))
        self.log.secrets = secret_values({**env, **deploy_env.build_args})
        self._warn_unset(env)
        build_args = dict(deploy_env.build_args)
        build_args.update({name: env[name] for name in plan.build_args if name in env})
        names = ", ".join(sorted(env)) or "none"
        self.log.info(f"Environment variables: {names}")
        if build_args:
            self.log.info(f"Build arguments: {', '.join(sorted(build_args))}")
        return env, build_args

    def _backend_urls(self, env: dict[str, str]) -> dict[str, str]:
        """A multi-repo frontend gets its backend's URL under the names frameworks read."""
        if self.project.component_type != Project.Component.FRONTEND:
            return {}
        backend = Project.objects.filter(
            parent_id=self.project.parent_id, component_type=Project.Component.BACKEND
        ).first()
        if backend is None or not backend.deployed_url:
            self.log.warning("Warning: the backend has no URL yet, so BACKEND_URL is not set.")
            return {}
        self.log.info(f"Backend URL for the frontend: {backend.deployed_url}")
        return {name: backend.deployed_url for name in FRONTEND_API_VARS if name not in env}

    def _warn_unset(self, env: dict[str, str]) -> None:
        try:
            from envvars.detection import detect_in_directory

            found = detect_in_directory(self.src, time_budget=5.0)
        except Exception:  # detection is advice; it never fails a deploy
            logger.warning(
                "env var detection failed for deployment %s", self.deployment.id, exc_info=True
            )
            return
        missing = sorted(name for name in found.variables if name not in env)
        if missing:
            warning = f"Warning: the code reads {', '.join(missing)} but they are not set for this project."
            self.log.warning(warning + " The deploy goes on; set them under Environment Variables.")
            self._save(warnings=[*self.deployment.warnings, warning])

    # -- image deploys ----------------------------------------------------------------------

    def _image_tag(self, plan: BuildPlan, build_args: dict[str, str]) -> str:
        dockerfile = (self.src / plan.dockerfile).read_bytes() if plan.dockerfile else b""
        digest = hashlib.sha256()
        for part in (
            settings.BUTLER_INSTANCE_ID,
            str(self.project.id),
            self.tree_sha,
            plan.dockerfile or "",
        ):
            digest.update(part.encode() + b"\0")
        digest.update(hashlib.sha256(dockerfile).digest())
        for key in sorted(build_args):
            digest.update(f"{key}={build_args[key]}".encode() + b"\0")
        return f"{settings.BUTLER_IMAGE_PREFIX}/{self.project.app_name}:{digest.hexdigest()[:16]}"

    def _labels(self) -> dict[str, str]:
        return {
            "butler.project": str(self.project.id),
            "butler.deployment": str(self.deployment.id),
            "butler.app": self.project.app_name,
        }

    def _deploy_image(self, plan: BuildPlan, env_and_args) -> None:
        env, build_args = env_and_args
        if plan.generated_dockerfile:
            (self.src / plan.dockerfile).write_text(plan.generated_dockerfile)
            self.log.info(f"Generated {plan.dockerfile}:")
            for line in plan.generated_dockerfile.splitlines():
                self.log.build(f"  {line}")
        if not (self.src / ".dockerignore").exists():
            (self.src / ".dockerignore").write_text(dockerfiles.default_dockerignore())
        tag = self._image_tag(plan, build_args)
        self._status(Deployment.Status.BUILDING)
        with self.phase("build"):
            if self.runtime.image_exists(tag):
                self.log.info(f"Image {tag} is up to date: nothing changed, build skipped")
            else:
                self.log.info(f"Building image {tag}")
                self.runtime.build_image(
                    context_dir=self.src,
                    dockerfile=plan.dockerfile,
                    tag=tag,
                    labels=self._labels(),
                    buildargs=build_args or None,
                    on_output=self.log.build,
                    timeout=settings.BUTLER_BUILD_TIMEOUT,
                )
                self.built_image = tag
                self._save(image_built=True)
                self.log.flush()
        self._save(image_tag=tag)
        self._status(Deployment.Status.STARTING)
        with self.phase("start"):
            port = plan.container_port or next(iter(self.runtime.image_exposed_ports(tag)), None)
            source = "the image's EXPOSE" if port else "PORT"
            port = port or settings.BUTLER_DEFAULT_PORT
            self.log.info(f"Starting the container with PORT={port} (from {source})")
            self.container = self._start(tag, env, port)
        with self.phase("ready"):
            self.container = self._wait_ready(tag, env)

    def _container_name(self) -> str:
        base = repo_owner_and_name(self.project.git_url).lower()
        base = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in base).strip("-._")[:50]
        return f"{base or 'app'}-{secrets.token_hex(4)}"

    def _start(self, image: str, env: dict[str, str], port: int) -> ContainerInfo:
        spec = ContainerSpec(
            name=self._container_name(),
            image=image,
            env={**env, "PORT": str(port)},
            labels=self._labels(),
            container_port=port,
            network=settings.BUTLER_NETWORK,
            memory=settings.BUTLER_CONTAINER_MEMORY,
            cpus=settings.BUTLER_CONTAINER_CPUS,
        )
        container = self.runtime.run_container(spec)
        self._save(container_name=container.name, container_id=container.id, container_port=port)
        return container

    def _ready_host(self) -> str:
        ip = settings.BUTLER_PUBLISH_IP
        return "127.0.0.1" if ip in {"0.0.0.0", "", "::"} else ip

    def _wait_ready(self, image: str, env: dict[str, str]) -> ContainerInfo:
        timeout = settings.BUTLER_READY_TIMEOUT
        started = time.monotonic()
        result = wait_until_ready(
            self.runtime, self.container, host=self._ready_host(), timeout=timeout
        )
        if isinstance(result, Moved):
            self.log.info(
                f"The app listens on port {result.port} ({result.reason}): republishing that port"
            )
            self.runtime.remove_container(self.container.id)
            self.container = None
            self.container = self._start(image, env, result.port)
            remaining = max(10, int(timeout - (time.monotonic() - started)))
            result = wait_until_ready(
                self.runtime,
                self.container,
                host=self._ready_host(),
                timeout=remaining,
                may_move=False,
            )
        return result

    # -- compose deploys --------------------------------------------------------------------

    def _deploy_compose(self, plan: BuildPlan, env_and_args) -> None:
        env, _build_args = env_and_args
        project_name = f"{settings.BUTLER_COMPOSE_PREFIX}-{self.project.id}"
        checked = compose_check.check_compose(
            self.src, plan.compose_file, labels=self._labels(), network=settings.BUTLER_NETWORK
        )
        compose_file = compose_check.write_compose(self.src, checked)
        self.log.info(
            f"Compose services: {', '.join(checked.services)}; main service: {checked.main_service}"
        )
        for note in checked.notes:
            self.log.info(note)
        self._status(Deployment.Status.BUILDING)
        self.compose_project = project_name
        self._save(compose_project=project_name)
        with self.phase("build"):
            self.runtime.compose_up(
                project_name=project_name,
                workdir=self.src,
                compose_file=compose_file,
                env=env,
                on_output=self.log.build,
                timeout=settings.BUTLER_BUILD_TIMEOUT,
            )
        self._status(Deployment.Status.STARTING)
        with self.phase("ready"):
            main = next(
                (
                    c
                    for c in self.runtime.compose_containers(project_name)
                    if c.labels.get("com.docker.compose.service") == checked.main_service
                ),
                None,
            )
            if main is None:
                raise PipelineFailure(f"The main service '{checked.main_service}' did not start.")
            self.container = main
            self._save(
                container_name=main.name, container_id=main.id, container_port=main.container_port
            )
            if main.host_port is None:
                self.log.warning("The main service publishes no port: it has no URL.")
                return
            self.container = wait_until_ready(
                self.runtime,
                main,
                host=self._ready_host(),
                timeout=settings.BUTLER_READY_TIMEOUT,
                may_move=False,
            )

    # -- outcome ----------------------------------------------------------------------------

    def _succeed(self) -> None:
        from deployments.services import (
            project_refresh_parent_status,
            project_remove_images_beyond_keep,
        )

        container = self.container
        host_port = container.host_port if container else None
        url = f"http://{settings.BUTLER_PUBLIC_HOST}:{host_port}" if host_port else ""
        with transaction.atomic():
            if not Project.objects.filter(id=self.project.id).exists():
                raise PipelineFailure("The project was deleted during the deployment.")
            previous = list(
                Deployment.objects.filter(
                    project_id=self.project.id, status=Deployment.Status.RUNNING
                )
                .exclude(id=self.deployment.id)
                .values_list("container_id", "compose_project")
            )
            Deployment.objects.filter(
                project_id=self.project.id, status=Deployment.Status.RUNNING
            ).exclude(id=self.deployment.id).update(status=Deployment.Status.SUPERSEDED)
            self._save(
                status=Deployment.Status.RUNNING,
                host_port=host_port,
                deployed_url=url,
                finished_at=timezone.now(),
                phase_timings=self.timings,
                error="",
            )
            Project.objects.filter(id=self.project.id).update(
                status=Project.Status.RUNNING,
                deployed_url=url,
                container_name=container.name if container else "",
                env_applied_at=self.env_snapshot_at,
                updated_at=timezone.now(),
            )
        # The new container answers: now the old one can go.
        for container_id, compose_project in previous:
            if (
                container_id
                and not compose_project
                and container_id != (container.id if container else "")
            ):
                self.runtime.remove_container(container_id)
        self._remove_strays()
        project_refresh_parent_status(project_id=self.project.id)
        project_remove_images_beyond_keep(project_id=self.project.id, runtime=self.runtime)
        total = round(sum(self.timings.values()), 1)
        self.log.info(f"Deployment successful! {url or '(no published port)'} (in {total} s)")

    def _remove_strays(self) -> None:
        """Containers of this project other than the new one (e.g. left by a crashed worker)."""
        if self.compose_project or self.container is None:
            return
        for info in self.runtime.list_containers({"butler.project": str(self.project.id)}):
            if info.id != self.container.id and not info.labels.get("com.docker.compose.project"):
                self.runtime.remove_container(info.id)

    def _fail(self, exc: Exception) -> None:
        from deployments.services import project_refresh_parent_status

        message = self.log.mask(failure_message(exc))
        if not isinstance(exc, (*EXPLAINED_FAILURES, AppExited, NeverAnswered)):
            logger.exception("deployment %s failed unexpectedly", self.deployment.id)
        for line in message.splitlines():
            self.log.error(line)
        self._cleanup_after_failure()
        with transaction.atomic():
            self._save(
                status=Deployment.Status.FAILED,
                error=message,
                finished_at=timezone.now(),
                phase_timings=self.timings,
            )
            still_running = Deployment.objects.filter(
                project_id=self.project.id, status=Deployment.Status.RUNNING
            ).exists()
            Project.objects.filter(id=self.project.id).update(
                status=Project.Status.RUNNING if still_running else Project.Status.FAILED,
                updated_at=timezone.now(),
            )
        project_refresh_parent_status(project_id=self.project.id)
        if still_running:
            self.log.info("The previous deployment keeps serving.")

    def _cleanup_after_failure(self) -> None:
        try:
            if self.container is not None and not self.compose_project:
                self.runtime.remove_container(self.container.id)
            if (
                self.compose_project
                and not Deployment.objects.filter(
                    project_id=self.project.id, status=Deployment.Status.RUNNING
                ).exists()
            ):
                self.runtime.compose_down(project_name=self.compose_project)
            if self.built_image:
                self.runtime.remove_image(self.built_image)
        except RuntimeFailure:
            logger.warning(
                "cleanup after failed deployment %s was incomplete",
                self.deployment.id,
                exc_info=True,
            )


def failure_message(exc: Exception) -> str:
    """What the user reads in `Deployment.error`: what happened, what to do, the evidence."""
    if isinstance(exc, BuildFailed):
        return f"{exc}\nLast lines of the build output:\n{exc.log_tail}".strip()
    if isinstance(exc, ComposeFailed):
        return f"{exc}\nLast lines of docker compose:\n{exc.output_tail}".strip()
    if isinstance(exc, AppExited):
        return (
            f"{exc} Check the start command and the app's log below.\n"
            f"Last 50 lines of the app's log:\n{exc.logs}"
        ).strip()
    if isinstance(exc, NeverAnswered):
        return f"{exc}\nLast 50 lines of the app's log:\n{exc.logs}".strip()
    if isinstance(exc, EXPLAINED_FAILURES):
        return str(exc)
    return f"Internal error ({exc.__class__.__name__}). The worker log has the details."
