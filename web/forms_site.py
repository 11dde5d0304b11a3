"""Forms of the pages outside a project. They only gather input: every check that decides is
the same service the API calls (projects.services, accounts.services), whose errors are put
next to the field they name."""

from __future__ import annotations

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError

from core.errors import ApplicationError


def add_service_error(form: forms.Form, exc: Exception, *, fields: dict[str, str] | None = None):
    """Put a service's error next to the field it names (API field names mapped to the
    form's through `fields`), or above the form when it names none."""
    fields = fields or {}
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        for name, messages in exc.message_dict.items():
            target = fields.get(name, name)
            for message in messages:
                form.add_error(target if target in form.fields else None, message)
        return
    if isinstance(exc, ApplicationError):
        name = getattr(exc, "field", None)
        target = fields.get(name, name) if name else None
        form.add_error(target if target in form.fields else None, exc.message)
        return
    if isinstance(exc, PermissionDenied | ValidationError):
        form.add_error(None, " ".join(getattr(exc, "messages", [str(exc)])))
        return
    raise exc


class NewDeployForm(forms.Form):
    KIND_SINGLE = "single"
    KIND_SPLIT = "split"

    kind = forms.ChoiceField(
        choices=[
            (KIND_SINGLE, "Single Repository"),
            (KIND_SPLIT, "Multi-Repository (Frontend + Backend)"),
        ],
        initial=KIND_SINGLE,
        widget=forms.RadioSelect,
        label="Project type",
    )
    git_url = forms.CharField(
        label="Git repository URL",
        required=False,
        max_length=2048,
        strip=True,
        widget=forms.TextInput(
            attrs={"placeholder": "https://github.com/you/app.git", "spellcheck": "false"}
        ),
    )
    frontend_url = forms.CharField(
        label="Frontend repository URL",
        required=False,
        max_length=2048,
        strip=True,
        widget=forms.TextInput(attrs={"spellcheck": "false"}),
    )
    backend_url = forms.CharField(
        label="Backend repository URL",
        required=False,
        max_length=2048,
        strip=True,
        widget=forms.TextInput(attrs={"spellcheck": "false"}),
    )
    app_name = forms.CharField(
        label="App name (optional)",
        required=False,
        max_length=63,
        help_text="Letters, digits and dashes. Derived from the repository when empty.",
    )
    branch = forms.CharField(
        label="Branch (optional)",
        required=False,
        max_length=255,
        help_text="The repository's default branch when empty.",
    )

    def clean(self):
        data = super().clean()
        if data.get("kind") == self.KIND_SPLIT:
            for name in ("frontend_url", "backend_url"):
                if not data.get(name):
                    self.add_error(name, "Enter the Git URL of this repository.")
        elif not data.get("git_url"):
            self.add_error("git_url", "Enter the Git URL of the repository to deploy.")
        return data


class RenameForm(forms.Form):
    app_name = forms.CharField(
        label="New name",
        max_length=63,
        help_text="Letters, digits and dashes; the project's address follows it.",
    )


class ProfileForm(forms.Form):
    username = forms.CharField(label="Username", max_length=150)
    email = forms.EmailField(label="Email", max_length=254)
    avatar = forms.FileField(
        label="Avatar",
        required=False,
        help_text="A PNG, JPEG, GIF or WebP image of at most 2 MB.",
        widget=forms.ClearableFileInput(
            attrs={"accept": "image/png,image/jpeg,image/gif,image/webp"}
        ),
    )


class PasswordForm(forms.Form):
    current_password = forms.CharField(
        label="Current password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    new_password = forms.CharField(
        label="New password",
        strip=False,
        widget=forms.PasswordInput(
            attrs={"autocomplete": "new-password", "data-strength-meter": "password-strength"}
        ),
    )
    confirm_password = forms.CharField(
        label="Confirm password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        data = super().clean()
        new, again = data.get("new_password"), data.get("confirm_password")
        if new and again is not None and new != again:
            self.add_error("confirm_password", "The two new passwords differ.")
        return data
