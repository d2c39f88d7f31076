import os

from django.core.wsgi import get_wsgi_application

from config.collector import collector_tune

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_wsgi_application()

from accounts.api.idle_poll import IdlePollShortcut  # noqa: E402 -- needs the apps loaded

# An idle mirror's conditional poll of the feed is answered ahead of Django's handler.
application = IdlePollShortcut(django_application)
collector_tune()  # once the application is loaded (config/collector.py)
