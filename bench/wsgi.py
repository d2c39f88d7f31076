import os

from django.core.wsgi import get_wsgi_application

from config.collector import collector_tune

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
application = get_wsgi_application()
collector_tune()  # as config/wsgi.py does
