from __future__ import annotations

from django.db import models

from projects.models import Project


class Release(models.Model):
    """What a build produced and what a run needs: rolling back runs an old one, no build.

    A deployment builds a release, or reuses one whose inputs (image and env snapshot) are
    unchanged. The env vars it ran with are kept encrypted (`core.crypto`), so a rollback
    runs the old code with the old values. Its image can be removed by garbage collection
    (only the last `BUTLER_KEEP_RELEASES` keep theirs); the row stays as history.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="releases")
    number = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    commit_sha = models.CharField(max_length=64, blank=True, default="")
    strategy = models.CharField(max_length=32, blank=True, default="")
    image_tag = models.CharField(max_length=255, blank=True, default="")
    image_id = models.CharField(max_length=128, blank=True, default="")
    # None: the image's own CMD/ENTRYPOINT (the generated Dockerfiles set one).
    start_command = models.JSONField(null=True, blank=True)
    container_port = models.PositiveIntegerField(null=True, blank=True)
    generated_dockerfile = models.TextField(blank=True, default="")
    compose_project = models.CharField(max_length=128, blank=True, default="")
    # Fernet token of {"env": {...}, "build_args": {...}}; never the plain values.
    env_encrypted = models.TextField(blank=True, default="")
    # A keyed hash of the snapshot, to tell "same values" without decrypting.
    env_digest = models.CharField(max_length=64, blank=True, default="")
    env_keys = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="release_number_per_project")
        ]

    def __str__(self) -> str:
        return f"{self.project.app_name} v{self.number}"

    def __repr__(self) -> str:
        return f"<Release {self.project_id} v{self.number} {self.image_tag}>"


class Deployment(models.Model):
    """One attempt at deploying one project: it builds or reuses a release, then runs it.

    Its status only ever changes through `deployments.transitions`.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        CLONING = "cloning"
        BUILDING = "building"
        STARTING = "starting"
        RUNNING = "running"
        FAILED = "failed"
        CANCELLED = "cancelled"
        SUPERSEDED = "superseded"

    ACTIVE = (Status.CLONING, Status.BUILDING, Status.STARTING)
    UNFINISHED = (Status.QUEUED, *ACTIVE)

    class Trigger(models.TextChoices):
        API = "api"
        UI = "ui"
        CLI = "cli"
        SPLIT = "split"
        ROLLBACK = "rollback"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="deployments")
    number = models.PositiveIntegerField()
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.API)
    trace_id = models.CharField(max_length=64, db_index=True)
    # For a multi-repo deploy: the backend deployment the frontend waits for.
    after = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    release = models.ForeignKey(
        Release, on_delete=models.SET_NULL, null=True, blank=True, related_name="deployments"
    )
    git_url = models.CharField(max_length=4200)
    branch = models.CharField(max_length=255, blank=True, default="")
    commit_sha = models.CharField(max_length=64, blank=True, default="")
    strategy = models.CharField(max_length=32, blank=True, default="")
    generated_dockerfile = models.TextField(blank=True, default="")
    image_tag = models.CharField(max_length=255, blank=True, default="")
    image_built = models.BooleanField(default=False)
    compose_project = models.CharField(max_length=128, blank=True, default="")
    container_name = models.CharField(max_length=128, blank=True, default="")
    container_id = models.CharField(max_length=128, blank=True, default="")
    container_port = models.PositiveIntegerField(null=True, blank=True)
    host_port = models.PositiveIntegerField(null=True, blank=True)
    deployed_url = models.CharField(max_length=255, blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True, default="")
    warnings = models.JSONField(default=list, blank=True)
    phase_timings = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Queue bookkeeping: handed to a worker (still queued until the worker claims it), which
    # worker claimed it ("host:pid"), and a user's request to stop it while it runs.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=255, blank=True, default="")
    cancel_requested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "number"], name="deployment_number_per_project"
            )
        ]
        indexes = [
            models.Index(fields=["project", "status"]),
            models.Index(fields=["status", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.project.app_name} #{self.number}"

    @property
    def is_finished(self) -> bool:
        return self.status not in self.UNFINISHED

    @property
    def message(self) -> str:
        """The one-line `message` the API shows."""
        if self.status == self.Status.RUNNING:
            return "Deployment successful!"
        if self.status == self.Status.SUPERSEDED:
            return "Deployment succeeded; a newer deployment has replaced it."
        if self.status == self.Status.FAILED:
            return f"Deployment failed: {self.error.splitlines()[0] if self.error else 'unknown error'}"
        if self.status == self.Status.CANCELLED:
            return f"Deployment cancelled: {self.error or 'cancelled'}"
        if self.status == self.Status.QUEUED:
            return "Deployment queued"
        if self.cancel_requested_at:
            return f"Deployment being cancelled ({self.status})"
        return f"Deployment in progress ({self.status})"


class LogLine(models.Model):
    """One line of a deployment's log: pipeline steps, build output, the app's last words."""

    class Stream(models.TextChoices):
        SYSTEM = "system"
        BUILD = "build"
        APP = "app"
        WARNING = "warning"
        ERROR = "error"

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="log_lines")
    seq = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    stream = models.CharField(max_length=8, choices=Stream.choices, default=Stream.SYSTEM)
    text = models.TextField()

    class Meta:
        ordering = ["deployment_id", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "seq"], name="logline_seq_per_deployment")
        ]

    def __str__(self) -> str:
        return self.text[:80]
