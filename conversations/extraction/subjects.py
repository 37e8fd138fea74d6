"""What an observation is about (its subject) and the words that carry its value.

Shared by the built-in extractor (which tags each candidate with a subject) and `reconcile()` (which
must find the subject of observations already saved, whatever extractor wrote them): the same small
lexicon reads both, so "Lives in Denver" and "I relocated to Austin" are both `location`.
"""

from __future__ import annotations

import re
import unicodedata

# Ordered: the first subject whose pattern occurs wins ("allergic to dog hair" is an allergy, not a pet).
SUBJECTS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in (
        ("allergy", r"\ballerg"),
        (
            "diet",
            r"\b(vegan|vegetarian|pescatarian|celiac|coeliac|gluten|lactose|dairy[- ]free|kosher|halal|keto"
            r"|eats? (meat|fish)|don'?t eat|do not eat|diet)\b",
        ),
        (
            "health",
            r"\b(wheelchair|walker|crutches|blind|deaf|hard of hearing|hearing aid|sickness|migraines?|asthma"
            r"|diabet\w*|epilep\w*|disabilit\w*|disabled|sensitive to|accessible|pregnan\w*)\b",
        ),
        (
            "pet",
            r"\b(dogs?|cats?|pupp(y|ies)|pups?|kittens?|retrievers?|labs|labradors?|parrots?|pets?|hamsters?"
            r"|rabbits?|horses?|greyhounds?|beagles?|poodles?|terriers?|bulldogs?|shepherds?|huskies|husky|spaniels?"
            r"|collies?|chihuahuas?|dachshunds?|pugs?|corgis?|guinea pigs?|ferrets?|tortoises?|turtles?|goldfish)\b",
        ),
        ("household", r"\b(kids?|children|sons?|daughters?|bab(y|ies)|twins|family of|married|wife|husband|partner)\b"),
        ("device", r"\b(iphone|pixel|galaxy|android|samsung|ipad|macbook|laptop)\b"),
        (
            "vehicle",
            r"\b(drives?|car|truck|suv|toyota|honda|ford|tesla|subaru|chevy|chevrolet|nissan|bmw|audi|mercedes"
            r"|kia|hyundai|jeep|volkswagen|vw|mazda|volvo|lexus|civic|corolla|camry|accord|f-?150|outback"
            r"|prius|rav4|cr-v|mustang|model [3sxy])\b",
        ),
        (
            "language",
            r"\b(english|spanish|french|german|portuguese|italian|mandarin|cantonese|arabic|hindi|polish"
            r"|first language|language|write simple|simple words)\b",
        ),
        (
            "contact_channel",
            r"\b(e-?mails?|texts?|txt|sms|whatsapp|calls?|phone calls?|call me|messages?|letters?|paper)\b",
        ),
        ("housing", r"\b(rent|renting|rental|buy(ing)? a (house|home)|looking to buy|mortgage|bedrooms?|\d[- ]?bed)\b"),
        ("location", r"\b(lives?|living|lived|moved|moving|move|relocat\w*|based in|address)\b"),
        ("budget", r"(budget|fixed income|afford|ceiling|[$€£]\s?\d)"),
        ("business", r"\b(users|seats|staff|employees|team of|locations|clinics|stores|branches|offices)\b"),
        (
            "job",
            r"\b(works?|working|job|occupation|employer|nurse|doctor|teacher|engineer|developer|contractor|cto|ceo"
            r"|founder|owner|administrator|admin|manager|student|self-employed|retired|freelanc\w*)\b",
        ),
        ("schedule", r"\b(mornings?|afternoons?|evenings?|nights?|weekends?|weekdays?|lunch)\b"),
    )
)

# A subject has one current value (a new value supersedes the old one). Others may hold several facts
# at once (two allergies, a dog and a cat's worth of health notes), so a new value there is a new fact.
SINGLE_VALUED = frozenset(
    {"diet", "pet", "device", "vehicle", "language", "contact_channel", "housing", "location", "budget", "job"}
)

