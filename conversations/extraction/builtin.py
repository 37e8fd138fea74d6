"""The built-in extractor: deterministic rules over the customer's own messages (no network, no model).

How a conversation becomes candidates (1.2; the causes each rule covers, and what is still missed, are
in docs/PERFORMANCE.md, "Memory extraction quality"):

1. Only **customer** messages are read (an agent's "I love Denver" is never about the customer);
   emoji and spoken fillers ("um", "uh", "eh") are dropped, an emoji between two words ends a
   statement as a full stop would, a voice transcript's stutters ("the, the", "I, I've") and the
   commas a filler leaves ("expecting twins in, uh, March") go, and so do discourse frames ("the
   thing is, I'm retiring in June") and reported speech ("the vet said she's allergic to chicken").
2. Each line of a message (a bullet is a line) is cut into sentences by `pysbd`, and each sentence into
   clauses at the joints where a second statement starts (";", ", so I…", ", and we…", ", because…",
   "… so can we…", "… and wanted to know…", "… and cannot take calls", ", and the water heater … is
   leaking"); a time clause about someone else before an instruction goes ("when you send the
   documents, write in Portuguese").
3. A clause is skipped when it is a question (a question keeps the statement before its last comma,
   "I graduate in June, does it stop then?", a standing wish, "can you use UPS from now on?", or a
   channel asked for instead of another, "can reminders come by text instead of email?"), a
   hypothetical ("if I were…"; an "if they…" condition takes its main clause with it; "if you have a
   colleague who speaks German" and "if it is available" are requests, not conditions), a hedge
   ("maybe", "not sure", "I think I'll"; "maybe six times" is an approximate number, no hedge), only
   a greeting, thanks or filler, a compliment ("I love your store"), about someone else ("my mother
   uses a wheelchair", "your account…"; but a complaint addressed to the business, "you've charged me
   again, second time", is a problem, and see 6 for the household), or an errand within the week
   ("cancel my cleaning tomorrow", "I'll take the 3pm slot").
4. Otherwise the first rule that fits decides its kind, roughly in this order: **plan** (a plan verb
   or a first-person future — moving, flying, renewing, due, freezing, deferring, "I'll be in Tokyo" —
   with a date not in the past, also said of the customer's own agreement, "the lease expires in
   three months"; a big plan without one, "we want to do the honeymoon in Bali"; a bequest),
   **constraint** (allergy, diet, health, a named condition or operation, "had my hip done", medical
   history or accessibility, budget, "a hard ceiling of $6,000", income and savings, can't drive a
   manual, availability "mornings only", "sat only", "mornings are a no go", "has to be a Saturday",
   "Saturdays are the only days I can do", "don't book anything in the morning", "I can't leave school
   during the day"), **preference** (a contact channel with "only / by / rather / best / don't", "email's
   way better", "terrible at phone calls", a language, "German is easier", "I prefer", "I always
   order…", "ideally", "works better", "from now on", size, tone, delivery instructions, schedule
   wishes, "X would be better for me", seats, "light sleeper"; a wish about the matter at hand, "I'd
   prefer to resolve this first", is none), **identity** (occupation now or before, "I work…", "I
   teach", "I was an electrical engineer", "I have an architecture office", "this is Hugh at Penrose
   Farm", on leave, where they live or are based and on which floor, household and pets, a death in
   the household, a baby's age, the vehicle or computer they have, business size, tenure, habits
   "every month", "30 parcels a week"), **problem** (a fault — an outage, a noise, damage, buffering, a
   ban, a fault code, money taken — with a recurrence — "keeps dropping", "every Monday", "third time",
   "whenever", "for two weeks", "over the last month", "three of my parcels" — unless it began today
   or yesterday; a dispute, an unrecognised charge, a complaint, "the third ticket I've opened"). The
   subject ("location", "diet", "pet"…, see `subjects.py`) is tagged for reconciliation.
5. The clause becomes the content: fillers trimmed, the leading "I'm"/"I" turned into a third-person
   statement ("I work from home" → "Works from home"), dates made absolute in ISO from the message
   time ("due in April (2027-04)"), quantities kept as written. Clauses of one sentence with the same
   kind and subject are merged ("I'm not vegetarian anymore, I eat fish now" is one observation); a
   short clause without a rule just before one with a rule is kept as its context ("no more
   mushrooms in the box, I've developed an intolerance"), and an undated plan clause just after a
   dated one is what the plan is ("off from the 21st, we're visiting my parents in Poland"); a terse
   fragment without a subject completes the statement before it ("i work nights. afternoon only");
   a complaint that points back ("this is the second time I've called about it") takes the sentence
   it points at; a standing request about "that" takes the sentence before it ("put that on my
   account permanently").
6. What the conversation says later counts: a message that corrects ("scratch that", "sorry, I meant",
   "correction") supersedes the earlier candidate of the same subject (the last value wins); a plan said
   without a date ("we're moving house", "need to freeze my membership") is replaced by its dated
   restatement (an answer to "Where are you moving to?": "Leeds. We get the keys on the twelfth of next
   month"; a bare "from next monday"), both messages as evidence; a household member's fact that changes
   the service (a child's age, school start or licence, a partner's due date or allergy) is kept, and
   "she" or "he" is the member or the child last named ("she's 16" after "my daughter"; "Yes, Ava. She
   has a peanut allergy" → "Ava has a peanut allergy"; a pet just named, "we got a puppy … the vet said
   she's allergic to chicken"); a change of "that" completes the statement before it ("I have my
   groceries delivered every Thursday. I'd like to change that to Friday"); a request that is a standing
   instruction ("can you leave it at the back door?", "send everything by post", "change my autoship to
   every 6 weeks") is kept as the instruction; "then" points at the date just said; a contact or schedule
   wish said over a few sentences ("stop sending emails. text only from now on"; "it has to be early. I
   can't leave school during the day") is one statement; "as before" marks a restatement for
   reconciliation; a contact wish said again in fewer words later ("By letter, please") is the same
   candidate, with both messages as evidence.
7. A vehicle or phone named in passing ("my 2018 F-150's check engine light…") also yields an
   identity candidate of its own ("Has a 2018 F-150"), and so does the household said in passing, as
   the customer's party, by count or by name ("me, my husband and our toddler", "my wife and I", "my 3
   kids", "my partner Jess", "it's Carla, Mateo's mom"; not "my daughter can drive me"); a short
   answer to an agent's question about a lasting subject keeps the question's topic ("Any
   allergies?" "Shellfish." → "Allergies: shellfish"; an address given after a move joins the move),
   but not an answer to a request ("Could you send us the note?" "Sure, sending now"); a channel asked
   for in a question is kept when the message says why ("could you text me the day before? I always
   forget"); a later "push it to next month" completes a plan said without a date; the same
   statement said twice is one candidate with both messages as evidence.

The summary (reason, outcome, follow-ups) is extractive: see `summary.py`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

import pysbd

from conversations.extraction import dates
from conversations.extraction.base import MAX_CONTENT, Candidate, Message, SummaryDraft
from conversations.extraction.subjects import AS_BEFORE, subject_of, value_tokens
from conversations.extraction.summary import summarize


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


# --- cleaning -------------------------------------------------------------------------------------------------

_SPOKEN_FILLER = _rx(r"(?<![\w'])(um+|uh+|erm+|er|eh|hmm+|uh-huh|you know)(?![\w'])[,.]*\s*")
_LEADING = _rx(
    r"^(?:(?:so|and|also|but|oh|well|yeah|yes|yep|no(?! longer| more| one)|nope|ok|okay|k|actually|anyway|plus"
    r"|then|btw|hey|hi|hello|hiya|yay|wow|great|perfect|cool|right|alright|just a heads up|heads up"
    r"|one more thing|by the way|additionally|furthermore|firstly|secondly|thirdly|lastly|finally"
    r"|lol|haha|ugh|argh|sigh|omg|gosh|jeez|please(?=\s*,)"
    r"|(?:sorry,?\s+)?(?:i meant|i mean|correction|scratch that|no wait|wait,? no|actually,? no))\b[\s,.!:;-]*)+"
)
_TRAILING = _rx(r"(?:[\s,.!;:-]+(?:pls|please|plz|thanks|thank you|thx|lol|haha|hehe|anyway|too|if possible))+[\s.!]*$")


def _is_symbol(ch: str) -> bool:
    return unicodedata.category(ch) in ("So", "Sk", "Cs", "Co", "Mn", "Cf") and ch not in "'^`"


# An emoji standing between two words ends a statement, as a full stop would ("first home 🏡 we're hoping…").
_EMOJI_BREAK = re.compile(r"(?<=[\w)])\s+\x00+\s+(?=\w)")
# Voice transcripts: a word said twice ("the, the", "I, I") and a comma left after a preposition or article
# once a filler is gone ("expecting twins in, uh, March" → "in, March").
# Possessive (`\w++`): a word is taken whole, so a long run of letters costs linear time, not quadratic.
_STUTTER = re.compile(r"\b((?:\w++(?:'\w*+)?\s+){0,2}\w++(?:'\w*+)?),\s+(?:like,\s+)?\1\b", re.IGNORECASE)
_DANGLING_COMMA = re.compile(
    r"(?:\b|')(in|on|at|to|for|of|with|from|by|the|a|an|my|our|your|is|was|i'm|we're|and|about|like|because|cause|cos)"
    r",(?=\s)",
    re.IGNORECASE,
)


_DISCOURSE = _rx(r"\b(?:the |my )?(?:thing|point|truth|problem|issue|reason|story) is,\s+|\bto be honest,\s+")


def _strip_symbols(text: str) -> str:
    """Emoji, pictographs and variation selectors out (a full stop where one stood between words, a
    bullet or line break likewise ends a statement); typographic quotes straightened; a voice
    transcript's stutters ("the, the") and fillers ("um", "uh") out."""
    text = unicodedata.normalize("NFKC", text).replace("\u2019", "'").replace("\u2018", "'")
    text = "".join("\x00" if _is_symbol(ch) else ch for ch in text)
    text = _EMOJI_BREAK.sub(". ", text).replace("\x00", "")
    text = re.sub(r"\n[ \t]*[-*•][ \t]+", "\n", text)  # a bullet, or a new line, is a new statement
    text = re.sub(r"(?<=[\w)])[ \t]*\n+\s*(?=\w)", ". ", text)
    text = re.sub(r"\s+", " ", text).strip()
    text = _SPOKEN_FILLER.sub("", text)
    text = _DISCOURSE.sub("", text)  # "the thing is, I'm retiring in June": the statement is what follows
    previous = None
    while previous != text:
        previous = text
        text = _STUTTER.sub(r"\1", text)
    text = _DANGLING_COMMA.sub(r"\1", text)
    text = re.sub(r"\b(I|we|you),\s+(?=\1\b)", "", text, flags=re.IGNORECASE)  # "I, I've got" → "I've got"
    return re.sub(r"\s+", " ", text).strip()


def _clean(clause: str) -> str:
    clause = _SPOKEN_FILLER.sub("", clause)
    previous = None
    while previous != clause:
        previous = clause
        clause = _LEADING.sub("", clause).strip(" ,.;:-\u2013\u2014")
        clause = _TRAILING.sub("", clause).strip(" ,;:-\u2013\u2014")
    return re.sub(r"\s+", " ", clause).strip()


# --- clause splitting and filters ----------------------------------------------------------------------------

_PRONOUN = r"(?:i|i'm|im|i'd|i've|i'll|ive|we|we're|we've|we'll|my|our)\b"
_CLAUSE_BREAKS = (
    _rx(r"\s*;\s*|:\s+"),
    _rx(
        rf",?\s+(?:so|but|because|'?cause|cos|since|and|as)\s+(?:also\s+|then\s+|now\s+|honestly\s+|actually\s+"
        rf"|really\s+)?(?={_PRONOUN})"
        r"(?!i\s+(?:are|were|both|have both)\b)"  # "my wife and I are both teachers" is one statement
    ),
    _rx(rf",\s+(?={_PRONOUN})"),
    _rx(r",?\s+(?:so|because)\s+(?!(?:much|many|far|good|sorry|that|glad|happy|excited|long|of)\b)(?=\S+\s+\S+)"),
    _rx(r",?\s+and\s+(?=(?:travell?ing|moving|flying|going|starting|planning|looking|expecting|getting)\b)"),
    _rx(r",?\s+and\s+(?=(?:need|want|plan|hope|intend)\s+to\b)"),
    _rx(r",?\s+and\s+(?=(?:can'?t|cannot)\s+\w)"),  # "I work shifts at the hospital and cannot take calls"
    _rx(r",?\s+(?=(?:can|could|would|will|do|does|is|are)\s+(?:i|we|you|u)\b)"),
    _rx(r",\s+(?=(?:any|how|what|where|when|why|which|is there)\b)"),
    _rx(  # "we closed on a house in October, and the water heater that came with it is leaking": two statements
        r",\s+and\s+(?=(?:the|my|our)\s+(?:[\w-]+\s+){1,6}?(?:is|are|was|were|has|have|keeps|started|stopped)\b)"
    ),
    _rx(
        r",?\s+(?:and|so|but)\s+(?:i\s+)?"
        r"(?=(?:wanted|want|was wondering|wonder(?:ed)?|need(?:ed)?)\s+to\s+(?:know|ask|check))"
    ),
)
_STANDING = _rx(
    r"\b(?:from now on|going forward|in (?:the )?future|every time|always|permanently)\b"
    r"|\b(?:send|email|mail|post|text)\s+(?:me\s+)?(?:everything|all (?:updates|correspondence|bills|letters|mail))\b"
    r"|\bevery (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|week|month|other week)\b"
    r"|\bevery (?:\d+|two|three|four|five|six|eight) (?:days|weeks|months)\b"
)
_QUESTION_START = _rx(
    r"^(?:can|could|would|will|do|does|did|is|are|was|any|is there)\b"
    r"|^(?:what|where|when|why|how|which|who)\b(?!\s+(?:i|i'm|i'll|we|we're|we'll|my|our)\b)"
)
_HYPOTHETICAL = _rx(
    r"(?<!appreciate it )(?<!prefer it )(?<!like it )(?<!love it )"  # "appreciate it if you…"
    r"\bif (?:i|we|it|you|they|he|she)\b(?! (?:have|has|can|could|offer|do|does)\b)"
    r"(?!(?: is|'s| are|'re)? (?:available|possible|free|ok|okay|fine|open)\b)"
    r"|\b(?:suppose|supposing|hypothetically|what if|were to)\b|\bin case (?:i|we)\b"
)
_HEDGE = _rx(
    r"\b(?:(?:maybe|perhaps|possibly|probably)(?!,?\s+(?:\d|one|two|three|four|five|six|seven|eight|nine|ten|twenty"
    r"|a (?:few|couple|dozen|hundred))\b)|might|not sure|thinking (?:about|of)|considering|i guess|wondering"
    r"|i think (?:i'?ll|i'?m going|we'?ll|we'?re going|i might|we might|i may|we may))\b"
)
_REQUEST = _rx(r"\b(?:please|pls|plz|kindly)\b")
_FILLER_ONLY = _rx(
    r"^(?:hi|hello|hey|hiya|good (?:morning|afternoon|evening|night)|thanks?|thank you|thx|ty|ok|okay|k|sure|yes|yeah"
    r"|no|nope|bye|bye-bye|goodbye|great|perfect|cool|awesome|amazing|nice|got it|will do|sounds good|lol|haha|yay"
    r"|you too|you're the best|appreciate it|that's all|that's it|that is all|all good|noted)\b"
)


