from django.apps import AppConfig


class EnvvarsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "envvars"
    verbose_name = "Environment variables"

    def ready(self) -> None:
        from envvars import checks  # noqa: F401 - registers the encryption key check
