"""A relay's wait between polls (shared.messaging.leadership.IdleWait): short while rows
keep coming, doubling while the outbox stays quiet, never past the longest, and short
again as soon as a poll publishes something."""

from __future__ import annotations

from shared.messaging.leadership import IdleWait


def test_quiet_polls_wait_longer_and_longer_up_to_the_longest() -> None:
    idle = IdleWait(0.05, 0.4)
    assert [idle.next() for _ in range(6)] == [0.05, 0.1, 0.2, 0.4, 0.4, 0.4]


def test_publishing_makes_the_next_wait_short_again() -> None:
    idle = IdleWait(0.05, 0.4)
    for _ in range(5):
        idle.next()
    idle.published()
    assert [idle.next(), idle.next()] == [0.05, 0.1]


def test_the_longest_is_never_shorter_than_the_first() -> None:
    idle = IdleWait(0.5, 0.1)
    assert [idle.next(), idle.next()] == [0.5, 0.5]
