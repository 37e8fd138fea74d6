from django.urls import path

from . import views

app_name = "imports"

prefix = "stores/<int:store_id>/data-sources/"
urlpatterns = [
    path(prefix, views.data_source_list, name="list"),
    path(f"{prefix}csv/upload/", views.import_upload, name="upload"),
    path(f"{prefix}csv/template.csv", views.import_template, name="template"),
    path(f"{prefix}csv/<int:import_id>/", views.import_detail, name="detail"),
    path(f"{prefix}csv/<int:import_id>/mapping/", views.import_mapping, name="mapping"),
    path(f"{prefix}csv/<int:import_id>/discard/", views.import_discard, name="discard"),
    path(f"{prefix}csv/<int:import_id>/cancel/", views.import_cancel, name="cancel"),
    path(f"{prefix}csv/<int:import_id>/progress/", views.import_progress_partial, name="progress"),
    path("stores/<int:store_id>/profiles/export.csv", views.profiles_export_csv, name="profiles_export"),
    path(f"{prefix}csv/<int:import_id>/failed-rows.csv", views.import_failed_rows_csv, name="failed_rows_csv"),
]
