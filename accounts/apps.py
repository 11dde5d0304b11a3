from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_out


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"

    def ready(self) -> None:
        from accounts.services import user_logged_out_announce  # models are loaded only now

        user_logged_out.connect(user_logged_out_announce, dispatch_uid="butler-logout-sockets")
