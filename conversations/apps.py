from django.apps import AppConfig
from django.db.models.signals import post_migrate

from memory_console.schedules import schedule_ensure

ADVANCE_SCHEDULE = "Move conversations through their lifecycle"


def _advance_schedule_ensure(sender, apps=None, using="default", **kwargs):
    """After every migrate (and flush): the schedule that runs the lifecycle worker every minute."""
    schedule_ensure(
        apps=apps, using=using, name=ADVANCE_SCHEDULE, func="conversations.tasks.conversations_advance_task", minutes=1
    )


CALLBACKS_SCHEDULE = "Send status callbacks that are due (retries)"


def _callbacks_schedule_ensure(sender, apps=None, using="default", **kwargs):
    """After every migrate (and flush): the schedule that sends due status callbacks every minute
    (new ones are sent at once by a task queued when they are written; this one retries)."""
    schedule_ensure(
        apps=apps,
        using=using,
        name=CALLBACKS_SCHEDULE,
        func="conversations.tasks.status_callbacks_send_task",
        minutes=1,
    )


EXTRACTION_SCHEDULE = "Process pending memory extraction requests"


def _extraction_schedule_ensure(sender, apps=None, using="default", **kwargs):
    """After every migrate (and flush): the schedule that sweeps pending extraction requests every
    minute (each request also gets a task queued when it is made; this one catches the rest)."""
    schedule_ensure(
        apps=apps, using=using, name=EXTRACTION_SCHEDULE, func="conversations.tasks.extraction_process_task", minutes=1
    )


class ConversationsConfig(AppConfig):
    name = "conversations"
    verbose_name = "Conversations"

    def ready(self):
        from profiles.services import profile_owned_register

        from .models import Conversation, Observation, Summary

        post_migrate.connect(_advance_schedule_ensure, sender=self, dispatch_uid="conversations.advance_schedule")
        post_migrate.connect(_callbacks_schedule_ensure, sender=self, dispatch_uid="conversations.callbacks_schedule")
        post_migrate.connect(_extraction_schedule_ensure, sender=self, dispatch_uid="conversations.extraction_schedule")
        # A conversation, and the memory drawn from it, follow its customer's profile into a merge.
        for model in (Conversation, Observation, Summary):
            profile_owned_register(model)
