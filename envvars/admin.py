"""Admin for environment variables: values are masked everywhere and never shown.

The change form can set a new value (through the same service as the API, so it is
validated, encrypted and marks the project as needing a redeploy); it never displays the
current one.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from core import crypto
from envvars import services
from envvars.models import EnvironmentVariable
from envvars.validation import key_problem, value_problem

MASK = "••••••"


def masked(row: EnvironmentVariable) -> str:
    try:
        length = len(crypto.decrypt(row.value_encrypted))
    except crypto.DecryptionError:
        return "unreadable with the configured keys"
    except crypto.EncryptionConfigError:
        return "encryption keys misconfigured"
    return f"{MASK} ({length} characters)" if length else "(empty)"


class EnvironmentVariableForm(forms.ModelForm):
    new_value = forms.CharField(
        label="New value",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off"}),
        help_text="The current value is never shown. Leave blank to keep it.",
    )
    set_empty = forms.BooleanField(
        label="Set to an empty value", required=False, help_text="Overrides 'New value'."
    )

    class Meta:
        model = EnvironmentVariable
        fields = ("project", "key", "is_build_time")

    def clean(self):
        cleaned = super().clean()
        key = cleaned.get("key") or (self.instance.key if self.instance.pk else None)
        if key:
            problem = key_problem(key)
            if problem:
                self.add_error("key" if "key" in self.fields else None, problem + ".")
        value = "" if cleaned.get("set_empty") else cleaned.get("new_value") or None
        if not self.instance.pk and value is None:
            self.add_error(
                "new_value", "A new variable needs a value (or 'Set to an empty value')."
            )
        if key and value:
            problem = value_problem(key, value)
            if problem:
                self.add_error("new_value", problem + ".")
        cleaned["value_to_set"] = value
        return cleaned


@admin.register(EnvironmentVariable)
class EnvironmentVariableAdmin(admin.ModelAdmin):
    form = EnvironmentVariableForm
    list_display = ("project", "key", "masked_value", "is_build_time", "updated_at")
    list_filter = ("is_build_time",)
    search_fields = ("key", "project__app_name")
    list_select_related = ("project",)
    raw_id_fields = ("project",)
    readonly_fields = ("masked_value", "created_at", "updated_at")
    ordering = ("project__app_name", "key")

    def get_fields(self, request, obj=None):
        fields = ["project", "key", "masked_value", "new_value", "set_empty", "is_build_time"]
        if obj is None:
            fields.remove("masked_value")
        return [*fields, "created_at", "updated_at"] if obj else fields

    def get_readonly_fields(self, request, obj=None):
        # Renaming or moving a variable is deleting one and adding another.
        return (*self.readonly_fields, "project", "key") if obj else self.readonly_fields

    @admin.display(description="value")
    def masked_value(self, obj: EnvironmentVariable) -> str:
        return masked(obj) if obj.pk else ""

    def save_model(self, request, obj, form, change):
        value = form.cleaned_data.get("value_to_set")
        if value is None:  # keep the value; maybe change the flag
            if change and "is_build_time" in form.changed_data:
                services.envvar_set_build_time(
                    project=obj.project, key=obj.key, is_build_time=obj.is_build_time
                )
            return
        row, _created = services.envvar_set(
            project=obj.project,
            key=obj.key,
            value=value,
            is_build_time=form.cleaned_data.get("is_build_time", False),
        )
        obj.pk, obj.value_encrypted = row.pk, row.value_encrypted

    def delete_model(self, request, obj):
        services.envvar_delete(project=obj.project, key=obj.key)

    def delete_queryset(self, request, queryset):
        for row in queryset.select_related("project"):
            services.envvar_delete(project=row.project, key=row.key)
        messages.info(request, "The projects concerned need a redeploy to drop these variables.")
