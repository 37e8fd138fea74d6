"""The built-in extractor's summary of one conversation: why the customer got in touch (`reason`), how
it ended (`outcome`) and what is still to happen (`follow_ups`). Extractive and deterministic: every
part is a sentence of the conversation, condensed, never invented.

- **reason**: the customer's sentence that asks for something or reports a problem. Each customer
  sentence (greetings, small talk, "hold on", thanks and closings skipped) scores by its cues: a
  request ("I need", "I want to", "I'd like to", "can you", "calling about", "looking for") or a
  problem ("not working", "keeps dropping", "declined", "locked out", "late", "charged", "broken")
  3, a question 2, a bare "please" 1.5; each earlier customer message that had a cue costs 1.25
  and each later sentence of a message 0.1 (answers to an agent's identity questions cost
  nothing); the best wins; when no sentence has a cue, an early and wordy one. Condensed: leading
  greetings, names and fillers out ("Yes, good morning, this is Harold,"), the request frame out
  ("I'm calling because I need to reschedule my knee surgery" → "Reschedule my knee surgery";
  "Could you resend my invoice?" → "Resend my invoice."; "I need to know whether…" → "Asks
  whether…"), a long sentence cut to the clause that holds the cue. Its dates stay as said (the
  summary is dated by its conversation).
- **outcome**: what the agent did ("I've reset your voicemail" → "Reset the voicemail"), promised
  ("I'll email the quote" → "Agent will email the quote"; an offer, "I can offer a $10 credit",
  counts as one) or, when nothing was done or promised, answered to a customer's question
  ("We're open until 10pm tonight"); greetings, boilerplate, chit-chat ("I have a golden too")
  and conditionals ("if you do, let us know") are never an outcome. At most three of them (done
  before promised), in the order said, joined by "; ", dates made absolute. After the last of
  them, a customer's confirmation ("that worked", "it's fixed") adds "customer confirmed it
  works", "I'll think about it" adds "customer undecided", and "still not working" makes it
  **Unresolved**, as does an agent who only said what cannot be done. Empty when the agent
  neither acted nor answered.
- **follow_ups**: what is to happen later: an agent's promise with a time or a later action (send,
  email, call back, follow up, ship, visit…; not one done "now", nor a standing "only by text"),
  a booking for a later day ("booked Saturday 2-4pm"), and the customer's own commitments ("I'll
  pay next week" → "Customer will pay next week"); dates made absolute from the message time
  (`dates.render`: "tomorrow (2026-11-28)"), at most four, near duplicates once, and none that the
  outcome already says (`follow_ups_new`: the summary's text never says a sentence twice).

`evidence`: the messages the three parts come from.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz

from conversations.extraction import dates
from conversations.extraction.base import MAX_CONTENT, Message, SummaryDraft


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


OUTCOME_PARTS = 3  # things done, promised or answered that the outcome names at most
FOLLOW_UPS = 4  # follow-ups kept at most
REASON_WORDS = 20  # a longer reason is cut to the clause that holds its cue

_FILLER = _rx(r"(?<![\w'])(?:um+|uh+|erm+|er|hmm+|uh-huh|you know|like,)(?![\w'])[,.]*\s*")
_STUTTER = _rx(r"\b(\w+(?:'\w+)?), \1\b")
_GREETING = _rx(  # names first: "Hi Denise," and "this is Harold Fisk," go whole
    r"^(?:(?:(?:hi|hello|hey) (?-i:[A-Z][a-z]+)(?=\s*[,.!])"
    r"|(?:this is|it'?s|my name is|i'?m|i am) (?-i:[A-Z][a-z]+(?: [A-Z][a-z]+)?)(?=\s*[,.])"
    r"|hi there|hello there|hi|hello|hey|hiya|hii+|howdy|g'?day|good (?:morning|afternoon|evening|day)"
    r"|dear (?:sir or madam|sir|madam)|yes|yeah|yep|yup|so|well|ok|okay|right|oh|and|also|um|uh"
    r"|quick q(?:uestion)?|sorry(?! to bother)|thanks|thank you|one more thing|additionally|basically"
    r"|just a heads up|heads up)\b[\s,.!:;-]*)+"
)
_SMALL_TALK = _rx(
    r"\b(?:hope you|how are you|my name is|sorry to bother|this is going to be|long one|bear with me|hold on|one sec"
    r"|one moment|give me a (?:sec|second|minute))\b"
    r"|^(?:this is|it'?s) \w+(?: \w+)?[.!]?$"
    r"|^(?:hello|hi|hey|good (?:morning|afternoon|evening))\b[^.?!]{0,20}[.!]*$"
)
_THANKS = _rx(
    r"^(?:(?:ok(?:ay)?|great|cool|perfect|nope|no|yes|yeah|thanks?|thank you|ty|thx|brilliant|lovely|awesome)[\s,.!]*)+"
    r"(?:that'?s (?:it|all)|that is all|you too|have a \w+ day|thanks?(?: so much)?(?: man)?|thank you|ty|thx)?"
    r"[\s,.!]*$"
    r"|^(?:that'?s (?:it|all)|that will be all|that is all|you too|will do|sounds good|bye)\b"
)
_REQUEST = _rx(
    r"\b(?:i|we) (?:really |just |urgently )?(?:need|want|wanna|wish)\b|\b(?:would|'d|should) (?:like|love) to\b"
    r"|\b(?:can|could|would|will) (?:you|u|i|we|someone)\b"
    r"|\b(?:calling|writing|texting|messaging|contacting you|reaching out|here) (?:about|regarding|because|to|for|re)\b"
    r"|\b(?:keen|looking|trying|hoping|wanting|ready) to\b|\b(?:look|looking|searching|shopping) (?:for|at)\b"
    r"|\bhelp (?:with|me)\b|\bneed(?:s|ed)?\b|\b(?:want|wanna) to\b|\bstop (?:sending|calling|texting|emailing)\b"
    r"|\bis it possible\b|\bhow (?:do|can|would) (?:i|we)\b|\bwant(?:ed)? to (?:know|check|ask)\b"
)
_PROBLEM = _rx(
    r"\b(?:not|isn'?t|aren'?t|doesn'?t|don'?t|won'?t|can'?t|cannot|didn'?t|hasn'?t|haven'?t|never) (?:\w+ )?"
    r"(?:work\w*|arrive\w*|load\w*|connect\w*|turn\w* on|start\w*|receiv\w*|get|got|come|came|open\w*|find|log\w* in"
    r"|access|see)\b"
    r"|\b(?:stopped|keeps?|kept) \w+|\b(?:broken|broke|declined|locked out|outages?|late|missing|wrong|error"
    r"|fail\w*|issue|problem|trouble|torn|tear|cracked|damage\w*|leak\w*|burst|dropp\w*|went up|hurt\w*|overcharged"
    r"|charged twice|double charged|never authori[sz]ed|unauthori[sz]ed|fraud|again|stalled|stuck|crash\w*|fed up"
    r"|accident|fender bender|collision|stolen|lost|flood\w*|went off|gone off)\b"
)
_PLEASE = _rx(r"\b(?:please|pls|plz|kindly)\b")
_ASKS = _rx(
    r"^(?:know|check|ask|find out|confirm|understand|see)(?: on)?\s+(?=(?:if|whether|about|what|when|how|why|where)\b)"
)
_QUESTION_START = _rx(
    r"^(?:what|when|where|why|how|which|who|is|are|was|do|does|did|can|could|will|would|should|any|have you)\b"
)
_HEDGE = _rx(r"\b(?:maybe|perhaps|might|not sure|i guess|thinking (?:about|of))\b")

_CLOSING = _rx(
    r"\b(?:have a (?:great|good|nice|pleasant|lovely)|thank you for (?:calling|contacting|banking|choosing|reaching)"
    r"|thanks for (?:calling|contacting|reaching|choosing)|take care|anything else|see you|you'?re welcome"
    r"|welcome to|my name is|how (?:can|may) i help|what can i (?:help|do)|happy (?:thanksgiving|holidays)"
    r"|let me (?:check|look|see|pull)|one moment|bear with me|i'?m sorry|sorry (?:about|for|to hear)|i understand"
    r"|i see\b|glad (?:to|i could) help|is there anything|hope (?:that|this) helps|(?:i|we)(?:'ll| will) need)\b"
    r"|^(?:(?:hi|hello|hey|good morning|good afternoon)[,!.]?\s+)?(?:this is|i'?m) [a-z]+(?:,| from| with| at| here)"
)
_DONE = _rx(
    r"\b(?:(?:i've|i have|we've|we have)\s+(?:\w+\s+)?\w+(?:ed|en|t|ne|de)\b|has been|have been|is now|are now"
    r"|now covers|booked|added|updated|sent|reset|scheduled|moved|applied|opened|set up|reserved|escalated|issued"
    r"|enabled|ready for"
    r"|is on time|restored|confirmed|covered|switched|noted|it'?s yours|refunded|credited|approved|unlocked|cleared"
    r"|cancel+ed|waived|swapped|processed|saved|placed|removed|changed|fixed|replaced|arranged|flagged|upgraded"
    r"|extended|booked in|in stock|out for delivery|on (?:its|the) way|is approved|is confirmed|is added|are added"
    r"|is set|are set|all set|'re set|set to|set as|done)\b"
)
_PROMISE = _rx(
    r"\b(?:i'?ll|we'?ll|i will|we will|(?:i'?m|we'?re|is|are) going to|will be)\s+(?!be (?:happy|glad)\b)\w+"
    r"|\bfollow[- ]up\b|\bcall you back\b|\bget back to you\b|\breach out\b|\bships? (?:in|on|by|today|tomorrow)\b"
    r"|\bexpect\w*\b|\bshould (?:arrive|be)\b"
)
_CHITCHAT = _rx(
    r"\b(?:myself|me too|i have (?:a|one|two) \w+ too|i'?m a \w+ (?:guy|girl|person|fan)|aww+|congrat\w*"
    r"|i love (?:that|it|those|them)|good choice|great choice|how exciting)\b"
)
_VAGUE = _rx(
    r"\b(?:pass (?:that|it|this) (?:along|on)|look into it|include (?:those|that|it)|keep (?:that|it) in mind)\b"
)
_OFFER = _rx(
    r"\b(?:i|we) can offer\b|\b(?:i'?d|we'?d) (?:suggest|recommend)\b|\b(?:i|we) (?:suggest|recommend|advise)\b"
)
_STANDING = _rx(r"\b(?:only|from now on|always|never|going forward|in future)\b")
_CONDITIONAL = _rx(r"^(?:if|when|once|whenever|in case)\b|\bif you (?:do|need|want|like|have)\b")
_CANNOT = _rx(
    r"\b(?:unfortunately|we (?:can'?t|cannot|are unable|aren'?t able|don'?t)|i (?:can'?t|cannot|am unable|'m unable)"
    r"|not (?:possible|able to)|no way to)\b"
)
_CONFIRMED = _rx(
    r"\b(?:(?:that|it|this)(?:'s| is| has)? (?:work(?:s|ed|ing)|fixed|sorted|solved|resolved|through)"
    r"|working (?:now|again)|all good now|back (?:on|up)(?: now)?|got it,? (?:thanks|thank you)"
    r"|it (?:went|goes) through)\b"
)
_STILL_FAILS = _rx(
    r"\b(?:still (?:not|isn'?t|doesn'?t|won'?t|can'?t|broken|down|the same)|(?:didn'?t|did not|doesn'?t) (?:work|help)"
    r"|same (?:problem|issue)|never ?mind|forget it)\b"
)
_UNDECIDED = _rx(r"\b(?:i'?ll|i will|let me|need to|have to) (?:think (?:about|abt) it|decide|talk to|check with)\b")
_LATER = _rx(
    r"\b(?:today|tonight|tomorrow|tmrw|this (?:morning|afternoon|evening|week|weekend)|next \w+|within"
    r"|by (?!the way)\w+|later|soon|shortly|(?:on )?(?:mon|tues|wednes|thurs|fri|satur|sun)day"
    r"|in (?:\d+|a|an|one|two|three|a few) \w+"
    r"|\d{1,2}(?::\d\d)?\s?(?:am|pm)|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\w* \d|\d{1,2}(?:st|nd|rd|th)\b"
    r"|at (?:the|your) (?:visit|appointment|renewal))"
)
_LATER_ACTION = _rx(
    r"\b(?:send|email|e-mail|text|call|mail|post|follow up|get back|reach out|contact|visit|deliver|ship|arrive"
    r"|escalate|review|investigate|update you|let you know|notify|confirm|arrange|come out|come by|install|inspect"
    r"|schedule|remind|process)\w*\b"
)
_NOW = _rx(r"\b(?:now|right away|right now|straight away|immediately|in a (?:moment|sec|second|minute))\b")
_BOOKING = _rx(r"\b(?:booked|scheduled|appointment|visit|install\w*|reserved|delivery|arrives?|technician|engineer)\b")
_CUSTOMER_COMMITS = _rx(
    r"^(?:ok(?:ay)?,?\s+|yes,?\s+|sure,?\s+)?(?:i'?ll|i will|i'?m going to|will)\s+"
    r"(?=(?:pay|call|send|bring|come|drop|upload|think|decide|confirm|let you know|get back|email|text|reply|sign"
    r"|return|pop|mail|transfer|check back|book|visit|talk)\b)"
)
_LEADING_WORDS = _rx(
    r"^(?:(?:yes|yeah|yep|okay|ok|great|perfect|of course|sure|certainly|absolutely|no problem|no worries|lovely"
    r"|good news|alright|all right|so|done|noted|thanks|thank you|right|excellent|brilliant|understood|got it"
    r"|happy to help|my pleasure|wonderful|fantastic|good to know|i see|sir|madam|ma'?am)\b[\s,.!:;-]*)+"
)
_SIR = _rx(r",?\s*\b(?:sir|madam|ma'?am)\b")
_FRAME = _rx(
    r"^(?:(?:and|so|but|also)\s+)?(?:i'?m|i am|we'?re|we are)\s+(?:calling|writing|texting|messaging|contacting you"
    r"|reaching out|here|getting in touch)\s+(?:because|since|as|to|about|regarding|re|for)\s+"
    r"|^(?:i|we)\s+(?:just\s+)?(?:was|were|am|are)?\s*(?:wondering if|hoping to|keen to|wanting to)\s+"
    r"|^(?:(?:i|we)\s+)?(?:(?:really|just|urgently)\s+)?"
    r"(?:need|want|wanna|would like|'d like|should like|wanted|would love)\s+to\s+"
    r"|^(?:i'd|we'd)\s+(?:like|love)\s+to\s+|^(?:can|could|would|will)\s+(?:you|u|someone)\s+(?:please\s+)?"
    r"|^(?:please|pls|plz|kindly)\s+|^(?:i'?m|i am|we'?re|we are)\s+(?:keen|looking|trying|hoping|ready)\s+to\s+"
)
_REGARDING = _rx(r"^(?:i'?m|i am)\s+(?:calling|writing|contacting you)\s+(?:about|regarding|re)\s+")
_JOINT = re.compile(r"(?:,\s+(?:so|and|but|because|which|as)\s+|;\s+|\s+-\s+|:\s+)", re.IGNORECASE)


@dataclass(frozen=True)
class _Said:
    message: Message
    index: int  # the sentence's place in its message
    text: str  # the sentence, fillers out


def _compared(text: str) -> str:
    """`text` as two sentences are compared: lower case, words only, single spaces."""
    return " ".join(re.findall(r"\w+", text.lower()))


def follow_ups_new(outcome: str, follow_ups: Sequence[str]) -> list[str]:
    """The `follow_ups` (in order) that the `outcome` does not already say: a follow-up is dropped
    when, compared lower case on its words only, the outcome (or one of its "; " parts) holds it
    whole or is a near duplicate of it (rapidfuzz ratio ≥ 90, or, from 20 characters, partial ratio
    ≥ 90 within a longer outcome). A follow-up that says more than the outcome is kept."""
    whole = _compared(outcome)
    parts = [whole, *(_compared(part) for part in outcome.split(";"))]
    kept = []
    for follow_up in follow_ups:
        text = _compared(follow_up)
        if (
            text
            and whole
            and (
                f" {text} " in f" {whole} "
                or any(part and fuzz.ratio(text, part) >= 90 for part in parts)
                or 20 <= len(text) <= len(whole)
                and fuzz.partial_ratio(text, whole) >= 90
            )
        ):
            continue
        kept.append(follow_up)
    return kept


def _plain(sentence: str) -> str:
    text = _FILLER.sub("", sentence)
    previous = None
    while previous != text:
        previous, text = text, _STUTTER.sub(r"\1", text)
    return " ".join(text.split()).strip(" ,")


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _end(text: str) -> str:
    text = text.strip(" ,;:-")
    if not text:
        return ""
    return text if text[-1] in ".?!…" else f"{text}."


def _cap(text: str) -> str:
    if len(text) <= MAX_CONTENT:
        return text
    return text[: MAX_CONTENT - 1].rsplit(" ", 1)[0] + "…"


def _wordy(text: str) -> int:
    return sum(1 for w in text.split() if sum(ch.isalpha() for ch in w) >= 2)


_ASKING = _rx(r"\b(?:how (?:much|many|long|do|can|would)|what time|is there|are there|do you|would i|could i|can i)\b")


def _is_question(text: str) -> bool:
    text = text.rstrip()
    return text.endswith("?") or bool(_QUESTION_START.search(_GREETING.sub("", text)) or _ASKING.search(text))


def _cue(text: str) -> float:
    """How much a customer sentence sounds like the reason they got in touch (0: no cue)."""
    if _REQUEST.search(text) or _PROBLEM.search(text):
        return 3.0
    if _is_question(text):
        return 2.0
    return 1.5 if _PLEASE.search(text) else 0.0


def _reason_score(said: _Said, ordinal: int, position: int) -> float:
    """`ordinal`: earlier customer messages that had a cue; `position`: earlier substantive ones."""
    cue = _cue(said.text)
    if not cue:  # no cue: an early and wordy sentence, far below any cued one
        return -10.0 + min(_wordy(said.text), 8) / 8 - 0.5 * position
    return cue - 1.25 * ordinal - 0.1 * said.index


def _condense_reason(said: _Said) -> str:
    text = _GREETING.sub("", said.text).strip()
    parts = [p.strip() for p in _JOINT.split(text) if p.strip()]
    if len(text.split()) > REASON_WORDS and len(parts) > 1:  # the clause that holds the request or problem
        text = max(parts, key=lambda p: (_cue(p), -parts.index(p)))
    framed = False  # a request frame taken off: what is left is what they asked for, not a question
    for _ in range(3):
        previous = text
        text = _GREETING.sub("", text).strip()
        regarding = _REGARDING.match(text)
        unframed = text[regarding.end() :] if regarding else _FRAME.sub("", text, count=1).strip()
        framed = framed or unframed != text
        text = unframed
        if text == previous:
            break
    asks = _ASKS.match(text)
    if asks:  # "I need to know whether the boots are synthetic" → "Asks whether the boots are synthetic"
        text = "Asks " + text[asks.end() :]
    text = _SIR.sub("", text).strip(" ,;:-")
    if framed:  # "Can you check my order?" → "Check my order."
        text = text.rstrip("?.! ")
    elif _is_question(text) and not text.endswith("?"):
        text = text.rstrip(".!") + "?"
    return _end(_upper_first(text))


def _third_person(text: str) -> str:
    """An agent's sentence said of the customer: "I've reset your voicemail" → "Reset the voicemail",
    "I'll send you the form" → "Agent will send the customer the form"."""
    bare = text.strip(" .!")
    text = _LEADING_WORDS.sub("", _GREETING.sub("", text)).strip() or bare  # "Done!" stays "Done"
    text = re.sub(r"^(?:i|we) can offer\b", "Offered", text, flags=re.I)
    text = _SIR.sub("", text)
    text = re.sub(r"^(?:i|we)(?:'ve| have)\s+(?:also\s+|just\s+|now\s+)?", "", text, flags=re.I)
    text = re.sub(r"^(?:i|we)(?:'ll| will)\s+", "Agent will ", text, flags=re.I)
    text = re.sub(r"^(?:i'?m|we'?re|i am|we are) going to\s+", "Agent will ", text, flags=re.I)
    text = re.sub(r"\b(?:i|we)(?:'ll| will)\b", "the agent will", text, flags=re.I)
    text = re.sub(r"\b(?:i|we)(?:'ve| have)\b", "the agent has", text, flags=re.I)
    text = re.sub(r"\b(?:our|my)\b", "the", text, flags=re.I)
    text = re.sub(r"\byou'?re\b|\byou are\b", "the customer is", text, flags=re.I)
    text = re.sub(r"\byou'?ll\b|\byou will\b", "the customer will", text, flags=re.I)
    text = re.sub(r"\byou'?ve\b", "the customer has", text, flags=re.I)
    text = re.sub(r"\byour\b", "the", text, flags=re.I)
    text = re.sub(r"\byou\b", "the customer", text, flags=re.I)
    return _upper_first(text.strip(" ,"))


def _substantive_reply(text: str) -> bool:
    """An agent's sentence that says something: no question, greeting, boilerplate or chit-chat."""
    if text.endswith("?") or _CLOSING.search(text) or _CHITCHAT.search(text) or _SMALL_TALK.search(text):
        return False
    if _CONDITIONAL.search(_LEADING_WORDS.sub("", text)):
        return False
    return _wordy(_LEADING_WORDS.sub("", _GREETING.sub("", text))) >= 3