def _clauses(sentence: str) -> list[str]:
    parts = [sentence]
    for breaker in _CLAUSE_BREAKS:
        parts = [piece for part in parts for piece in breaker.split(part) if piece and piece.strip()]
    return parts


def _question_part(clause: str) -> str | None:
    """A clause ending in "?": keep a request ("please you can write simple?"), else what precedes the last comma."""
    if not clause.rstrip().endswith("?"):
        return clause
    if _STANDING.search(clause) or _LANGUAGE.search(clause):  # "use UPS from now on?", "explain in Polish?"
        return re.sub(
            r"^(?:(?:can|could|would|will)\s+(?:you|u)|is (?:it )?possible to|do you)\s+(?:please\s+)?",
            "",
            clause.rstrip(" ?"),
            flags=re.I,
        )
    if _CHANNEL.search(clause) and re.search(r"\b(?:instead|rather than|only)\b", clause, re.I):
        return re.sub(  # "can reminders come by text instead of email?": a standing wish
            r"^(?:can|could|would|will)\s+(?:you\s+|u\s+)?(?:please\s+)?", "", _clean(clause.rstrip(" ?")), flags=re.I
        )
    if _CHANGE_THAT.search(clause):  # "could we change that to Wednesday?": a change to what was just said
        return re.sub(
            r"^(?:can|could|would|will)\s+(?:you|u|we|i)\s+(?:please\s+)?", "", _clean(clause.rstrip(" ?")), flags=re.I
        )
    if _REQUEST.search(clause) or _TONE_DELIVERY.search(clause):  # "could you leave parcels with the neighbour?"
        return re.sub(r"^(?:can|could|would|will)\s+(?:you|u)\s+(?:please\s+)?", "", clause.rstrip(" ?"), flags=re.I)
    noted = re.search(r"\b(?:note|know|aware|remember|record|add)\s+that\s+((?:i|we)\b.*)", clause, re.I)
    if noted:  # "could you note that I'm left-handed?"
        return noted.group(1).rstrip(" ?")
    head, _, _ = clause.rpartition(",")
    return head if len(head.split()) >= 3 else None


# --- rules ---------------------------------------------------------------------------------------------------

