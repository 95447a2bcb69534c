"""Event ids (service_layer.chaining.random_uuid): uuid4 text, drawn in blocks."""

from __future__ import annotations

import os
import uuid

from ledger.service_layer.chaining import random_uuid


def test_event_ids_are_distinct_uuid4_text_across_draws() -> None:
    ids = [random_uuid() for _ in range(3000)]  # more than one draw of 1,024
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_a_forked_child_does_not_hand_out_the_parents_ids() -> None:
    random_uuid()  # the parent holds a drawn block
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next ids, then leave without cleanup
        os.write(write, ",".join(random_uuid() for _ in range(5)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 1 << 16).decode().split(",")
    os.close(read)
    parent = [random_uuid() for _ in range(5)]
    assert len(child) == 5 and not set(child) & set(parent)
