"""A booking that lost a race for an advisor and tries again draws among the least loaded,
so that the other losers of that race do not all collide again on the next lowest id."""

from __future__ import annotations

from datetime import UTC, datetime

from scheduler.db import write_session
from scheduler.placement import RETRY

START = datetime(2031, 1, 7, 8, 0, tzinfo=UTC)  # a Tuesday, 09:00 in Berlin
NOW = datetime(2031, 1, 6, 7, 0, tzinfo=UTC)


def chosen(container, service, retry: bool) -> int:
    placement = container.scheduler.placement
    with write_session(container.sessions) as session:
        session.info[RETRY] = retry
        view = placement.service(session, service.id)
        return placement.choose(session, view, START, "video", NOW, None, None).advisor_id


def test_the_first_attempt_takes_the_lowest_id_of_the_tied(container, world):
    service = world.service()
    advisors = [world.advisor([service], password=None) for _ in range(4)]
    assert {chosen(container, service, retry=False) for _ in range(20)} == {advisors[0].id}


def test_a_retry_draws_among_the_tied(container, world):
    service = world.service()
    advisors = [world.advisor([service], password=None) for _ in range(4)]
    drawn = {chosen(container, service, retry=True) for _ in range(60)}
    assert drawn <= {a.id for a in advisors}
    assert len(drawn) > 1  # all four equally likely: one alone in 60 draws is 4 * 0.25**60
