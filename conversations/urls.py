from django.urls import path

from . import memory_views, views

app_name = "conversations"

BASE = "stores/<int:store_id>/conversation-configurations/"

urlpatterns = [
    path(BASE, views.configuration_list_view, name="list"),
    path(f"{BASE}new/", views.configuration_create, name="create"),
    path(f"{BASE}<int:configuration_id>/", views.configuration_detail, name="detail"),
    path(f"{BASE}<int:configuration_id>/edit/", views.configuration_edit, name="edit"),
    path(f"{BASE}<int:configuration_id>/delete/", views.configuration_delete, name="delete"),
    path(f"{BASE}<int:configuration_id>/twilio-auth-token/", views.configuration_twilio_token, name="twilio_token"),
    path(
        f"{BASE}<int:configuration_id>/status-callback-secret/",
        views.configuration_callback_secret,
        name="callback_secret",
    ),
    path("stores/<int:store_id>/conversations/", views.conversation_list, name="conversations"),
    path("stores/<int:store_id>/conversations/<int:conversation_id>/", views.conversation_detail, name="conversation"),
    # Conversational memory (conversations.memory_views): observations edited or deleted, extraction re-run.
    path(
        "stores/<int:store_id>/conversations/<int:conversation_id>/extraction-rerun/",
        memory_views.extraction_rerun,
        name="extraction_rerun",
    ),
    path(
        "stores/<int:store_id>/profiles/<int:profile_id>/observations/<int:observation_id>/edit/",
        memory_views.observation_edit,
        name="observation_edit",
    ),
    path(
        "stores/<int:store_id>/profiles/<int:profile_id>/observations/<int:observation_id>/delete/",
        memory_views.observation_delete,
        name="observation_delete",
    ),
    path("stores/<int:store_id>/profiles/<int:profile_id>/recall/", views.recall_preview, name="recall_preview"),
]
