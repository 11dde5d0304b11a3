from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied, ValidationError

from accounts import services
from accounts.throttle import login_attempt_begin, login_attempt_succeeded


class ThrottledLoginForm(AuthenticationForm):
    """Django's login form, counting attempts against the same limits as the API."""

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        ip = self.request.META.get("REMOTE_ADDR", "unknown") if self.request else "unknown"
        wait = login_attempt_begin(username=username, ip=ip)
        if wait:
            raise ValidationError(
                f"Too many login attempts. Try again in {wait} seconds.", code="throttled"
            )
        cleaned = super().clean()
        login_attempt_succeeded(username=username, ip=ip)
        return cleaned


class RegisterForm(forms.Form):
    username = forms.CharField(max_length=150)
    email = forms.EmailField(max_length=254)
    password = forms.CharField(widget=forms.PasswordInput, strip=False)

    def save(self):
        try:
            return services.user_create(**self.cleaned_data)
        except PermissionDenied as exc:
            self.add_error(None, str(exc))
            return None
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                for message in messages:
                    self.add_error(field, message)
            return None
