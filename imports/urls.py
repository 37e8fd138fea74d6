from django.urls import path

from . import views

app_name = "imports"

urlpatterns = [
    path("stores/<int:store_id>/data-sources/", views.data_source_list, name="list"),
]
