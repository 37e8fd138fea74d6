from django.db import models

from stores.models import Store

from .lifecycle import Channel, Grouping, Lifecycle


class ConversationConfiguration(models.Model):
    """How a store captures conversations: lifecycle, timeout, grouping, observations, and (as
    `CaptureRule`s) the business addresses whose traffic it takes. Written by
    `conversations.services`; the rules are in `conversations.lifecycle` and `.capture`."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="conversation_configurations")
    name = models.CharField(max_length=64)  # at most 32 characters (the seed's friendly name), checked on save
    description = models.CharField(max_length=500, blank=True)
    lifecycle = models.CharField(max_length=16, choices=Lifecycle.choices, default=Lifecycle.BASIC)
    inactivity_minutes = models.PositiveIntegerField(null=True, blank=True)  # Open -> Inactive (INACTIVE only)
    timeout_minutes = models.PositiveIntegerField(null=True, blank=True)  # None: the channels' defaults
    grouping = models.CharField(max_length=24, choices=Grouping.choices, default=Grouping.ADDRESSES_CHANNEL)
    observations_enabled = models.BooleanField(default=False)  # off by default, as in the product
    # The Twilio account's auth token, which signs its webhooks (X-Twilio-Signature) to the
    # addresses this configuration captures; set with `twilio_auth_token_set`, never shown again.
    twilio_auth_token = models.CharField(max_length=128, blank=True, default="")
    # Status callbacks (`conversations.callbacks`): up to 20 http(s) URLs that get each conversation
    # and communication event, signed with the secret (made when the first URL is set, shown once).
    status_callback_urls = models.JSONField(default=list, blank=True)
    status_callback_secret = models.CharField(max_length=128, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def twilio_auth_token_hint(self) -> str:
        """The Twilio auth token's last four characters ("…ab12"), as the console and the API show
        it; "" while none is set."""
        return f"…{self.twilio_auth_token[-4:]}" if self.twilio_auth_token else ""


class CaptureRule(models.Model):
    """One channel and address pattern a configuration captures (`conversations.capture`). A pattern
    belongs to at most one configuration of a store."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    configuration = models.ForeignKey(ConversationConfiguration, on_delete=models.CASCADE, related_name="captures")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    pattern = models.CharField(max_length=255)

    class Meta:
        ordering = ["channel", "pattern"]
        constraints = [
            models.UniqueConstraint(fields=["store", "channel", "pattern"], name="capture_once_per_store"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.pattern}"


class ConversationStatus(models.TextChoices):
    OPEN = "open", "Open"
    INACTIVE = "inactive", "Inactive"
    CLOSED = "closed", "Closed"


class Direction(models.TextChoices):
    INBOUND = "inbound", "From the customer"
    OUTBOUND = "outbound", "To the customer"


class Conversation(models.Model):
    """Communications between one customer and the business, grouped by the configuration's rule
    (`group_key`), from Open through (Inactive) to Closed. Closed is final: the next communication
    of the group opens a new conversation."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    configuration = models.ForeignKey(ConversationConfiguration, on_delete=models.CASCADE, related_name="conversations")
    status = models.CharField(max_length=16, choices=ConversationStatus.choices, default=ConversationStatus.OPEN)
    channel = models.CharField(max_length=16, choices=Channel.choices)  # of the first communication
    customer_address = models.CharField(max_length=255)
    business_address = models.CharField(max_length=255)
    group_key = models.CharField(max_length=600)
    profile = models.ForeignKey("profiles.Profile", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    opened_at = models.DateTimeField()
    last_customer_at = models.DateTimeField(null=True, blank=True)  # the timeouts count from here
    inactive_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Twilio Conversations' own id (CH...) when the conversation came through its webhooks.
    twilio_conversation_sid = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            # One conversation of a group is not closed at a time: two first messages racing
            # cannot open two (the loser joins the winner's).
            models.UniqueConstraint(
                fields=["store", "group_key"],
                condition=~models.Q(status="closed"),
                name="one_live_conversation_per_group",
            ),
        ]
        indexes = [
            # The lifecycle worker's every-minute pass reads live conversations by configuration and
            # channel; closed ones (most of them, in time) stay out of this index.
            models.Index(
                fields=["configuration", "channel"],
                condition=models.Q(status__in=["open", "inactive"]),
                name="conversation_live",
            ),
            # Twilio Conversations' messages find their conversation by its SID (only those have one).
            models.Index(
                fields=["twilio_conversation_sid"],
                condition=~models.Q(twilio_conversation_sid=""),
                name="conversation_twilio_sid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.customer_address} ({self.status})"


class Communication(models.Model):
    """One message or call of a conversation, as received (the body exactly as sent, in NFC)."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="communications")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    direction = models.CharField(max_length=16, choices=Direction.choices)
    from_address = models.CharField(max_length=255)
    to_address = models.CharField(max_length=255)
    author_name = models.CharField(max_length=255, blank=True, default="")
    body = models.TextField(blank=True, default="")
    media = models.JSONField(default=list, blank=True)  # URLs, in order
    external_id = models.CharField(max_length=255, blank=True, default="")  # MessageSid or the sender's id
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        constraints = [
            # A redelivered message (same external id) is stored once, also when deliveries race.
            models.UniqueConstraint(
                fields=["store", "external_id"], condition=~models.Q(external_id=""), name="communication_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.channel} at {self.occurred_at:%Y-%m-%d %H:%M}"


class LifecycleEventKind(models.TextChoices):
    OPENED = "opened", "Opened"
    INACTIVE = "inactive", "Inactive"
    REOPENED = "reopened", "Reopened"
    CLOSED = "closed", "Closed"


class LifecycleEvent(models.Model):
    """One step of a conversation's lifecycle history (Open -> (Inactive) -> Closed, reopenings
    included), with when and why, as the conversation page and the API show it."""

    # No database constraint on the store: the conversation's implies it, and the lifecycle pass
    # writes these by the thousand (a constraint check each at commit); a store's delete removes them.
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="history")
    kind = models.CharField(max_length=16, choices=LifecycleEventKind.choices)
    at = models.DateTimeField()
    reason = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} at {self.at:%Y-%m-%d %H:%M}"


class ExtractionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ExtractionRequest(models.Model):
    """Memory extraction asked for a conversation when it went Inactive or Closed with observations
    on: over its communications up to `last_communication_id` not covered by an earlier request
    (`after_communication_id`), once per transition. The worker processes each one
    (`conversations.memory.extraction_process`) into observations and, for Closed, a summary."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+", db_constraint=False)  # as history's
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="extractions")
    transition = models.CharField(max_length=16, choices=ConversationStatus.choices)  # inactive or closed
    after_communication_id = models.BigIntegerField(default=0)
    last_communication_id = models.BigIntegerField()
    requested_at = models.DateTimeField()
    # Processed by the worker (`conversations.memory.extraction_process`): done (with a note when
    # there was nothing to do, e.g. "No customer messages") or failed (the note says why).
    status = models.CharField(max_length=16, choices=ExtractionStatus.choices, default=ExtractionStatus.PENDING)
    processed_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=500, blank=True, default="")
    # Who re-ran extraction over the whole conversation from the console or the API
    # (`conversations.memory_services.extraction_rerun`); "" for the lifecycle's requests. A database
    # default too: the lifecycle pass inserts its requests in raw SQL without this column.
    requested_by = models.CharField(max_length=254, blank=True, default="", db_default="")

    class Meta:
        ordering = ["requested_at", "id"]
        constraints = [
            # Never twice over the same communications (a reopened conversation's earlier ones);
            # a re-run asked for by someone covers them again on purpose.
            models.UniqueConstraint(
                fields=["conversation", "transition", "last_communication_id"],
                condition=models.Q(requested_by=""),
                name="extraction_once",
            ),
        ]
        indexes = [  # the worker's sweep: pending requests, oldest first
            models.Index(fields=["id"], condition=models.Q(status="pending"), name="extraction_pending"),
        ]

    def __str__(self) -> str:
        return f"extraction of {self.conversation_id} ({self.transition})"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class CallbackDelivery(models.Model):
    """One status callback event to one of a configuration's URLs, and its outcome so far: sent by
    the worker (`conversations.callbacks.status_callbacks_send`) until a 2xx answer, with backoff
    between attempts, `failed` after the last. `body` is the JSON exactly as signed and sent."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    configuration = models.ForeignKey(ConversationConfiguration, on_delete=models.CASCADE, related_name="deliveries")
    url = models.CharField(max_length=2048)
    event_type = models.CharField(max_length=32)
    body = models.TextField()
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)  # pending only
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # The sender's sweep: due pending deliveries, oldest first.
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=models.Q(status="pending"),
                name="callback_delivery_due",
            ),
            models.Index(fields=["configuration", "-id"], name="callback_delivery_latest"),
            # The prune (per-minute schedule): finished deliveries older than 30 days, oldest first.
            models.Index(
                fields=["created_at"],
                condition=models.Q(status__in=["delivered", "failed"]),
                name="callback_delivery_finished",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} to {self.url} ({self.status})"


