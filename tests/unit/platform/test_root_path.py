"""Behind the gateway, which strips /<service>, the docs still point at the public URL."""

from __future__ import annotations

import httpx

from catalogue.bootstrap import create_app
from catalogue.config import CatalogueSettings


async def test_docs_and_openapi_servers_use_the_public_prefix() -> None:
    app = create_app(CatalogueSettings(CAIRN_ROOT_PATH="/catalogue"))
    # What uvicorn --root-path does: the stripped path arrives with scope["root_path"].
    transport = httpx.ASGITransport(app=app, root_path="/catalogue")
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        docs = await client.get("/docs")
        spec = await client.get("/openapi.json")
        health = await client.get("/health")
    assert docs.status_code == 200 and "/catalogue/openapi.json" in docs.text
    assert spec.json()["servers"] == [{"url": "/catalogue"}]
    assert health.json()["service"] == "catalogue"
