"""Embed every observation without a current vector (never embedded, updated since, or embedded
by another model) for semantic recall, with the endpoint of MEMORY_EMBEDDINGS_BASE_URL and
MEMORY_EMBEDDINGS_MODEL (conversations.embeddings). Safe to run again: it does only what is left."""

from django.core.management.base import BaseCommand, CommandError

from conversations.embeddings import embeddings_config, observations_embed_pending


class Command(BaseCommand):
    help = "Embed the observations that have no current embedding (semantic recall)."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=0, help="At most this many (default: all).")

    def handle(self, *args, limit: int, **options):
        if embeddings_config() is None:
            raise CommandError("Set MEMORY_EMBEDDINGS_BASE_URL and MEMORY_EMBEDDINGS_MODEL to turn embeddings on.")
        total, step = 0, 2000
        while not limit or total < limit:
            counts = observations_embed_pending(limit=min(step, limit - total) if limit else step)
            total += counts["embedded"]
            if counts["error"]:
                raise CommandError(f"Embedded {total:,} observations, then the endpoint failed: {counts['error']}")
            if counts["embedded"] == 0:
                break
        self.stdout.write(f"Embedded {total:,} observations.")
