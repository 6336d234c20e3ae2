"""Reflex events, observed: each event's handling time goes to EVENT_SECONDS and every line
logged while it runs carries its event id (Reflex's transaction id) and handler name.

Reflex 0.10 calls a middleware's `preprocess` but never its `postprocess`, so the end of an
event is only visible to the event processor: this subclasses it at the method Reflex documents
for subclasses (`_execute_event`), and the app class builds it in place of Reflex's own."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from time import perf_counter

import reflex as rx
import structlog
from reflex_base.event.processor import BaseStateEventProcessor

from dashboard_app.observability.metrics import EVENT_SECONDS

log = structlog.get_logger(__name__)


class MeasuredEventProcessor(BaseStateEventProcessor):
    async def _execute_event(self, *, entry, registered_handler) -> None:  # type: ignore[no-untyped-def]
        handler = entry.event.name
        started = perf_counter()
        outcome = "error"
        with structlog.contextvars.bound_contextvars(event_id=entry.ctx.txid, handler=handler):
            try:
                await super()._execute_event(entry=entry, registered_handler=registered_handler)
                outcome = "ok"
            finally:
                EVENT_SECONDS.labels(handler=handler, outcome=outcome).observe(
                    perf_counter() - started
                )


class ObservedApp(rx.App):
    """rx.App whose events are measured (see MeasuredEventProcessor)."""

    @contextlib.asynccontextmanager
    async def _setup_event_processor(self) -> AsyncIterator[None]:
        # Reflex's own set-up (reflex/app.py, App._setup_event_processor), with our processor.
        event_namespace = self.event_namespace
        if event_namespace is not None:
            event_namespace._token_manager._reset_instance_id()
        self._event_processor = MeasuredEventProcessor(
            middleware=self, backend_exception_handler=self.backend_exception_handler
        )
        async with self._event_processor.configure(
            state_manager=self.state_manager,
            event_namespace=event_namespace,
        ):
            yield
