from django.urls import path

from . import views

app_name = "identity"

urlpatterns = [
    path("stores/<int:store_id>/identifiers/", views.identifier_list, name="list"),
    path("stores/<int:store_id>/identifiers/rules/new/", views.rule_create, name="rule_create"),
    path("stores/<int:store_id>/identifiers/priority/", views.priority_edit, name="priority"),
    path("stores/<int:store_id>/identifiers/rules/<int:rule_id>/edit/", views.rule_edit, name="rule_edit"),
    path("stores/<int:store_id>/identifiers/rules/<int:rule_id>/delete/", views.rule_delete, name="rule_delete"),
]
