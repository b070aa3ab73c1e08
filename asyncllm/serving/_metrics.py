"""Prometheus metrics of a served module (``ServerOptions(metrics=True)``): ``GET /metrics``,
behind the same bearer key as every route but ``/health``.

* ``asyncllm_requests_total{route, status}`` — requests answered;
* ``asyncllm_request_duration_seconds{route}`` — from the request to the end of its answer;
* ``asyncllm_requests_in_flight`` — requests being answered now;
* ``asyncllm_stream_duration_seconds{route}`` — streamed answers (SSE), start to end;
* ``asyncllm_tokens_total{direction}`` — the served LLMs' tokens (``input`` / ``output``), as the
  request's usage reports them.

Labels stay bounded whatever a caller sends: a path the server does not serve counts as
``route="unmatched"``. Each app has its own registry (several servers in one process never
mix). ``prometheus-client`` does the exposition format (``pip install 'asyncllm[metrics]'``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from .._exceptions import MissingDependencyError

__all__ = ["ServerMetrics"]

_UNMATCHED = "unmatched"
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class ServerMetrics:
    """The metrics of one served app (see the module docstring)."""

    def __init__(self, routes: Iterable[str]) -> None:
        try:
            import prometheus_client as prom
        except ImportError as exc:
            raise MissingDependencyError("prometheus-client", "metrics", "ServerOptions(metrics=True)") from exc
        self._prom = prom
        self.routes = frozenset(routes)
        self.registry = reg = prom.CollectorRegistry()
        self.requests = prom.Counter("asyncllm_requests", "Requests answered", ["route", "status"], registry=reg)
        self.latency = prom.Histogram("asyncllm_request_duration_seconds", "Request to the end of its answer",
                                      ["route"], buckets=_LATENCY_BUCKETS, registry=reg)
        self.in_flight = prom.Gauge("asyncllm_requests_in_flight", "Requests being answered", registry=reg)
        self.streams = prom.Histogram("asyncllm_stream_duration_seconds", "Streamed answers, start to end",
                                      ["route"], buckets=_LATENCY_BUCKETS, registry=reg)
        self.tokens = prom.Counter("asyncllm_tokens", "Tokens of the served LLMs", ["direction"], registry=reg)

    def route(self, path: str) -> str:
        return path if path in self.routes else _UNMATCHED

    def started(self) -> float:
        self.in_flight.inc()
        return time.perf_counter()

    def finished(self, route: str, status: int, t0: float, streamed: bool) -> None:
        elapsed = time.perf_counter() - t0
        self.in_flight.dec()
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(elapsed)
        if streamed:
            self.streams.labels(route).observe(elapsed)

    def usage(self, usage: Mapping[str, Any]) -> None:
        """A request's total usage (``-1``: unknown, not counted)."""
        if (p := usage.get("prompt_tokens", -1)) > 0:
            self.tokens.labels("input").inc(p)
        if (c := usage.get("completion_tokens", -1)) > 0:
            self.tokens.labels("output").inc(c)

    def exposition(self) -> tuple[bytes, str]:
        return self._prom.generate_latest(self.registry), self._prom.CONTENT_TYPE_LATEST
