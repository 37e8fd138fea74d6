"""Conversation lifecycle settings: channels, the seed's default timeouts and the effective timeout.

Source: the seed (../shared/seed/conversation-memory-getting-started.txt, "Configure lifecycle"):
conversations move Open -> Closed (*Basic*) or Open -> Inactive -> Closed (*Include "inactive"
state*: no active traffic, but can be reopened). The conversation timeout is how long after the
last customer communication a conversation moves to Closed; without one the defaults apply: "If you
set up one conversation channel, Twilio applies the default for that channel. If you set up two or
more conversation channels, Twilio applies the longest conversation timeout to all channels." The
per-channel defaults (issue 16): SMS, RCS, WhatsApp and Chat 15 minutes; Voice closes when the call
ends (no timeout of its own).
"""

from dataclasses import dataclass

from django.db import models


class Channel(models.TextChoices):
    SMS = "sms", "SMS"
    RCS = "rcs", "RCS"
    WHATSAPP = "whatsapp", "WhatsApp"
    VOICE = "voice", "Voice"
    CHAT = "chat", "Chat"


class Lifecycle(models.TextChoices):
    BASIC = "basic", "Basic (Open → Closed)"
    INACTIVE = "inactive", "Include “inactive” state (Open → Inactive → Closed)"


class Grouping(models.TextChoices):
    ADDRESSES_CHANNEL = "addresses_channel", "By addresses and channel"
    ADDRESSES = "addresses", "By addresses"
    PROFILE = "profile", "By profile"


# Minutes after the last customer communication; None: the conversation closes when the call ends.
DEFAULT_TIMEOUT_MINUTES: dict[str, int | None] = {
    Channel.SMS: 15,
    Channel.RCS: 15,
    Channel.WHATSAPP: 15,
    Channel.CHAT: 15,
    Channel.VOICE: None,
}
MAX_MINUTES = 30 * 24 * 60  # 30 days: the longest timeout or inactivity period a configuration takes
# A Voice conversation's timers wait this long at least: a call lasts up to 4 hours (Twilio's
# longest call, its default time limit) and sends nothing while it lasts; its end closes it.
CALL_MAX_MINUTES = 4 * 60
CALL_NOTE = "; a call in progress is not timed out (its end closes it; at most 4 hours)"


@dataclass(frozen=True)
class Timeout:
    """A channel's effective timeout: `minutes` after the last customer communication, or None when
    the conversation closes as the call ends; `why` says which rule gave it, for the console."""

    minutes: int | None
    why: str

    @property
    def text(self) -> str:
        return "when the call ends" if self.minutes is None else f"{self.minutes:,} min"


def effective_timeouts(*, channels, timeout_minutes: int | None) -> dict[str, Timeout]:
    """{channel: Timeout} for the configuration's channels (in Channel order).

    A set `timeout_minutes` applies to every channel. Otherwise each channel's default, except that
    with two or more channels the longest default (in minutes) applies to all of them, Voice too.
    A Voice conversation's timer never runs out during a call: `conversations_advance` waits
    `CALL_MAX_MINUTES` at least (`CALL_NOTE` says so).
    """
    ordered = [channel for channel in Channel.values if channel in set(channels)]
    if timeout_minutes is not None:
        return {
            channel: Timeout(timeout_minutes, "the timeout you set" + (CALL_NOTE if channel == Channel.VOICE else ""))
            for channel in ordered
        }
    if len(ordered) == 1:
        channel = ordered[0]
        label = Channel(channel).label
        return {channel: Timeout(DEFAULT_TIMEOUT_MINUTES[channel], f"the default for {label}")}
    longest = max((DEFAULT_TIMEOUT_MINUTES[c] for c in ordered if DEFAULT_TIMEOUT_MINUTES[c] is not None), default=None)
    why = "the longest default of your channels, applied to all of them"
    return {channel: Timeout(longest, why + (CALL_NOTE if channel == Channel.VOICE else "")) for channel in ordered}
