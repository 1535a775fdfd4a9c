"""Fault injection as ASGI middleware, outside the Alfresco API surface.

Every decision is derived from (seed, rule index, how many requests that rule has matched), never from a
shared random stream, so the same seed and the same sequence of requests to a rule repeat exactly the same
faults, whatever other traffic interleaves. Only `/alfresco/...` requests are ever faulted.
"""

from __future__ import annotations

import asyncio
import random
import re
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulator.errors import error_body

KINDS = ("status", "drop", "slow", "latency")


class DroppedConnection(Exception):
    """Raised mid-body: uvicorn then closes the socket, so the client sees a truncated response."""


@dataclass
class FaultRule:
    method: str = "*"
    path: str = ".*"
    kind: str = "status"
    status: int = 503
    rate: float = 0.0
    fail_next: int = 0
    retry_after: int | None = None
    latency_ms: int = 0
    slow_bytes_per_sec: int = 16 * 1024
    matched: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        self._regex = re.compile(self.path)

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method)) and self._regex.search(path) is not None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


@dataclass
class FaultConfig:
    seed: int = 0
    latency_ms: int = 0
    jitter_ms: int = 0
    rules: list[FaultRule] = field(default_factory=list)
    injected: int = 0
    requests: int = 0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultConfig:
        allowed = set(FaultRule.__dataclass_fields__) - {"matched", "fired"}
        rules = []
        for raw in data.get("rules", []):
            unknown = set(raw) - allowed
            if unknown:
                raise ValueError(f"unknown rule fields: {sorted(unknown)}")
            rules.append(FaultRule(**raw))
        return cls(
            seed=int(data.get("seed", 0)),
            latency_ms=int(data.get("latency_ms", 0)),
            jitter_ms=int(data.get("jitter_ms", 0)),
            rules=rules,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "latency_ms": self.latency_ms,
            "jitter_ms": self.jitter_ms,
            "rules": [r.to_json() for r in self.rules],
            "injected": self.injected,
            "requests": self.requests,
        }

    def decide(self, method: str, path: str) -> tuple[float, FaultRule | None]:
        """(delay in seconds, the rule that fires or None) for the next request."""
        n = self.requests
        self.requests += 1
        delay_ms = float(self.latency_ms)
        if self.jitter_ms:
            delay_ms += random.Random(f"{self.seed}:jitter:{n}").uniform(-self.jitter_ms, self.jitter_ms)
        firing: FaultRule | None = None
        for i, rule in enumerate(self.rules):
            if not rule.matches(method, path):
                continue
            k = rule.matched
            rule.matched += 1
            if rule.fail_next > 0:
                rule.fail_next -= 1
                hit = True
            else:
                hit = rule.rate > 0 and random.Random(f"{self.seed}:{i}:{k}").random() < rule.rate
            if not hit:
                continue
            rule.fired += 1
            if rule.kind == "latency":
                delay_ms += rule.latency_ms
            elif firing is None:
                firing = rule
        if firing is not None:
            self.injected += 1
        return max(delay_ms, 0.0) / 1000.0, firing


class FaultMiddleware:
    def __init__(self, app: ASGIApp, config: FaultConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/alfresco/"):
            await self.app(scope, receive, send)
            return
        delay, rule = self.config.decide(scope["method"], scope["path"])
        if delay:
            await asyncio.sleep(delay)
        if rule is None:
            await self.app(scope, receive, send)
        elif rule.kind == "status":
            await self._error(rule, send)
        elif rule.kind == "drop":
            await self.app(scope, receive, _dropping(send))
        else:
            await self.app(scope, receive, _slow(send, rule.slow_bytes_per_sec))

    @staticmethod
    async def _error(rule: FaultRule, send: Send) -> None:
        import json

        body = json.dumps(error_body(rule.status, f"Injected fault ({rule.status})")).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if rule.status in (429, 503) and rule.retry_after is not None:
            headers.append((b"retry-after", str(rule.retry_after).encode()))
        await send({"type": "http.response.start", "status": rule.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _dropping(send: Send) -> Send:
    """Let the response start, pass half of the first body chunk, then cut the connection."""

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.body":
            body = message.get("body", b"")
            await send({"type": "http.response.body", "body": body[: max(len(body) // 2, 1)], "more_body": True})
            raise DroppedConnection("connection dropped by fault injection")
        await send(message)

    return wrapped


def _slow(send: Send, bytes_per_sec: int) -> Send:
    """Trickle the body out in small pieces, as a congested link would."""
    piece = max(bytes_per_sec // 10, 1)

    async def wrapped(message: Message) -> None:
        if message["type"] != "http.response.body":
            await send(message)
            return
        body, more = message.get("body", b""), message.get("more_body", False)
        for i in range(0, len(body), piece):
            last = i + piece >= len(body)
            await send({"type": "http.response.body", "body": body[i : i + piece], "more_body": more or not last})
            await asyncio.sleep(piece / bytes_per_sec)
        if not body:
            await send(message)

    return wrapped
