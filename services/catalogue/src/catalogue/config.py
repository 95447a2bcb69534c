"""Catalogue settings: the shared pattern with this service's name."""

from __future__ import annotations

from pydantic import Field

from shared.settings import ServiceSettings


class CatalogueSettings(ServiceSettings):
    service_name: str = Field("catalogue", alias="CAIRN_SERVICE")
