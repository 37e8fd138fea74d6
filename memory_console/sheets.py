"""Side sheets: forms that open beside the page through htmx and still work as plain pages.

A sheet view renders its partial into ``#side-sheet-body`` for an htmx request and the same
partial inside a full page (``sheet_page.html``) otherwise. On success it answers htmx with
out-of-band fragments (the section that changed, the messages) and an ``HX-Trigger`` that closes
the sheet; without htmx it redirects, as a plain form does.
"""

from django.contrib import messages
from django.shortcuts import redirect, render


def render_sheet(request, template: str, context: dict, *, title: str):
    """Validation errors answer 200 too: htmx 2 does not swap 4xx responses into the sheet."""
    context = {**context, "sheet_title": title}
    if request.htmx:
        return render(request, template, {**context, "as_sheet": True})
    return render(request, "sheet_page.html", {**context, "sheet_template": template})


def sheet_done(request, *, message: str, redirect_to: str, fragment: str | None = None, context: dict | None = None):
    messages.success(request, message)
    if not request.htmx:
        return redirect(redirect_to)
    response = render(request, "sheet_done.html", {**(context or {}), "fragment": fragment, "oob": True})
    response["HX-Trigger"] = "sheet:close"
    response["HX-Reswap"] = "none"  # keep the sheet's content while it slides away; oob swaps still apply
    return response
