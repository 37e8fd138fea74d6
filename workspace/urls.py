from django.urls import path

from . import views

app_name = "stores"  # the store pages keep their names: stores:overview, stores:edit, ...

urlpatterns = [
    path("overview/", views.get_started, name="get_started"),
    path("stores/new/", views.store_create, name="create"),
    path("stores/<int:store_id>/", views.overview, name="overview"),
    path("stores/<int:store_id>/settings/", views.settings_view, name="settings"),
    path("stores/<int:store_id>/settings/edit/", views.settings_edit, name="edit"),
    path("stores/<int:store_id>/settings/delete/", views.store_delete, name="delete"),
]
