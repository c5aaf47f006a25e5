"""The WSGI application gunicorn serves (``bin/serve``).

It defaults to the production settings: whoever points a WSGI server here without choosing
settings gets DEBUG off, HTTPS and the CSP, or a clear error for a missing key, never the
permissive base settings.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "emisario.config.settings.production")
application = get_wsgi_application()