# -- memory: what the worker draws from conversations (issue 17) -------------------------------


class ObservationKind(models.TextChoices):
    PREFERENCE = "preference", "Preference"
    PLAN = "plan", "Plan"
    IDENTITY = "identity", "Identity"
    PROBLEM = "problem", "Problem"
    CONSTRAINT = "constraint", "Constraint"


class Observation(models.Model):
    """A short statement about a customer, drawn from their conversations by an extractor
    (`source`, `source_version`) and kept current by reconciliation: `content` is the latest
    statement, `evidence` the customer messages that support it, `revisions` every content it
    has had (the first one included). Follows its profile into a merge; goes with it."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    profile = models.ForeignKey("profiles.Profile", on_delete=models.CASCADE, related_name="+")
    content = models.TextField()  # at most 4,096 characters, NFC (`memory_console.text.text_clean`)
    kind = models.CharField(max_length=16, choices=ObservationKind.choices)
    subject = models.CharField(max_length=32, blank=True, default="")
    source = models.CharField(max_length=32)
    source_version = models.CharField(max_length=16, blank=True, default="")
    occurred_at = models.DateTimeField()
    evidence = models.ManyToManyField(Communication, related_name="+", blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    # Recall (conversations.recall): how often an answer returned it and when last; the product's
    # limit prunes the least recalled, then the oldest, first (conversations.memory._limits_keep).
    recall_count = models.PositiveIntegerField(default=0)
    last_recalled_at = models.DateTimeField(null=True, blank=True)
    # Semantic recall (conversations.embeddings), only with an embeddings endpoint configured: the
    # content's vector as little-endian float32, scaled to length 1, by `embedding_model`; current
    # while `embedded_at` >= `updated_at` (an update of the content makes it stale until re-embedded).
    embedding = models.BinaryField(null=True, blank=True, editable=False)
    embedding_model = models.CharField(max_length=100, blank=True, default="")
    embedded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [
            models.Index(fields=["profile", "created_at", "id"], name="observation_profile_oldest"),
            # Recall without a query: a profile's most recent first (conversations.recall).
            models.Index(fields=["profile", "-occurred_at", "-id"], name="observation_profile_recent"),
            # Recall by meaning: a profile's observations of the subjects a query asks about, newest first.
            models.Index(fields=["profile", "subject", "-occurred_at", "-id"], name="observation_profile_subject"),
        ]

    def __str__(self) -> str:
        return self.content[:60]


class RevisionDecision(models.TextChoices):
    ADDED = "added", "Added"
    UPDATED = "updated", "Updated"
    EDITED = "edited", "Edited"  # by a person (`actor`), in the console or through the API


class ObservationRevision(models.Model):
    """One content an observation has had: when, why (the decision and its reason) and on what
    evidence. The latest is the observation's current content."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    observation = models.ForeignKey(Observation, on_delete=models.CASCADE, related_name="revisions")
    content = models.TextField()
    at = models.DateTimeField()
    decision = models.CharField(max_length=16, choices=RevisionDecision.choices)
    reason = models.CharField(max_length=500, blank=True, default="")
    # Who made an edited revision, as the audit trail names them (an email, API key “NAME”); "" for
    # the extractor's.
    actor = models.CharField(max_length=254, blank=True, default="")
    evidence = models.ManyToManyField(Communication, related_name="+", blank=True)

    class Meta:
        ordering = ["observation", "-id"]

    def __str__(self) -> str:
        return f"{self.decision}: {self.content[:60]}"


