from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "studio.accounts"
    verbose_name = _("Teams and accounts")

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from studio.accounts.languages import on_login

        user_logged_in.connect(on_login, dispatch_uid="studio.accounts.languages.on_login")
