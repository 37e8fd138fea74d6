"""The API reference page, ``/api/v1/docs``: Swagger UI served from the console's own static files.

django-ninja's default page loads Swagger UI from a CDN unless ``ninja`` is an installed app, so
without internet access (or behind a strict proxy) the page stayed blank. `LocalSwagger` renders
``templates/api/docs.html``, which loads the copy vendored under
``static/vendor/swagger-ui-dist-5.35.0/`` (npm ``swagger-ui-dist``, Apache-2.0, licence kept
beside it) and ``static/console/api-docs.js``; nothing is fetched from another host.
"""

import json

from django.shortcuts import render
from ninja.openapi.docs import Swagger

SETTINGS = {
    "layout": "BaseLayout",
    "deepLinking": True,
    # Swagger UI's default sends the document to validator.swagger.io for a badge: never.
    "validatorUrl": None,
}


class LocalSwagger(Swagger):
    """ninja's `Swagger` docs with the page rendered from the console's template and static files."""

    template = "api/docs.html"

    def __init__(self):
        super().__init__(settings=SETTINGS)

    def render_page(self, request, api, **kwargs):
        openapi_url = self.get_openapi_url(api, kwargs)
        settings = {**self.settings, "url": openapi_url}
        context = {"swagger_settings": json.dumps(settings), "api": api, "openapi_url": openapi_url}
        return render(request, self.template, context)
