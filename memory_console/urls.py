from django.contrib import admin
from django.http import HttpResponseRedirect
from django.templatetags.static import static
from django.urls import include, path
from django.utils.cache import patch_cache_control

from accounts.auth_views import LoginView, LogoutView
from conversations.webhooks import twilio_conversations, twilio_messaging, twilio_voice
from workspace.metrics import metrics
from workspace.views import home

from .api import api


def favicon(request):
    """/favicon.ico, which browsers ask for on their own: the console's icon among its static files
    (its hashed name once collected; a day's caching, as the name may change with a release)."""
    response = HttpResponseRedirect(static("console/favicon.ico"))
    patch_cache_control(response, public=True, max_age=86400)
    return response


urlpatterns = [
    # First: the webhooks take most of the requests, and each pattern tried before costs resolving.
    # As Twilio's console is given it: no trailing slash (a redirect would drop the POST).
    path("webhooks/twilio/messaging", twilio_messaging, name="twilio_messaging"),
    path("webhooks/twilio/voice", twilio_voice, name="twilio_voice"),
    path("webhooks/twilio/conversations", twilio_conversations, name="twilio_conversations"),
    path("favicon.ico", favicon, name="favicon"),
    path("metrics", metrics, name="metrics"),
    path("", home, name="home"),
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/logout/", LogoutView.as_view(), name="logout"),
    path("", include("accounts.urls")),
    path("", include("workspace.urls")),  # the store pages (namespace "stores")
    path("", include("profiles.urls")),
    path("", include("traits.urls")),
    path("", include("identity.urls")),
    path("", include("imports.urls")),
    path("", include("conversations.urls")),
    path("api/v1/", api.urls),
    path("django-admin/", admin.site.urls),
]
