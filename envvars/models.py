from __future__ import annotations

from django.db import models

from projects.models import Project


class EnvironmentVariable(models.Model):
    """One variable of one project (a multi-repo component is its own project).

    `value_encrypted` holds a Fernet token (see `core.crypto`), never the plain value;
    read and write values through `envvars.selectors` and `envvars.services`.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="env_vars")
    key = models.CharField(max_length=256)
    value_encrypted = models.TextField()
    # Also passed to the image build as a build argument (e.g. NEXT_PUBLIC_* for Next.js).
    is_build_time = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project_id", "key"]
        verbose_name = "environment variable"
        constraints = [
            models.UniqueConstraint(fields=["project", "key"], name="envvar_key_unique_per_project")
        ]

    def __str__(self) -> str:
        return f"{self.project_id}:{self.key}"

    def __repr__(self) -> str:
        # Never the value, not even encrypted.
        return f"<EnvironmentVariable project={self.project_id} key={self.key!r}>"
