from django.contrib import admin
from django.urls import include, path

from accounts.auth_views import LoginView, LogoutView
from conversations.webhooks import twilio_conversations, twilio_messaging, twilio_voice
from workspace.views import home

from .api import api

urlpatterns = [
    # First: the webhooks take most of the requests, and each pattern tried before costs resolving.
    # As Twilio's console is given it: no trailing slash (a redirect would drop the POST).
    path("webhooks/twilio/messaging", twilio_messaging, name="twilio_messaging"),
    path("webhooks/twilio/voice", twilio_voice, name="twilio_voice"),
    path("webhooks/twilio/conversations", twilio_conversations, name="twilio_conversations"),
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
