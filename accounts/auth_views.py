import math

from django import forms
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.shortcuts import render


class EmailAuthenticationForm(AuthenticationForm):
    username = forms.CharField(
        label="Email",
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )

    def clean_username(self):
        return self.cleaned_data["username"].strip().lower()


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    pass


def axes_username(request, credentials=None) -> str:
    """The email django-axes counts failed sign-ins under: as the sign-in form reads it (trimmed,
    lower case), so ``Ada@Example.com`` and ``ada@example.com`` share one count; at most 255
    characters (axes's column) and no NUL, whatever was posted."""
    if credentials and credentials.get("username") is not None:
        raw = credentials["username"]
    else:
        raw = request.POST.get("username", "") if request is not None else ""
    return str(raw).strip().lower().replace("\0", "")[:255]


def lockout_message() -> str:
    minutes = max(1, math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60))
    wait = f"{minutes} minute{'s' if minutes != 1 else ''}"
    return (
        f"Too many failed sign-ins for this email from your address ({settings.AXES_FAILURE_LIMIT} in a row). "
        f"Sign-in is blocked for {wait}: wait {wait} without trying, then sign in again."
    )


def lockout_response(request, original_response=None, credentials=None):
    """django-axes's answer to a locked-out sign-in (AXES_LOCKOUT_CALLABLE): the sign-in page again,
    status 429, saying how long to wait. The password is never echoed back."""
    form = EmailAuthenticationForm(request, initial={"username": axes_username(request, credentials)})
    context = {"form": form, "next": request.POST.get("next", ""), "lockout_message": lockout_message()}
    return render(request, "accounts/login.html", context, status=429)
