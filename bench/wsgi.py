import os

from django.core.wsgi import get_wsgi_application

from config.collector import collector_tune

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
django_application = get_wsgi_application()

from accounts.api.idle_poll import IdlePollShortcut  # noqa: E402 -- needs the apps loaded

application = IdlePollShortcut(django_application)  # as config/wsgi.py does
collector_tune()  # as config/wsgi.py does
