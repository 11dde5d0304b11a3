"""Forms of a project's pages. They only check shapes; the services decide what is valid and
their `ApplicationError(field=…)` lands next to the field (`add_service_error`)."""

from __future__ import annotations

from django import forms

from core.errors import ApplicationError
from projects.models import BUILD_STRATEGIES

URL_WIDGET = {"autocomplete": "off", "spellcheck": "false", "class": "mono"}


class SingleDeployForm(forms.Form):
    git_url = forms.CharField(
        label="Git repository URL", max_length=4200, widget=forms.TextInput(URL_WIDGET)
    )
    branch = forms.CharField(
        label="Branch",
        max_length=255,
        required=False,
        help_text="Empty: the repository's default branch.",
        widget=forms.TextInput({"autocomplete": "off", "class": "mono"}),
    )


class SplitDeployForm(forms.Form):
    frontend_url = forms.CharField(
        label="Frontend repository URL",
        max_length=4200,
        required=False,
        widget=forms.TextInput(URL_WIDGET),
    )
    backend_url = forms.CharField(
        label="Backend repository URL",
        max_length=4200,
        required=False,
        widget=forms.TextInput(URL_WIDGET),
    )


class ConfigurationForm(forms.Form):
    app_name = forms.CharField(
        label="Project name",
        max_length=63,
        help_text="Letters, digits and hyphens; it names the containers and the hostname.",
    )
    strategy = forms.ChoiceField(
        label="Build strategy",
        choices=[(s, "auto (detect)" if s == "auto" else s) for s in BUILD_STRATEGIES],
        required=False,
    )
    root_dir = forms.CharField(
        label="Root directory",
        max_length=255,
        required=False,
        help_text="The folder of the repository to build; empty for its top.",
        widget=forms.TextInput({"autocomplete": "off", "class": "mono"}),
    )


class DomainForm(forms.Form):
    domain = forms.CharField(
        label="Custom domain",
        max_length=300,
        widget=forms.TextInput(
            {
                "autocomplete": "off",
                "spellcheck": "false",
                "placeholder": "app.example.com",
                "class": "mono",
            }
        ),
    )


class EnvVarForm(forms.Form):
    key = forms.CharField(
        label="Name",
        max_length=256,
        widget=forms.TextInput(
            {
                "autocomplete": "off",
                "spellcheck": "false",
                "class": "mono",
                "placeholder": "DATABASE_URL",
            }
        ),
    )
    value = forms.CharField(
        label="Value",
        required=False,
        strip=False,
        widget=forms.TextInput({"autocomplete": "off", "spellcheck": "false", "class": "mono"}),
    )


class EnvImportForm(forms.Form):
    file = forms.FileField(label=".env file", required=False)
    content = forms.CharField(
        label="Or paste its content",
        required=False,
        strip=False,
        widget=forms.Textarea(
            {"rows": 5, "class": "mono", "spellcheck": "false", "placeholder": "NAME=value"}
        ),
    )
    replace = forms.BooleanField(
        label="Remove the variables the file does not name", required=False
    )

    def clean(self):
        data = super().clean()
        if not data.get("file") and not data.get("content"):
            raise forms.ValidationError("Choose a .env file or paste its content.")
        return data


def add_service_error(
    form: forms.Form, error: ApplicationError, *, default: str | None = None
) -> None:
    """Put a service's message next to the field it names (or `default`, or the form)."""
    field = error.field if error.field in form.fields else default
    form.add_error(field, error.message)
