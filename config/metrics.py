"""``/metrics`` in the Prometheus text format (docs/operations.md, "Metrics").

Two sources. The request latency by route is measured in each process
(``RequestMetricsMiddleware``); under gunicorn, with ``PROMETHEUS_MULTIPROC_DIR`` set, every
worker writes its figures to files there and a scrape of any worker sums them
(prometheus-client's multiprocess mode; ``config/gunicorn.conf.py`` marks a dead worker's
files). The case, appeal, outbox and partner figures are read from the database
(``cases.metrics``) at a fixed number of queries and kept for ``METRICS_CACHE_SECONDS`` in the
process, so that several scrapers in a row cost one round of queries.

Access: with ``METRICS_TOKEN`` set, ``Authorization: Bearer <token>``; without it, only
clients on the loopback interface. Anything else is a problem response (401 or 403).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import threading
import time
from collections.abc import Callable, Iterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.multiprocess import MultiProcessCollector

from cases.metrics import HistogramCounts, MetricSamples, metric_samples

from .problems import problem_response

PREFIX = "tscase"
# Route patterns, never paths: ``api/v1/cases/<id:pk>``, not the case's id.
UNMATCHED_ROUTE = "unmatched"
REQUEST_LATENCY = Histogram(
    f"{PREFIX}_http_request_duration_seconds",
    "Time to answer a request, by route pattern, method and status code.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=None,
)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def _route(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    route = getattr(match, "route", None) if match is not None else None
    return f"/{route}" if route else UNMATCHED_ROUTE


class RequestMetricsMiddleware:
    """Observes every request's duration under its route pattern."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        REQUEST_LATENCY.labels(
            route=_route(request), method=request.method or "", status=str(response.status_code)
        ).observe(time.perf_counter() - started)
        return response


class _Cached:
    """The database's figures of this process, kept ``METRICS_CACHE_SECONDS``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until = 0.0
        self._samples: MetricSamples | None = None

    def get(self) -> MetricSamples:
        ttl = float(getattr(settings, "METRICS_CACHE_SECONDS", 5))
        with self._lock:
            now = time.monotonic()
            if self._samples is None or now >= self._until:
                self._samples = metric_samples(now=timezone.now())
                self._until = now + ttl
            return self._samples

    def clear(self) -> None:
        with self._lock:
            self._samples = None


CACHED = _Cached()


def _histogram(name: str, doc: str, counts: HistogramCounts) -> HistogramMetricFamily:
    pairs = zip(counts.buckets, counts.cumulative, strict=True)
    buckets: list[tuple[str, float]] = [(repr(float(bound)), float(n)) for bound, n in pairs]
    buckets.append(("+Inf", float(counts.count)))
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=counts.total_seconds)


class DatabaseCollector:
    """The database's figures as metric families (``cases.metrics``)."""

    def collect(self) -> Iterator[Metric]:
        samples = CACHED.get()
        cases = GaugeMetricFamily(
            f"{PREFIX}_cases_open",
            "Open cases by state and priority.",
            labels=["state", "priority"],
        )
        for (state, priority), n in samples.cases_open.items():
            cases.add_metric([state, priority], n)
        yield cases
        if samples.time_to_triage is not None:
            yield _histogram(
                f"{PREFIX}_case_time_to_triage_seconds",
                "From a case's opening to its first step out of flagged.",
                samples.time_to_triage,
            )
        if samples.time_to_decision is not None:
            yield _histogram(
                f"{PREFIX}_case_time_to_decision_seconds",
                "From a case's opening to its closing decision.",
                samples.time_to_decision,
            )
        breaches = CounterMetricFamily(
            f"{PREFIX}_deadline_breaches",
            "Review deadlines of cases and appeals that passed (first escalation sent).",
        )
        breaches.add_metric([], samples.deadline_breaches)
        yield breaches
        appeals = CounterMetricFamily(
            f"{PREFIX}_appeals", "Appeals decided or withdrawn, by outcome.", labels=["outcome"]
        )
        for outcome, n in samples.appeals.items():
            appeals.add_metric([outcome], n)
        yield appeals
        yield GaugeMetricFamily(
            f"{PREFIX}_outbox_pending",
            "Notices in the outbox still to be sent (pending, sending, retrying).",
            value=samples.outbox_pending,
        )
        deliveries = CounterMetricFamily(
            f"{PREFIX}_webhook_deliveries",
            "Webhook delivery attempts, by outcome.",
            labels=["outcome"],
        )
        for outcome, n in samples.webhook_deliveries.items():
            deliveries.add_metric([outcome], n)
        yield deliveries
        yield GaugeMetricFamily(
            f"{PREFIX}_partner_followups_overdue",
            "Partner propagations overdue for an acknowledgement or a report.",
            value=samples.partner_followups_overdue,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_feed_lag_seconds",
            "Age of the oldest enforcement change still to be delivered to a partner.",
            value=samples.feed_lag_seconds,
        )


def registry_build() -> CollectorRegistry:
    """A registry for one scrape: this process's (or every worker's) request latency and the
    database's figures."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        MultiProcessCollector(registry)
    else:
        registry.register(REQUEST_LATENCY)
    registry.register(DatabaseCollector())
    return registry


LOOPBACK_V4 = ipaddress.ip_network("127.0.0.0/8")
LOOPBACK_V6 = ipaddress.ip_address("::1")


def _loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip == LOOPBACK_V6 or (isinstance(ip, ipaddress.IPv4Address) and ip in LOOPBACK_V4)


def _refusal(request: HttpRequest) -> HttpResponse | None:
    token = getattr(settings, "METRICS_TOKEN", "")
    if token:
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), str(token).encode()
        ):
            return None
        return problem_response(
            status=401,
            code="metrics_token_required",
            detail="The metrics need the bearer token METRICS_TOKEN.",
            request=request,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    if _loopback(request.META.get("REMOTE_ADDR", "")):
        return None
    return problem_response(
        status=403,
        code="metrics_loopback_only",
        detail="Without METRICS_TOKEN, the metrics answer on the loopback interface only.",
        request=request,
    )


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    refused = _refusal(request)
    if refused is not None:
        return refused
    body = generate_latest(registry_build())
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
