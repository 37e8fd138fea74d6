from django.urls import path

from . import views

app_name = "traits"

urlpatterns = [
    path("stores/<int:store_id>/traits/", views.trait_list, name="list"),
    path("stores/<int:store_id>/traits/groups/new/", views.group_create, name="group_create"),
    path("stores/<int:store_id>/traits/groups/<int:group_id>/delete/", views.group_delete, name="group_delete"),
    path("stores/<int:store_id>/traits/groups/<int:group_id>/traits/new/", views.trait_create, name="trait_create"),
    path("stores/<int:store_id>/traits/<int:trait_id>/delete/", views.trait_delete, name="trait_delete"),
]
