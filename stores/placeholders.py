from django.shortcuts import render


def coming_soon(request, *, section: str, title: str, lead: str, points: list[str]):
    """An honest empty state for a section a later release fills in."""
    return render(
        request,
        "coming_soon.html",
        {"section": section, "title": title, "lead": lead, "points": points},
    )
