"""Table recovery that loses no message: a fix for faust-streaming 0.15's stream resume.

After a rebalance Faust restores the tables, seeks the stream partitions to their committed
offsets, and only then clears every agent's queue (``Recovery.on_recovery_completed`` after a
restore, ``Recovery._resume_streams`` when there was nothing to restore). Messages
fetched between the seek and the clearing are dropped, and, already counted as read, never
fetched again: a gap of one is committed over (the event is lost), a longer gap stops the
partition's commits for good (faust-streaming issues #596 and #606). Reproduced here by
SIGKILLing a worker mid-stream (tests/test_streams/test_workers.py).

The fix seeks the stream partitions to their committed offsets once more after the clearing:
what was dropped is fetched and processed again, and what was processed in between comes twice,
which every agent takes (they are idempotent). ``StreamApp`` installs it through Faust's own
``TableManager`` setting.
"""
from __future__ import annotations

from faust.tables import TableManager
from faust.tables.recovery import Recovery


class ResumingRecovery(Recovery):
    """Recovery that seeks the stream partitions again once their queues were cleared."""

    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        await super().on_recovery_completed(generation_id)
        await self._seek_again(generation_id)

    async def _resume_streams(self, generation_id: int = 0) -> None:
        await super()._resume_streams(generation_id)
        await self._seek_again(generation_id)

    async def _seek_again(self, generation_id: int) -> None:
        if self.app.consumer_generation_id == generation_id and self.app.consumer.assignment():
            self.log.info("Seek stream partitions to committed offsets again, after clearing the queues.")
            await self._wait(self.app.consumer.perform_seek(), timeout=self.app.conf.broker_request_timeout)


class ResumingTableManager(TableManager):
    """Faust's table manager, recovering with :class:`ResumingRecovery`."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = ResumingRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery
