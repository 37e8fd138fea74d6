"""An htmx request whose session has ended is sent to the sign-in page, not given it to swap in.

`login_required` answers a signed-out request with a redirect to the sign-in page. For an htmx
request (a progress poll, a side sheet, an inline edit) the browser follows that redirect inside
the request, and htmx then swaps the whole sign-in page into a small part of the page. Such an
answer becomes `HX-Redirect` (django-htmx's `HttpResponseClientRedirect`), so the browser goes to
the sign-in page, with `next` back to where the user was.
"""

from urllib.parse import quote

from django.conf import settings
from django.shortcuts import resolve_url
from django_htmx.http import HttpResponseClientRedirect


class HtmxSignInRedirect:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not getattr(request, "htmx", False) or response.status_code != 302:
            return response
        if response["Location"].split("?", 1)[0] != resolve_url(settings.LOGIN_URL):
            return response
        current = request.htmx.current_url_abs_path or "/"  # the page the user is on, not the fragment
        return HttpResponseClientRedirect(f"{resolve_url(settings.LOGIN_URL)}?next={quote(current, safe='/')}")
