"""Console sign-in over HTTP: the session cookie (a server-side session, tickets.agents), the CSRF token derived from
it, and the throttle on failed sign-ins and bad tokens (per name and per client address: 429 + Retry-After).

The raw agent token never lives in the browser. Signing out, disabling the agent or rotating their token revokes the
session on the server: a copied cookie stops working at once.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request

from core.i18n import ui_texts
from core.rate_limit import RateLimiter
from tickets.agents import SESSION_LIFETIME, name_key

COOKIE = "fl_console"
CSRF_HEADER = "X-CSRF-Token"
LIFETIME = int(SESSION_LIFETIME.total_seconds())  # the cookie's max-age: the server-side expiry is the same

TOO_MANY = {lang: texts["sign_in_too_many"] for lang, texts in ui_texts("limits").items()}


def csrf_token(secret: str, cookie: str) -> str:
    return hmac.new(secret.encode(), f"csrf:{cookie}".encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret: str, cookie: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(presented, csrf_token(secret, cookie))


def client_address(request: Request) -> str:
    """The caller's address as uvicorn saw it (behind a proxy: from X-Forwarded-For, when the proxy is trusted
    with --forwarded-allow-ips / FIRSTLINE_FORWARDED_ALLOW_IPS)."""
    return request.client.host if request.client else "unknown"


class SignInThrottle:
    """Failed sign-ins per agent name and per address, and bad bearer tokens per address, in fixed windows shared
    by all processes (Redis) — guessing a token or locking someone out both take a long time."""

    def __init__(self, limiter: RateLimiter, *, per_name: int, per_address: int, minutes: int) -> None:
        self.limiter, self.per_name, self.per_address = limiter, per_name, per_address
        self.window = minutes * 60

    def _keys(self, address: str, name: str | None) -> list[tuple[str, int]]:
        keys = [(f"signin-fail:addr:{address}", self.per_address)]
        if name is not None:
            keys.append((f"signin-fail:name:{name_key(name)}", self.per_name))
        return keys

    def check(self, address: str, name: str | None = None, lang: str = "en") -> None:
        """429 (Retry-After) if this address, or this name, used up its failures this window."""
        for key, limit in self._keys(address, name):
            self.limiter.refuse_if_blocked(key, limit, self.window, TOO_MANY.get(lang, TOO_MANY["en"]))

    def failed(self, address: str, name: str | None = None) -> None:
        for key, limit in self._keys(address, name):
            self.limiter.hit(key, limit, self.window)
