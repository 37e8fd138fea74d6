from django.apps import AppConfig
from django.db.backends.signals import connection_created


def _register_sqlite_functions(sender, connection, **kwargs):
    """SQLite has no unaccent: the name search's ``mc_fold`` is `identity.search.fold_name`."""
    if connection.vendor == "sqlite":
        from .search import fold_name

        connection.connection.create_function("mc_fold", 1, fold_name, deterministic=True)


class IdentityConfig(AppConfig):
    name = "identity"
    verbose_name = "Identity resolution"

    def ready(self):
        connection_created.connect(_register_sqlite_functions, dispatch_uid="identity_sqlite_mc_fold")
