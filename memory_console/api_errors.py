"""Every answer under /api/ is JSON, including the errors Django or ninja answer outside a handler.

The API's exception handlers (`memory_console.api`) answer JSON for everything raised inside an
endpoint. A few answers are made before or around an endpoint: Django's 404 for a path no route
matches (``/api/v1/nope``), ninja's 405 for a method a route does not take, Django's 400/500 pages
for an error outside ninja. `ApiErrorsAsJson` turns those into ``{"detail": "..."}`` with the same
status and headers (``Allow``, ``Retry-After``, ``WWW-Authenticate``), so a client never has to
parse HTML.
"""

from django.http import JsonResponse

API_PREFIX = "/api/"
KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")
MESSAGES = {
    404: "Not Found: no API route has this path.",
    405: "Method not allowed.",
    500: "Internal server error",
}


class ApiErrorsAsJson:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and request.path.startswith(API_PREFIX)
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            status = response.status_code
            replaced = JsonResponse({"detail": MESSAGES.get(status, response.reason_phrase)}, status=status)
            for header in KEPT_HEADERS:
                if header in response:
                    replaced[header] = response[header]
            return replaced
        return response
