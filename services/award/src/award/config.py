"""Award settings: the shared pattern with this service's name."""

from __future__ import annotations

from pydantic import Field

from shared.settings import ServiceSettings


class AwardSettings(ServiceSettings):
    service_name: str = Field("award", alias="CAIRN_SERVICE")
