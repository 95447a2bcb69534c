"""The award schema (owned by this service alone)."""

from __future__ import annotations

from sqlalchemy import MetaData

from shared.catalogue_replica import CatalogueReplicaTables
from shared.messaging.tables import messaging_tables

SCHEMA = "award"
metadata = MetaData(schema=SCHEMA)

outbox, inbox, dead_letter = messaging_tables(metadata)
catalogue_replica = CatalogueReplicaTables(metadata)
