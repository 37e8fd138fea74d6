"""Bench-only WSGI application: the project's own application (same settings, middleware and URLs)
with one more route, `POST|GET /bench/hello`, a plain Django view answering "hello". The webhook
benchmark (`bench/webhooks.py`) serves it with gunicorn and loads the hello view exactly as the
webhook, so the ratio between the two is the webhook's own cost. Not part of the product.

    gunicorn --chdir . --pythonpath bench hello_wsgi:application
"""

import os

from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "memory_console.settings")


@csrf_exempt
def hello(request):
    return HttpResponse("hello", content_type="text/plain")


def _application():
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application

    application = get_wsgi_application()  # sets Django up
    from memory_console.urls import urlpatterns

    # A module-like URLconf (Django takes any object with `urlpatterns`): hello, then the product's.
    settings.ROOT_URLCONF = type("BenchURLs", (), {"urlpatterns": [path("bench/hello", hello), *urlpatterns]})
    return application


application = _application()
