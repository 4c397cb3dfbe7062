from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "studio.accounts"
    verbose_name = "Teams and accounts"