STOPWORDS = frozenset(
    (  # noqa: SIM905 (a word list reads better as one string)
        "a an the and or but so to of in on at by for from with about as into over than then that this these "
        "those is are was were be been being am i i'm im i've ive i'd i'll me my mine we we're we've our us "
        "you your it it's its they them their he she his her do does did don't dont not no have has had "
        "having get got just also really very pls please thanks thank now anymore still only all any some one "
        "can could would will shall should may might must need want like prefer prefers preferred lives live "
        "living drives drive allergic allergy looking look is has uh um oh ok okay yes yeah lol too"
    ).split()
)
NEGATIONS = frozenset({"not", "no", "never", "don't", "dont", "doesn't", "isn't", "n't", "without", "stopped", "quit"})
# Words that say the value changed ("switched to", "not ... anymore", "sold the Corolla").
CHANGE = re.compile(
    r"\b(?:anymore|no longer|instead|switch\w*|sold|moved|moving|relocat\w*|changed|new|replaced|upgraded|traded"
    r"|got rid of|gets rid of|stop(?:s|ped)?|quit(?:s|ting)?|no more|gave up|gives up|used to|ex-|before i was"
    r"|formerly|previously|not any ?more)\b",
    re.IGNORECASE,
)
UNCHANGED = re.compile(
    r"\b(?:nothing|hasn'?t|has not|haven'?t|not|no)\s+(?:has\s+|have\s+)?changed\b|\bno change\b|\bstill\b"
    r"|\bsame (?:as|address|number|plan)\b|\bas (?:before|usual|always|ever)\b|\blike (?:always|before|usual)\b",
    re.IGNORECASE,
)
# Said to mark a restatement of what the business already knows ("as before", "like always").
AS_BEFORE = re.compile(r"\b(?:(?:same )?as (?:before|usual|always|ever)|like (?:always|before|usual))\b", re.IGNORECASE)
# Subjects whose lexicon words are themselves the value (vegan vs vegetarian, email vs sms, iPhone vs
# Pixel): two statements naming different ones disagree.
EXCLUSIVE = frozenset({"diet", "contact_channel", "language", "device", "vehicle"})
COUNTED = frozenset({"pet", "household", "business"})  # subjects where a different count is a different value

SYNONYMS = {
    "txt": "sms",
    "text": "sms",
    "texts": "sms",
    "texting": "sms",
    "sm": "sms",
    "e-mail": "email",
    "emails": "email",
    "mail": "email",
    "phone": "call",
    "calls": "call",
    "ring": "call",
    "puppy": "dog",
    "puppies": "dog",
    "pup": "dog",
    "kitten": "cat",
    "children": "kid",
    "child": "kid",
    "kids": "kid",
}
CARDINALS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9}
CARDINALS |= {"ten": 10, "twelve": 12}
NUMBER_WORDS = {
    **CARDINALS,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "another": 2,
    "both": 2,
    "twins": 2,
}
_WORD = re.compile(r"[a-z0-9$€£][a-z0-9'$€£.,-]*[a-z0-9]|[a-z0-9]", re.IGNORECASE)


def normalize(text: str) -> str:
    """NFKC, lower case, straight apostrophes, single spaces."""
    text = unicodedata.normalize("NFKC", text).replace("\u2019", "'").replace("\u2018", "'")
    return " ".join(text.lower().split())


def subject_values(text: str, subject: str) -> set[str]:
    """The lexicon words of `subject` said in `text`, stemmed ("Prefers SMS" → {"sms"}; "txt only" → {"sms"})."""
    pattern = dict(SUBJECTS).get(subject)
    if pattern is None:
        return set()
    return {" ".join(stem(w) for w in match.group(0).lower().split()) for match in pattern.finditer(text)}


def subject_of(text: str) -> str:
    """The subject key of a statement ("location", "diet", ...), or "" when none of the lexicon occurs."""
    for name, pattern in SUBJECTS:
        if pattern.search(text):
            return name
    return ""


def stem(word: str) -> str:
    """A deliberately small stemmer: enough for peanuts/peanut, buying/buy, mornings/morning, moved/move."""
    word = SYNONYMS.get(word, word)
    for _ in range(2):
        for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
            if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
                word = word[: -len(suffix)] + keep
                break
    word = word.rstrip("e") if len(word) > 3 else word
    return SYNONYMS.get(word, word)


def words(text: str) -> list[str]:
    return [w.strip(".,") for w in _WORD.findall(normalize(text))]


