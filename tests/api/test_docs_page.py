"""The API docs page works offline: Swagger UI comes from this service (drf-spectacular-sidecar,
pinned), never from a CDN, and every asset the page names is served."""

from __future__ import annotations

import re

from django.contrib.staticfiles import finders
from django.test import Client

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


def _body(response: object) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)  # type: ignore[attr-defined]
    return response.content  # type: ignore[attr-defined,no-any-return]


def test_docs_page_names_only_local_assets_and_each_is_served(db: None) -> None:
    client = Client()
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    page = response.content.decode()
    assets = ASSET.findall(page)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets), assets
    assert any(a.endswith("swagger-ui.css") for a in assets), assets
    # Nothing from another host: no absolute or protocol-relative URL anywhere in the page.
    assert not re.search(r"https?://|[\"'(]//", page), re.findall(r"\S*//\S*", page)
    for asset in assets:
        assert asset.startswith("/static/drf_spectacular_sidecar/"), asset
        served = client.get(asset)
        assert served.status_code == 200, asset
        found = finders.find(asset.removeprefix("/static/"))
        assert isinstance(found, str), asset
        with open(found, "rb") as f:
            assert _body(served) == f.read(), asset
    assert '"validatorUrl": null' in page
    assert 'url: "/api/v1/schema"' in page