_SELF = _rx(r"\b(?:i|i'm|im|i am|i've|ive|i'd|i'll|me|my|mine|we|we're|we've|we'll|our|us)\b")
_PAST = _rx(
    r"\b(?:had|was|were|did|got|bought|sold|moved|relocated|switched|since|ago|last|cancell?ed|started|came|went"
    r"|began|arrived|received|swapped|ordered|used to|lost|passed away|died)\b"
)
_PLAN_VERB = _rx(
    r"\b(?:mov(?:e|es|ing)|relocat\w+|fly|flying|travel\w*|going to|go to|visit\w*|trip|vacation|holiday|wedding"
    r"|freez\w+|paus\w+|suspend\w*|defer\w*|put (?:it|my \w+) on hold"
    r"|getting married|surgery|operation|renew\w*|cancel\w*|upgrad\w+|switch\w*|start\w*|retir\w+|graduat\w+"
    r"|due|migrat\w+|leav(?:e|ing)|join\w*|ends?|expir\w+|plan\w*|reschedul\w+|postpon\w+|closing|close|flight"
    r"|honeymoon|conference|lease|is up|runs? out|downsiz\w+|buy\w*|sell\w*|turning \d+|anniversary"
    r"|(?:push|move|shift|put off|delay|bring forward) (?:it|that|this)|expecting|coming back|returning|back from"
    r"|renovat\w*|remodel\w*|deploy\w*|book(?:ing)?|reserv\w+|going to be (?:in|at|away)|grow\w*|expand\w*"
    r"|hir(?:e|ing)|scal\w+ up|open\w* (?:a )?new|hotel|\d+ nights|off to|head(?:ing)? to|scheduled|procedure"
    r"|(?:second|new|another|third) (?:location|site|store|branch|office|clinic|restaurant|shop)"
    r"|abroad|overseas|out of the country|out of town|away"
    r"|replacement|treatment"
    r"|(?:i'?ll|i will|we'?ll|we will) be (?:in|at|away|out|back|travel\w*))\b"
)
_ALLERGY = _rx(r"\ballerg(?:ic|y|ies)\b")
_DIET = _rx(
    r"\b(?:vegan|vegetarian|pescatarian|celiac|coeliac|gluten[- ]free|(?:lactose|gluten|dairy)[- ]intoleran\w+"
    r"|kosher|halal"
    r"|dairy[- ]free|(?:don'?t|do not|never) (?:eat|drink)|(?:can'?t|cannot) (?:have|eat|drink|tolerate|digest)"
    r"(?! (?:the|my|a|an|this|that|it|any|your|our|to|more|time)\b)"
    r"|eat (?:fish|meat)|keto|intoleran(?:t|ce)|teetotal|sober)\b"
)
_HEALTH = _rx(
    r"\b(?:wheelchair|walker|crutches|blind|deaf|hard of hearing|hearing aid|motion sickness|migraines?|asthma"
    r"|diabet\w+|epilep\w+|disabilit\w+|disabled|sensitive to|pregnant|accessible entrance|step-free|screen reader"
    r"|colou?r-?blind|dyslexi\w+|autis\w+|adhd|chronic \w+|arthritis|(?:heart|lung|kidney) condition"
    r"|my (?:hearing|eyesight|vision|memory)(?:'s| is|'s not| isn'?t| is not)|bad (?:back|knees?|hips?)|large print"
    r"|macular degeneration|glaucoma|cataracts?|dementia|parkinson'?s|alzheimer'?s|copd|fibromyalgia|tinnitus"
    r"|(?:had|having|getting) my (?:hip|knee|shoulder|back|eyes?|cataracts?|gallbladder|appendix) (?:done|replaced"
    r"|operated on|out)"
    r"|(?:i have|i've got|i was diagnosed with|diagnosed with|i suffer from|i live with)\s+(?:\w+\s+){0,2}?(?:disease"
    r"|disorder|syndrome|condition|degeneration|cancer|diabetes|asthma|arthritis|dementia|glaucoma|cataracts?|copd|ms"
    r"|parkinson'?s|alzheimer'?s|epilepsy|lupus|fibromyalgia|migraines?|tinnitus|ptsd|depression)"
    r"|(?:not (?:great|good|confident)|bad|hopeless|useless) (?:with|at) (?:computers|technology|tech|phones"
    r"|smartphones|the internet|apps|online)"
    r"|my (?:eyes|ears|legs|back|knees?|hips?|hands) (?:are|is|aren'?t|isn'?t) (?:not )?(?:good|great|bad|weak|poor"
    r"|failing|what they)"
    r"|(?:afraid|scared|terrified|frightened) of\s+(?!(?:what|that|it|this)\b)\w+|(?:fear|phobia) of"
    r"|(?:anxious|nervous) (?:about|of|around|with) (?!(?:the|this|that|it|my|your|what|how)\b)\w+s\b"
    r"|phobi\w+|claustrophob\w+|anxiety|panic attacks?"
    r"|blood pressure|cholesterol|thyroid|insulin|blood thinners?|chemo\w*|dialysis|inhaler|antidepressants?"
    r"|service (?:dog|animal)|guide dog|emotional support (?:animal|dog)"
    r"|recovering|recovery|rehab\w*|injur\w+|sprain\w*|fractur\w+|torn (?:ligament|acl|muscle|meniscus)"
    r"|braille|low vision|visually impaired|hearing impaired|sign language|mobility (?:issues?|aid|scooter)"
    r"|(?:had|have had|'ve had|recovering from|after) (?:a |an |my )?(?:[\w-]+ ){0,3}?(?:surgery|operation|transplant"
    r"|replacement|stroke|heart attack)|(?:knee|hip|shoulder) replacement|diagnosed with"
    r"|(?:hard time|difficulty|trouble|struggle|can'?t|cannot) (?:with )?(?:swallow|walk|climb|hear|see|read|stand"
    r"|breath|grip|lift|hold)\w*)\b"
)
_BUDGET = _rx(
    r"\b(?:budget|fixed income|low income|on a pension|money is tight|money'?s tight|money is short|can'?t afford"
    r"|cannot afford|our ceiling"
    r"|(?:can'?t|cannot|won'?t|don'?t want to) (?:spend|pay) (?:more than|over)"
    r"|my ceiling)\b"
    r"|\b(?:under|max|maximum|up to|no more than|below|at most)\s*[$€£]\s?\d[\d,.]*k?"
    r"|\b(?:ceiling|cap|limit) of\s*[$€£]\s?\d"
    r"|\b(?:under|max|maximum|up to|no more than|at most) (?:\w+ )?(?:thousand|hundred|grand)\b"
)
_AVAILABILITY = _rx(
    r"(?<!yesterday )(?<!today )(?<!this )(?<!last )(?<!since )"
    r"\b(?:mornings?|afternoons?|evenings?|nights?|weekends?|weekdays?)\s+only\b"
    r"|\bonly\s+(?:on\s+)?(?:mornings?|afternoons?|evenings?|weekends?|weekdays?|between|after|before)\b"
    r"|\b(?:i|we)\s+only\s+\w+\s+(?:on|in the|at|during)\s+(?:weekends|weekdays|mornings|evenings|nights|afternoons"
    r"|mondays|tuesdays|wednesdays|thursdays|fridays|saturdays|sundays)\b"
    r"|\b(?:before|after) work\b|\blunch break\b|\b(?:i|we) work (?:until|till|til) \d"
    r"|\b(?:can'?t|cannot) (?:pick up|answer|talk|take calls)\b|\bduring work hours\b"
    r"|\b(?:only|just) (?:free|available|around|home|reachable)\b"
    r"|\b(?:i'?m|i am|we'?re|we are) (?:at work|working|out|away|busy|not home|not around|at school)"
    r" (?:all day|during the day|until \d|till \d|on weekdays|weekdays|most days|every day)\b"
    r"|\b(?:i'?m|i am|we'?re|we are) (?:usually |only |generally )?(?:free|available|home|around|reachable)"
    r" (?:after|before|between|on|in the|from) (?:\d|mornings?|afternoons?|evenings?|weekends?|weekdays?|mondays"
    r"|tuesdays|wednesdays|thursdays|fridays|saturdays|sundays)"
    r"|\b(?:can|could|will|'ll) only\b[^.]*\b(?:mondays|tuesdays|wednesdays|thursdays|fridays|saturdays|sundays"
    r"|weekends?|weekdays|mornings?|afternoons?|evenings?|nights?|after \d|before \d)\b"
    r"|\b(?:call|contact|reach|text|phone|ring)\s+(?:me\s+|us\s+)?(?:only\s+)?(?:after|before|between)\s+\d"
    r"|\b(?:mornings?|afternoons?|evenings?|nights?|weekends?|weekdays?|mondays|tuesdays|wednesdays|thursdays|fridays"
    r"|saturdays|sundays) (?:don'?t|do not|doesn'?t|no longer|won'?t) work\b"
    r"|\b(?:mornings?|afternoons?|evenings?|nights?|weekends?|weekdays?|mondays|fridays) (?:are|is) (?:bad|difficult"
    r"|hard|impossible|not good|no good|tough|busy) for (?:me|us)\b"
    r"|\b(?:mornings?|afternoons?|evenings?|nights?|weekends?|weekdays?|mondays|fridays) (?:are|is) (?:a no[- ]go"
    r"|out of the question|impossible|not possible|off limits)\b"
    r"|\b(?:mon|tue|tues|wed|thu|thurs|fri|sat|sun|monday|tuesday|wednesday|thursday|friday|saturday|sunday)s? only\b"
    r"|\b(?:is|are) the only (?:days?|times?|evenings?|mornings?) (?:i|we)\b"
    r"|\b(?:can'?t|cannot) (?:leave|get away from|get out of|get off) (?:work|school|the office|the shop|the site)\b"
    r"|\b(?:i|we) (?:sleep|'m asleep|am asleep) (?:till|until|til) \w+"
    r"|\b(?:don'?t|do not|never|can'?t|cannot) (?:book|schedule|come|call|visit|deliver)\b[^.?!]{0,25}\b(?:in the )?"
    r"(?:mornings?|afternoons?|evenings?|weekends?|weekdays|before \d|after \d)"
    r"|\b(?:deliver(?:y|ies)|appointments?|visits?|calls?|pick-?ups?|drop-?offs?) (?:only )?(?:after|before|between) \d"
    r"|(?:\b(?:it|appointments?|visits?|calls?) |^)(?:has|have|needs?|need) to be (?:early|late|before \d|after \d"
    r"|in the (?:morning|afternoon|evening)|(?:a |on (?:a )?)?(?:monday|tuesday|wednesday|thursday|friday|saturday"
    r"|sunday|weekend|weekday)s?)"
    r"|\balways (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|weekend|weekday)s?\b"
    r"|\b(?:some|most|other) days\b[^.?!]*\b\d{1,2}(?::\d\d)?\s*(?:am|pm)\b"
)
_FINANCES = _rx(  # income and savings, said for a loan or a budget
    r"\b(?:i|we)\s+(?:\w+\s+)?(?:make|earn|bring in|take home|gross|net)\s+(?:about |around |roughly |approximately "
    r"|over |under |just under |just over )?[$€£]\s?\d"
    r"|\b(?:i|we)(?:'ve|\s+have)?\s+(?:\w+\s+)?saved\s+(?:up\s+)?(?:about |around |roughly |over |almost |nearly )?"
    r"[$€£]\s?\d"
    r"|\b(?:household|combined|annual|yearly|monthly) (?:income|salary) (?:is|of)\b"
)
_DRIVING = _rx(
    r"\b(?:can'?t|cannot|can not|don'?t|do not) (?:drive|handle) (?:a )?(?:stick|manual|stick shift)\b"
    r"|\bneither of us can drive\b|\b(?:automatic|manual) only\b|\bonly (?:drive )?(?:an )?automatics?\b"
)
# A death in the household ("we lost Mochi back in August", "since Harold passed"), or being widowed.
_LOSS = re.compile(
    r"\b(?:[Ww]e|I) (?:just |recently )?lost (?:(?:our|my) (?:\w+ )?)?(?:dog|cat|pet|puppy|kitten|[A-Z][a-z]+)\b"
    r"|\b(?:[Mm]y|[Oo]ur) (?:husband|wife|partner|dog|cat) (?:passed away|passed|died)\b"
    r"|\b[A-Z][a-z]+ (?:passed away|died)\b"
    r"|\b(?:[Ss]ince|[Aa]fter|[Ww]hen) (?:my (?:husband|wife|partner) |[A-Z][a-z]+ )(?:passed away|passed|died)\b"
    r"|\b(?:I'?m|I am|[Ii]m) (?:a )?widow(?:ed|er)?\b"
)
_ESTATE = _rx(r"\bin (?:my|our) will\b|\bbequest\b|\bestate plan\w*")
_REQUIREMENT = _rx(r"\b(?:requires?|required|have to keep|must stay|must be kept)\b")
_CHANNEL = _rx(
    r"\b(?:text|texts|txt|sms|e-?mails?|whatsapp|calls?|phone calls?|letters?|paper(?:less)?|by post|by mail"
    r"|in the post|in the mail|internet|online|post it|mail it|computers?|smartphones?|mobile|cell|landline"
    r"|ring me|ring my|in writing)\b"
)
_CHANNEL_CUE = _rx(
    r"\b(?:prefer\w*|only|rather|best|easier|instead|don'?t call|do not call"
    r"|no (?:calls|emails|texts|letters|paper|post|mail)"
    r"|by (?:e-?mail|text|sms|phone|whatsapp|post|mail|letter)|via"
    r"|(?:text|email|call|message|whatsapp) me (?:instead|only|rather)"
    r"|(?:don'?t|do not|never|rarely) (?:really )?(?:use|check|read|answer|pick up|want|like|do)"
    r"|(?:never|don'?t|do not|no more|no) (?:calls?|call me|ring me|phone me|emails?|email me|texts?|text me|letters)"
    r"|(?:call|text|reach|contact|ring) me (?:on|at) my (?:cell|mobile|landline|work|home|personal)"
    r"|(?:e-?mail|text|texts|whatsapp|phone|calls?)(?:'s| is| are| works)(?: just| much| way| a lot| so| far)*"
    r" (?:fine|best|good|ok|okay|better|easiest|easier)"
    r"|(?:terrible|bad|hopeless|awful|useless|not great|not good) (?:at|with) (?:phone calls|calls|the phone|e-?mails?"
    r"|texting|texts)|send (?:me )?everything|(?:ring|call) (?:me on )?my (?:mobile|cell)"
    r"|not (?:much|big|great|good) (?:for|on|with) (?:the )?(?:computers?|internet|technology|tech|e-?mail)"
    r"|please (?:post|mail) it|i don'?t have (?:a |an )?(?:computer|smartphone|email|internet|mobile|cell)"
    r"|not (?:the|my) (?:landline|home phone|work phone|mobile|cell|work email|personal email)"
    r"|stop sending|unsubscribe|opt(?:ed)? out|no (?:more )?(?:marketing|promo\w*))\b"
)
_LANGS = (
    r"english|spanish|french|german|portuguese|italian|mandarin|cantonese|chinese|arabic|hindi|polish|vietnamese"
    r"|korean|japanese|russian|ukrainian|tagalog|turkish|farsi|urdu|bengali|punjabi|somali|haitian creole|greek"
    r"|dutch|swahili|hebrew"
)
_LANGUAGE = _rx(
    rf"\b(?:in|speak|speaks|spoke|speaking|write|prefer)\b[^.]*\b(?:{_LANGS})\b|\b(?:first|native|main) language\b"
    r"|\bmy language is\b|\b(?:my )?(?:written |spoken )?english (?:on the phone |in writing )?(?:is )?(?:not|isn'?t"
    r"|little|poor|bad|limited|not so good)\b"
    rf"|\b(?:{_LANGS}) (?:is|would be) (?:much |a lot |far )?(?:easier|better|best|preferred)\b"
    rf"|\b(?:{_LANGS})\s+(?:please|only|pls|preferred|if possible)\b"
    r"|\bwrite (?:simple|simply|slowly)\b|\b(?:simple|plain|easy) (?:language|english|words)\b|\benglish learners?\b"
    r"|(?<!i'm an )(?<!i am an )(?<!i'm a )(?<!i am a )(?<!work as an )(?<!work as a )\b(?:interpreter|translator)\b"
)
_PREFERENCE = _rx(
    r"\b(?:switch|change|set|move|put) (?:my|our|the) (?:invoices?|bills?|statements?|currency|billing|payments?"
    r"|language|correspondence) to\b|\buse my (?:personal|work|other|new|private) (?:email|number|phone|address)\b|"
    r"\b(?:from now on|going forward|in (?:the )?future|(?:all )?future (?:correspondence|mail|letters|calls|emails)"
    r"|all (?:correspondence|mail|letters))\b|\bonly,? please\b|\bplease only\b"
    r"|\b(?:female|male|woman|man|women|men) (?:doctor|nurse|practitioner|technician|agent|driver|therapist|stylist)\b|"
    r"\b(?:i|we)\s+(?:really\s+|always\s+|usually\s+|generally\s+|much\s+)?(?:prefer|love|like|enjoy|hate|dislike)\b"
    r"|\b(?:i|we)\s+(?:always|usually|normally|only ever|only)\s+(?:order|buy|get|pick|choose|sit|book|use|go for"
    r"|pay|shop|fly|take|come|ask for|request|drink|eat|wear|travel|stay|park|bring|need|want)\w*\b"
    r"|\b(?:not |un)comfortable with\b|\b(?:don'?t|do not) trust\b|\b(?:i'?d|we'?d) rather not\b"
    r"|\b(?:mornings?|afternoons?|evenings?|weekends?|weekdays?|nights?) (?:are|is|work) (?:better|best)\b"
    r"|\b(?:mornings?|afternoons?|evenings?|weekends?|weekdays?|nights?) suits? (?:me|us)\b"
    r"|\b(?:i'?d|i would|we'?d|we would)\s+(?:prefer|rather)\b|\bprefer(?:ably|ence)?\b|\bideally\b"
    r"|\bfavou?rite\b|\bworks? (?:bett?er|best)\b|\b(?:is|are) best for (?:me|us)\b"
    r"|\b(?:would be|'d be|is|are) (?:much |a lot |far |so much )?(?:more )?(?:better|preferable|easier|manageable"
    r"|convenient)(?: for (?:me|us))?\b(?<!\bis better)(?<!\bare better)(?<!\bis easier)(?<!\bare easier)"
    r"|\b(?:exit row|aisle seats?|window seats?|extra leg ?room|bulkhead)\b"
)
_OCCUPATION = (
    r"nurse|doctor|physician|teacher|professor|engineer|developer|programmer|designer|contractor|electrician|plumber"
    r"|carpenter|student|cto|ceo|cfo|coo|founder|co-founder|owner|administrator|admin|manager|director|lawyer"
    r"|attorney|accountant|farmer|driver|chef|cook|pilot|pharmacist|paramedic|firefighter|police officer|officer"
    r"|veteran|consultant|freelancer|photographer|writer|artist|musician|architect|realtor|mechanic|therapist"
    r"|dentist|researcher|scientist|analyst|retiree|carer|caregiver|caretaker|homemaker|housewife|househusband"
    r"|vet|veterinarian|surgeon|midwife|barista|cashier|waitress|waiter|bartender|clerk|janitor|soldier|nanny|tutor"
)
_IDENTITY_JOB = _rx(
    rf"\b(?:i'?m|im|i am)\s+(?:a|an|the)?\s*(?:[\w-]+\s+){{0,4}}?(?:{_OCCUPATION})\b"
    r"|\b(?:i'?m|im|i am|we'?re|we are|and i are)\s+(?:both\s+)?(?:self-employed|retired|unemployed|a stay-at-home"
    r"|semi-retired"
    r"|freelance|students)\b"
    r"|\b(?:i|we)\s+(?:no longer\s+|don'?t\s+|do not\s+|now\s+|currently\s+|still\s+)?work(?:s)?\s+(?:as|at|for|in"
    r"|from home|nights|days|weekdays|weekends|remotely|night shifts"
    r"|[\w-]+-hour shifts|shifts)\b"
    r"|\b(?:i|we)\s+(?:run|own)\s+(?:a|an|my|our)\b|\bwork(?:s|ing)?\s+as\s+(?:a\s+|an\s+)?[\w-]{3,}"
    rf"|\b(?:i was|i used to be)\s+(?:a|an)\s+(?:[\w-]+\s+){{0,3}}?(?:{_OCCUPATION})\b"
    r"|\b(?:i|we)\s+(?:have|manage)\s+(?:a|an|my|our)\s+(?:small\s+|own\s+)?(?:[\w-]+\s+)?(?:office|firm|business"
    r"|company|practice|shop|store|restaurant|cafe|café|bakery|farm|studio|salon|agency|clinic)\b"
    r"|\bi (?:teach|nurse|lecture|tutor|farm|freelance)\b"
    r"|\b(?:military|army|navy|air force) base\b|\bin the (?:military|army|navy|air force|marines|national guard"
    r"|reserves)\b|\b(?:on )?active duty\b"
    r"|\b(?:i'?m|im|i am|we'?re|we are) (?:now |currently |still )?working (?:as|at|for|in|from home|nights"
    r"|night shifts|shifts|remotely|part[- ]time|full[- ]time)\b"
    r"|^work(?:ing)? (?:as|at|for|in|from home|nights|days|weekdays|weekends|shifts|mon\w*|\d)"
    r"|\b(?:i|we) work (?:\d+|two|three|several|multiple|full[- ]time|part[- ]time) (?:jobs|hours|days|shifts)?"
    r"|\b(?:i'?m|im|i am) (?:\w+ )?on (?:parental |maternity |paternity |sick |medical |long-term )?leave\b"
    r"|\b(?:i|we)\s+(?:both|all|now|mostly|also|currently)\s+work(?:s)?\s+(?:as|at|for|in|from home|nights|remotely)\b"
    r"|\b(?:we'?re|we are|and i are)\s+both\s+(?:[\w-]+\s+)?[\w-]+(?:ers|ors|ists|ians|ants|ents|ses|techs)\b"
    r"|\b(?:i'?m|im|i am)\s+(?:a|an)\s+(?:[\w-]+\s+){0,2}?(?!(?:customer|member|user|subscriber|holder|caller|buyer"
    r"|number|order|other|fan|lover|beginner|first|new|loyal|big|bit|little)\b)[\w-]{3,}(?:er|or|ist|ian|ant|ent|tech)\b"
    r"(?=\s*(?:$|[,.;!]|so\b|and\b|at\b|for\b|in\b|with\b|by\b))"
    r"|\b(?:we'?re|we are)\s+(?:a|an)\s+(?:[\w-]+\s+){0,3}?(?:bakery|restaurant|cafe|shop|store|firm|company|startup"
    r"|agency|clinic|practice|nonprofit|non-profit|charity|school|business|salon|studio|farm|family business"
    r"|team of \d+)\b"
)
_IDENTITY_PLACE = _rx(
    r"\b(?:i|we)\s+(?:have\s+|'ve\s+|had\s+|just\s+|recently\s+|finally\s+)*(?:live|lived|moved|relocated)\b"
    r"|\b(?:i|we)'ve\s+(?:just\s+|recently\s+)?(?:moved|relocated)\b|\b(?:i'?m|im|i am|we'?re|we are)\s+based in\b"
    r"|\b(?:i|we)\s+move\b(?=[^.]*\b(?:last|ago|yesterday)\b)"
    r"|\b(?:my|our) new (?:home )?address\b|\b(?:i|we) (?:have|'ve got) a new address\b"
    r"|(?:^|,\s*)(?:just |recently )?(?:moved|relocated) (?:to|into|in)\b"
    r"|\b(?:my|our) address (?:has )?changed\b"
    r"|\b(?:i'?m|im|i am|we'?re|we are|i come|we come)\s+(?!(?:calling|writing|texting|messaging|ringing|away|back|home"
    r"|work|here)\b)(?:\w+\s+)?from\s+(?!(?:home|work|school|the|a|my|our|your|here|there)\b)[a-z]{3,}"
)
_HOUSEHOLD = _rx(
    r"\b(?:i|we)(?:\s+just|\s+now|\s+also|\s+still|\s+finally)?(?:\s+have|'ve got|\s+have got|\s+got|\s+just had|\s+had"
    r"|\s+adopted|\s+are expecting"
    r"|'re expecting"
    r"|'ve)\s+(?:just\s+)?"
    r"(?:a|an|\d+|two|three|four|five|a second|another|our|my)?\s*(?:new\s+|second\s+|little\s+|baby\s+)?"
    r"(?:[\w-]+\s+){0,2}?(?:kids?|children|sons?|daughters?|bab(?:y|ies)|twins?|newborn|infant|toddlers?|teenagers?"
    r"|boys|girls|a boy|a girl"
    r"|dogs?|cats?|pupp(?:y|ies)|kittens?"
    r"|retrievers?|labs?|labradors?|parrots?|pets?|rabbits?|horses?|greyhounds?|beagles?|poodles?|terriers?|bulldogs?"
    r"|shepherds?|huskies|husky|spaniels?|collies?|chihuahuas?|dachshunds?|pugs?|corgis?|hamsters?|guinea pigs?"
    r"|ferrets?|tortoises?|turtles?)\b"
    r"(?!\s+(?:bed|food|toy|toys|leash|collar|bowl|treats|crate|seat|clothes|shoes|stroller|insurance|gate|door|hair))"
    r"|\bfamily of (?:\w+)\b|\bwith (?:my )?(?:\d+|two|three|four) (?:kids|children|sons|daughters)\b"
    r"|\b(?:me|myself) (?:\+|and|&|with) (?:my )?(?:\d+|two|three|four|five) (?:kids|children)\b"
    r"|\b(?:me|myself|us)\b[^.]{0,30}\b(?:\d+|two|three|four|five) (?:kids|children)\b"
    r"|\b(?:my|our) (?:husband|wife|partner),?\s+(?:and\s+)?(?:\d+|two|three|four|five) (?:kids|children)\b"
    r"|\b(?:i|we) (?:have|'ve got|got) a (?:\d+|[a-z]+)[- ](?:day|week|month|year)[- ]old\b"
    r"|\b(?:my|our) (?:little one|baby|newborn|toddler) (?:is|'s) (?:\d+|[a-z]+) (?:days?|weeks?|months?)\b"
    r"|\b(?:i'?m|i am) (?:\w+ )?breastfeeding\b|\b(?:our|my) first (?:home|house|flat|apartment)\b"
    r"|\bfirst[- ]time (?:home ?)?buyers?\b"
    r"|\bmy (?:\d+|[\w]+)-year-old (?:son|daughter|kid|child)\b"
    r"|\b(?:a|my|our) (?:baby|twins) (?:is )?on the way\b|\bi'?m pregnant\b"
    r"|\b(?:don'?t|do not|no longer) (?:have|own) (?:any )?(?:pets?|dogs?|cats?|kids|children|a car)\b"
    r"|\bmy (?:\d+|two|three|four|five) (?:kids|children|sons|daughters)\b|\bmy kids are\b"
    r"|\b(?:i'?m|im|i am) a (?:single |stay-at-home |working |new |first-time )?(?:mom|mum|dad|mother|father|parent"
    r"|grandmother|grandfather|grandparent|grandma|grandpa)\b"
    r"|\b(?:our|my) (?:dog|cat|pet|puppy|kitten) (?:passed away|died|was put down)\b"
    r"|\b(?:drop|pick up|take|bring) (?:off )?(?:the|my|our) (?:kids|children|son|daughter)\b"
    r"|\b(?:i|we|and i)\s+(?:recently\s+|just\s+)?(?:separated|divorced|split up|broke up|got married|got engaged)\b"
    r"|\b(?:i'?m|i am|i got|i just got|we'?re|we are|we got|we just got)\s+(?:now\s+|recently\s+)?(?:divorced|separated"
    r"|widowed|married|engaged)\b"
    r"|\b(?:i|we) (?:have|own) (?:\d+|two|three|four|five) (?:cars|vehicles|phones|lines|properties|homes|houses)\b"
)
_MAKES = (
    r"toyota|honda|ford|tesla|subaru|chevy|chevrolet|nissan|bmw|audi|mercedes|kia|hyundai|jeep|volkswagen|vw|mazda"
    r"|volvo|lexus|dodge|ram|gmc|porsche|civic|corolla|camry|accord|f-?150|outback|prius|rav4|cr-v|mustang"
    r"|silverado|wrangler|model [3sxy]|iphone|pixel|galaxy|ipad|macbook"
)
_OWNED_THING = _rx(
    r"\b(?:(?:have|own|drive|drives|got|bought|switched to|use|'ve got|just got|leased|traded in for)\s+"
    r"(?:a|an|the|my)?\s*|(?:it'?s|it is)\s+(?:a|an|the|my)\s+|my\s+)"
    rf"((?:(?:19|20)\d\d\s+)?(?:[A-Z][\w-]*\s+)?(?:{_MAKES})(?:[\s-]+(?:\d{{1,3}}|[A-Z][\w-]*|pro|max|plus|ultra))*)"
)
_YEAR_MODEL = _rx(
    r"\b(?:my|our)\s+((?:19|20)\d\d\s+(?!(?:tax|taxes|bill|statement|return|invoice|policy|season|plan|contract"
    r"|renewal|order|budget|report|payment|premium|rate|claim|account|booking|trip)\b)[a-z][\w-]+(?:\s+[a-z0-9][\w-]*)?)"
)
_DEVICE_USE = _rx(
    r"\b(?:on|use|using|have|got)\s+(?:a|an|my)\s+(?:mac|macbook|pc|windows (?:pc|laptop)|chromebook"
    r"|linux (?:pc|laptop)|android(?: phone)?)\b"
)
_FAULT = _rx(
    r"\b(?:drop\w*|fail\w*|outages?|broke\w*|break\w*|crash\w*|not working|doesn'?t work|stopped working|won'?t"
    r"|errors?|light|leak\w*|slow|disconnect\w*|down|noise|problem|issue|overcharg\w*|missing|late"
    r"|charged twice|double[- ]charged|frozen|freez\w*|declined|stolen|lost|damaged|wrong|incorrect|logged out"
    r"|low|weak|poor|intermittent|noisy|no hot water|cold|crack\w*|shatter\w*|water (?:in|coming into|leaking into)"
    r"|missed|no-show|never showed|didn'?t show|threw|thrown|rude|ignored|banned|suspended|blocked|locked|hacked"
    r"|ripped|torn|scratched|dented|smashed|chipped|stained|buffer\w*|lag\w*|fault\w*|error codes?"
    r"|(?:taken|took|charged|billed|debited) (?:me|my|£|\$|€|\d)"
    r"|log(?:ged|s)? (?:me )?out|flood\w*|mou?ld|pests?|no (?:hot )?water|no power|no signal|no service"
    r"|stall\w*|squeak\w*|rattl\w*|grind\w*|clunk\w*|burst|cuts? out|cutting out|(?:gone|goes|went|going) out"
    r"|(?:heat(?:er|ing)?|power|boiler|internet|wi-?fi|signal|electricity|lights?|water|cable|tv|phone|service)"
    r"(?:'s| is| are)? out)\b"
)
_RECURRENCE = _rx(
    r"\b(?:keeps?|kept)\s+\w+(?:ing)?\b|\bevery (?:day|night|evening|morning|time|week|month|monday|tuesday|wednesday"
    r"|thursday|friday|saturday|sunday|weekend)\b|\b(?:again|still|constantly|repeatedly|recurring)\b"
    r"|\b(?:\d+|second|third|fourth|fifth|2nd|3rd|4th|5th)\s+times?\b|\b\d+\s+(?:outages|times|failures)\b"
    r"|\b(?:twice|(?:\d+|three|four|five|six|seven|eight|nine|ten|several|many|multiple|a few) times)\b"
    r"|\bfor (?:the past|weeks|months|days)\b|\bin a row\b"
    r"|\b(?:over|in|during) the (?:last|past) (?:few |couple of |\w+ )?(?:days|weeks|months|years|week|month|year)\b"
    r"|\b(?:two|three|four|five|several|many|\d+) of (?:my|our|the) \w+s\b"
    r"|\bsince\b(?!\s+(?:yesterday|today|this morning|last night|tonight|earlier|an hour|this afternoon|this evening))"
    r"|\b(?:whenever|every time|each time|every single time)\b|\b(?:second|third|fourth|fifth|2nd|3rd|4th|5th)\b"
    r"|\bhas been (?:failing|down|broken|dropping)\b|\balways\b|\blately\b|\b(?:has|have) been \w+ing\b"
    r"|\bit'?s happened\b|\bwhen(?:ever)? (?:i|we) (?!\w+ed\b)\w+"
    r"|\bfor (?:like |about |almost |over |more than |nearly )?(?:\d+|a|two|three|four|five|six|several|a few"
    r"|a couple of) (?:days|weeks|months|years)\b"
)
_KEEPS_HAPPENING = _rx(r"(?<!to )(?<!to just )\bkeeps? (?:on )?(?!(?:in mind|going\b(?! (?:down|off|out))))[a-z]+ing\b")
_DISPUTE = _rx(
    r"\b(?:second|third|fourth|fifth|2nd|3rd|4th|5th|\d+th) time (?:with|this (?:week|month|year)|in a row|now"
    r"|already)\b|"
    r"\b(?:i'?ve|we'?ve|i have|we have) been waiting (?:for )?(?:\d+|two|three|four|five|six|over|more than|almost)\b|"
    r"\b(?:second|third|fourth|fifth|2nd|3rd|4th|5th|\d+th) (?:ticket|complaint|claim|report|request|call|email"
    r"|letter)s?\b|"
    r"\b(?:disput\w+|never authori[sz]ed|unauthori[sz]ed|fraud\w*|complain\w*|fed up)\b"
    r"(?<!have a complaint)(?<!make a complaint)(?<!file a complaint)(?<!lodge a complaint)"
    r"|\b(?:this is|that'?s|it'?s|i'?m|i am|we'?re|we are) (?:so |really |very |absolutely |just )?(?:ridiculous"
    r"|unacceptable|outrageous|frustrat\w+|angry|furious|upset|disappointed|not happy|unhappy|livid|disgusted)\b"
    r"|\b(?:\d+|two|three|four|five|second|third|fourth|fifth|2nd|3rd|4th|5th|several|multiple|many) times? (?:now )?"
    r"(?:i'?ve|i have|we'?ve|we have) (?:called|contacted|reached out|written|emailed|messaged|complained)\b"
    r"|\b(?:i'?ve|i have|we'?ve|we have) (?:called|contacted|written|emailed|messaged) (?:you )?(?:\d+|two|three|four"
    r"|five|several|multiple|many) times\b"
    r"|\bstill (?:haven'?t|hasn'?t|have not|has not|not) (?:received|got|gotten|heard|arrived"
    r"|been (?:fixed|resolved|refunded))"
)
_OWN_AGREEMENT = _rx(
    r"^the (?:\w+ )?(?:lease|contract|policy|membership|subscription|warranty|mortgage|loan|visa|permit|tenancy"
    r"|insurance)\b"
)
_ADDRESSEE = _rx(r"^(?:you|your|you're|you've|you'll|you guys|y'all)\b")
_OTHER_SUBJECT = _rx(r"^(?:the|this|that|these|those|his|her|their|its|it|it's|he|she|they)\b")
_NO_ANSWER = _rx(
    r"(?:no|nope|none|nah|not really|no thanks|n/a|nothing|not that i know of|i don'?t know|not sure|idk|ok|okay|yes"
    r"|yeah|yep|sure|correct|right|that'?s right|that'?s correct|same|same as before|thanks?|thank you)[.!]*"
)
# An agent's question about a lasting subject: (pattern, kind, subject, label of the answer).
_ASKED: tuple[tuple[re.Pattern[str], str, str, str], ...] = tuple(
    (_rx(pattern), kind, subject, label)
    for pattern, kind, subject, label in (
        (r"\ballerg", "constraint", "allergy", "Allergies"),
        (r"\b(?:dietary|diet|do you eat|food restrictions?)\b", "constraint", "diet", "Diet"),
        (
            r"\b(?:accessibility|mobility|accommodations?|assistance) (?:needs?|requirements?)\b",
            "constraint",
            "health",
            "Accessibility needs",
        ),
        (
            r"\b(?:best|good|preferred|convenient) time\b|\bwhen (?:is|are|would be) (?:a )?(?:good|best|convenient)",
            "constraint",
            "schedule",
            "Best time to reach",
        ),
        (
            r"\b(?:preferred|best|prefer\w*)\b.*\b(?:contact|reach|channel|method|way to (?:reach|contact))\b"
            r"|\bhow (?:should|would you like|do you (?:want|prefer)) (?:we|us|me) to (?:contact|reach)\b",
            "preference",
            "contact_channel",
            "Preferred contact",
        ),
        (r"\blanguage\b", "preference", "language", "Preferred language"),
        (r"\bwhere (?:do|are) you (?:live|living|located|based)\b|\bwhat city\b", "identity", "location", "Lives in"),
        (
            r"\b(?:what'?s|what is|can i (?:have|get)|could i (?:have|get)|may i have)\b[^?]*"
            r"\b(?:your |the |new |home )+address\b(?! on (?:the|your) (?:order|account|card))",
            "identity",
            "location",
            "Address",
        ),
        (r"\bwhere (?:are|will) you (?:be )?(?:moving|relocating)\b", "plan", "location", "Moving to"),
        (
            r"\bwhere (?:are|will) you (?:be )?(?:headed|heading|going|travel\w*|flying|off to)\b",
            "plan",
            "travel",
            "Travelling to",
        ),
        (
            r"\bwhen (?:are|is|will) (?:you|your)\b.*\b(moving|move|travel\w*|trip|flight|due|wedding|surgery"
            r"|leaving|starting|retir\w+|renew\w*)\b",
            "plan",
            "plan",
            "{0}",
        ),
        (
            r"\bbudget\b|\bhow much (?:are you|were you) (?:looking|hoping|planning) to spend\b",
            "constraint",
            "budget",
            "Budget",
        ),
        (
            r"\bwhat do you do\b|\boccupation\b|\bline of work\b|\bprofession\b|\bwhere do you work\b",
            "identity",
            "job",
            "Occupation",
        ),
        (r"\bhow many (?:people|kids|children|pets|dogs|cats|drivers|members)\b", "identity", "household", "Household"),
        (r"\b(?:shoe |dress |clothing )?size\b", "preference", "size", "Size"),
        (r"\bseat (?:preference|preferred)\b|\bwindow or aisle\b", "preference", "seat", "Seat preference"),
    )
)
_CANCEL = _rx(  # leaving: a plan another agent must know (not an errand: "cancel my cleaning tomorrow")
    r"\b(?:want|wanna|going|plan(?:ning)?|need|would like|'d like|have decided|'ve decided|decided) to (?:cancel|close"
    r"|end|terminate|leave) (?:my|our) (?:membership|subscription|account|contract|policy|service|plan|line)\b"
)
_BIG_PLAN = _rx(
    r"\b(?:i|we)\s*(?:'ll|will|'re going to|are going to|'m going to|am going to|plan to|want to|hope to"
    r"|are planning to|'re planning to|'m planning to|am planning to)\s+(?:\w+\s+){0,2}?"
    r"(?:move|relocate|retire|honeymoon|get married|emigrate|renovate|remodel|downsize"
    r"|sell (?:the|our|my) (?:house|home)|buy a (?:house|home|car|new car)|start a (?:business|family))\b"
    r"|\b(?:i|we)\s*(?:'re|are|'m|am)\s+(?:\w+\s+){0,2}?(?:moving|relocating|retiring|getting married|emigrating"
    r"|renovating|remodell?ing|downsizing|selling (?:the|our|my) (?:house|home)|buying a (?:house|home|car|new car)"
    r"|starting a (?:business|family))\b"
)
_STATEMENT = _rx(r"^(?:i|i'm|im|i am|i've|ive|i'd|i'll|we|we're|we are|we've|we'd|we'll|my|our)\b")
_ERRAND = _rx(
    r"\b(?:appointment|appt|booking|reservation|order|table|cleaning|check-?up|visit|delivery|pick-?up|meeting|session"
    r"|class|lesson|service|repair|installation|inspection|oil change|haircut|consultation|call|callback|slot)\b"
)