def _answers(messages: Sequence[Message], sentences: Callable[[str], list[str]]) -> set[int]:
    """Ids of agent messages that reply to a customer's question: the first agent message after it that
    says something (an agent's own question back, "Do you use a lot in the evenings?", waits)."""
    out, asked = set(), False
    for message in messages:
        if message.role == "customer":
            asked = asked or any(_is_question(_plain(s)) for s in sentences(message.text))
        elif message.role == "agent" and asked:
            said = [_plain(s) for s in sentences(message.text)]
            if any(_substantive_reply(s) for s in said):
                out.add(message.id)
                asked = bool(said) and said[-1].endswith("?")  # it asks back: the answer may come next
    return out


def summarize(messages: Sequence[Message], sentences: Callable[[str], list[str]]) -> SummaryDraft | None:
    """The summary of `messages` (in order; `sentences` cuts a message's text into sentences, symbols
    and emoji already out), or None when the customer said nothing substantive. See the module
    docstring for the rules."""
    customer: list[tuple[int, int, _Said]] = []  # (cued messages before, substantive messages before, sentence)
    done: list[_Said] = []
    promised: list[_Said] = []
    answered: list[_Said] = []
    refused: list[_Said] = []
    follow_ups: list[_Said] = []
    after_action: list[_Said] = []  # customer sentences said after the last action
    replies = _answers(messages, sentences)
    ordinal = -1  # customer messages before this one that asked for something or reported a problem, less one
    previous_role = ""
    for message in messages:
        role = message.role
        if role == "system" and previous_role != "customer":
            previous_role = role
            continue  # a reminder or notice of its own, not a reply
        said_here = [_Said(message, i, _plain(s)) for i, s in enumerate(sentences(message.text))]
        said_here = [s for s in said_here if s.text]
        if role == "customer":
            substantive = [
                s
                for s in said_here
                if _wordy(_GREETING.sub("", s.text)) >= 2
                and not _SMALL_TALK.search(s.text)
                and not _THANKS.search(s.text)
            ]
            if substantive:
                position = len({item[2].message.id for item in customer})
                customer += [(ordinal + 1, position, s) for s in substantive]
                ordinal += any(_cue(s.text) for s in substantive)  # messages that ask or report count
            for s in said_here:
                after_action.append(s)
                if _CUSTOMER_COMMITS.search(_LEADING_WORDS.sub("", s.text)) and not s.text.endswith("?"):
                    follow_ups.append(s)
            previous_role = role
            continue
        acted = False
        for s in said_here:
            text = s.text
            if text.endswith("?") or _CLOSING.search(text) and not _DONE.search(_CLOSING.sub("", text)):
                continue
            if _CONDITIONAL.search(_LEADING_WORDS.sub("", text)) or _CHITCHAT.search(text):
                continue
            if (_PROMISE.search(text) or _OFFER.search(text)) and not _HEDGE.search(text):
                acted = True
                if _VAGUE.search(text):
                    continue
                promised.append(s)
                later = _LATER.search(text) or _LATER_ACTION.search(text)
                if later and _PROMISE.search(text) and not _NOW.search(text) and not _STANDING.search(text):
                    follow_ups.append(s)
            elif _DONE.search(text):
                done.append(s)
                acted = True
                if _BOOKING.search(text) and _LATER.search(text):
                    follow_ups.append(s)
            elif _CANNOT.search(text):
                refused.append(s)
                acted = True
        if acted:
            after_action = []
        elif message.id in replies:
            first = next((s for s in said_here if _substantive_reply(s.text)), None)
            if first is not None:
                answered.append(first)
        previous_role = role
    if not customer:
        return None

    best = max(customer, key=lambda item: (_reason_score(item[2], item[0], item[1]), -item[1], -item[2].index))
    reason_said = best[2]
    reason = _condense_reason(reason_said)

    ranked = [*((3, s) for s in done), *((2, s) for s in promised)]
    if not ranked:  # answers say how it ended only when nothing was done or promised
        ranked = [(1, s) for s in answered]
    chosen: list[_Said] = []
    for _, s in sorted(ranked, key=lambda item: -item[0]):
        text = _third_person(s.text)
        if _wordy(text) < 1 or any(fuzz.token_set_ratio(text, _third_person(c.text)) >= 90 for c in chosen):
            continue
        chosen.append(s)
        if len(chosen) == OUTCOME_PARTS:
            break
    order = {id(s): n for n, s in enumerate([*done, *promised, *answered])}
    chosen.sort(key=lambda s: (s.message.id, s.index, order[id(s)]))
    if len(chosen) > 1:  # a bare "Done." or "Noted." says nothing beside the things named
        chosen = [s for s in chosen if _wordy(_third_person(s.text)) >= 2] or chosen[:1]
    parts = [dates.render(_third_person(s.text).rstrip(".!"), s.message.at, future=True)[0] for s in chosen]
    if not parts and refused:
        parts = ["Unresolved: " + _third_person(refused[-1].text).rstrip(".!")]
        chosen = [refused[-1]]
    confirmed = next((s for s in after_action if _CONFIRMED.search(s.text)), None)
    failing = next((s for s in after_action if _STILL_FAILS.search(s.text)), None)
    undecided = next((s for s in after_action if _UNDECIDED.search(s.text)), None)
    if failing is not None:
        parts = ["Unresolved: the customer says it still does not work", *parts]
        chosen.append(failing)
    elif undecided is not None and parts:
        parts.append("customer undecided")
        chosen.append(undecided)
    elif confirmed is not None:
        parts.append("customer confirmed it works")
        chosen.append(confirmed)
    outcome = _end("; ".join(parts))

    kept: list[tuple[_Said, str]] = []
    for s in follow_ups:
        if s.message.role == "customer":
            text = "Customer will " + _CUSTOMER_COMMITS.sub("", _LEADING_WORDS.sub("", s.text), count=1).lstrip()
        else:
            text = _third_person(s.text)
        text, _ = dates.render(text.rstrip(".!"), s.message.at, future=True)
        if any(fuzz.token_set_ratio(text, other) >= 90 for _, other in kept):
            continue
        kept.append((s, _end(text)))
    new = set(follow_ups_new(outcome, [text for _, text in kept]))
    kept = [(s, text) for s, text in kept if text in new][-FOLLOW_UPS:]

    evidence = sorted({reason_said.message.id, *(s.message.id for s in chosen), *(s.message.id for s, _ in kept)})
    return SummaryDraft(
        reason=_cap(reason),
        outcome=_cap(outcome),
        follow_ups=tuple(_cap(text) for _, text in kept),
        evidence=tuple(evidence),
    )
