"""One settings pattern for every service (pydantic-settings).

Every process reads the same environment variables; a service's settings class
only adds its name and defaults. Outside local mode the demo secret is refused,
so a production deployment cannot start with a token-signing key everyone knows.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_AUTH_SECRET = "cairn-demo-secret-change-me-0123456789abcdef"
# shared.admission's defaults: 6 batches of 10,000 results at once, 446 MiB at peak (under
# the ledger API pod's 1 GiB); a wait well under a client's timeout (the CLI's: 120 s).
BUDGET_BYTES = 24 << 20
WAIT_SECONDS = 30.0
# The codecs of the record batches the relays publish (aiokafka's, through cramjam).
KafkaCompression = Literal["zstd", "lz4", "gzip", "snappy", "none"]


class ServiceSettings(BaseSettings):
    """Settings shared by all four services. Environment variable names are the contract
    with docker-compose.yml and deploy/ (a test checks the compose file against them)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    service_name: str = Field("cairn", alias="CAIRN_SERVICE")
    mode: Literal["local", "production"] = Field("local", alias="CAIRN_MODE")
    auth_secret: SecretStr = Field(SecretStr(DEMO_AUTH_SECRET), alias="CAIRN_AUTH_SECRET")
    database_url: str = Field(
        "postgresql+asyncpg://postgres:postgres@localhost:5432/cairn", alias="DATABASE_URL"
    )
    bus: Literal["kafka", "memory"] = Field("kafka", alias="CAIRN_BUS")
    kafka_bootstrap_servers: str = Field("localhost:9092", alias="KAFKA_BOOTSTRAP_SERVERS")
    kafka_compression: KafkaCompression = Field(
        "zstd", alias="CAIRN_KAFKA_COMPRESSION",
        description="how the relays compress the record batches they publish. zstd: the "
                    "broker stores and moves a fraction of the bytes (ledger_ingest, "
                    "2026-12-04: the broker's CPU per result -30%, ingest +8%); consumers "
                    "decompress whatever they are sent")
    topic_partitions: int = Field(6, alias="CAIRN_TOPIC_PARTITIONS", ge=1)
    topic_replication: int = Field(1, alias="CAIRN_TOPIC_REPLICATION", ge=1)
    host: str = Field("0.0.0.0", alias="CAIRN_HOST")
    port: int = Field(8000, alias="CAIRN_PORT", ge=1, le=65535)
    root_path: str = Field("", alias="CAIRN_ROOT_PATH", pattern=r"^(/[a-z]+)?$",
                           description="the public prefix a gateway strips, e.g. /catalogue")
    web_workers: int = Field(1, alias="CAIRN_WEB_WORKERS", ge=1, le=64,
                             description="API processes sharing the port (one per core on a "
                                         "host; on Kubernetes scale replicas instead)")
    metrics_port: int = Field(
        0, alias="CAIRN_METRICS_PORT", ge=0, le=65535,
        description="a relay or consumer process (no HTTP API) serves its Prometheus "
                    "/metrics on this port (relay backlog, consumer lag); 0: not served. "
                    "An API process serves /metrics on its own port")
    log_level: str = Field("INFO", alias="CAIRN_LOG_LEVEL")
    log_json: bool = Field(True, alias="CAIRN_LOG_JSON")
    relay_batch_size: int = Field(5000, alias="CAIRN_RELAY_BATCH_SIZE", ge=1)
    relay_idle_seconds: float = Field(0.05, alias="CAIRN_RELAY_IDLE_SECONDS", gt=0)
    relay_max_idle_seconds: float = Field(
        0.4, alias="CAIRN_RELAY_MAX_IDLE_SECONDS", gt=0,
        description="the longest wait between polls of a quiet outbox (shared.messaging."
                    "leadership.IdleWait): the most an event waits after a quiet spell")
    consumer_batch_size: int = Field(500, alias="CAIRN_CONSUMER_BATCH_SIZE", ge=1)
    shutdown_grace_seconds: float = Field(
        10.0, alias="CAIRN_SHUTDOWN_GRACE_SECONDS", gt=0,
        description="how long a stopping process waits for its relay and consumers to "
                    "finish (with Kafka away, a Kafka client's stop never returns); then "
                    "they are cancelled. Keep it under the orchestrator's grace period")
    db_pool_size: int = Field(20, alias="CAIRN_DB_POOL_SIZE", ge=1)
    http_body_budget_bytes: int = Field(
        BUDGET_BYTES, alias="CAIRN_HTTP_BODY_BUDGET_BYTES", ge=1 << 20,
        description="request-body bytes an API process works on at once; larger requests "
                    "past it wait in line (shared.admission). A process holds ~12 times "
                    "this at peak: size it to the memory limit")
    http_admission_wait_seconds: float = Field(
        WAIT_SECONDS, alias="CAIRN_HTTP_ADMISSION_WAIT_SECONDS", gt=0,
        description="the longest a request waits in that line before a 503 overloaded "
                    "with Retry-After; keep it under the clients' and gateway's timeouts")

    @model_validator(mode="after")
    def _refuse_demo_secret_outside_local(self) -> ServiceSettings:
        secret = self.auth_secret.get_secret_value()
        if self.mode != "local" and (secret == DEMO_AUTH_SECRET or len(secret) < 32):
            raise ValueError(
                "CAIRN_AUTH_SECRET must be set to a private secret of at least 32 characters "
                "outside local mode (CAIRN_MODE=local is the only mode that accepts the demo secret)"
            )
        return self

    @property
    def schema(self) -> str:
        """Each service owns one PostgreSQL schema named after it."""
        return self.service_name