def _completes(previous: _Hit, hit: _Hit, clause: str) -> bool:
    """Whether a clause said without "I" in the next sentence completes the statement before it ("i work nights.
    afternoon only", "heater out again. 2nd time in a month"): a short one does; a longer one of the same kind
    does unless it has a subject of its own ("want to cancel my membership. moving to vancouver in jan")."""
    if _STATEMENT.search(clause):
        return False
    if len(clause.split()) <= 3:
        return True
    generic = ("", "plan", "preference")
    return previous.kind == hit.kind and (
        previous.subject in generic or hit.subject in generic or previous.subject == hit.subject
    )


def _channel_asks(sentences: list[str], message: Message, found: list[list]) -> str:
    """A question asking to be reached by a channel ("can you mail it? Regular mail?"), when the message also
    says why (a channel refused or hard, hearing, reading, forgetting); "" otherwise."""
    reason = any(f[0].subject in ("contact_channel", "health") for f in found) or _CHANNEL_REASON.search(
        " ".join(sentences)
    )
    if not reason:
        return ""
    for index, sentence in enumerate(sentences):
        ask = _CHANNEL_ASK.search(sentence) if sentence.rstrip().endswith("?") else None
        if ask:
            tail = [s.rstrip("?") for s in sentences[index + 1 : index + 3] if len(s.split()) <= 3 and s.endswith("?")]
            return ", ".join([_clean(sentence[ask.start(1) :].rstrip(" ?")), *tail])
    return ""


def _undated(candidate: Candidate) -> bool:
    """A candidate whose content carries no absolute date (the renderer writes one in brackets)."""
    return not re.search(r"\((?:[^()]*\b)?(?:19|20)\d\d\b", candidate.content)


def _days_from(iso: str, at) -> int:
    """Days from the message to a rendered date (a large number when it is not a plain day)."""
    found = re.search(r"\d{4}-\d{2}-\d{2}", iso)  # "week of 2026-11-30" counts from its Monday
    try:
        return (date.fromisoformat(found.group(0)) - at.date()).days if found else 10_000
    except ValueError:
        return 10_000


_COHABITS = _rx(r"\b(?:lives?|living|stays?|staying|moved in) with (?:me|us)\b|\b(?:i|we) live with (?:my|our)\b")
_PETS = (
    r"dogs?|cats?|pupp(?:y|ies)|kittens?|beagles?|poodles?|labradors?|labs?|retrievers?|terriers?|bulldogs?"
    r"|shepherds?|huskies|husky|chihuahuas?|dachshunds?|pugs?|corgis?|spaniels?|collies?|boxers?|rottweilers?"
    r"|dobermans?|schnauzers?|shih tzus?|pit ?bulls?|greyhounds?|parrots?|parakeets?|budgies?|hamsters?"
    r"|guinea pigs?|ferrets?|tortoises?|turtles?|rabbits?|bunn(?:y|ies)|horses?|ponies|pony|goldfish"
)
_MY_PET = _rx(
    rf"\b(?:my|our)\s+(?:\d+[- ]years?[- ]old\s+|\d+[- ]month[- ]old\s+|little\s+|old\s+|new\s+|senior\s+|rescue\s+)*"
    rf"(?:{_PETS})\b(?!\s+(?:bed|food|toy|toys|leash|collar|bowl|treats|crate|insurance|hair|walker|sitter|groomer))"
)
_HOME = _rx(
    r"\b(?:i|we)\s+(?:just\s+|recently\s+)?(?:installed|put in|have|got|added|switched to|upgraded to|bought"
    r"|closed on)\s+"
    r"(?:a\s+|an\s+|new\s+)*"
    r"(?:solar panels?|heat pump|ev charger|charging point|pool|hot tub|generator|septic|well water|wood stove"
    r"|smart meter|battery|home battery|electric (?:car|vehicle)|ev|basement|garage|garden|yard|apartment|condo"
    r"|house)\b"
    r"|\b(?:i'?m|i am|we'?re|we are|i live|we live) on the (?:\d+(?:st|nd|rd|th)|ground|first|second|third|fourth|fifth"
    r"|sixth|seventh|eighth|ninth|tenth|top) floor\b|\bno (?:elevator|lift)\b"
)
_HABIT = _rx(
    r"\b(?:i|we) (?:spend|live|stay|are) (?:the |our |my )?(?:winters?|summers?|half the year|part of the year)"
    r" (?:in|at|abroad|overseas)\b|"
    r"\b(?:i|we)\s+(?:travel|fly|go|drive|commute|visit|work|cook|order|shop|call|text|send|buy)\b.*\b(?:a lot|often"
    r"|frequently|regularly"
    r"|all the time|for work|most weekends)\b"
    r"|\b(?:i|we)\b[^.?!]{0,60}\bevery (?:january|february|march|april|may|june|july|august|september|october"
    r"|november|december)\b"
    r"|\b(?:i|we)\b[^.?!]{0,60}\b(?:every (?:day|week|month|year|summer|winter|spring|autumn|fall|weekend|morning"
    r"|evening|night|monday|tuesday|wednesday|thursday|friday|saturday|sunday|other week|two weeks)|each (?:week|month"
    r"|year)|monthly|weekly|yearly|annually|daily|nightly|twice a \w+|once a \w+|\d+ times a \w+"
    r"|every (?:couple (?:of )?|few |other |\d+ |two |three |six )(?:days|weeks|months|years)"
    r"|\d[\d,]* (?:\w+ )?(?:a|per) (?:day|week|month|year))\b"
)
_WISH = _rx(r"\b(?:i'?d|we'?d|i would|we would) (?:like|love|prefer)\b|\b(?:i|we) (?:want|wish)\b")
_BUSINESS = _rx(
    r"\b(?:we|i|and|now) (?:now )?(?:have|run|own|operate|employ|manage) (?:about |around |over |nearly |almost )?"
    r"\d[\d,]* (?:\w+ )?"
    r"(?:clinics|stores|shops|locations|sites|offices|branches|restaurants|employees|staff|people|users|seats|agents"
    r"|trucks|vehicles|units|properties|rooms|beds|students|members)\b"
    r"|\bwe'?re a (?:team|company|business|practice) of \d+"
    r"|\b(?:started|start|starting|run|own|opened|launched) (?:my|our) own (?:[\w-]+ )?(?:business|company|practice"
    r"|shop|firm|store|restaurant|agency|studio|salon|clinic|bakery)\b"
)
_ON_BEHALF = re.compile(  # a named business, not "my mother"; "this is Hugh Penrose at Penrose Farm"
    r"\b[Oo]n behalf of (?!My\b|Our\b|The\b|A\b)[A-Z][\w&'-]+"
    r"|\b(?:[Tt]his is|[Ii]t'?s|[Ii]ts|I'?m)\s+[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?,?\s+(?:at|from)\s+(?:[Tt]he\s+)?"
    r"[A-Z][\w&'-]+"
)
_SCHEDULE_WISH = _rx(
    r"\bevery (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b|"
    r"\b(?:change|move|switch|swap)\s+(?:it|that|this|them|my \w+|the \w+)\s+(?:to|over to)\s+(?:a\s+)?(?:monday"
    r"|tuesday|wednesday|thursday|friday|saturday|sunday)s?\b|"
    r"\b(?:please|best|prefer\w*|ideally|quietest|works best|better)\b[^.?!]*\b(?:mondays|tuesdays|wednesdays|thursdays"
    r"|fridays|saturdays|sundays|weekends|weekdays)\b"
    r"|\b(?:mondays|tuesdays|wednesdays|thursdays|fridays|saturdays|sundays|weekends|weekdays)\b[^.?!]*\b(?:best|better"
    r"|quietest|prefer\w*|ideal)\b"
)
_ASKS_TO_DO = _rx(
    r"^(?:(?:could|can|would|will) you|please)\s+(?:please\s+)?(?:send|share|upload|email|bring|forward|sign|check|try"
    r"|restart|attach|provide|give|fill|complete|hold|take|read|spell|verify|open|click|log|download|install|reply)\b"
)
# A time clause about someone else before an instruction: the instruction is what counts.
_SUBORDINATE = _rx(r"^(?:when|whenever|once|after|before)\s+(?:you|they|he|she|it)\b[^,]{3,60},\s*(?=\S)")
# Asked to be reached a certain way ("could you email me", "will somebody ring me?", "can you text me the day before?").
_CHANNEL_ASK = _rx(
    r"\b(?:can|could|would|will)\s+(?:you|u|somebody|someone|they),?\s+(?:(?:please|just|like),?\s+)*"
    r"((?:e-?mail|text|txt|mail|post|ring|call|phone|whatsapp)\s+(?:me|it|them|us)\b"
    r"|send (?:it|them|that|everything)\s+(?:by|via|on|through) (?:e-?mail|text|post|mail|whatsapp)\b)"
)
_CHANNEL_REASON = _rx(
    r"\b(?:always forget|i forget|deaf|hard of hearing|hearing|dyslexi\w+|can'?t read|eyesight|never (?:check|pick up"
    r"|answer)|don'?t do (?:the )?(?:e-?mail|computer|internet|phone)|phone calls are)\b"
)
_CHANGE_THAT = _rx(r"\b(?:change|move|switch|swap|make)\s+(?:it|that|this|them)\s+(?:to|over to|into)\b")
_REPORTED = _rx(
    r"^(?:[^.!?]*[.!?]+\s+)?(?:the|my|our) (?:vet|doctor|dentist|gp|allergist|pediatrician|paediatrician|physio"
    r"|nurse|specialist|surgeon)"
    r" (?:said|says|thinks|told (?:me|us))(?: that)?\s+"
)
_REQUEST_PREFIX = _rx(r"^(?:(?:can|could|would|will)\s+(?:you|u)|please|pls|plz)\s+(?:please\s+|pls\s+|also\s+)*")
_NOW_ONLY = _rx(
    r"(?:ideally|preferably|best|if possible)?\s*(?:the same day|today|tomorrow|tonight|asap|as soon as possible|now"
    r"|right away|then|this week)(?: (?:ideally|preferably|if possible))?"
)
_MEMBER = _rx(r"\b(?:my|our) (son|daughter|wife|husband|partner|baby|boy|girl)\b")
# The household said in passing, as the customer's party or by name ("me, my husband and our toddler", "my wife
# and I", "my partner Jess", "it's Carla, Mateo's mom"): an identity of its own. Not "my daughter can drive me"
# (someone who helps) nor "staying with my son" (a plan's detail).
_MEMBERS = (
    r"husband|wife|partner|fianc[ée]e?|son|daughter|toddler|baby|newborn|kids|children|twins|stepson|stepdaughter"
)
_HOUSEHOLD_MENTION = re.compile(
    r"(?:\b(?:[Mm]e|I|[Mm]yself|[Ww]e),?\s+(?:and\s+)?)?"
    r"(?:\b[Mm]y|\b[Oo]ur|(?<=and )the)\s+(?:(?:\d+[- ]?(?:year|month|week)s?[- ]old|little|eldest|youngest|teenage"
    rf"|new)\s+)?({_MEMBERS})\b(?:(?=,?\s+(?:and|&)\s+(?:I|me|my|our|the)\b)|,?\s+(?!I\b)([A-Z][a-z]+)\b)?"
    r"|\b(?:[Ii]'?m|[Ii]t'?s|[Ii]ts|[Tt]his is)\s+(?:[A-Z][a-z]+,?\s+)?([A-Z][a-z]+?)'?s\s+"
    r"(mom|mum|dad|mother|father|owner)\b"
    r"|\b(?:since|after) (?:having|we had|i had) (?:the|a|our|my) (baby)\b"
)
_COUNTED_MENTION = _rx(r"\b(?:my|our)\s+(\d+|two|three|four|five|six)\s+(kids|children|sons|daughters|dogs|cats)\b")
_NOT_HOUSEHOLD = _rx(r"\b(?:ex|late|former|ex-)[- ]?(?:husband|wife|partner)\b")
_HE_SHE = _rx(r"^(?:she|he)(?=(?:'s|'ll|\s+(?:is|has|just|now|starts|will|can'?t|cannot|needs))\b)")
# A name the customer gives as the subject of what follows ("Yes, Ava.", "Leo passed his egg challenge"): "she", "he"
# in the next sentences is that child or pet.
_NAMED = re.compile(
    r"(?:^(?:[Yy]es|[Yy]eah|[Yy]ep),?\s+([A-Z][a-z]{2,})[.!]?$"
    r"|\b(?!(?:This|That|There|Here|They|She|His|Her|The|Our|Your|What|When|Where|Which|Who|Why|How|It|Its)\b)"
    r"([A-Z][a-z]{2,})\s+(?:is|was|has|had|passed|got|will|starts|started|needs|turned|turns|just)\b)"
)
# A fault that began today or yesterday, said once, is this conversation's errand, not yet a lasting problem.
_JUST_BEGUN = _rx(
    r"\bsince (?:yesterday|today|this (?:morning|afternoon|evening)|last night|earlier|an hour ago)\b"
    r"(?!.*\b(?:again|twice|times|keeps?|every|whenever)\b)"
)
_CANT_ANSWER = _rx(
    r"\b(?:can'?t|cannot|can not|never|don'?t always|rarely) (?:pick up|answer|take calls|hear the phone)\b"
)
# Said to correct what came before in the conversation: the value said now wins ("scratch that, evenings").
_CORRECTION = _rx(
    r"\b(?:scratch that|correction|i meant|no wait|wait,? no|on second thought|changed my mind"
    r"|let me correct|make that|actually,? (?:no|it'?s|make))\b"
)
_THEN = _rx(r"\b(?:then|at that point|by then|from then on|at (?:the|that) renewal)\b")
# A subject people say over several sentences ("no calls. text only", "it has to be early. I can't leave school").
_ELABORATED = frozenset({"contact_channel", "schedule"})
_PAYDAY = _rx(r"\b(?:get|am|'m|are|'re) paid (?:on|every|each|at the end of|weekly|monthly|biweekly|fortnightly)\b")
_FUTURE_SELF = _rx(
    r"\b(?:i'?m|i am|we'?re|we are)\s+(?:\w+\s+)?\w+ing\b"
    r"|\b(?:i|we)\s*(?:'ll|will|plan to|intend to|hope to|want to|are going to|'re going to|am going to|'m going to)\b"
)
_UNRECOGNISED = _rx(
    r"\b(?:don'?t|didn'?t|do not|did not) recogni[sz]e\b|\bnot mine\b|\bi (?:didn'?t|never|did not) (?:make|buy|order"
    r"|authori[sz]e)\b|\bi haven'?t been to\b|\bsomeone (?:used|stole|hacked|accessed)\b|\bhacked\b|\bidentity theft\b"
    r"|\bstolen (?:card|phone|identity)\b"
)
_NEW_JOB = _rx(
    r"\b(?:started|start|starting|got|landed|took) (?:a )?new job\b|\blost my job\b|\b(?:got |been )?laid off\b"
    r"|\bbetween jobs\b|\bout of work\b"
)
_ABOUT_IT = _rx(  # a complaint that points back: "this is the second time I've called about it"
    r"\b(?:about|with|over|for|regarding) (?:it|this|that)\b(?!\s+\w+ing)|^(?:this|that|it)(?:'s| is| has)\b"
)
_DEICTIC_PLAN = _rx(
    r"\b(?:push|move|change|reschedule|postpone|bring forward|shift|put off|delay)\s+(?:it|that|this)\b"
)
_DECIDED = _rx(r"\b(?:i|we)\s+(?:have\s+|'ve\s+|just\s+|also\s+|finally\s+|now\s+)*decided\s+(?:to|not to|against)\b")
_TONE_DELIVERY = _rx(
    r"\b(?:light|heavy) sleeper\b|\b(?:early riser|night owl)\b|"
    r"\bring the (?:door ?)?bell\b|\bknock\b"
    r"|\b(?:i'?m|i am|we'?re|we are) (?:always|usually|mostly) (?:home|around)\b"
    r"|\b(?:send|email|text|call|contact)\b[^.?!]{0,30}\bme,? not (?:her|him|them)\b|"
    r"\bstop (?:calling|texting|emailing|sending|ringing)\b|\bin (?:my|our) (?:\d0s|twenties|thirties|forties|fifties"
    r"|sixties|seventies|eighties|nineties)\b|\bno (?:kids|children|pets)\b|"
    r"\b(?:leave|drop|deliver|delivery|deliveries)\b[^.?!]{0,45}\b(?:neighbou?rs?|porch|back door|side door|front desk"
    r"|reception|garage|(?:my|the) (?:office|work|workplace)"
    r"|mailroom|concierge|safe place|parcel box|locker|(?:side |back |front |garden )?gate|shed|letterbox|mailbox)\b|"
    r"\b(?:again this year|same as last (?:year|time)|as (?:usual|always)|like every year|the usual)\b|"
    r"\b(?:don'?t|do not|never) (?:discuss|share|give|disclose|talk about) (?:my|our) (?:account|details"
    r"|information|info|balance)\b|\bonly (?:speak|talk) to me\b|"
    r"\bkeep (?:it|replies|messages|answers|emails|things) (?:short|brief|simple)\b|\bbe (?:direct|brief"
    r"|straightforward)\b|\bno small talk\b|\bloyal to\b|\bswear by\b|\bstick (?:with|to) (?!the plan)\w+"
    r"|\b(?:best|good|easiest) (?:time )?(?:to|for) (?:reach|contact|call|text) (?:me|us)\b"
    r"|\bstraight to the point\b"
    r"|\bleave (?:it|them|the (?:parcel|package|box|delivery)|parcels|packages|deliveries) (?:at|with|by|in|on|behind"
    r"|outside|inside)\b|\b(?:don'?t|do not|never) leave (?:it|them|parcels|packages)\b"
    r"|\b(?:i'?m|i am) (?:an? )?(?:\w+ )?(?:person|guy|girl|fan|user|loyalist|kind of (?:guy|person))\b"
)
_COMPLIMENT_FAN = _rx(
    r"\bfan of (?:your|you|this|the)\b|\b(?:people|morning|night|dog|cat) person\b(?=.*\b(?:lol|haha)\b)"
)
_ROOMS = _rx(
    r"\b(?:\d+|two|three|four|five|six)[- ](?:bed(?:room)?s?|br|bath(?:room)?s?)\b|\b(?:ground|first|top|upper|lower)"
    r"[- ]floor\b|\b(?:i'?d|we'?d|i would|we would) like (?:a|an) (?:smaller|bigger|larger|quieter|cheaper|new)"
    r" (?:apartment|house|home|place|flat)\b"
)
_SIZE = _rx(
    r"\b(?:i|we)\s+(?:wear|take|am|'m|usually wear|always wear)\s+(?:a\s+|an\s+)?(?:size|us|uk|eu|xs|s|m|l|xl|xxl)\b"
    r"|\bsize \d{1,2}(?:\.5)?\b|\bbetween sizes\b"
)
# A wish about the matter at hand ("I would prefer to resolve this first"), not a lasting preference.
_THIS_ONCE = _rx(r"\b(?:prefer|rather|like|want) to \w+ (?:this|it|that)\b(?!.*\b(?:from now on|always|every time)\b)")
_COMPLIMENT = _rx(r"\b(?:love|like|enjoy|hate|dislike)\s+(?:your|you|this|that|it|the new|the service|the app)\b")
# A household member's fact that changes the service (their age, school, licence, allergy, a baby on the way):
# kept, unlike other statements about someone else.
_MEMBER_FACT = _rx(
    r"^(?:my|our)\s+(?:\d+[- ]?(?:year[- ]old|yo|yr[- ]old)\s+|little\s+|eldest\s+|youngest\s+|teenage\s+)?"
    r"(?:son|daughter|kids?|children|child|wife|husband|partner|baby|little one|boy|girl|twins)\b"
    r"(?!'s\b(?!\s+(?:pregnant|expecting|due|allergic|\d)))"
    r"(?=.*\b(?:allerg\w+|pregnant|expecting|due (?:in|on|next|this|at the end)|kindergarten|daycare"
    r"|(?:starts?|starting) (?:\w+ ){0,2}?(?:school|college|university|uni|kindergarten|daycare|nursery|preschool)"
    r"|nursery|licen[cs]e|driver'?s?|(?:learning to|started|starts|now) driv\w+|diabet\w+|autis\w+|wheelchair"
    r"|disabilit\w+|vegan|vegetarian|coeliac"
    r"|celiac|(?:is|'s) \d+|turn(?:s|ing) \d+)\b)"
)
_THIRD_PARTY = _rx(
    r"^(?:my|our)\s+(?:\d+-year-old\s+|elderly\s+|older\s+|younger\s+|little\s+|teenage\s+)?(?:mother|mom|mum|father|dad|daughter|son|wife|husband|partner|friend|sister"
    r"|brother|neighbou?r|colleague|boss|kid|child|grandmother|grandma|grandfather|grandpa|aunt|uncle|cousin|roommate"
    r"|grandson|granddaughter|grandkids?|grandchild(?:ren)?|nephew|niece|fiancée?|girlfriend|boyfriend"
    r"|landlord|tenant|employee)\b(?!'s|\s+and\s+(?:i|me)\b|,?\s+(?:and\s+)?(?:\d+|two|three|four|five)\s+(?:kids|children)\b)"
)
_ADDRESS_ME = re.compile(
    r"\b(?:[Pp]lease )?[Cc]all me (?=[A-Z][a-z]+\b)(?!Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
    r"|\b(?:I|i) go by\b|\b(?:I|i) prefer to be called\b|\b[Mm]y pronouns are\b"
)
_USAGE = _rx(
    r"\b(?:i|we)\s+(?:usually\s+|typically\s+|normally\s+|barely\s+|only\s+|hardly\s+|mostly\s+|probably\s+)?"
    r"(?:use|stream|spend|drive|fly|travel|call|order|text)"
    r"\s+(?:\w+\s+){0,3}?(?:like\s+|about\s+|around\s+|roughly\s+|over\s+)?\d[\d,.]*\s*(?:gb|tb|mb|hours?|miles"
    r"|km|times|minutes|calls|orders|texts|kwh)?"
    r"|\b(?:i|we)\s+(?:only\s+|always\s+|mostly\s+|mainly\s+)?use\s+(?:\w+\s+){1,3}?(?:for everything|all the time"
    r"|exclusively|every day|daily|for all)\b"
)
_WORKPLACE_NOW = re.compile(r"\b(?:I'?m|I am|[Ii]m) (?:now )?(?:at|with) (?!The\b|A\b|Home\b)[A-Z][a-z]+")
_PLACE_NOW = re.compile(
    r"\b(?:I'?m|I am|[Ww]e'?re|[Ww]e are)\s+(?:now\s+|currently\s+)?(?:in|living in|staying in)\s+(?!The\b|A\b)"
    r"[A-Z][a-z]+"
)
_TENURE = _rx(
    r"\b(?:customer|member|client|subscriber|patient) (?:since (?:19|20)\d\d|for (?:\d+|over \d+|many) years)\b"
    r"|\b(?:been )?(?:with|w/?) (?:u|y'all|you guys) (?:for )?\d+ (?:years|yrs|y)\b"
    r"|\bbeen with (?:you|you guys|your company|this company|the bank|[A-Z]\w+) (?:for )?(?:over |almost |nearly )?"
    r"(?:\d+|two|three|four|five|ten|many) years\b"
)
_NAME_CHANGE = _rx(
    r"\b(?:i|we) (?:have |'ve )?changed (?:my|our) (?:sur|last |family |maiden )?name\b"
    r"|\bmy (?:new |married )?(?:sur|last )?name is now\b"
)
_AGE_ALONE = _rx(
    r"\b(?:i'?m|i am)\s+(?:\d{2})\s*(?:years old|years|yrs|y/o)?\b(?!\s*(?:minutes|min|mins|hours|%|dollars|pounds))"
    r"|\b(?:i|we)'?m? (?:live|living) (?:alone|by myself|on my own)\b|\bi live alone\b|\bi'?m (?:all )?alone at home\b"
    r"|\bi am alone at home\b|\b\d{2} years old\b"
)
_NO_VEHICLE = _rx(
    r"\b(?:don'?t|do not|no longer|can'?t|cannot) (?:drive|own a car|have a car)\b|\bsold (?:the|my|our) (?:car|truck"
    r"|vehicle|motorcycle|bike|van)\b"
)
_THEIR_TRAIT = _rx(
    r"^(?:she|he|they)(?:'s|'ll|'d| is| are|'re| has| have| was| were| will| would| gets| uses| needs)\b"
    r"|\b(?:she|he|they)(?:'s| is| are|'re| has| have)\s+(?:\w+\s+){0,2}?(?:allergic|allergy|vegan|vegetarian|diabetic"
    r"|celiac|deaf|blind|pregnant|autistic|disabled)\b"
)
_BIRTHDAY = _rx(r"\bmy (?:birthday|b-?day)\b|\bi was born\b|\b(?:i'?m|i am) turning \d+")


