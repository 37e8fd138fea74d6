from stores.access import store_view
from stores.placeholders import coming_soon


@store_view()
def configuration_list(request, store):
    return coming_soon(
        request,
        section="conversations",
        title="Conversation configurations",
        lead="Conversation configurations turn conversations into profiles and memories.",
        points=[
            "Choose a lifecycle (Open to Closed, optionally through Inactive) and timeout.",
            "Turn observations and summaries on or off.",
        ],
    )
