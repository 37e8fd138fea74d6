"""The built-in extractor's conversation summary (issue 17): why the customer got in touch, how it
ended, what is still to happen, as an agent reading the profile later would need them.

Plain functions: no database, no network. The phrasings are not from the labelled set.
"""

from datetime import UTC, datetime, timedelta

from conversations.extraction import BuiltinExtractor, Message, SummaryDraft
from conversations.extraction.evaluate import SUMMARY_MATCH, field_match, summary_words

FRIDAY = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)


def summarize(*turns, at=FRIDAY) -> SummaryDraft | None:
    messages = [Message(i, role, text, at + timedelta(minutes=i - 1), "sms") for i, (role, text) in enumerate(turns, 1)]
    return BuiltinExtractor().extract(messages)[1]


def test_the_reason_is_the_request_not_the_preamble_or_an_account_detail():
    summary = summarize(
        ("agent", "Thanks for calling Brightline, can I take your account number?"),
        ("customer", "Yeah, it's 55120 dash 7."),
        ("customer", "Hi, this is Dana Reyes. I'm the office manager at a dental clinic, we have 12 staff."),
        ("customer", "I'm calling because I need to add two users to our plan."),
        ("agent", "I've added two seats to your plan."),
    )
    assert summary.reason == "Add two users to our plan."
    assert summary.outcome == "Added two seats to the plan."


def test_a_problem_is_a_reason_and_a_request_made_with_can_you_is_not_left_a_question():
    problem = summarize(
        ("customer", "Good morning"),
        ("customer", "my router keeps rebooting every night since the update"),
        ("agent", "I've pushed a firmware fix to it."),
    )
    assert problem.reason == "My router keeps rebooting every night since the update."
    request = summarize(("customer", "Hello! Could you please resend my last invoice?"), ("agent", "Sent!"))
    assert (request.reason, request.outcome) == ("Resend my last invoice.", "Sent.")
    named = summarize(("customer", "Hi Marta, it's broken, can you send a new one?"), ("agent", "Sure, sent."))
    assert named.reason == "It's broken, can you send a new one?"  # the agent's name goes, the problem stays


def test_the_outcome_names_what_was_done_and_a_customers_confirmation():
    summary = summarize(
        ("customer", "I can't log in to the app, it says my password is wrong."),
        ("agent", "Sorry about that! I've unlocked your account and sent a reset link."),
        ("customer", "ok that worked, thanks!"),
    )
    assert summary.outcome == "Unlocked the account and sent a reset link; customer confirmed it works."


def test_unresolved_only_when_the_conversation_says_so():
    still = summarize(
        ("customer", "My card keeps getting declined online."),
        ("agent", "I've removed the block on online payments."),
        ("customer", "still not working, same error"),
    )
    assert still.outcome.startswith("Unresolved: the customer says it still does not work")
    fine = summarize(("customer", "My card keeps getting declined online."), ("agent", "I've removed the block."))
    assert "Unresolved" not in fine.outcome


def test_an_answer_is_the_outcome_when_nothing_was_done_or_promised():
    summary = summarize(
        ("customer", "do you deliver on sundays"),
        ("agent", "Hi there! Thanks for contacting Leaf & Loaf."),
        ("agent", "Yes, we deliver on Sundays from 10am to 4pm."),
        ("customer", "great ty"),
    )
    assert summary.reason == "Do you deliver on sundays?"
    assert summary.outcome == "We deliver on Sundays from 10am to 4pm."


def test_follow_ups_are_later_promises_with_absolute_dates_and_the_customers_commitments():
    summary = summarize(
        ("customer", "I want to set up a payment plan for my balance."),
        ("agent", "I've set up a three-month plan. I'll email you the agreement tomorrow. I'll check the fees now."),
        ("customer", "Thanks, I'll pay the first part next week."),
    )
    # The agent's later promise is said once, in the outcome (a follow-up never repeats the outcome);
    # "check the fees now" is done within the conversation: no follow-up.
    assert summary.follow_ups == ("Customer will pay the first part next week (week of 2026-11-30).",)
    assert summary.outcome.startswith("Set up a three-month plan")
    assert "Agent will email the customer the agreement tomorrow (2026-11-28)" in summary.outcome
    assert summary.evidence == (1, 2, 3)


def test_agent_chit_chat_and_greetings_are_never_the_outcome():
    summary = summarize(
        ("customer", "Can I change my delivery slot to Saturday?"),
        ("agent", "Hi, this is Priya from FreshBox. Aww, I have a cat too!"),
        ("agent", "Done, I've moved your delivery to Saturday."),
    )
    assert summary.outcome == "Moved the delivery to Saturday."


def test_the_summary_is_deterministic():
    turns = (("customer", "Need a refund for order 881, it arrived broken."), ("agent", "I'll refund it today."))
    assert summarize(*turns) == summarize(*turns)


def test_the_summary_measure_counts_shared_content_words_not_framing():
    assert summary_words("Booked a technician for Saturday 2-4pm") == ["book", "technician", "saturday", "2-4pm"]
    matched, f1 = field_match("Booked a technician for Saturday 2-4pm.", "Technician booked Saturday 2-4pm")
    assert matched and f1 == 1.0
    assert field_match("Sent.", "Transcript sent") == (True, 2 / 3)
    assert field_match("Thanks for calling!", "Card declined at gas pump") == (False, 0.0)
    assert field_match("", "Anything") == (False, 0.0) and SUMMARY_MATCH == 60
