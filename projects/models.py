from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

# How to build: "auto" detects; the others force a family (what detection calls FAMILIES).
BUILD_STRATEGIES = ("auto", "compose", "dockerfile", "node", "python", "static")


class Project(models.Model):
    """A deployable app: a single repository, or a multi-repo parent with two components.

    A multi-repo parent keeps the `split::{frontend_url}|{backend_url}` Git URL; its
    frontend and backend children point at their own repositories.
    """

    class Status(models.TextChoices):
        IMPORTED = "imported"
        IMPORTED_SPLIT = "imported_split"
        QUEUED = "queued"
        DEPLOYING = "deploying"
        RUNNING = "running"
        SUCCESS = "success"
        STOPPED = "stopped"
        MISSING = "missing"
        FAILED = "failed"

    class Component(models.TextChoices):
        FRONTEND = "frontend"
        BACKEND = "backend"

    class ContainerState(models.TextChoices):
        OK = "", "ok"
        STOPPED = "stopped"
        MISSING = "missing"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="projects"
    )
    app_name = models.SlugField(max_length=63)
    git_url = models.CharField(max_length=4200)
    branch = models.CharField(max_length=255, blank=True, default="")
    # What the user asked for: how to build ("auto" detects), and which folder of the
    # repository to build ("" its top; a monorepo's "frontend").
    strategy = models.CharField(
        max_length=16, choices=[(s, s) for s in BUILD_STRATEGIES], default="auto"
    )
    root_dir = models.CharField(max_length=255, blank=True, default="")
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="children"
    )
    component_type = models.CharField(  # noqa: DJ001 - the API shows null
        max_length=16, choices=Component.choices, null=True, blank=True
    )
    status = models.CharField(max_length=32, choices=Status.choices, default=Status.IMPORTED)
    # What the engine says of the running container, apart from deployments: stopped by the
    # user, or gone from Docker. Cleared when a deployment starts running.
    container_state = models.CharField(
        max_length=16, choices=ContainerState.choices, blank=True, default=""
    )
    deployed_url = models.CharField(max_length=255, blank=True, default="")
    container_name = models.CharField(max_length=128, blank=True, default="")
    # When the project's environment variables last changed, and which change its running
    # container was started with: a later change means a redeploy is needed.
    # Its stable address, given at its first deploy and kept until it is deleted: a public
    # port of the front proxy and a name under BUTLER_DOMAIN (a multi-repo parent has only
    # the name; it serves its frontend).
    public_port = models.PositiveIntegerField(null=True, blank=True, unique=True)
    subdomain = models.CharField(max_length=63, null=True, blank=True, unique=True)
    # Compose services besides the main one that the compose file asks to route
    # ({service: loopback host port}), at <service>.<subdomain>.<BUTLER_DOMAIN>.
    service_ports = models.JSONField(default=dict, blank=True)
    env_updated_at = models.DateTimeField(null=True, blank=True)
    env_applied_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "app_name"],
                condition=Q(parent__isnull=True),
                name="project_app_name_unique_per_owner",
            ),
            models.UniqueConstraint(
                fields=["parent", "component_type"],
                condition=Q(parent__isnull=False),
                name="project_one_component_of_each_type",
            ),
            models.CheckConstraint(
                condition=Q(parent__isnull=True, component_type__isnull=True)
                | Q(parent__isnull=False, component_type__isnull=False),
                name="project_component_iff_child",
            ),
        ]
        indexes = [models.Index(fields=["owner", "parent", "-created_at"])]

    def __str__(self) -> str:
        return self.app_name

    @property
    def project_type(self) -> str:
        return "split" if self.git_url.startswith("split::") else "single"

    @property
    def redeploy_needed(self) -> bool:
        """Env vars changed since the running container was started with them."""
        return bool(
            self.env_updated_at
            and self.env_applied_at
            and self.env_updated_at > self.env_applied_at
        )

    @property
    def split_urls(self) -> tuple[str, str] | None:
        """(frontend_url, backend_url) of a multi-repo parent, else None."""
        if not self.git_url.startswith("split::"):
            return None
        frontend, _, backend = self.git_url[len("split::") :].partition("|")
        return frontend, backend


class GitCredential(models.Model):
    """How Butler gets into a private repository: an access token (https) or a deploy key
    (ssh) Butler generated, whose public half the user adds to the repository.

    The secret is encrypted at rest (`core.crypto`) and only decrypted to run git; it is
    never shown again, put in a URL or logged. A multi-repo component without its own uses
    its parent's.
    """

    class Kind(models.TextChoices):
        TOKEN = "token"  # noqa: S105 - the kind's name, not a secret
        SSH_KEY = "ssh_key"

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="git_credential")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    username = models.CharField(max_length=255, blank=True, default="")
    secret_encrypted = models.TextField()
    public_key = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.project_id}:{self.kind}"

    def __repr__(self) -> str:
        return f"<GitCredential project={self.project_id} kind={self.kind}>"


class Domain(models.Model):
    """A custom domain the front proxy routes to a project (any user's domains are unique)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="domains")
    domain = models.CharField(max_length=253, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain
