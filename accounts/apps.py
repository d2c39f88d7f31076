from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and partners"

    def ready(self) -> None:
        from . import checks  # noqa: F401 -- registers the stored external ids check
