from django.contrib import admin

from projects import services
from projects.models import Project


class ComponentInline(admin.TabularInline):
    model = Project
    fk_name = "parent"
    extra = 0
    fields = ("component_type", "app_name", "git_url", "status", "deployed_url", "container_name")
    readonly_fields = ("status", "deployed_url", "container_name")
    show_change_link = True


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = (
        "app_name",
        "owner",
        "project_type",
        "component_type",
        "status",
        "deployed_url",
        "created_at",
    )
    list_filter = ("status", "component_type", ("parent", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("app_name", "git_url", "owner__username", "owner__email", "container_name")
    list_select_related = ("owner",)
    raw_id_fields = ("owner", "parent")
    readonly_fields = ("created_at", "updated_at")
    inlines = [ComponentInline]

    @admin.display(description="type")
    def project_type(self, obj: Project) -> str:
        return obj.project_type

    # Deleting here goes through the same service as the API: the project's deployments are
    # cancelled and its containers, images and networks removed, not only its rows.
    def delete_model(self, request, obj: Project) -> None:
        services.project_delete(project=obj)

    def delete_queryset(self, request, queryset) -> None:
        chosen = {p.id for p in queryset}
        for project in queryset.select_related("parent"):
            if project.parent_id not in chosen:  # a chosen parent takes its components along
                services.project_delete(project=project)