def value_tokens(text: str) -> set[str]:
    """The stemmed words that carry the value ("denver", "peanut", "email"), framing and stop words removed."""
    tokens = words(text)
    tokens += [part for w in tokens if "-" in w for part in w.split("-")]  # "non-feather" also says "feather"
    return {stem(w) for w in tokens if w not in STOPWORDS and not _is_year(w) and len(w) > 1}


def negated_tokens(text: str) -> set[str]:
    """Value tokens within three words after a negation ("not vegetarian", "no emails")."""
    tokens = words(text)
    negated = set()
    for i, w in enumerate(tokens):
        if w in NEGATIONS or w.endswith("n't"):
            for following in tokens[i + 1 : i + 4]:
                if following not in STOPWORDS:
                    negated.add(stem(following))
    return negated


def counts(text: str) -> set[int]:
    """Small counts the statement gives ("2 kids", "a second dog", "family of four"); years are not counts."""
    found = set()
    for w in words(text):
        if w.isdigit() and not _is_year(w) and int(w) <= 20:
            found.add(int(w))
        elif w in NUMBER_WORDS:
            found.add(NUMBER_WORDS[w])
    return found


def _is_year(word: str) -> bool:
    return bool(re.fullmatch(r"(19|20)\d\d", word))


# Recall (conversations.recall): the words of a query that ask about a subject, so that a query can
# match an observation by meaning without a model: "where does the customer live" asks about
# `location` ("Moved to Austin" holds none of its words), "any allergies or diet?" about `allergy` and
# `diet` ("Vegetarian"). Each pattern is read over the normalised query (`normalize`); a query may
# ask about several subjects. Only these subjects' observations are tagged by `subject_of` above, so
# the vocabulary names the same keys. Kept small on purpose: a word here makes every observation of
# its subject a (weaker) match, so a word that says little ("time", "info") has no place.
QUERY_SUBJECTS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in (
        (
            "location",
            r"\b(lives?|living|reside\w*|address(es)?|home town|hometown|city|town|located|location|relocat\w*"
            r"|moved?|moving|based|where (?:\w+ )*(?:stay|from))\b",
        ),
        ("housing", r"\b(home|house|housing|apartment|flat|rent\w*|mortgage|bedrooms?|landlord)\b"),
        ("allergy", r"\b(allerg\w*|intoleran\w*|anaphyla\w*|epipen)\b"),
        ("diet", r"\b(diet\w*|eats?|eating|food|foods|meals?|vegan|vegetarian|halal|kosher|gluten)\b"),
        (
            "health",
            r"\b(health|medical|medication|condition|disabilit\w*|disabled|accessib\w*|wheelchair|mobility"
            r"|illness|pregnan\w*)\b",
        ),
        ("pet", r"\b(pets?|animals?|dogs?|cats?|pupp(y|ies))\b"),
        (
            "household",
            r"\b(family|families|kids?|children|child|married|spouse|partner|household|wife|husband|sons?"
            r"|daughters?|bab(y|ies))\b",
        ),
        ("device", r"\b(devices?|phone model|handset|smartphone|computer|laptop|tablet)\b"),
        ("vehicle", r"\b(cars?|vehicles?|drives?|driving|trucks?|suv)\b"),
        ("language", r"\b(languages?|speaks?|speaking|english|spanish|french|translat\w*)\b"),
        (
            "contact_channel",
            r"\b(contact\w*|reach(ed)?|call(s|ed|ing)?|phone|text(s|ed|ing)?|sms|e-?mails?|messag\w*|channels?"
            r"|whatsapp|notif\w*)\b",
        ),
        ("budget", r"\b(budget|afford\w*|spend|price range|income|money)\b"),
        ("business", r"\b(business|company|employees|staff|team size|seats|headcount)\b"),
        ("job", r"\b(jobs?|occupation|profession|employer|career|works?|working|for a living)\b"),
        ("schedule", r"\b(schedule|availab\w*|mornings?|afternoons?|evenings?|weekends?|weekdays?|hours)\b"),
    )
)


def query_subjects(query: str) -> tuple[str, ...]:
    """The subjects a recall query asks about, in `QUERY_SUBJECTS` order ("where does the customer
    live" → ("location",); "any allergies or diet?" → ("allergy", "diet"); "loyalty points" → ())."""
    text = normalize(query)
    return tuple(name for name, pattern in QUERY_SUBJECTS if pattern.search(text))
