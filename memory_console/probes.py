"""The health checks and the metrics scrape, answered whatever host they name and over plain HTTP.

Load balancers, Kubernetes probes and Prometheus call a web process by its own address
(`http://10.0.0.5:8000/api/v1/health/ready`, `http://web-1:8000/metrics`), not by the public name
in ALLOWED_HOSTS and not over HTTPS: through the usual middleware such a call is refused (400,
DisallowedHost) or redirected to HTTPS (SECURE_SSL_REDIRECT) when DEBUG=False. These three GET
routes build no URL from the Host header, so this middleware (settings.MIDDLEWARE, before
SecurityMiddleware) answers them itself; every other request goes on as before. /metrics keeps its
own access rule (loopback or METRICS_TOKEN: workspace/metrics.py).
"""

from django.urls import resolve

PROBE_PATHS = frozenset({"/api/v1/health", "/api/v1/health/ready", "/metrics"})


class ProbesMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method == "GET" and request.path_info in PROBE_PATHS:
            match = resolve(request.path_info)
            request.resolver_match = match  # the request histogram's route label
            return match.func(request, *match.args, **match.kwargs)
        return self.get_response(request)
