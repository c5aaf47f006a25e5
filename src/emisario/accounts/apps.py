from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "emisario.accounts"
    label = "accounts"
    verbose_name = _("SMTP accounts")

    def ready(self) -> None:
        from emisario.accounts import checks  # noqa: F401  (registers the system checks)
