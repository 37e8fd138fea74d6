from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from conversations.selectors import profile_conversations, profile_observations, profile_summaries
from identity.search import profile_search
from identity.selectors import profile_identifiers, profile_merges
from identity.services import profile_traits_identify
from memory_console.jsonvalues import dumps
from stores.access import store_view
from traits.selectors import trait_get
from workspace.services import profile_erase

from .forms import ProfileDeleteForm, TraitValueForm
from .selectors import profile_events, profile_get, profile_resolve, profile_trait_row, profile_trait_rows
from .services import Source


def _int_or_none(value):
    return int(value) if value and value.isdigit() else None


def _profile_or_404(store, profile_id):
    profile = profile_get(store=store, profile_id=profile_id)
    if profile is None:
        raise Http404("No such profile in this memory store.")
    return profile


@store_view()
def profile_list(request, store):
    q = request.GET.get("q", "")
    page = profile_search(
        store=store, q=q, after=_int_or_none(request.GET.get("after")), before=_int_or_none(request.GET.get("before"))
    )
    template = "profiles/_results.html" if request.htmx else "profiles/list.html"
    return render(request, template, {"page": page, "q": q})


@store_view()
def profile_detail(request, store, profile_id):
    profile = _profile_or_404(store, profile_id)
    if profile.merged_into_id:
        live = profile_resolve(store=store, profile_id=profile.pk)
        messages.info(request, f"Profile #{profile.pk} was merged into profile #{live.pk}.")
        return redirect("profiles:detail", store.pk, live.pk)
    return render(
        request,
        "profiles/detail.html",
        {
            "profile": profile,
            "groups": profile_trait_rows(profile=profile),
            "identifiers": profile_identifiers(profile=profile),
            "events": profile_events(profile=profile),
            "merges": profile_merges(profile=profile),
            "conversations": profile_conversations(profile=profile),
            "observations": profile_observations(profile=profile),
            "summaries": profile_summaries(profile=profile),
        },
    )


@store_view(write=True)
@require_http_methods(["GET", "POST"])
def profile_delete(request, store, profile_id):
    """Administrators only: erase a profile after typing its id; a merged-away id goes to its primary."""
    profile = _profile_or_404(store, profile_id)
    if profile.merged_into_id:
        return redirect("profiles:delete", store.pk, profile_resolve(store=store, profile_id=profile.pk).pk)
    form = ProfileDeleteForm(request.POST if request.method == "POST" else None, profile_id=profile.pk)
    if request.method == "POST" and form.is_valid():
        receipt = profile_erase(profile=profile, actor=request.user)
        removed = ", ".join(f"{n:,} {kind.replace('_', ' ')}" for kind, n in receipt.counts.items() if n)
        messages.success(
            request,
            f"Deleted profile #{receipt.profile_id} at {receipt.deleted_at:%Y-%m-%d %H:%M:%S} UTC: removed {removed}. "
            "The receipt is kept on the Activity page.",
        )
        return redirect("profiles:list", store.pk)
    return render(
        request,
        "profiles/delete.html",
        {
            "form": form,
            "profile": profile,
            "identifier_count": len(profile_identifiers(profile=profile)),
            "observation_count": len(profile_observations(profile=profile)),
            "summary_count": len(profile_summaries(profile=profile)),
        },
    )


def _edit_value(value) -> str:
    """A stored value as the edit box holds it, so that saving it unchanged changes nothing: the
    trait rule (`traits.coercion`) reads this text back as the same value. Arrays as JSON (an item
    ``a;b`` stays one item; numbers keep their type and every digit), booleans as true/false,
    numbers with every digit."""
    if isinstance(value, list | tuple):
        return dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


@store_view(write=True)
@require_http_methods(["GET", "POST"])
def trait_edit(request, store, profile_id, trait_id):
    """Inline edit of one trait value (htmx swaps the row); a plain page without JavaScript."""
    profile = _profile_or_404(store, profile_id)
    trait = trait_get(store=store, trait_id=trait_id)
    if trait is None:
        raise Http404("No such trait in this memory store.")
    row = profile_trait_row(profile=profile, trait=trait)
    multiline = isinstance(row.value, str) and ("\n" in row.value or "\r" in row.value)
    if request.method == "POST":
        form = TraitValueForm(request.POST, multiline=multiline)
        if form.is_valid():
            value = form.cleaned_data["value"]
            if multiline and _same_lines(value, row.value):
                value = row.value  # a browser sends every line break of a text area as CR LF: not a change
            try:
                _, identity = profile_traits_identify(
                    profile=profile,
                    values={trait.group.name: {trait.name: value}},
                    source=Source.user(request.user),
                )
            except ValidationError as exc:
                form.add_error("value", exc)
            else:
                for kind, value in identity.added:
                    messages.success(request, f"{kind} {value} now identifies this profile (mapped trait).")
                for note in identity.dropped + identity.ignored:
                    messages.warning(request, f"{note.kind} {note.value} {note.message()}.")
                if identity.added or identity.dropped or identity.ignored:
                    # The identifiers card changed too: show the whole page again.
                    url = reverse("profiles:detail", args=[store.pk, profile.pk])
                    if request.htmx:
                        return HttpResponseClientRedirect(url)
                    return redirect(url)
                if request.htmx:
                    row = profile_trait_row(profile=profile, trait=trait)
                    return render(request, "profiles/_trait_row.html", {"row": row, "profile": profile})
                return redirect("profiles:detail", store.pk, profile.pk)
    else:
        form = TraitValueForm(initial={"value": _edit_value(row.value) if row.has_value else ""}, multiline=multiline)
    if trait.data_type == "array":
        form.fields["value"].widget.attrs["data-token-list"] = trait.name  # console.js: a token list
    template = "profiles/_trait_edit_row.html" if request.htmx else "profiles/trait_edit.html"
    return render(request, template, {"row": row, "profile": profile, "form": form, "multiline": multiline})


def _same_lines(submitted: str, stored: str) -> bool:
    return submitted.replace("\r\n", "\n").replace("\r", "\n") == stored.replace("\r\n", "\n").replace("\r", "\n")


@store_view()
def trait_row(request, store, profile_id, trait_id):
    """The read-only row again (Cancel in the inline editor)."""
    profile = _profile_or_404(store, profile_id)
    trait = trait_get(store=store, trait_id=trait_id)
    if trait is None:
        raise Http404("No such trait in this memory store.")
    return render(
        request,
        "profiles/_trait_row.html",
        {"row": profile_trait_row(profile=profile, trait=trait), "profile": profile},
    )
