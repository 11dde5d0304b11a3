from django.contrib import admin

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
