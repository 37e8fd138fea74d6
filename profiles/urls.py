from django.urls import path

from . import views

app_name = "profiles"

urlpatterns = [
    path("stores/<int:store_id>/profiles/", views.profile_list, name="list"),
    path("stores/<int:store_id>/profiles/<int:profile_id>/", views.profile_detail, name="detail"),
    path("stores/<int:store_id>/profiles/<int:profile_id>/delete/", views.profile_delete, name="delete"),
    path(
        "stores/<int:store_id>/profiles/<int:profile_id>/traits/<int:trait_id>/",
        views.trait_row,
        name="trait_row",
    ),
    path(
        "stores/<int:store_id>/profiles/<int:profile_id>/traits/<int:trait_id>/edit/",
        views.trait_edit,
        name="trait_edit",
    ),
]
