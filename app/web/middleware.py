"""ASGI middleware: request body cap, security headers and the CSRF seed cookie."""

import re
import secrets
from collections.abc import Sequence
from typing import Any

from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)


class BodyTooLarge(Exception):
    """Raised inside the app when a streamed body passes the cap."""


class LimitBodySize:
    """Answer 413 before reading a body whose Content-Length is over the cap, and stop
    streaming bodies (chunked uploads) as soon as they pass it."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        larger: Sequence[tuple[re.Pattern[str], int]] = (),
    ) -> None:
        self.app = app
        self.default_max_bytes = max_bytes
        self.larger = tuple(larger)

    def cap_for(self, path: str) -> int:
        """The cap of a path: a larger one where a pattern matches (checkpoint uploads)."""
        for pattern, cap in self.larger:
            if pattern.fullmatch(path):
                return cap
        return self.default_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.cap_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            await _send_413(send, max_bytes)
            return
        received = 0
        exceeded = False
        replaced = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    exceeded = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            # The framework may turn BodyTooLarge into its own 400 ("error parsing the
            # body"); the client must learn the real reason, so that answer becomes a 413.
            nonlocal replaced
            if exceeded and message["type"] == "http.response.start":
                replaced = True
                await _send_413(send, max_bytes)
                return
            if not replaced:
                await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except BodyTooLarge:
            if not replaced:
                await _send_413(send, max_bytes)


async def _send_413(send: Send, max_bytes: int) -> None:
    body = b'{"detail": "the request body is larger than the %d MB limit"}' % (
        max_bytes // (1024 * 1024)
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """Add the security headers to every response, and give new browsers a CSRF seed."""

    def __init__(
        self, app: ASGIApp, *, csrf_cookie: str, secure_cookies: bool, strict_transport: bool
    ) -> None:
        self.app = app
        self.csrf_cookie = csrf_cookie
        self.secure = secure_cookies
        # Only a site served over https may tell browsers never to use plain http for it.
        self.extra = (
            [(b"strict-transport-security", b"max-age=31536000")] if strict_transport else []
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"cookie", b"").decode("latin-1")
        seed = None
        if not cookie_parser(header).get(self.csrf_cookie):
            seed = secrets.token_urlsafe(32)
        state: dict[str, Any] = scope.setdefault("state", {})
        state["new_csrf_seed"] = seed

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name == b"content-security-policy" for name, _ in headers):
                    headers.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
                headers += [
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                    *self.extra,
                ]
                if seed is not None:
                    flags = "; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if self.secure else "")
                    headers.append((b"set-cookie", f"{self.csrf_cookie}={seed}{flags}".encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