@dataclass(frozen=True)
class _Hit:
    kind: str
    subject: str


def _problem(clause: str, strict: bool = False) -> bool:
    """A lasting problem: a dispute, an unrecognised charge, or a fault that recurs (not one begun today); `strict`:
    not merely something that "keeps happening" ("your app keeps recommending me veggie stuff")."""
    return bool(
        _DISPUTE.search(clause)
        or _UNRECOGNISED.search(clause)
        or (_KEEPS_HAPPENING.search(clause) and not strict)
        or (_FAULT.search(clause) and _RECURRENCE.search(clause) and not _JUST_BEGUN.search(clause))
    )


def _classify(clause: str, at) -> _Hit | None:
    if _CANT_ANSWER.search(clause) and not _THIRD_PARTY.search(clause):  # why calls do not reach them
        return _Hit("preference", "contact_channel")
    if _COHABITS.search(clause):  # "my elderly father lives with me" is the customer's household
        return _Hit("identity", "household")
    if _MEMBER_FACT.search(clause) and not _HYPOTHETICAL.search(clause):  # "our son starts kindergarten next fall"
        return _Hit("identity", "household")
    if _ADDRESSEE.search(clause) and _problem(clause, strict=True):  # "you've taken £39.99 off me AGAIN"
        return _Hit("problem", "")
    if _THIRD_PARTY.search(clause) or _ADDRESSEE.search(clause):  # about someone else, or about the business
        return None
    if _THEIR_TRAIT.search(clause) and not re.search(r"\b(?:i|i'm|im|i've|we|we're|we've)\b", clause, re.I):
        return None  # "she has a severe nut allergy", "egg-free, he's allergic": the customer's child, not them
    found_dates = dates.find(clause, at, future=True, ordinal_days=True)
    same_day = at.date().isoformat()
    has_date = any(iso != same_day for _, _, iso in found_dates)  # "leaving at 5 today" is no lasting plan
    someone_elses = (  # "the next course starts…"; but "the lease expires in three months" is the customer's
        _OTHER_SUBJECT.search(clause) and not _SELF.search(clause) and not _OWN_AGREEMENT.search(clause)
    )
    planned = _PLAN_VERB.search(clause) or (
        _FUTURE_SELF.search(clause)
        and not _OTHER_SUBJECT.search(clause)
        and any(_days_from(iso, at) > 2 for _, _, iso in found_dates)  # "I'll be home tomorrow" is logistics
    )
    if not has_date and _CANCEL.search(clause) and not someone_elses:
        return _Hit("plan", "cancellation")
    if not has_date and _BIG_PLAN.search(clause) and not _PAST.search(clause) and not someone_elses:
        return _Hit("plan", subject_of(clause) or "plan")  # "we want to do the honeymoon in Bali"
    if has_date and planned and not _PAST.search(clause) and not someone_elses:
        soon = all(_days_from(iso, at) <= 7 for _, _, iso in found_dates)
        if not (soon and _ERRAND.search(clause)):  # "cancel my cleaning tomorrow" is an errand, not a plan
            return _Hit("plan", subject_of(clause) or "plan")
    if _ALLERGY.search(clause):
        return _Hit("constraint", "allergy")
    if _DIET.search(clause):
        return _Hit("constraint", "diet")
    if _HOUSEHOLD.search(clause) and re.search(r"pregnant|baby|on the way", clause, re.I):
        return _Hit("identity", "household")
    if _HEALTH.search(clause):
        return _Hit("constraint", "health")
    if _BUDGET.search(clause):
        return _Hit("constraint", "budget")
    if _FINANCES.search(clause):
        return _Hit("constraint", "finances")
    if _DRIVING.search(clause):
        return _Hit("constraint", "driving")
    if _LOSS.search(clause):
        return _Hit("identity", "pet" if subject_of(clause) == "pet" else "household")
    if _ESTATE.search(clause) and _SELF.search(clause):
        return _Hit("plan", "estate")
    if _LANGUAGE.search(clause):
        return _Hit("preference", "language")
    if (
        _CHANNEL.search(clause)
        and _CHANNEL_CUE.search(clause)
        and not _PAST.search(clause)
        and not re.search(r"\b(?:today|tonight|right now|right away|shortly|in a moment|this time)\b", clause, re.I)
    ):
        return _Hit("preference", "contact_channel")
    if _AVAILABILITY.search(clause):
        return _Hit("constraint", "schedule")
    if _SIZE.search(clause):
        return _Hit("preference", "size")
    if _TONE_DELIVERY.search(clause) and not _COMPLIMENT_FAN.search(clause):
        return _Hit("preference", subject_of(clause) or "preference")
    if _ROOMS.search(clause) and not _PAST.search(clause):
        return _Hit("preference", "housing")
    if _BIRTHDAY.search(clause):
        return _Hit("identity", "birthday")
    if _ADDRESS_ME.search(clause):
        return _Hit("preference", "name")
    if _TENURE.search(clause):
        return _Hit("identity", "tenure")
    if _NO_VEHICLE.search(clause):
        return _Hit("identity", "vehicle")
    if _NAME_CHANGE.search(clause):
        return _Hit("identity", "name")
    if _AGE_ALONE.search(clause):
        return _Hit("identity", "household")
    if _PLACE_NOW.search(clause):
        return _Hit("identity", "location")
    if _WORKPLACE_NOW.search(clause):
        return _Hit("identity", "job")
    if _IDENTITY_JOB.search(clause) or _NEW_JOB.search(clause):
        return _Hit("identity", "job")
    if _IDENTITY_PLACE.search(clause):
        return _Hit("identity", "location")
    if _HOUSEHOLD.search(clause):
        return _Hit("identity", subject_of(clause) if subject_of(clause) == "pet" else "household")
    if _MY_PET.search(clause):
        return _Hit("identity", "pet")
    if _HOME.search(clause):
        return _Hit("identity", "home")
    if _problem(clause):
        return _Hit("problem", "")
    thing = _OWNED_THING.search(clause) or _YEAR_MODEL.search(clause)
    if thing:
        return _Hit("identity", subject_of(thing.group(1)) or "vehicle")
    if _DEVICE_USE.search(clause):
        return _Hit("identity", "device")
    if _PREFERENCE.search(clause) and not _COMPLIMENT.search(clause) and not _THIS_ONCE.search(clause):
        return _Hit("preference", subject_of(clause) or "preference")
    if _DECIDED.search(clause):
        return _Hit("plan", subject_of(clause) or "plan")
    if _USAGE.search(clause):
        return _Hit("preference", "usage")
    if _BUSINESS.search(clause) or _ON_BEHALF.search(clause):
        return _Hit("identity", "business")
    if _SCHEDULE_WISH.search(clause) or _PAYDAY.search(clause):
        return _Hit("preference", "schedule")
    if _HABIT.search(clause) and _WISH.search(clause):
        return _Hit("preference", "schedule")  # "I'd like to move to a weekly pickup": a wish, not a habit
    if _HABIT.search(clause) and not re.search(r"\b(?:don'?t|do not|won'?t) (?:have|need) to\b", clause, re.I):
        return _Hit("identity", "habit")
    if _REQUIREMENT.search(clause) and _SELF.search(clause):
        return _Hit("constraint", "requirement")
    return None


