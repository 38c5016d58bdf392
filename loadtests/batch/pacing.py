"""How hard a batch pushes: a concurrency limit that is either fixed or found (AIMD), and how long to wait before a
retry. Pure: the runner feeds in what happened and the clock; nothing here sleeps or sends.

The adaptive limit is TCP's rule applied to requests in flight: double (slow start), then add one, while
throughput keeps rising; halve on overload. Overload is a 429 or 503 (the server's own admission said so) or a
window whose median RTF (latency per second of audio, as the client sees it) is far above the best seen while
throughput did not rise (the queue grows before the server refuses). A limit whose window is no faster than the
one below it has found the knee: the limit steps back and holds there, probing upwards again every few windows in
case the server got room (another replica up).
"""

from __future__ import annotations

import email.utils
import random
import statistics
from dataclasses import dataclass, field

PLATEAU_GAIN = 1.05
"""A step up must bring 5 % more throughput to count as rising: less is noise on a shared machine."""
REPROBE_WINDOWS = 8
"""Windows held at the knee before probing one step higher again."""


@dataclass
class Window:
    """Completions at one limit, from its first send. Throughput counts audio seconds made, not requests, and
    slowness is RTF, not latency: a batch mixes one-line and one-page texts, whose latencies differ tenfold."""

    limit: int
    started: float
    rtfs: list[float] = field(default_factory=list)
    audio_seconds: float = 0.0
    done: int = 0
    overloaded: bool = False

    def throughput(self, now: float) -> float:
        return self.audio_seconds / max(now - self.started, 1e-9)


class Concurrency:
    """The limit of requests in flight; fixed unless `adaptive`."""

    def __init__(self, start: int, maximum: int, adaptive: bool, rtf_factor: float = 3.0) -> None:
        if not 1 <= start <= maximum:
            raise ValueError(f"concurrency {start} must be from 1 to the maximum {maximum}")
        self.limit = start
        self.maximum = maximum
        self.adaptive = adaptive
        self.rtf_factor = rtf_factor
        self._window: Window | None = None
        self._previous: tuple[int, float] | None = None  # (limit, throughput) of the last full window
        self._best_rtf: float | None = None
        self._held = 0  # windows held at the knee; 0 while probing
        self._slow_start = True  # doubling until the first knee or overload, as TCP does: a batch of 1,000
        # requests would spend half of itself climbing from 4 to 16 one step a window

    def start(self, now: float) -> None:
        self._window = Window(self.limit, now)

    def on_done(self, rtf: float | None, audio_seconds: float, now: float) -> None:
        """A request finished (any answer but an overload refusal); `rtf` None for one without audio."""
        window = self._window
        if not self.adaptive or window is None:
            return
        window.done += 1
        window.audio_seconds += audio_seconds
        if rtf is not None:
            window.rtfs.append(rtf)
        window.overloaded = False  # answered at this limit: a refusal from now on is news
        if window.done >= max(8, 2 * window.limit):
            self._close(window, now)

    def on_overload(self, now: float) -> None:
        """A 429 or 503: halve, once per burst (the refusals of the requests already in flight are one signal)."""
        window = self._window
        if not self.adaptive or window is None or window.overloaded:
            return
        # the refusals of requests sent before the cut are the same signal: ignored until one is answered
        self._set(max(1, self.limit // 2), now, hold=True).overloaded = True

    def _close(self, window: Window, now: float) -> None:
        throughput = window.throughput(now)
        previous = self._previous
        rising = previous is None or throughput >= previous[1] * PLATEAU_GAIN
        if window.rtfs:
            median = statistics.median(window.rtfs)
            self._best_rtf = median if self._best_rtf is None else min(self._best_rtf, median)
            # slower per second of audio and no more audio for it: requests only queue. Slower but faster overall
            # is what a batch wants (nobody waits for one answer).
            if median > self.rtf_factor * self._best_rtf and not rising:
                self._set(max(1, self.limit // 2), now, hold=True)
                return
        self._previous = (window.limit, throughput)
        if self._held:
            self._held -= 1
            self._set(self.limit + (self._held == 0), now, hold=False)
        elif previous is not None and previous[0] < window.limit and not rising:
            self._set(previous[0], now, hold=True)  # no faster than one step lower: the knee
        else:
            self._set(self.limit * 2 if self._slow_start else self.limit + 1, now, hold=False)

    def _set(self, limit: int, now: float, hold: bool) -> Window:
        self.limit = min(self.maximum, limit)
        if hold:
            self._held = REPROBE_WINDOWS
            self._previous = None
            self._slow_start = False
        self._window = Window(self.limit, now)
        return self._window


def retry_after_seconds(header: str | None, now: float) -> float | None:
    """Seconds a Retry-After asks for: a number of seconds or an HTTP date (RFC 9110); None if absent or bad."""
    if header is None:
        return None
    text = header.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def backoff_seconds(attempt: int, base: float = 0.5, cap: float = 30.0, rng: random.Random | None = None) -> float:
    """Full-jitter exponential backoff (AWS's recommendation): spreads retries of many failed requests apart."""
    return (rng or random).uniform(0, min(cap, base * 2**attempt))
