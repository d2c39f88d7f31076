from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "cases"
    verbose_name = "Cases"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from .guards import register_sqlite_function

        connection_created.connect(register_sqlite_function, dispatch_uid="tscase_guard")
