"""The API reference page (/api/v1/docs) needs nothing from another host (issue 19); the browser
test tests/browser/test_api_docs_flow.py loads it with the network cut off."""

import re

from django.contrib.staticfiles import finders

SWAGGER = "vendor/swagger-ui-dist-5.35.0"


def test_the_docs_page_loads_swagger_ui_from_the_consoles_static_files(client, db):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    page = response.content.decode()
    assert "cdn" not in page.lower()
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert f"/static/{SWAGGER}/swagger-ui-bundle.js" in sources
    assert f"/static/{SWAGGER}/swagger-ui.css" in sources
    assert all(source.startswith("/") for source in sources), sources  # no other host
    assert '"url": "/api/v1/openapi.json"' in page and '"validatorUrl": null' in page


def test_the_vendored_files_are_found_with_their_licence():
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui.css.map", "LICENSE", "NOTICE"):
        assert finders.find(f"{SWAGGER}/{name}"), name
    with open(finders.find(f"{SWAGGER}/LICENSE")) as licence:
        assert "Apache License" in licence.read()
    assert finders.find("console/api-docs.js")
