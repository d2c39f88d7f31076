"""Production settings: the base settings, hardened. Every secret comes from the environment.

Use with ``DJANGO_SETTINGS_MODULE=config.settings_production``; ``manage.py check --deploy``
is clean with them.
"""

import os

from django.core.exceptions import ImproperlyConfigured

from .settings import *  # noqa: F403
from .settings import INSECURE_DEV_IDENTIFIER_KEY, INSECURE_DEV_SECRET_KEY, env_bool

if not os.environ.get("SECRET_KEY") or os.environ["SECRET_KEY"] == INSECURE_DEV_SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set in the environment in production")
if len(os.environ["SECRET_KEY"]) < 50:
    raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters")
identifier_key = os.environ.get("IDENTIFIER_HASH_KEY", "")
if not identifier_key or identifier_key == INSECURE_DEV_IDENTIFIER_KEY:
    raise ImproperlyConfigured("IDENTIFIER_HASH_KEY must be set in the environment in production")
if len(identifier_key) < 32:
    raise ImproperlyConfigured("IDENTIFIER_HASH_KEY must be at least 32 characters")
# The partner sandbox's loopback exception to the webhook URL check is for `make run` only.
if os.environ.get("PARTNER_SANDBOX_URL"):
    raise ImproperlyConfigured(
        "PARTNER_SANDBOX_URL is for the local demo only: unset it in production"
    )

DEBUG = False
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(365 * 24 * 3600)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
