"""gunicorn settings for the web tier: ``gunicorn -c config/gunicorn.conf.py``.

The request limits are gunicorn's defaults, written out because the API schema declares what
they answer: a longer request line is a 414, a larger header or more headers a 431, both as
problem details (``config.webserver.ProblemSyncWorker``). Bind address and worker count come
from the command line or ``GUNICORN_CMD_ARGS`` (docs/operations.md).
"""

import os

wsgi_app = "config.wsgi:application"
worker_class = "config.webserver.ProblemSyncWorker"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
