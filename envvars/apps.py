from django.apps import AppConfig


class EnvvarsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "envvars"
