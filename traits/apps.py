from django.apps import AppConfig


class TraitsConfig(AppConfig):
    name = "traits"
    verbose_name = "Traits and trait groups"
