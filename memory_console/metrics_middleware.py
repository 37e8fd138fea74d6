"""Request latency by route, for Prometheus (issue 18; the exposition is workspace.metrics).

`memory_console_request_duration_seconds{route, method, status}`: a histogram per URL pattern (the
route as declared, `api/v1/stores/<int:store_id>/profiles`, never the path with its ids, so the
label set stays small), method and status class (`2xx`...); paths no pattern matches count as
`route="unmatched"`. Under gunicorn with several workers set PROMETHEUS_MULTIPROC_DIR (an empty
directory, emptied at each start) so a scrape sums every worker's (prometheus_client's multiprocess
mode); without it each worker answers its own. A histogram that cannot be written (that directory
missing or read-only) is logged once and the request answered as usual.
"""

import logging
import time

from prometheus_client import Histogram

logger = logging.getLogger(__name__)
_warned = False  # the failure is logged once per process, not once per request

REQUEST_SECONDS = Histogram(
    "memory_console_request_duration_seconds",
    "Time to answer a request, by URL pattern, method and status class.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = (match.route or match.view_name or "unnamed") if match else "unmatched"
        method = request.method if request.method in METHODS else "other"  # a client picks the method
        try:
            REQUEST_SECONDS.labels(route, method, f"{response.status_code // 100}xx").observe(
                time.perf_counter() - started
            )
        except Exception:  # noqa: BLE001 - a metric never costs the answer (e.g. PROMETHEUS_MULTIPROC_DIR missing)
            global _warned
            if not _warned:
                _warned = True
                logger.warning("request metrics cannot be recorded (PROMETHEUS_MULTIPROC_DIR?)", exc_info=True)
        return response
