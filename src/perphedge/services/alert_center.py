"""The edge of alerting: evaluate a cycle (pure rules), send what it calls for, store it all.

An alert is stored first, then handed to one background sender per channel: a slow channel
(Apprise spaces e-mails 5.5 s apart) delays neither a cycle nor the other channels. Sending
runs in a worker thread (Apprise blocks on the network) and never raises: a channel that fails
is logged and its failure stored, and the alert is offered to it again later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from perphedge.adapters.store.service_records import ServiceRecords
from perphedge.services.alert_rules import AlertRules, CycleFacts, Notice, evaluate
from perphedge.services.notifier import Delivery, Notifier

log = logging.getLogger("perphedge.alerts")

#: One piece of work for a channel's sender: (alert id, key, title, body).
Job = tuple[int, str, str, str]


class AlertCenter:
    """Alerts of one service process: rules, channels and the store."""

    def __init__(self, rules: AlertRules, notifier: Notifier, records: ServiceRecords) -> None:
        self.rules = rules
        self.notifier = notifier
        self.records = records
        self._queues: list[asyncio.Queue[Job]] = []
        self._workers: list[asyncio.Task[None]] = []
        self._in_flight: set[tuple[int, int]] = set()

    def start(self) -> None:
        """Start one background sender per channel."""
        for index in range(len(self.notifier.channels)):
            queue: asyncio.Queue[Job] = asyncio.Queue()
            self._queues.append(queue)
            self._workers.append(asyncio.create_task(self._sender(index, queue),
                                                     name=f"alerts-{index}"))

    async def stop(self, timeout_s: float = 30) -> None:
        """Send what is queued (for at most ``timeout_s``), then stop the senders."""
        queues, workers, self._queues, self._workers = self._queues, self._workers, [], []
        try:
            await asyncio.wait_for(asyncio.gather(*(q.join() for q in queues)), timeout_s)
        except TimeoutError:
            log.warning("alerts left unsent at stop", extra={"fields": {
                "count": sum(q.qsize() for q in queues)}})
        for worker in workers:
            worker.cancel()
        for worker in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    async def after_cycle(self, facts: CycleFacts) -> list[Notice]:
        """Store and queue the alerts of one hedge's cycle; returns them."""
        previous = self.records.holding(facts.hedge_id)
        notices, holding = evaluate(facts, self.rules, previous)
        self.records.replace_holding(facts.hedge_id, holding.values())
        for notice in notices:
            self.submit(notice, facts.ts_ms)
        return notices

    def submit(self, notice: Notice, ts_ms: int) -> None:
        """Store ``notice`` and queue it for every channel's sender."""
        alert_id = self.records.record_alert(notice, ts_ms, len(self._queues))
        log.info("alert", extra={"fields": {"key": notice.key, "kind": notice.kind,
                                            "title": notice.title,
                                            "channels": len(self._queues)}})
        for index, queue in enumerate(self._queues):
            self._in_flight.add((alert_id, index))
            queue.put_nowait((alert_id, notice.key, notice.title, notice.body))

    def submit_retry(self) -> None:
        """Offer the alerts a channel has not taken yet to that channel again."""
        for row in self.records.to_retry():
            pending = [int(i) for i in row.failed_channels.split(",") if i]
            queued = False
            for index in pending:
                if index < len(self._queues) and (row.id, index) not in self._in_flight:
                    self._in_flight.add((row.id, index))
                    self._queues[index].put_nowait((row.id, row.key, row.title, row.body))
                    queued = True
            if queued:
                self.records.count_attempt(row.id)

    async def send(self, notice: Notice, ts_ms: int) -> list[Delivery]:
        """Send ``notice`` to every channel now, store it with each result (``alerts test``)."""
        alert_id = self.records.record_alert(notice, ts_ms, len(self.notifier.channels))
        deliveries = await asyncio.to_thread(self.notifier.send, notice.title, notice.body, None)
        for delivery in deliveries:
            self.records.channel_result(alert_id, delivery)
        return deliveries

    async def _sender(self, index: int, queue: asyncio.Queue[Job]) -> None:
        while True:
            alert_id, key, title, body = await queue.get()
            try:
                (delivery,) = await asyncio.to_thread(self.notifier.send, title, body, [index])
                self.records.channel_result(alert_id, delivery)
                log.log(logging.INFO if delivery.ok else logging.WARNING,
                        "alert delivered" if delivery.ok else "alert not delivered",
                        extra={"fields": {"key": key, "channel": delivery.channel,
                                          "error": delivery.error}})
            except Exception:  # the store failing must not kill the sender either
                log.exception("alert sender failed", extra={"fields": {"key": key}})
            finally:
                self._in_flight.discard((alert_id, index))
                queue.task_done()
