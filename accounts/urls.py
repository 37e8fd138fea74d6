from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("members/", views.members, name="members"),
    path("members/new/", views.member_create, name="member_create"),
    path("members/<int:membership_id>/role/", views.member_role, name="member_role"),
    path("members/<int:membership_id>/remove/", views.member_remove, name="member_remove"),
    path("activity/", views.activity, name="activity"),
    path("api-keys/", views.api_keys, name="api_keys"),
    path("api-keys/new/", views.api_key_create, name="api_key_create"),
    path("api-keys/<int:key_id>/revoke/", views.api_key_revoke, name="api_key_revoke"),
]
