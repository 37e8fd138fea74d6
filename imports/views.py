from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header, urlencode
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRefresh

from conversations.selectors import configuration_list
from identity.config import store_config
from memory_console.sheets import render_sheet
from stores.access import store_view

from . import services
from .csvfile import DOWNLOAD_COLUMNS, MAX_COLUMNS, MAX_ROWS, failed_rows_download, separator_label, template_csv
from .export import ExportQueryError, export_csv_lines
from .forms import MappingForm, UploadForm
from .mapping import MIN_TRAIT_COLUMNS, mapping_from_targets, suggest_targets, target_choices
from .models import ImportStatus
from .selectors import duration_text, import_get, import_list, import_progress, import_row_errors

LIST_PAGE_SIZE = 25
ROW_ERRORS_PAGE_SIZE = 50


def _import_or_404(store, import_id):
    profile_import = import_get(store=store, import_id=import_id)
    if profile_import is None:
        raise Http404("No such import in this memory store.")
    return profile_import


def _attachment(response, file_name: str):
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=file_name)
    return response


@store_view()
def data_source_list(request, store):
    page = Paginator(import_list(store=store), LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    configurations = configuration_list(store=store)  # the seed: Data sources > a configuration > Edit
    return render(request, "imports/list.html", {"page": page, "configurations": configurations})


@store_view()
def import_template(request, store):
    return _attachment(HttpResponse(template_csv(), content_type="text/csv; charset=utf-8"), "profiles-template.csv")


@store_view(write=True)
@require_http_methods(["GET", "POST"])
def import_upload(request, store):
    form = UploadForm(request.POST, request.FILES) if request.method == "POST" else UploadForm()
    errors = []
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            profile_import = services.import_upload(
                store=store, actor=request.user, file_name=upload.name, chunks=upload.chunks()
            )
        except ValidationError as exc:
            errors = exc.messages
        else:
            messages.success(
                request, f"{profile_import.file_name} passed the file checks: map its columns and click Complete."
            )
            return redirect("imports:mapping", store.pk, profile_import.pk)
    return render(
        request,
        "imports/upload.html",
        {
            "form": form,
            "errors": errors,
            "max_rows": MAX_ROWS,
            "max_columns": MAX_COLUMNS,
            "min_traits": MIN_TRAIT_COLUMNS,
        },
    )


@store_view(write=True)
@require_http_methods(["GET", "POST"])
def import_mapping(request, store, import_id):
    profile_import = _import_or_404(store, import_id)
    if profile_import.status != ImportStatus.MAPPING:
        messages.info(request, f"{profile_import.file_name} is already {profile_import.get_status_display().lower()}.")
        return redirect("imports:detail", store.pk, profile_import.pk)
    config = store_config(store=store)
    suggestions = suggest_targets(headers=profile_import.headers, rules=config.rules, schema=config.schema)
    if failed_rows_download(profile_import.headers):  # the download's own columns: not mapped unless chosen
        suggestions[-len(DOWNLOAD_COLUMNS) :] = [""] * len(DOWNLOAD_COLUMNS)
    form = MappingForm(
        request.POST if request.method == "POST" else None,
        headers=profile_import.headers,
        samples=profile_import.samples,
        choices=target_choices(rules=config.rules, schema=config.schema),
        suggestions=suggestions,
    )
    errors = []
    if request.method == "POST":
        if form.is_valid():
            try:
                mapping = mapping_from_targets(
                    headers=profile_import.headers, targets=form.targets(), schema=config.schema
                )
                profile_import = services.import_queue(
                    profile_import=profile_import, actor=request.user, mapping=mapping
                )
            except ValidationError as exc:
                errors = exc.messages
            else:
                messages.success(request, f"Importing {profile_import.file_name}: {len(mapping)} columns mapped.")
                return redirect("imports:detail", store.pk, profile_import.pk)
        else:
            errors = [f"{form.fields[name].label}: {' '.join(e)}" for name, e in form.errors.items()]
    context = {
        "profile_import": profile_import,
        "form": form,
        "errors": errors,
        "separator": separator_label(profile_import.delimiter),
    }
    return render(request, "imports/mapping.html", context)


@store_view(write=True)
@require_http_methods(["GET", "POST"])
def import_discard(request, store, import_id):
    """Cancel upload: a confirmation page without JavaScript, the discard itself on POST."""
    profile_import = _import_or_404(store, import_id)
    if request.method == "POST":
        try:
            services.import_discard(profile_import=profile_import, actor=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("imports:detail", store.pk, profile_import.pk)
        messages.success(request, f"Cancelled the upload of {profile_import.file_name}.")
        return redirect("imports:list", store.pk)
    if profile_import.status != ImportStatus.MAPPING:
        return redirect("imports:detail", store.pk, profile_import.pk)
    return render(request, "imports/discard.html", {"profile_import": profile_import})


@store_view(write=True)
@require_http_methods(["GET", "POST"])
def import_cancel(request, store, import_id):
    """Stop a queued or running import: GET asks for confirmation (in the side sheet, or as a page
    without JavaScript), POST cancels."""
    profile_import = _import_or_404(store, import_id)
    if request.method == "POST":
        if services.import_cancel(profile_import=profile_import, actor=request.user):
            messages.success(
                request, f"Cancelled the import of {profile_import.file_name}; nothing from the file stays applied."
            )
        else:
            profile_import.refresh_from_db()
            messages.error(request, _not_cancellable(profile_import))
        return redirect("imports:detail", store.pk, profile_import.pk)
    if not profile_import.is_active:  # it finished while the page was open: show it as it is now
        messages.info(request, _not_cancellable(profile_import))
        if request.htmx:
            return HttpResponseClientRefresh()
        return redirect("imports:detail", store.pk, profile_import.pk)
    return render_sheet(
        request,
        "imports/_cancel_confirm.html",
        {"profile_import": profile_import},
        title=f"Cancel the import of {profile_import.file_name}?",
    )


def _not_cancellable(profile_import) -> str:
    return (
        f"{profile_import.file_name} is {profile_import.get_status_display().lower()}: "
        "only a queued or running import can be cancelled."
    )


@store_view()
def import_detail(request, store, import_id):
    profile_import = _import_or_404(store, import_id)
    progress = import_progress(profile_import=profile_import)
    page = Paginator(import_row_errors(profile_import=profile_import), ROW_ERRORS_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    finished = not progress.active and profile_import.status != ImportStatus.MAPPING
    return render(
        request,
        "imports/detail.html",
        {
            "profile_import": profile_import,
            "progress": progress,
            "duration": duration_text(profile_import.duration),
            "page": page,
            # A cancelled import usually stopped before any row was checked: no empty "Failed rows" section.
            "show_row_errors": finished
            and (profile_import.status != ImportStatus.CANCELLED or page.paginator.count > 0),
        },
    )


@store_view()
def import_progress_partial(request, store, import_id):
    """Polled by the details page while it shows a queued or running import (`?state=active`, the
    default: the progress card), or a Cancelled or Failed one whose rows already written are being
    removed (`?state=undoing`: nothing changes, 204). Once the import is in another state the page
    reloads (HX-Refresh) to show it: the final numbers and the failed rows, or the undo."""
    profile_import = _import_or_404(store, import_id)
    if not request.htmx:
        return redirect("imports:detail", store.pk, profile_import.pk)
    progress = import_progress(profile_import=profile_import)
    shown = request.GET.get("state", "active")
    if progress.state != shown or progress.state == "done":
        return HttpResponseClientRefresh()
    if progress.state == "undoing":
        return HttpResponse(status=204)  # htmx swaps nothing and polls again
    return render(request, "imports/_progress.html", {"profile_import": profile_import, "progress": progress})


@store_view()
def import_failed_rows_csv(request, store, import_id):
    profile_import = _import_or_404(store, import_id)
    response = StreamingHttpResponse(
        services.import_failed_rows_csv(profile_import=profile_import), content_type="text/csv; charset=utf-8"
    )
    stem = profile_import.file_name.removesuffix(".csv")
    return _attachment(response, f"{stem}-failed-rows.csv")


@store_view()
def profiles_export_csv(request, store):
    """The Profiles page's Export CSV (Administrators and Support): every profile, or those the
    search ``q`` finds, streamed (`imports.export`). A search that cannot match goes back to the
    Profiles page, which says why."""
    q = request.GET.get("q", "")
    try:
        lines = export_csv_lines(store=store, q=q)
    except ExportQueryError as exc:
        messages.error(request, f"Nothing exported: {exc}")
        return redirect(f"{reverse('profiles:list', args=[store.pk])}?{urlencode({'q': q})}")
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    return _attachment(response, f"{store.name} profiles.csv" if not q else f"{store.name} profiles (search).csv")
