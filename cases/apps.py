from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class CasesConfig(AppConfig):
    name = "cases"
    verbose_name = "Cases"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from .guards import register_sqlite_function

        connection_created.connect(register_sqlite_function, dispatch_uid="tscase_guard")


class WorkbenchAdminConfig(admin_apps.AdminConfig):
    """The admin, with the workbench's site (the dashboard as its index): cases.dashboard.
    Named in INSTALLED_APPS; not the default config of ``cases``."""

    default = False
    default_site = "cases.dashboard.WorkbenchSite"
