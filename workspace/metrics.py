"""`GET /metrics`: Prometheus metrics for operators (issue 18; README, "Metrics").

Read at scrape time from the database and the task queue (no counters to lose when a process
restarts), plus the web processes' request histogram (memory_console.metrics_middleware):

- `memory_console_tasks_waiting`: tasks in the broker no cluster has taken;
- `memory_console_clusters`, `memory_console_workers`: qclusters reporting (3-second expiry) and their
  worker processes; `memory_console_cluster_report_age_seconds{cluster, host}`: each one's last
  report (the workers' heartbeat);
- `memory_console_imports{status}`: imports by status; `memory_console_import_oldest_seconds{status}`:
  age of the oldest Queued (since queued) and Running (since started) import, 0 when none (the
  example alert in README);
- `memory_console_import_duration_seconds`: a histogram of the imports finished in the last 24 hours
  (started to finished), and `memory_console_import_rows_per_second`: their rows over their time;
- `memory_console_conversations{status}`; `memory_console_extractions_pending` and
  `memory_console_extraction_lag_seconds`: memory extraction requests waiting, and the oldest one's age.

Counts span every account: the endpoint answers loopback clients whose request no proxy forwarded
(no X-Forwarded-For, X-Real-IP or Forwarded header), or anyone with
`Authorization: Bearer $METRICS_TOKEN` when that is set (403 otherwise).
"""

import contextlib
import ipaddress
import os
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Min
from django.http import HttpResponse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

from conversations.models import Conversation, ConversationStatus, ExtractionRequest, ExtractionStatus
from imports.models import ImportStatus, ProfileImport
from memory_console.cluster import broker_waiting, clusters_alive

DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600)  # seconds


# Set by a reverse proxy (nginx, Caddy, HAProxy...) that forwards a client's request: through one on
# the same host every client would otherwise look like loopback.
FORWARDED_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED")


def _allowed(request) -> bool:
    token = getattr(settings, "METRICS_TOKEN", "")
    if token:
        return constant_time_compare(request.headers.get("Authorization", ""), f"Bearer {token}")
    if any(header in request.META for header in FORWARDED_HEADERS):
        return False  # a reverse proxy on this host passed it on: the client is not local
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


class StateCollector:
    """The database's and the queue's state, read when Prometheus scrapes."""

    def collect(self):
        now = timezone.now()
        yield from self._queue(now)
        yield from self._imports(now)
        yield from self._conversations(now)

    def _queue(self, now):
        waiting = GaugeMetricFamily("memory_console_tasks_waiting", "Tasks in the broker no cluster has taken.")
        with contextlib.suppress(Exception):  # a broker down: no sample (and /api/v1/health/ready says why)
            waiting.add_metric([], broker_waiting())
        yield waiting
        clusters = GaugeMetricFamily("memory_console_clusters", "qclusters that reported in the last 3 seconds.")
        workers = GaugeMetricFamily("memory_console_workers", "Worker processes of those clusters.")
        age = GaugeMetricFamily(
            "memory_console_cluster_report_age_seconds",
            "Seconds since each cluster's last report.",
            labels=["cluster", "host"],
        )
        try:
            alive = clusters_alive()
        except Exception:  # noqa: BLE001
            alive = []
        clusters.add_metric([], len(alive))
        workers.add_metric([], sum(c.workers for c in alive))
        for c in alive:
            age.add_metric([c.name, c.host], max((now - c.reported_at).total_seconds(), 0.0))
        yield from (clusters, workers, age)

    def _imports(self, now):
        by_status = dict(ProfileImport.objects.values_list("status").annotate(n=Count("id")).order_by())
        imports = GaugeMetricFamily("memory_console_imports", "Imports by status.", labels=["status"])
        for status in ImportStatus.values:
            imports.add_metric([status], by_status.get(status, 0))
        yield imports
        oldest = GaugeMetricFamily(
            "memory_console_import_oldest_seconds",
            "Age of the oldest Queued import (since queued) and Running import (since started); 0 when none.",
            labels=["status"],
        )
        queued = ProfileImport.objects.filter(status=ImportStatus.QUEUED).aggregate(t=Min("queued_at"))["t"]
        running = ProfileImport.objects.filter(status=ImportStatus.RUNNING).aggregate(t=Min("started_at"))["t"]
        oldest.add_metric([ImportStatus.QUEUED], (now - queued).total_seconds() if queued else 0.0)
        oldest.add_metric([ImportStatus.RUNNING], (now - running).total_seconds() if running else 0.0)
        yield oldest
        finished = ProfileImport.objects.filter(
            finished_at__gte=now - timedelta(hours=24), started_at__isnull=False
        ).values_list("started_at", "finished_at", "rows_processed")
        durations = [(max((f - s).total_seconds(), 0.0), rows) for s, f, rows in finished]
        buckets = []
        for bound in DURATION_BUCKETS:
            buckets.append((str(float(bound)), sum(1 for d, _ in durations if d <= bound)))
        buckets.append(("+Inf", len(durations)))
        total = sum(d for d, _ in durations)
        histogram = HistogramMetricFamily(
            "memory_console_import_duration_seconds", "Imports finished in the last 24 hours, started to finished."
        )
        histogram.add_metric([], buckets, total)
        yield histogram
        rate = GaugeMetricFamily(
            "memory_console_import_rows_per_second", "Rows over time of the imports finished in the last 24 hours."
        )
        rate.add_metric([], (sum(r for _, r in durations) / total) if total else 0.0)
        yield rate

    def _conversations(self, now):
        conversations = GaugeMetricFamily("memory_console_conversations", "Conversations by status.", labels=["status"])
        by_status = dict(Conversation.objects.values_list("status").annotate(n=Count("id")).order_by())
        for status in ConversationStatus.values:
            conversations.add_metric([status], by_status.get(status, 0))
        yield conversations
        pending = ExtractionRequest.objects.filter(status=ExtractionStatus.PENDING)
        count = GaugeMetricFamily("memory_console_extractions_pending", "Memory extraction requests waiting.")
        count.add_metric([], pending.count())
        yield count
        oldest = pending.aggregate(t=Min("requested_at"))["t"]
        lag = GaugeMetricFamily(
            "memory_console_extraction_lag_seconds", "Age of the oldest waiting memory extraction request; 0 when none."
        )
        lag.add_metric([], (now - oldest).total_seconds() if oldest else 0.0)
        yield lag


def metrics(request):
    """The exposition (text format 0.0.4); 403 unless loopback or METRICS_TOKEN (module docstring)."""
    if not _allowed(request):
        return HttpResponse("Metrics are for loopback clients or a METRICS_TOKEN bearer.\n", status=403)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        requests = CollectorRegistry()
        multiprocess.MultiProcessCollector(requests)
    else:
        requests = REGISTRY
    state = CollectorRegistry(auto_describe=False)
    state.register(StateCollector())
    return HttpResponse(generate_latest(requests) + generate_latest(state), content_type=CONTENT_TYPE_LATEST)
