from django.urls import path

from . import views

app_name = "conversations"

urlpatterns = [
    path("stores/<int:store_id>/conversation-configurations/", views.configuration_list, name="list"),
]
