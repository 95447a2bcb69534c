"""One contract suite, every bus adapter: `bus` is parametrised over both."""

from __future__ import annotations

import uuid

import pytest

from shared.messaging.kafka_bus import KafkaBus
from shared.messaging.memory_bus import InProcessBus


@pytest.fixture(params=["memory", "kafka"])
def bus(request):
    if request.param == "memory":
        return InProcessBus()
    return KafkaBus(request.getfixturevalue("kafka_bootstrap"), client_id="contract-tests")


@pytest.fixture
def topic() -> str:
    return f"contract.{uuid.uuid4().hex[:12]}"
