"""The one clock: the time views, domain code and jobs go by, and the one time zone.

Normally the system clock. ``CLOCK_OFFSET`` (seconds, development and tests only) shifts it,
so that a worker can be started "at 09:29:55 tomorrow" and be seen to open the 09:30
window without waiting for it; the RQ scheduler keeps the real clock, and the schedule
converts each moment to real time with ``to_real``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

# Every campaign of ours runs on Beijing time: windows, pickup days, daily limits.
BEIJING = ZoneInfo("Asia/Shanghai")

_offset = timedelta(0)


def configure(offset_seconds: float) -> None:
    """Shift this process's clock by ``offset_seconds``."""
    global _offset
    _offset = timedelta(seconds=offset_seconds)


def now() -> datetime:
    """The current moment, timezone-aware UTC, shifted by the configured offset."""
    return datetime.now(timezone.utc) + _offset


def to_real(moment: datetime) -> datetime:
    """The real (unshifted) UTC moment at which this process's clock shows ``moment``."""
    return moment - _offset


def offset() -> timedelta:
    """The configured shift."""
    return _offset
