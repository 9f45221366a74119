"""The worker's coalescing publisher: notices of jobs that have been quiet go to the bus
together, at once; a job's notice too soon after its last one waits, replaced by newer ones."""

from __future__ import annotations

from collections.abc import Sequence

from scrapetrack.events.base import Bus, Deliver, Notice
from scrapetrack.events.coalesce import CoalescingPublisher


class Recording(Bus):
    """Each call the bus was given, as sent."""

    name = "recording"

    def __init__(self) -> None:
        self.sent: list[list[Notice]] = []

    def publish(self, notice: Notice) -> None:
        self.sent.append([notice])

    def publish_many(self, notices: Sequence[Notice]) -> None:
        self.sent.append(list(notices))

    async def listen(self, deliver: Deliver) -> None:
        raise NotImplementedError


def test_notices_sent_now_go_together_and_one_too_soon_waits_for_the_newest() -> None:
    bus = Recording()
    publisher = CoalescingPublisher(bus, interval=60)  # nothing is due again in this test
    a1, b1 = Notice("a", "c1", 1), Notice("b", "c2", 1)
    publisher.publish(a1, b1)
    assert bus.sent == [[a1, b1]]
    a2, a3, c1 = Notice("a", "c1", 2), Notice("a", "c1", 3), Notice("c", "c1", 1)
    publisher.publish(a2, c1)  # a is too soon: kept; c is new: sent
    publisher.publish(a3)  # replaces a2
    assert bus.sent == [[a1, b1], [c1]]
    b2 = Notice("b", "c2", 2)
    publisher.publish(b2, final=True)  # a job's last notice never waits
    assert bus.sent[-1] == [b2]
    publisher.close()  # what was kept leaves at the end
    assert bus.sent == [[a1, b1], [c1], [b2], [a3]]
