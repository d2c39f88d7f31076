import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

# The service's own WSGI entry (the idle-poll shortcut, the collector's tuning) on the
# benchmark's settings.
from config.wsgi import application

__all__ = ["application"]
