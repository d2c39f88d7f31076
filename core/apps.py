from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What every app shares: domain errors, actors, roles and the admin base classes.

    No models, and no import of another app of the project: ``accounts``, ``cases`` and
    ``notifications`` stand on this, never on each other's foundations.
    """

    name = "core"
    verbose_name = "Core"
