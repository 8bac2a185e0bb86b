"""The Prometheus metrics Kubeless's runtimes export, written in the text exposition format by hand.

function_calls_total, function_failures_total (counters) and function_duration_seconds (histogram),
each labelled by HTTP method. One `Metrics` object belongs to one server; it is thread-safe.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from dataclasses import dataclass, field

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# prometheus_client's default buckets, so dashboards built for Kubeless keep working.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, math.inf)


@dataclass
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    total: float = 0.0
    samples: int = 0

    def observe(self, seconds: float) -> None:
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                self.counts[i] += 1
        self.total += seconds
        self.samples += 1


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: defaultdict[str, int] = defaultdict(int)
        self._failures: defaultdict[str, int] = defaultdict(int)
        self._durations: defaultdict[str, _Histogram] = defaultdict(_Histogram)

    def record(self, method: str, seconds: float, failed: bool) -> None:
        """One call of the function: it took `seconds`; `failed` if it raised, timed out or died."""
        with self._lock:
            self._calls[method] += 1
            if failed:
                self._failures[method] += 1
            self._durations[method].observe(seconds)

    def exposition(self) -> str:
        with self._lock:
            lines = [
                "# HELP function_calls_total Number of calls to user function",
                "# TYPE function_calls_total counter",
                *(f'function_calls_total{{method="{m}"}} {n}.0' for m, n in sorted(self._calls.items())),
                "# HELP function_failures_total Number of exceptions in user function",
                "# TYPE function_failures_total counter",
                *(f'function_failures_total{{method="{m}"}} {n}.0' for m, n in sorted(self._failures.items())),
                "# HELP function_duration_seconds Duration of user function in seconds",
                "# TYPE function_duration_seconds histogram",
            ]
            for method, hist in sorted(self._durations.items()):
                for bound, count in zip(BUCKETS, hist.counts, strict=True):
                    lines.append(f'function_duration_seconds_bucket{{le="{_le(bound)}",method="{method}"}} {count}.0')
                lines.append(f'function_duration_seconds_count{{method="{method}"}} {hist.samples}.0')
                lines.append(f'function_duration_seconds_sum{{method="{method}"}} {hist.total!r}')
        return "\n".join(lines) + "\n"


def _le(bound: float) -> str:
    return "+Inf" if bound == math.inf else repr(bound)
