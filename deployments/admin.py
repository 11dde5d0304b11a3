from django.contrib import admin
from django.utils.html import format_html

from deployments.models import Deployment

LOG_LINES_SHOWN = 300


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "status",
        "strategy",
        "deployed_url",
        "trigger",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "strategy", "trigger", "created_at")
    search_fields = ("project__app_name", "container_name", "trace_id", "commit_sha", "git_url")
    list_select_related = ("project",)
    raw_id_fields = ("project", "after")
    readonly_fields = [f.name for f in Deployment._meta.fields] + ["log"]

    def has_add_permission(self, request):
        return False  # deployments are made by POST /deploy, not by hand

    @admin.display(description=f"log (last {LOG_LINES_SHOWN} lines)")
    def log(self, obj: Deployment) -> str:
        lines = list(obj.log_lines.order_by("-seq")[:LOG_LINES_SHOWN])[::-1]
        text = "\n".join(f"{line.seq:>5} {line.stream:<7} {line.text}" for line in lines)
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>", text)
