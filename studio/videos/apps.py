from django.apps import AppConfig
from django.db.models.signals import post_migrate


class VideosConfig(AppConfig):
    name = "studio.videos"
    verbose_name = "Videos"

    def ready(self) -> None:
        post_migrate.connect(_ensure_search_index, sender=self)


def _ensure_search_index(sender, using: str = "default", **kwargs) -> None:
    """Put back the prompt search's triggers when a migration rebuilt the table (SQLite drops them with it)."""
    from django.db import connections

    from studio.videos import search

    search.ensure_index(connections[using])
