"""The company's mail relay in e-mail tests: a real aiosmtpd server that keeps every mail our sender hands it."""

from __future__ import annotations

import time
from email import message_from_bytes, policy
from email.message import EmailMessage


class Capture:
    """The company relay: keeps every mail our sender hands it."""

    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        self.mails.append(message_from_bytes(envelope.original_content or envelope.content, policy=policy.default))
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 20) -> list[EmailMessage]:
        deadline = time.time() + timeout
        while len(self.mails) < count and time.time() < deadline:
            time.sleep(0.05)
        assert len(self.mails) >= count, f"expected {count} mails at the relay, got {len(self.mails)}"
        return self.mails

    def first_to(self, addr: str, since: int, timeout: float = 20) -> EmailMessage:
        """The first mail to `addr` after index `since`: mails go out from the outbox, so one a previous test
        queued may still arrive after this test started."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            mine = [m for m in self.mails[since:] if m["To"] == addr]
            if mine:
                return mine[0]
            time.sleep(0.05)
        raise AssertionError(f"no mail to {addr} at the relay")
