"""Conversational memory pages (issue 17, Console): an Administrator edits or deletes one of a
profile's observations (side sheets opened from the profile page; plain pages without JavaScript)
and re-runs extraction for one conversation: a dry run listing the add / update / discard
decisions, then Apply, which writes exactly those. Support sees none of the buttons and gets 403."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from memory_console.sheets import render_sheet, sheet_done
from stores.access import store_view

from . import memory_services
from .memory_selectors import observation_get
from .selectors import conversation_get


def _observation_or_404(store, profile_id, observation_id):
    observation = observation_get(store=store, profile_id=profile_id, observation_id=observation_id)
    if observation is None:
        raise Http404("No such observation on this profile.")
    return observation


@store_view(write=True)
@require_http_methods(["GET", "POST"])
def observation_edit(request, store, profile_id, observation_id):
    """Edit an observation's content (the text rule: at most 4,096 characters); the error shows in
    the sheet; on success the observation's row is replaced in place, its history showing the edit."""
    observation = _observation_or_404(store, profile_id, observation_id)
    content, error = observation.content, ""
    if request.method == "POST":
        content = request.POST.get("content", "")
        # A browser sends a text area's line breaks as CR LF: the same text, not a change.
        submitted = content.replace("\r\n", "\n")
        try:
            changed = memory_services.observation_update(observation=observation, content=submitted, actor=request.user)
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            observation.refresh_from_db()
            return sheet_done(
                request,
                message="Saved the observation." if changed else "Nothing changed: the observation is as it was.",
                redirect_to=reverse("profiles:detail", args=[store.pk, profile_id]),
                fragment="conversations/_observation.html",
                context={"o": observation},
            )
    return render_sheet(
        request,
        "conversations/_observation_edit.html",
        {
            "observation": observation,
            "content": content,
            "error": error,
            "action": reverse("conversations:observation_edit", args=[store.pk, profile_id, observation.pk]),
        },
        title="Edit observation",
    )


@store_view(write=True)
@require_http_methods(["GET", "POST"])
def observation_delete(request, store, profile_id, observation_id):
    """Delete an observation, after a confirmation naming it; its row leaves the profile page."""
    observation = _observation_or_404(store, profile_id, observation_id)
    if request.method == "POST":
        pk = observation.pk
        memory_services.observation_delete(observation=observation, actor=request.user)
        return sheet_done(
            request,
            message="Deleted the observation.",
            redirect_to=reverse("profiles:detail", args=[store.pk, profile_id]),
            fragment="conversations/_observation_gone.html",
            context={"pk": pk},
        )
    return render_sheet(
        request,
        "conversations/_observation_delete.html",
        {
            "observation": observation,
            "revisions": observation.revisions.count(),
            "action": reverse("conversations:observation_delete", args=[store.pk, profile_id, observation.pk]),
        },
        title="Delete observation",
    )


@store_view(write=True)
@require_http_methods(["GET", "POST"])
def extraction_rerun(request, store, conversation_id):
    """GET: the dry run (nothing written). POST: apply the dry run whose fingerprint the form
    carries, processed at once; if the run would differ now (the profile changed meanwhile),
    nothing is written and the new dry run is shown with a note."""
    conversation = conversation_get(store=store, conversation_id=conversation_id)
    if conversation is None:
        raise Http404("No such conversation in this memory store.")
    page = reverse("conversations:conversation", args=[store.pk, conversation.pk])
    error = ""
    if request.method == "POST":
        try:
            done = memory_services.extraction_rerun(
                conversation=conversation, actor=request.user, fingerprint=request.POST.get("fingerprint", "")
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            counts = {a: done.decisions.filter(action=a).count() for a in ("added", "updated", "discarded")}
            messages.success(
                request,
                f"Re-ran memory extraction: {counts['added']} added, {counts['updated']} updated, "
                f"{counts['discarded']} discarded.",
            )
            return HttpResponseClientRedirect(page) if request.htmx else redirect(page)
    problem, rows, notes = "", [], []
    try:
        rows = memory_services.extraction_preview(conversation=conversation, notes=notes)
    except ValidationError as exc:
        problem = " ".join(exc.messages)
    return render_sheet(
        request,
        "conversations/_extraction_rerun.html",
        {
            "conversation": conversation,
            "rows": rows,
            "counts": {a: sum(1 for r in rows if r.action == a) for a in ("added", "updated", "discarded")},
            "fingerprint": memory_services.preview_fingerprint(rows),
            "problem": problem,
            "error": error,
            "notes": notes,
            "action": reverse("conversations:extraction_rerun", args=[store.pk, conversation.pk]),
            "back": page,
        },
        title="Re-run memory extraction",
    )
