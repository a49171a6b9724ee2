"""/docs is served from packaged Swagger UI assets: nothing is loaded from a CDN."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from autopack.api.app import create_app
from autopack.settings import get_settings


def test_docs_page_and_every_asset_it_loads_are_served_locally() -> None:
    with TestClient(create_app(get_settings())) as client:
        page = client.get("/docs")
        assert page.status_code == 200
        urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
        urls += re.findall(r"""url: ?['"]([^'"]+)['"]""", page.text)
        assert urls and not [u for u in urls if u.startswith(("http:", "https:", "//"))]
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, url
            assert response.content
        assert (
            client.get("/docs/static/swagger-ui-bundle.js")
            .headers["content-type"]
            .startswith(("application/javascript", "text/javascript"))
        )
