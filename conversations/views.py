"""Conversations pages: the store's conversations and one conversation's transcript (anyone with
access reads them), and the conversation configurations pages: the list, the create wizard (the
seed's steps, one form carrying every step's values in hidden fields: plain POSTs work, htmx swaps
the step in place), the configuration page, edit and delete. Administrators write; Support reads."""

import re
from datetime import date, datetime, time, timedelta
from urllib.parse import urlsplit

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from memory_console.sheets import render_sheet, sheet_done
from stores.access import store_view

from . import callbacks, forms, services
from .capture import IDENTIFIER_KIND, CaptureError, capture_pattern
from .lifecycle import Channel, Grouping, Lifecycle, effective_timeouts
from .models import ConversationStatus
from .selectors import (
    configuration_get,
    configuration_list,
    configuration_timeouts,
    conversation_agents,
    conversation_get,
    conversations_page,
)


def _configuration_or_404(store, configuration_id):
    configuration = configuration_get(store=store, configuration_id=configuration_id)
    if configuration is None:
        raise Http404("No such conversation configuration in this memory store.")
    return configuration


def _choices():
    return {
        "channels": Channel.choices,
        "lifecycles": Lifecycle.choices,
        "groupings": Grouping.choices,
        "INACTIVE": Lifecycle.INACTIVE.value,
    }


def _to(request, url):
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def _labelled(timeouts):
    """[(channel label, Timeout)] from {channel: Timeout}."""
    return [(Channel(channel).label, timeout) for channel, timeout in timeouts.items()]


def _rows(store):
    """[(configuration, [(channel label, Timeout)])] for the list."""
    return [(c, _labelled(configuration_timeouts(configuration=c))) for c in configuration_list(store=store)]


@store_view()
def configuration_list_view(request, store):
    return render(request, "conversations/list.html", {"configurations": _rows(store)})


def _stored(store, channel, address):
    """The address as it will be stored (E.164, whatsapp:+E164), or as typed if it cannot be."""
    try:
        return capture_pattern(channel, address, region=store.default_region)
    except CaptureError:
        return address


def _summary(store, data):
    labels = dict(Channel.choices)
    channels = [c for c, _ in data.captures if c in labels]
    timeouts = effective_timeouts(channels=channels, timeout_minutes=data.timeout_minutes)
    return {
        "lifecycle_label": dict(Lifecycle.choices).get(data.lifecycle, data.lifecycle),
        "grouping_label": dict(Grouping.choices).get(data.grouping, data.grouping),
        "capture_rows": [(labels.get(c, c), _stored(store, c, a)) for c, a in data.captures],
        "timeouts": _labelled(timeouts),
    }


@store_view(write=True)
@require_http_methods(["GET", "POST"])
def configuration_create(request, store):
    """The wizard. `step` is the step shown; `action` the button pressed (next, back, add_row,
    create). Next validates the fields of the steps so far (the service's rules); Create calls the
    service and goes back to the first step holding an error."""
    step, errors, extra = 1, {}, 0
    data = forms.input_from_post(request.POST) if request.method == "POST" else services.ConfigurationInput(name="")
    if request.method == "POST":
        try:
            step = min(max(int(request.POST.get("step", 1)), 1), forms.LAST_STEP)
        except ValueError:
            step = 1
        action = request.POST.get("action", "next")
        if action == "back":
            step = max(step - 1, 1)
        elif action == "add_row":
            step, extra = 3, 1
        elif action == "create":
            try:
                configuration = services.conversation_configuration_create(store=store, actor=request.user, data=data)
            except ValidationError as exc:
                errors = forms.errors_of(exc)
                step = forms.first_step_with(errors) or forms.LAST_STEP
            else:
                _secret_show_once(request, configuration)
                messages.success(request, f"Created conversation configuration {configuration.name}.")
                return _to(request, reverse("conversations:detail", args=[store.pk, configuration.pk]))
        else:
            found = forms.validate(store=store, data=data)
            errors = {name: msg for name, msg in found.items() if forms.STEP_OF_FIELD.get(name, 1) <= step}
            step = forms.first_step_with(errors) or min(step + 1, forms.LAST_STEP)
    context = {
        **_choices(),
        "data": data,
        "errors": errors,
        "step": step,
        "steps": forms.STEPS,
        "rows": forms.rows(data, extra=extra),
        "new_row": bool(extra),
        "action_url": reverse("conversations:create", args=[store.pk]),
        **(_summary(store, data) if step == forms.LAST_STEP else {}),
    }
    template = "conversations/_wizard.html" if request.htmx else "conversations/wizard.html"
    return render(request, template, context)


