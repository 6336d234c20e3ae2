"""A real SMTP server (aiosmtpd) on loopback that keeps every message the app sends."""

from __future__ import annotations

import email
import re
import threading
from email.message import Message

from aiosmtpd.controller import Controller

from tests.support.servers import free_port, wait_for


class MailCatcher:
    def __init__(self) -> None:
        self.port = free_port()
        self._messages: list[Message] = []
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd API
        with self._lock:
            self._messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def messages_to(self, address: str) -> list[Message]:
        with self._lock:
            return [m for m in self._messages if m["To"].lower() == address.lower()]

    def wait_for(
        self, address: str, subject: str, *, count: int = 1, timeout: float = 15
    ) -> Message:
        """The `count`-th message to `address` whose subject contains `subject`."""

        def matching() -> list[Message]:
            return [m for m in self.messages_to(address) if subject in m["Subject"]]

        wait_for(
            lambda: len(matching()) >= count,
            timeout=timeout,
            what=f"mail {subject!r} #{count} to {address}",
        )
        return matching()[count - 1]


def link_in(message: Message) -> str:
    body = message.get_payload(decode=True).decode()
    match = re.search(r"https?://\S+", body)
    assert match, body
    return match.group(0)
