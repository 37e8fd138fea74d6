from stores.access import store_view
from stores.placeholders import coming_soon


@store_view()
def data_source_list(request, store):
    return coming_soon(
        request,
        section="data_sources",
        title="Data sources",
        lead="Add profiles from CSV files and see every upload's status and details.",
        points=[
            "Upload a CSV, map its columns to identifiers and traits, and follow the import's progress.",
            "See each file's rows ingested, failed rows and their reasons.",
        ],
    )