DELIVERIES_SHOWN = 50


def _secret_key(configuration) -> str:
    return f"status_callback_secret:{configuration.pk}"


def _secret_show_once(request, configuration) -> None:
    """A secret just made (the first status callback URL) is shown on the next page, once."""
    if getattr(configuration, "new_status_callback_secret", None):
        request.session[_secret_key(configuration)] = configuration.new_status_callback_secret


@store_view()
def configuration_detail(request, store, configuration_id):
    configuration = _configuration_or_404(store, configuration_id)
    return render(request, "conversations/detail.html", _detail_context(request, configuration))


def _detail_context(request, configuration) -> dict:
    return {
        "configuration": configuration,
        "timeouts": _labelled(configuration_timeouts(configuration=configuration)),
        "captures": configuration.captures.all(),
        "deliveries": callbacks.deliveries_latest(configuration=configuration, size=DELIVERIES_SHOWN),
        "deliveries_shown": DELIVERIES_SHOWN,
        "new_secret": request.session.pop(_secret_key(configuration), None),
        **_twilio_context(request, configuration),
    }


@store_view(write=True)
@require_http_methods(["GET", "POST"])
def configuration_callback_secret(request, store, configuration_id):
    """Rotate the status callback secret: a confirmation, then the new secret, shown in this answer
    only (no redirect)."""
    configuration = _configuration_or_404(store, configuration_id)
    context = {
        "configuration": configuration,
        "action": reverse("conversations:callback_secret", args=[store.pk, configuration.pk]),
    }
    if request.method == "POST":
        secret = services.status_callback_secret_rotate(configuration=configuration, actor=request.user)
        context["new_secret"] = secret
    return render_sheet(
        request, "conversations/_callback_secret.html", context, title="Rotate the status callback secret"
    )


def _twilio_context(request, configuration) -> dict:
    """What the configuration page's Connect Twilio card shows: the webhook URLs and the token's hint."""
    return {
        "configuration": configuration,
        "webhook_urls": {
            "messaging": request.build_absolute_uri(reverse("twilio_messaging")),
            "voice": request.build_absolute_uri(reverse("twilio_voice")),
            "conversations": request.build_absolute_uri(reverse("twilio_conversations")),
        },
    }


