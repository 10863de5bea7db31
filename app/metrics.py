"""Prometheus metrics, one registry per app so that tests can build many apps."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "nw_http_requests_total",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "nw_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.ws_connections = Gauge(
            "nw_ws_connections", "Open WebSocket connections", registry=self.registry
        )
        self.ws_events = Counter(
            "nw_ws_events_sent_total", "Events sent over WebSockets", registry=self.registry
        )
        self.ws_slow_closes = Counter(
            "nw_ws_slow_client_closes_total",
            "WebSocket connections closed (1013) for not keeping up",
            registry=self.registry,
        )