class Summary(models.Model):
    """A closed conversation in short: why the customer got in touch, how it ended, what is still
    open. One per conversation (a transcript that joins later rewrites it)."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    profile = models.ForeignKey("profiles.Profile", on_delete=models.CASCADE, related_name="+")
    conversation = models.OneToOneField(Conversation, on_delete=models.CASCADE, related_name="summary")
    reason = models.TextField(blank=True, default="")
    outcome = models.TextField(blank=True, default="")
    follow_ups = models.JSONField(default=list, blank=True)
    content = models.TextField()
    source = models.CharField(max_length=32)
    evidence = models.ManyToManyField(Communication, related_name="+", blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["profile", "created_at", "id"], name="summary_profile_oldest")]

    def __str__(self) -> str:
        return f"summary of {self.conversation_id}"


class DecisionAction(models.TextChoices):
    ADDED = "added", "Added"
    UPDATED = "updated", "Updated"
    DISCARDED = "discarded", "Discarded"


class ExtractionDecision(models.Model):
    """What reconciliation did with one candidate of an extraction request, and why (one line):
    discards are kept here too, so every candidate can be accounted for."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    request = models.ForeignKey(ExtractionRequest, on_delete=models.CASCADE, related_name="decisions")
    action = models.CharField(max_length=16, choices=DecisionAction.choices)
    reason = models.CharField(max_length=500)
    content = models.TextField()
    kind = models.CharField(max_length=16, choices=ObservationKind.choices)
    observation = models.ForeignKey(Observation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField()

    class Meta:
        ordering = ["request", "id"]

    def __str__(self) -> str:
        return f"{self.action}: {self.content[:60]}"