@store_view(write=True)
@require_http_methods(["GET", "POST"])
def configuration_twilio_token(request, store, configuration_id):
    """Set or replace (rotate) the Twilio auth token: a side sheet; the token is never shown again."""
    configuration = _configuration_or_404(store, configuration_id)
    error = ""
    if request.method == "POST":
        try:
            services.twilio_auth_token_set(
                configuration=configuration, actor=request.user, token=request.POST.get("token")
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            return sheet_done(
                request,
                message=f"Saved the Twilio auth token of {configuration.name} "
                f"({configuration.twilio_auth_token_hint}).",
                redirect_to=reverse("conversations:detail", args=[store.pk, configuration.pk]),
                fragment="conversations/_twilio_card.html",
                context=_twilio_context(request, configuration),
            )
    return render_sheet(
        request,
        "conversations/_twilio_token.html",
        {
            "configuration": configuration,
            "error": error,
            "action": reverse("conversations:twilio_token", args=[store.pk, configuration.pk]),
        },
        title="Twilio auth token",
    )


@store_view(write=True)
@require_http_methods(["GET", "POST"])
def configuration_edit(request, store, configuration_id):
    configuration = _configuration_or_404(store, configuration_id)
    errors, extra = {}, 0
    if request.method == "POST":
        data = forms.input_from_post(request.POST)
        if request.POST.get("action") == "add_row":
            extra = 1
        else:
            try:
                services.conversation_configuration_update(configuration=configuration, actor=request.user, data=data)
            except ValidationError as exc:
                errors = forms.errors_of(exc)
            else:
                _secret_show_once(request, configuration)
                messages.success(request, f"Saved conversation configuration {configuration.name}.")
                return _to(request, reverse("conversations:detail", args=[store.pk, configuration.pk]))
    else:
        data = forms.input_from_configuration(configuration)
    return render(
        request,
        "conversations/edit.html",
        {
            **_choices(),
            "configuration": configuration,
            "data": data,
            "errors": errors,
            "rows": forms.rows(data, extra=extra),
            "action_url": reverse("conversations:edit", args=[store.pk, configuration.pk]),
        },
    )


@store_view(write=True)
@require_http_methods(["GET", "POST"])
def configuration_delete(request, store, configuration_id):
    configuration = _configuration_or_404(store, configuration_id)
    if request.method == "POST":
        name = configuration.name
        services.conversation_configuration_delete(configuration=configuration, actor=request.user)
        listing = reverse("conversations:list", args=[store.pk])
        if request.htmx and request.htmx.current_url and urlsplit(request.htmx.current_url).path != listing:
            # Deleted from its own page, which is gone: to the list, with the message.
            messages.success(request, f"Deleted conversation configuration {name}.")
            return HttpResponseClientRedirect(listing)
        return sheet_done(
            request,
            message=f"Deleted conversation configuration {name}.",
            redirect_to=listing,
            fragment="conversations/_table.html",
            context={"configurations": _rows(store), "oob": True},
        )
    return render_sheet(
        request,
        "conversations/_delete.html",
        {
            "configuration": configuration,
            "conversations": configuration.conversations.count(),
            "action": reverse("conversations:delete", args=[store.pk, configuration.pk]),
        },
        title="Delete conversation configuration",
    )


# -- conversations ---------------------------------------------------------------------------

PAGE_SIZE = 50
TRANSCRIPT_MAX = 1000  # communications shown on a conversation's page; the page says when there are more


@store_view()
def conversation_list(request, store):
    """The store's conversations, newest first: filter by status, channel and configuration; pages
    by keyset (`before`), stable while new conversations arrive."""
    status = request.GET.get("status") or None
    channel = request.GET.get("channel") or None
    status = status if status in ConversationStatus.values else None
    channel = channel if channel in Channel.values else None
    configuration_id = _int(request.GET.get("configuration"))
    before = _int(request.GET.get("before"))
    date_errors = {}
    day_from = _day(request.GET.get("from"), "from", date_errors)
    day_to = _day(request.GET.get("to"), "to", date_errors)
    if day_from and day_to and day_to < day_from:
        date_errors["to"] = "The end date is before the start date."
        day_to = None
    rows = conversations_page(
        store=store,
        status=status,
        channel=channel,
        configuration_id=configuration_id,
        opened_from=_day_start(day_from) if day_from else None,
        opened_before=_day_start(day_to + timedelta(days=1)) if day_to else None,
        before_id=before,
        size=PAGE_SIZE + 1,
    )
    page = rows[:PAGE_SIZE]
    following = None
    if len(rows) > PAGE_SIZE:
        query = request.GET.copy()
        query["before"] = page[-1].pk
        following = query.urlencode()
    return render(
        request,
        "conversations/conversations.html",
        {
            "conversations": page,
            "next_query": following,
            "filters": {
                "status": status or "",
                "channel": channel or "",
                "configuration": configuration_id,
                "from": day_from.isoformat() if day_from else "",
                "to": day_to.isoformat() if day_to else "",
            },
            "date_errors": date_errors,
            "statuses": ConversationStatus.choices,
            "channels": Channel.choices,
            "configurations": configuration_list(store=store),
        },
    )


def _day(text, name: str, errors: dict) -> date | None:
    """A YYYY-MM-DD date of the date filter (1900-01-01 to 9999-12-30), or None (empty or wrong:
    then `errors[name]` says why)."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text) if len(text) == 10 and text.isascii() else None
    except ValueError:
        day = None
    if day is None or not date(1900, 1, 1) <= day <= date(9999, 12, 30):
        errors[name] = "Enter a date as YYYY-MM-DD, from 1900-01-01 to 9999-12-30."
        return None
    return day


def _day_start(day: date) -> datetime:
    """Midnight of `day` in the console's display time zone (`TIME_ZONE`)."""
    return timezone.make_aware(datetime.combine(day, time.min))


def _int(text) -> int | None:
    return int(text) if text and text.isascii() and text.isdigit() and len(text) < 19 else None


@store_view()
def conversation_detail(request, store, conversation_id):
    """A conversation: its transcript (customer and business sides), the customer's profile, and
    its lifecycle (opened, last customer message, Inactive, Closed; the extraction requested by each
    transition) and, apart, the memory extraction re-runs an Administrator applied (who, when, outcome)."""
    conversation = conversation_get(store=store, conversation_id=conversation_id)
    if conversation is None:
        raise Http404("No such conversation in this memory store.")
    extractions = list(conversation.extractions.all())
    return render(
        request,
        "conversations/conversation.html",
        {
            "conversation": conversation,
            "communications": conversation.communications.all()[:TRANSCRIPT_MAX],
            "communications_total": conversation.communications.count(),
            "transcript_max": TRANSCRIPT_MAX,
            # The lifecycle's requests (one per transition) and the re-runs people asked for, apart.
            "extractions": [e for e in extractions if not e.requested_by],
            "reruns": [e for e in extractions if e.requested_by],
            "history": conversation.history.all(),
            "agents": conversation_agents(conversation=conversation),
            "identifier_kind": IDENTIFIER_KIND.get(conversation.channel, ""),
        },
    )


# -- the profile page's Recall preview (issue 17) ---------------------------------------------

# The API's names of recall's options (the form's field names too) and the labels the preview's form
# shows for them (templates/profiles/_recall_preview.html): errors name the field as the user sees it.
RECALL_LABELS = {
    "query": "Query",
    "observationsLimit": "Observations",
    "summariesLimit": "Summaries",
    "communicationsLimit": "Messages",
    "relevanceThreshold": "Min. score",
    "beginDate": "From (UTC)",
    "endDate": "Before (UTC)",
}
RECALL_FIELDS = tuple(RECALL_LABELS)


def _recall_error(name: str, message: str) -> str:
    """`recall_options_clean`'s message for option `name` ("The observationsLimit must be ...")
    with the form's labels for the API's names: "Observations: must be ..."; another option named
    in it is quoted by its label ("Before (UTC): must be after “From (UTC)”.")."""
    text = re.sub(rf"^The {re.escape(name)}\b\s*", "", message)
    for api_name, label in RECALL_LABELS.items():
        if api_name == "query":  # an English word too: only the API's made-up names are replaced
            continue
        text = re.sub(rf"\b(?:the )?{re.escape(api_name)}\b", f"“{label}”", text)
    return f"{RECALL_LABELS.get(name, name)}: {text}"


@store_view()
def recall_preview(request, store, profile_id):
    """Run recall for the profile as an agent would (`conversations.recall`), without counting it
    as a recall, and show the answer: observations with scores, summaries, communications and the
    `text` rendering. A GET form (read-only: Support may use it): htmx swaps the result in place
    on the profile page; without JavaScript it is a page of its own."""
    from profiles.selectors import profile_get

    from .recall import recall, recall_options_clean

    profile = profile_get(store=store, profile_id=profile_id)
    if profile is None or profile.merged_into_id:
        raise Http404("No such profile in this memory store.")
    values = {name: request.GET.get(name, "").strip() for name in RECALL_FIELDS}
    result, errors = None, {}
    if request.GET:
        try:
            options = recall_options_clean(
                query=request.GET.get("query", ""),
                observations_limit=values["observationsLimit"],
                summaries_limit=values["summariesLimit"],
                communications_limit=values["communicationsLimit"],
                relevance_threshold=values["relevanceThreshold"],
                begin_date=values["beginDate"],
                end_date=values["endDate"],
            )
        except ValidationError as exc:
            errors = {
                name: " ".join(_recall_error(name, message) for message in messages_)
                for name, messages_ in exc.message_dict.items()
            }
        else:
            result = recall(profile=profile, options=options, count=False)
    context = {"profile": profile, "values": values, "result": result, "errors": errors}
    template = "profiles/_recall_preview_result.html" if request.htmx else "profiles/recall_preview.html"
    return render(request, template, context)