# --- rendering -----------------------------------------------------------------------------------------------

_IRREGULAR_PAST = frozenset(
    (  # noqa: SIM905 (a word list reads better as one string)
        "had got sold bought went came began was were did made took lost left found broke paid sent spent "
        "built told thought heard held kept met ran saw said sat stood won wrote drove flew fell felt forgot "
        "gave grew knew hurt let lent put quit read rode rang rose set shut sang slept spoke stole swam "
        "taught threw understood woke wore became"
    ).split()
)
_MODAL = {"'d": "Would", "would": "Would", "'ll": "Will", "will": "Will", "can": "Can", "can't": "Can't"}


def _third_person(verb: str) -> str:
    low = verb.lower()
    if low == "have":
        return "has"
    if low in ("shall", "should", "must", "may", "might", "will", "would", "can", "could", "do"):
        return "does" if low == "do" else verb
    if low in _IRREGULAR_PAST or (low.endswith("ed") and not low.endswith("eed")) or low.endswith("n't"):
        return verb
    if re.search(r"(s|sh|ch|x|z|o)$", low):
        return verb + "es"
    if re.search(r"[^aeiou]y$", low):
        return verb[:-1] + "ies"
    return verb + "s"


def _rewrite(text: str) -> str:
    """The leading first person as a statement about the customer: "I'm vegan" → "Vegan"."""
    m = re.match(r"^(?:i'?m|im|i am)\s+(?:(?:a|an|the)\s+(?=[\w-]+))?", text, re.IGNORECASE)
    if m and m.end() < len(text):
        text = text[m.end() :]
    else:
        m = re.match(r"^i(?:'ve|ve|\s+have)\s+(?:got\s+)?", text, re.IGNORECASE)
        if m:
            text = "has " + text[m.end() :]
        else:
            negated = re.match(r"^i\s+(?:(don'?t|do not)|(can'?t|cannot|didn'?t|won'?t|wasn'?t))\s+", text, re.I)
            m = re.match(r"^i(?:('d|'ll)|\s+(would|will|can))\s+", text, re.IGNORECASE)
            if negated:
                head = "doesn't" if negated.group(1) else negated.group(2)
                text, m = f"{head} {text[negated.end() :]}", None
            if m:
                text = _MODAL[(m.group(1) or m.group(2)).lower()] + " " + text[m.end() :]
            elif not negated:
                m = re.match(
                    r"^i\s+(?:(always|usually|never|really|also|just|normally|generally|rarely|often|sometimes|still|now|only)\s+)?([\w-]+?n't|[\w-]+)",
                    text,
                    re.I,
                )
                if m:
                    adverb = f"{m.group(1)} " if m.group(1) else ""
                    text = f"{adverb}{_third_person(m.group(2))}{text[m.end() :]}"
    return text[:1].upper() + text[1:]


def _content(clause: str, hit: _Hit, at) -> str:
    thing = _OWNED_THING.search(clause)
    if thing and re.match(r"^(?:it'?s|it is)\b", clause, re.I):  # "it's the 2019 civic": say whose
        clause = f"Has a {thing.group(1).strip()}"
    text = clause
    text, _ = dates.render(
        text,
        at,
        future=hit.kind == "plan" or (hit.kind != "problem" and not _PAST.search(text)),  # a fault already happened
        ordinal_days=hit.kind == "plan",
    )
    text = _rewrite(text)
    text = _LEADING.sub("", text).strip() or text
    if re.fullmatch(r"\d{2}", text):  # "I'm 67"
        text = f"{text} years old"  # "I am also adding…" → "Adding…"
    text = text[:1].upper() + text[1:]
    if len(text) > MAX_CONTENT:
        text = text[: MAX_CONTENT - 1].rsplit(" ", 1)[0] + "…"
    return text


# --- the extractor -------------------------------------------------------------------------------------------


