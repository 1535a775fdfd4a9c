"""Time in Alfresco's wire format, and a clock that never repeats an instant.

`modifiedAt` must move on every change (the sync engine detects edits by it), so two edits within the
same millisecond still get distinct timestamps. Tests inject a fake wall clock to drive the search lag.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime

_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?(Z|[+-]\d{2}:?\d{2})?$")


class Clock:
    """Milliseconds since the epoch, strictly increasing across calls."""

    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self.wall = wall
        self._last = 0

    def now_ms(self) -> int:
        ms = int(self.wall() * 1000)
        if ms <= self._last:
            ms = self._last + 1
        self._last = ms
        return ms

    def wall_ms(self) -> int:
        """The present without bumping the counter: for comparisons (search lag), not for stamps."""
        return int(self.wall() * 1000)


def fmt(ms: int) -> str:
    """`2026-11-27T14:05:01.123+0000`, the format Alfresco uses for every date."""
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}+0000"


def http_date(ms: int) -> str:
    return datetime.fromtimestamp(ms // 1000, tz=UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


def parse(text: str) -> int | None:
    """Parse the ISO forms AFTS and clients send (`Z`, `+0000`, `+00:00`, date only); None if unreadable."""
    m = _ISO.match(text.strip())
    if not m:
        return None
    y, mo, d, h, mi, s, frac, tz = m.groups()
    micro = int((frac or "0").ljust(6, "0"))
    dt = datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), micro, tzinfo=UTC)
    ms = int(dt.timestamp() * 1000)
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        ms -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60) * 1000
    return ms
