"""The edge of alerting: evaluate a cycle (pure rules), send what it calls for, store it all.

Sending runs in a background task, each send in a worker thread (Apprise blocks on the
network), and never raises: a channel that fails is logged and stored as failed, and tried
again after later cycles. Cycles only queue their alerts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from perphedge.adapters.store.service_records import ServiceRecords
from perphedge.services.alert_rules import AlertRules, CycleFacts, Notice, evaluate
from perphedge.services.notifier import Delivery, Notifier

log = logging.getLogger("perphedge.alerts")

#: A queued piece of sending work and what it is about (for the log).
Job = tuple[str, Callable[[], Awaitable[object]]]


class AlertCenter:
    """Alerts of one service process: rules, channels and the store."""

    def __init__(self, rules: AlertRules, notifier: Notifier, records: ServiceRecords) -> None:
        self.rules = rules
        self.notifier = notifier
        self.records = records
        self._queue: asyncio.Queue[Job] | None = None
        self._worker: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Send from a background task from now on: a slow channel never delays a cycle."""
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._drain(self._queue), name="alerts")

    async def stop(self, timeout_s: float = 30) -> None:
        """Send what is queued (for at most ``timeout_s``), then stop the background task."""
        queue, worker, self._queue, self._worker = self._queue, self._worker, None, None
        if queue is None or worker is None:
            return
        try:
            await asyncio.wait_for(queue.join(), timeout_s)
        except TimeoutError:
            log.warning("alerts left unsent at stop", extra={"fields": {"count": queue.qsize()}})
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker

    def submit(self, notice: Notice, ts_ms: int) -> None:
        """Queue a notice for the background sender (started with :meth:`start`)."""
        self._put(notice.key, lambda: self.send(notice, ts_ms))

    def submit_retry(self) -> None:
        """Queue a retry of the alerts some channel has not taken yet."""
        self._put("retry", self.retry_failed)

    def _put(self, what: str, job: Callable[[], Awaitable[object]]) -> None:
        if self._queue is None:
            raise RuntimeError("AlertCenter.start() was not called")
        self._queue.put_nowait((what, job))

    async def _drain(self, queue: asyncio.Queue[Job]) -> None:
        while True:
            what, job = await queue.get()
            try:
                await job()
            except Exception:  # the store failing must not kill the sender either
                log.exception("alert job failed", extra={"fields": {"job": what}})
            finally:
                queue.task_done()

    async def after_cycle(self, facts: CycleFacts) -> list[Notice]:
        """Queue the alerts of one hedge's cycle (see :meth:`submit`); returns them."""
        previous = self.records.holding(facts.hedge_id)
        notices, holding = evaluate(facts, self.rules, previous)
        self.records.replace_holding(facts.hedge_id, holding.values())
        for notice in notices:
            self.submit(notice, facts.ts_ms)
        return notices

    async def send(self, notice: Notice, ts_ms: int) -> list[Delivery]:
        """Send one notice to every channel and store it with the outcome."""
        deliveries = await self._deliver(notice.title, notice.body, None)
        self.records.record_alert(notice, ts_ms, deliveries)
        failed = [d for d in deliveries if not d.ok]
        log.log(logging.WARNING if failed else logging.INFO, "alert", extra={"fields": {
            "key": notice.key, "kind": notice.kind, "title": notice.title,
            "delivered": len(deliveries) - len(failed), "failed": len(failed),
            "delivery": "; ".join(d.describe() for d in deliveries) or "no channel",
        }})
        return deliveries

    async def retry_failed(self) -> None:
        """Send again to the channels that did not take an alert yet."""
        for row in self.records.to_retry():
            only = [int(i) for i in row.failed_channels.split(",") if i]
            deliveries = await self._deliver(row.title, row.body, only)
            self.records.retried(row.id, deliveries)
            if all(d.ok for d in deliveries):
                log.info("alert retried", extra={"fields": {"key": row.key, "delivered": True}})

    async def _deliver(self, title: str, body: str, only: Sequence[int] | None
                       ) -> list[Delivery]:
        return await asyncio.to_thread(self.notifier.send, title, body, only)