class BuiltinExtractor:
    """Rule-based, deterministic, offline. See the module docstring for the rules."""

    name = "builtin"
    version = "1.2"  # the rules made general against tune2 (1.1: against tune; 1.0: written against dev)

    def __init__(self):
        self._segmenter = pysbd.Segmenter(language="en", clean=False)
        self._referent = ""
        self._segmented: dict[str, list[str]] = {}  # text -> sentences, for one extract() call

    def _sentences(self, text: str) -> list[str]:
        return list(self._segments(text)[0])

    def _segments(self, text: str) -> tuple[list[str], frozenset[int]]:
        """The sentences of a message (pysbd, line by line: a line or a bullet is a statement of its own) and
        the indexes of those that start a line."""
        cached = self._segmented.get(text)  # each message is read for candidates, answers and the summary
        if cached is None:
            sentences, starts = [], set()
            for line in re.split(r"\n\s*(?:[-*\u2022]\s+)?", text):
                clean = _strip_symbols(line)
                if clean:
                    starts.add(len(sentences))
                    sentences += [s.strip() for s in self._segmenter.segment(clean) if s and s.strip()]
            cached = (sentences, frozenset(starts))
            self._segmented[text] = cached
        return cached

    def extract(self, messages: Sequence[Message]) -> tuple[list[Candidate], SummaryDraft | None]:
        self._segmented = {}
        self._referent = ""  # the child or pet the customer named last ("Yes, Ava.", "Mateo's mom"), for "she"/"he"
        candidates: list[Candidate] = []
        undated: list[tuple[int, str]] = []  # plans said without a date yet: (message id, clause)
        asked: str | None = None  # the agent's last question, for a short answer ("Any allergies?" "Shellfish.")
        for message in messages:
            if message.role == "agent":
                sentences = self._sentences(message.text)
                asked = sentences[-1] if sentences and sentences[-1].rstrip().endswith("?") else None
                if asked and _ASKS_TO_DO.search(asked):
                    asked = None  # "Could you send us the allergist's note?" asks for an action, not a fact
                continue
            if message.role != "customer":
                continue
            found = self._from_message(message, undated)
            if not found and asked:
                found = self._answer(asked, message)
                place = next((c for c in reversed(candidates) if c.subject == "location"), None)
                if found and found[0].subject == "location" and place:  # "moved to sheffield" … "14 Ecclesall Rd"
                    evidence = tuple(sorted({*place.evidence, message.id}))
                    merged = replace(
                        place, content=f"{place.content}; {found[0].content}"[:MAX_CONTENT], evidence=evidence
                    )
                    candidates[candidates.index(place)] = merged
                    found = []
            asked = None
            correcting = _CORRECTION.search(_strip_symbols(message.text))
            for candidate in found:
                for earlier in [c for c in candidates if c.subject and c.subject == candidate.subject]:
                    if correcting and earlier.kind == candidate.kind:  # the last value wins
                        candidates.remove(earlier)
                    elif earlier.kind == candidate.kind == "plan" and _undated(earlier) and not _undated(candidate):
                        candidates.remove(earlier)  # "we're moving house" … "Leeds, keys on the 12th": one plan
                        evidence = tuple(sorted({*earlier.evidence, *candidate.evidence}))
                        found[found.index(candidate)] = candidate = replace(candidate, evidence=evidence)
            for candidate in found:  # said again in the same words: one candidate, both messages as evidence
                key = " ".join(candidate.content.casefold().split())
                same = next(
                    (i for i, c in enumerate(candidates) if " ".join(c.content.casefold().split()) == key), None
                )
                if same is None and candidate.subject in _ELABORATED:  # "Letters are much better" … "By letter"
                    words = value_tokens(candidate.content)
                    same = next(
                        (
                            i
                            for i, c in enumerate(candidates)
                            if c.subject == candidate.subject and words and words <= value_tokens(c.content)
                        ),
                        None,
                    )
                if same is None:
                    candidates.append(candidate)
                else:
                    evidence = tuple(sorted({*candidates[same].evidence, *candidate.evidence}))
                    candidates[same] = replace(candidates[same], evidence=evidence)
        return candidates, self._summary(messages)

    def _answer(self, question: str, message: Message) -> list[Candidate]:
        """A short answer to an agent's question about a lasting subject, said with the question's topic."""
        answer = _clean(_strip_symbols(message.text)).rstrip(".!")
        if _THIRD_PARTY.search(answer):  # "My husband is vegetarian" answers for someone else
            return []
        answer = re.sub(r"^(?:it'?s|it is|i'?m|i am|we'?re|we are|i have|we have|my|our)\s+", "", answer, flags=re.I)
        found = next(((p.search(question), k, s, lb) for p, k, s, lb in _ASKED if p.search(question)), None)
        if found is None:
            return []
        asked, kind, subject, label = found
        if kind == "plan" and len(answer.split()) > 8:  # "Leeds. Headingley. We get the keys on the 12th."
            head, dated = [], []
            for sentence in (_clean(s).rstrip(".!") for s in self._sentences(message.text)):
                if dates.find(sentence, message.at, future=True, ordinal_days=True):
                    dated.append(sentence)
                elif not dated and len(" ".join([*head, sentence]).split()) <= 8:
                    head.append(sentence)
            if head and dated:
                answer = ", ".join([*head, dated[0]])
        if kind != "plan" and len(answer.split()) > 8:  # "418 Maple Avenue. Maple. By the corner with Birch."
            answer = _clean(self._sentences(answer)[0]).rstrip(".!")
        words = answer.split()
        if not words or len(words) > (20 if kind == "plan" else 8) or _NO_ANSWER.fullmatch(answer):
            return []
        if _QUESTION_START.search(answer) or answer.endswith("?") or _HEDGE.search(answer):
            return []
        label = label.format(*(g.capitalize() for g in asked.groups() if g))
        text, _ = dates.render(answer, message.at, future=kind == "plan", ordinal_days=kind == "plan")
        content = f"{label}: {text}"
        return [Candidate(content[:MAX_CONTENT], kind, (message.id,), message.at, subject)]

    def _from_message(self, message: Message, undated: list[tuple[int, str]]) -> list[Candidate]:
        """Candidates of one customer message, in the order they were said.

        `undated` carries, from one message to the next, the last plan said without a date ("I need to
        reschedule my knee surgery"), so that a later "push it to next month" says what "it" is.
        """
        found: list[list] = []  # [hit, clause, sentence index, evidence]
        owned: dict[int, str] = {}  # index in found -> a vehicle or phone named in passing
        sentences, line_starts = self._segments(message.text)
        context: tuple[int, str] | None = None  # a short clause without a rule, said just before one with a rule
        for index, sentence in enumerate(sentences):
            named_here = _NAMED.search(sentence)
            parent_of = _HOUSEHOLD_MENTION.search(sentence)
            if named_here:
                self._referent = named_here.group(1) or named_here.group(2)
            elif parent_of and parent_of.group(3):
                self._referent = parent_of.group(3)
            conditional = False  # "if they still say I owe it, I'm gonna dispute it": the whole sentence is an if
            for raw in _clauses(sentence):
                clause = _question_part(raw.strip())
                if clause is None or conditional:
                    conditional = False
                    continue
                corrected = _CORRECTION.search(clause)
                clause = _SUBORDINATE.sub("", _clean(clause))  # "when you send the documents, write in Portuguese"
                if re.match(r"if\b", clause, re.I) and _HYPOTHETICAL.search(clause):
                    # "if they still say I owe it, | I'm gonna dispute it": the main clause goes with it, unless the
                    # if-clause has its own ("if it's not back by Friday I'm doing a chargeback")
                    conditional = not re.search(r"\b(?:i'?m|i'?ll|i will|i am|we'?ll|we'?re|then)\b", clause[3:], re.I)
                    continue
                if len(clause.split()) < 2 - bool(corrected) or _FILLER_ONLY.fullmatch(clause.rstrip("!. ")):
                    continue
                clause = _REPORTED.sub("", clause)  # "the vet said she's allergic to chicken": what was said
                request = _REQUEST_PREFIX.match(clause)
                standing = bool(request and (_TONE_DELIVERY.search(clause) or _STANDING.search(clause)))
                if standing:
                    clause = clause[request.end() :]  # "can you leave it at the back door" is a standing instruction
                if _QUESTION_START.search(clause) or _HYPOTHETICAL.search(clause) or _HEDGE.search(clause):
                    continue
                member = _MEMBER.findall(" ".join(sentences[max(0, index - 1) : index + 1]))
                referent = f"My {member[-1].lower()}" if member else self._referent
                if referent and _HE_SHE.match(clause):  # "she's 16": the household member just named
                    named = re.sub(r"^(?:she|he)'s\b(?!\s+(?:got|been)\b)", "she is", clause, flags=re.I)
                    generic = _HE_SHE.sub("My child", named, count=1)
                    named = _HE_SHE.sub(referent, named, count=1)  # "he's 9" → "My son is 9", "Ava is 2"
                    fact = _classify(named, message.at)
                    if _MEMBER_FACT.search(generic) or (
                        not member and fact and fact.kind in ("plan", "constraint") and fact.subject != "budget"
                    ):
                        clause = named
                        before = sentences[index - 1] if index else ""
                        if not member and referent in before and len(before.split()) >= 4:
                            clause = f"{_clean(before).rstrip('.!')}; {clause}"  # "Leo passed his egg challenge; …"
                hit = _classify(clause, message.at)
                if hit is None and standing and _STANDING.search(clause) and len(clause.split()) > 1:
                    hit = _Hit(
                        "preference", subject_of(clause) or "preference"
                    )  # "change my autoship to every 6 weeks"
                    if (
                        re.search(r"\b(?:that|this|it)\b", clause, re.I) and index
                    ):  # "put that on my account permanently"
                        clause = f"{_clean(sentences[index - 1]).rstrip('.!')}; {clause}"
                if (
                    hit and found and found[-1][2] == index - 1 and _CHANGE_THAT.search(clause)
                ):  # "I have my groceries delivered every Thursday. I'd like to change that to Friday": one statement
                    found[-1][1] = f"{found[-1][1]}; {clause}"
                    continue
                if (
                    hit
                    and found
                    and found[-1][2] == index
                    and re.fullmatch(
                        r"(?:i'?d|i would|we'?d|we would)?\s*(?:prefer|rather|like|love)\s+(?:this|that|it)",
                        clause,
                        re.I,
                    )
                ):  # "if you have a colleague who speaks German, I would prefer this": the wish is what was just said
                    found[-1][1] = f"{found[-1][1]}, {clause}"
                    continue
                if hit and hit.kind == "preference" and _NOW_ONLY.fullmatch(clause):
                    hit = None  # "ideally the same day": this errand's timing, not a lasting wish
                if hit is None:
                    if found and found[-1][2] == index and len(clause.split()) <= 3:
                        found[-1][1] = f"{found[-1][1]}, {clause}"  # "…after the kids are in bed, so after 8"
                        continue
                    if (
                        found
                        and found[-1][2] == index
                        and found[-1][0].kind == "plan"
                        and _PLAN_VERB.search(clause)
                        and _SELF.search(clause)
                    ):  # "off from the 21st until the 4th, we're visiting my parents in Poland": what the plan is
                        found[-1][1] = f"{found[-1][1]}, {clause}"
                        continue
                    if (
                        undated
                        and len(clause.split()) <= 6
                        and re.match(r"(?:from|starting|on|in|by|until|next|this)\b", clause, re.I)
                        and not _SELF.search(clause)
                        and any(_days_from(iso, message.at) > 0 for _, _, iso in dates.find(clause, message.at, True))
                    ):  # "need to freeze my membership" … "from next monday. 6 wks": the plan's date, said as an answer
                        earlier_id, earlier = undated.pop()
                        found.append(
                            [
                                _Hit("plan", subject_of(earlier) or "plan"),
                                f"{earlier}: {clause}",
                                index,
                                (earlier_id, message.id),
                            ]
                        )
                        continue
                    if _PLAN_VERB.search(clause) and _SELF.search(clause) and not _PAST.search(clause):
                        undated[:] = [(message.id, clause)]
                    context = (index, clause) if 3 <= len(clause.split()) <= 14 else None
                    continue
                if context and context[0] == index and not (found and found[-1][2] == index):
                    clause = f"{context[1]}, {clause}"  # "no more mushrooms in the box, I've developed an intolerance"
                context = None
                evidence = (message.id,)
                if hit.kind == "plan" and undated and _DEICTIC_PLAN.search(clause):
                    earlier_id, earlier = undated.pop()
                    clause = f"{earlier}: {clause}"  # "reschedule my knee surgery: push it to next month"
                    evidence = tuple(sorted({earlier_id, message.id}))
                if (
                    found
                    and (found[-1][0] == hit or (hit.subject and found[-1][0].subject == hit.subject))
                    and found[-1][2] == index
                    and len(evidence) == 1
                ):  # same sentence, same subject: one statement ("my wife's pregnant, we're expecting twins in March")
                    found[-1][1] = f"{found[-1][1]}, {clause}"
                    continue
                if (
                    found
                    and found[-1][2] == index
                    and _THEN.search(clause)
                    and dates.find(found[-1][1], message.at, future=True, ordinal_days=True)
                    and not dates.find(clause, message.at, future=True, ordinal_days=True)
                ):  # "my plan renews on January 3rd and I want to switch to annual then": "then" is that date
                    found[-1][1] = f"{found[-1][1]}, {clause}"
                    continue
                same = next(
                    (f for f in reversed(found) if f[0] == hit and hit.subject in _ELABORATED and f[2] >= index - 2),
                    None,
                )
                if same:  # "stop sending me emails. 6 today. text only from now on": one wish, said over sentences
                    same[1] = f"{same[1]}; {clause}"
                    continue
                if (
                    found
                    and found[-1][2] == index - 1
                    and index not in line_starts  # a new line, or a bullet, is a statement of its own
                    and _completes(found[-1][0], hit, clause)
                ):
                    found[-1][1] = f"{found[-1][1]}; {clause}"
                    continue
                if (
                    re.search(r"\b(?:there|that place)\b(?!\s*(?:is|are|was|were|'s|'re)\b)", clause, re.I)
                    and index
                    and len(sentences[index - 1].split()) <= 12
                ):
                    clause = f"{clause} (re: {_clean(sentences[index - 1]).rstrip('.')})"  # what "there" points at
                if (
                    hit.kind == "problem"
                    and _ABOUT_IT.search(clause)
                    and not (found and found[-1][2] >= index - 2 and found[-1][0].kind == "problem")
                ):  # "This is the second time I've called about it": what "it" is, said just before
                    before = [s for s in sentences[max(0, index - 2) : index] if len(s.split()) >= 6]
                    if before:
                        clause = f"{_clean(before[-1]).rstrip('.!')}; {clause}"
                if AS_BEFORE.search(sentence) and not AS_BEFORE.search(clause):
                    clause = f"{clause} (as before)"  # "As before, I need…": reconciliation reads it as known
                found.append([hit, clause, index, evidence])
                pet = re.search(rf"\b({_PETS})\b", clause, re.I) if hit.subject == "pet" else None
                if pet:  # "we just got a puppy" … "the vet said she's allergic to chicken": she is the puppy
                    self._referent = f"My {pet.group(1).lower()}"
                thing = _OWNED_THING.search(clause)
                if (
                    thing
                    and hit.subject not in ("vehicle", "device")
                    and not re.search(r"\b(?:sold|switched|bought)\b", clause, re.I)
                ):
                    owned[len(found) - 1] = thing.group(1).strip()
        asks = _channel_asks(sentences, message, found)
        if asks:  # "could you email me the confirmation? I'm deaf in my left ear": a lasting wish, with its reason
            channel = next((f for f in found if f[0].subject == "contact_channel"), None)
            if channel and asks.casefold() in channel[1].casefold():
                pass  # already said as a wish ("could someone ring me instead?")
            elif channel:
                channel[1] = f"{channel[1]}; {asks}"
            else:
                found.append([_Hit("preference", "contact_channel"), f"Asks to be contacted: {asks}", 0, (message.id,)])
        out: list[Candidate] = []
        said = " ".join(clause for _, clause, _, _ in found).casefold()
        sentences_text = " ".join(sentences)
        counted = _COUNTED_MENTION.search(sentences_text)
        if counted and not any(hit.subject in ("household", "pet") for hit, _, _, _ in found):
            out.append(  # "can I book eye tests for my 3 kids": said in a question, still the household
                Candidate(
                    f"Has {counted.group(1)} {counted.group(2)}", "identity", (message.id,), message.at, "household"
                )
            )
            said += f" {counted.group(2)}"
        for mention in _HOUSEHOLD_MENTION.finditer(sentences_text):
            member, name, child, parent, baby = mention.groups()
            listed = (
                name
                or parent
                or baby
                or re.match(r"(?:me|i|myself|we)\b|the\b", mention.group(0), re.I)  # "me, my husband", "and the baby"
                or re.match(r",?\s+(?:and|&)\s", sentences_text[mention.end() : mention.end() + 8])  # "my wife and I"
                or re.search(r"\band\s+$", sentences_text[max(0, mention.start() - 6) : mention.start()])
            )
            if not listed or _NOT_HOUSEHOLD.search(mention.group(0)):
                continue
            if any(hit.subject == "household" for hit, _, _, _ in found):
                continue  # the message already says something of the household
            if parent:
                content = f"Parent of {child}"  # "Biscuit's mom": a pet or a child, named
            elif baby:
                content = "Recently had a baby"
            else:
                plural = member.lower() in ("kids", "children", "twins")
                content = f"Has {'' if plural else 'a '}{member.lower()}" + (f" ({name})" if name else "")
            key = (child or member or baby).casefold()
            if key in said or any(key in c.content.casefold() for c in out):
                continue  # a fact about them is already a candidate
            said += f" {key}"
            out.append(Candidate(content, "identity", (message.id,), message.at, "household"))
        for position, (hit, clause, _, evidence) in enumerate(found):
            if position in owned:  # the thing first: "Has a 2018 F-150", then what happens to it
                thing = owned[position]
                out.append(
                    Candidate(f"Has a {thing}", "identity", (message.id,), message.at, subject_of(thing) or "vehicle")
                )
            out.append(Candidate(_content(clause, hit, message.at), hit.kind, evidence, message.at, hit.subject))
        return out

    def _summary(self, messages: Sequence[Message]) -> SummaryDraft | None:
        """Reason, outcome and follow-ups: see `conversations.extraction.summary`."""
        return summarize(messages, self._sentences)
