"""Relative and partial dates made absolute from the message time, rendered in ISO inside the text.

"moving out on the 15th of next month" said on 2026-11-25 → "moving out on the 15th of next month
(2026-12-15)". A day renders as YYYY-MM-DD, a month as YYYY-MM, a year as YYYY, a week as "week of
YYYY-MM-DD" (its Monday), a quarter as "Q1 2027, 2027-01 to 2027-03" (its months). Days may be
spelled as said on the phone ("the twelfth of next month"), months shortened after a preposition
("in jan"; not "mar" or "may", which are words), and counted from today ("3 weeks from today").
Phrases are found with the patterns below and resolved with `dateparser` (relative words, weekdays;
`RELATIVE_BASE` = the message time) and `python-dateutil` (calendar arithmetic); a bare month or
weekday is taken in the future for plans (so is a bare day, "until the 10th") and in the past for
what already happened ("we had a baby in September"); a season in its last month is next year's ("in
the fall" said in November); "the first Monday in January" is that day; "Monday week" (British) is
the Monday after the coming one.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import dateparser
from dateutil.relativedelta import relativedelta

from .subjects import CARDINALS

MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
_MONTH_ABBR = {m[:3]: i + 1 for i, m in enumerate(MONTHS)} | {"sept": 9}
_MONTH = (
    r"(january|february|march|april|may|june|july|august|september|october|november|december"
    r"|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)"
)
_FULL_MONTH = r"(january|february|march|april|june|july|august|september|october|november|december)"
_WEEKDAY = r"(monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_WEEKDAY_ABBR = r"(mon|tues|tue|wed|thurs|thu|fri|sat|sun)"
_WEEKDAY_FULL = {w[:3]: w for w in ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]}
_AMOUNT = r"(\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|twelve|a few|a couple of|couple of)"
_AMOUNTS = {"a": 1, "an": 1, **CARDINALS, "a few": 3, "a couple of": 2, "couple of": 2}
_ORDINAL_WORDS = {
    word: i + 1
    for i, word in enumerate(
        [
            "first",
            "second",
            "third",
            "fourth",
            "fifth",
            "sixth",
            "seventh",
            "eighth",
            "ninth",
            "tenth",
            "eleventh",
            "twelfth",
            "thirteenth",
            "fourteenth",
            "fifteenth",
            "sixteenth",
            "seventeenth",
            "eighteenth",
            "nineteenth",
            "twentieth",
        ]
    )
} | {"thirtieth": 30}
_ORDINAL_WORDS |= {f"twenty-{w}": 20 + n for w, n in list(_ORDINAL_WORDS.items())[:9]} | {"thirty-first": 31}
# A day said as an ordinal: "15th", or spelled, as people say it on the phone ("the twelfth of next month").
_ORD = r"(\d{1,2}(?=st|nd|rd|th)|" + "|".join(sorted(_ORDINAL_WORDS, key=len, reverse=True)) + r")(?:st|nd|rd|th)?"
_MONTH_SHORT = r"(jan|feb|apr|jun|jul|aug|sept|sep|oct|nov|dec)"  # "mar" and "may" are words too


# A day said as a cardinal, as second-language speakers often do ("on fifteen of next month").
_CARDINAL_DAYS = {
    word: i + 1
    for i, word in enumerate(
        [
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
}
_CARDINAL_DAYS |= {f"twenty-{w}": 20 + n for w, n in list(_CARDINAL_DAYS.items())[:9]} | {"thirty": 30}
_CARDINAL = "|".join(sorted(_CARDINAL_DAYS, key=len, reverse=True))


def _day(word: str) -> int:
    word = word.lower()
    return int(word) if word.isdigit() else _ORDINAL_WORDS.get(word) or _CARDINAL_DAYS[word]


PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern, re.IGNORECASE))
    for kind, pattern in (
        ("day_of_relative_month", rf"\b(?:the )?{_ORD} of (next|this) month\b"),
        ("day_of_relative_month", rf"\b(?:on )?(?:the )?({_CARDINAL}) of (next|this) month\b"),
        ("nth_weekday", rf"\bthe (first|second|third|fourth|last) {_WEEKDAY} (?:in|of) {_FULL_MONTH}\b"),
        ("from_now", rf"\b{_AMOUNT} (days?|weeks?|months?|years?) (?:from (?:today|now)|later)\b(?! on\b)"),
        ("season", r"\b(?:in the|this|next|by the|until the|over the) (spring|summer|fall|autumn|winter)\b"),
        ("end_of", r"\b(?:the )?end of (the|this|next) (month|year)\b"),
        ("quarter", r"\b(next|this|last) quarter\b|\b[Qq]([1-4])(?: ((?:20)\d\d))?\b"),
        ("relative_unit", r"\b(next|this|last) (week|month|year|weekend)\b"),
        ("in_amount", rf"\bin {_AMOUNT} (days?|weeks?|months?|years?)\b"),
        (
            "next_period",
            rf"\b(?:over|for|in|within|during) the (?:next|coming) {_AMOUNT} (days?|weeks?|months?|years?)\b",
        ),
        ("ago", rf"\b{_AMOUNT} (days?|weeks?|months?|years?) ago\b"),
        ("day_word", r"\b(the day after tomorrow|tomorrow|tonight|today|yesterday)\b"),
        ("month_day", rf"\b{_MONTH}\.? (\d{{1,2}})(?:st|nd|rd|th)?(?:,? ((?:19|20)\d\d))?\b"),
        ("day_month", rf"\b(\d{{1,2}})(?:st|nd|rd|th)? (?:of )?{_MONTH}\b(?:,? ((?:19|20)\d\d))?"),
        ("day_month", rf"\b(?:the )?{_ORD} of {_MONTH}\b(?:,? ((?:19|20)\d\d))?"),
        ("weekday_week", rf"\b({_WEEKDAY}) week\b|\ba week on ({_WEEKDAY})\b"),  # British: the one after next
        ("relative_weekday", rf"\b(next|this|last|on|by|until|from|coming) ({_WEEKDAY}|{_WEEKDAY_ABBR})\b"),
        ("month_year", rf"\b{_FULL_MONTH} ((?:19|20)\d\d)\b"),
        ("relative_month", rf"\b(next|this|last|coming) {_FULL_MONTH}\b"),
        (
            "month",
            rf"\b(?:in|by|since|until|till|from|before|after|during|early|late|mid|end of|beginning of|start of|to)"
            rf" (?:early |late |mid-?)?{_FULL_MONTH}\b",
        ),
        ("month", rf"\b(?:early|late|mid)-?\s?{_FULL_MONTH}\b"),
        ("month", rf"\b(?:in|by|since|until|till|from|before|after|during|early|late|mid|end of) {_MONTH_SHORT}\b\.?"),
        ("month", rf"\b{_FULL_MONTH} (?:mid|end|start)\b"),  # "return is March mid"
        ("month", rf"\b(?:whole|all|rest|most|end|start|beginning|middle|first half|second half) of {_FULL_MONTH}\b"),
        ("month", rf"\bfor {_FULL_MONTH}\b"),
        ("month_may", r"\b(?:in|by|since|until|from|early|late|end of) may\b"),
        (
            "ordinal_day",
            r"\b(?:on|starting|from|until|till|through|by) the (\d{1,2})(?:st|nd|rd|th)\b"  # digits only
            r"(?! of (?:each|every|the) month)",
        ),
        (
            "holiday",
            r"\b(?:over |for |during )?the (holidays|festive season|christmas holidays)\b"
            r"|\b(christmas eve|christmas|new year'?s eve|new year'?s day|new year'?s|halloween|valentine'?s day"
            r"|independence day|the fourth of july|thanksgiving)\b",
        ),
        ("numeric", r"\b(?:on|by|until|till|before|after|from|since) (\d{1,2})/(\d{1,2})(?:/(\d{4}|\d{2}))?\b"),
        ("bare_weekday", rf"(?<!every )(?<!usual )(?<!each )(?<!every other )\b{_WEEKDAY}\b(?!s)"),
    )
)


def _base(at: datetime) -> datetime:
    return at.replace(tzinfo=None)


def _parse(phrase: str, at: datetime, future: bool) -> datetime | None:
    settings = {
        "RELATIVE_BASE": _base(at),
        "PREFER_DATES_FROM": "future" if future else "past",
        "RETURN_AS_TIMEZONE_AWARE": False,
    }
    return dateparser.parse(phrase, languages=["en"], settings=settings)


def _month_number(name: str) -> int:
    name = name.lower().rstrip(".")
    return MONTHS.index(name) + 1 if name in MONTHS else _MONTH_ABBR[name[:4] if name == "sept" else name[:3]]


def _year_for(month: int, day: int, at: datetime, future: bool) -> int:
    """The year of a month (day 0: the whole month) said without one: the next or the last such date."""
    today = at.date()
    if month == today.month and not day:
        return today.year
    if future:
        return today.year + 1 if (month, day) < (today.month, today.day) else today.year
    return today.year - 1 if (month, day) > (today.month, today.day) else today.year


def resolve(kind: str, match: re.Match[str], at: datetime, future: bool) -> str | None:
    """The ISO rendering of one matched phrase, or None when it cannot be resolved."""
    g = match.groups()
    day0 = at.date()
    if kind == "day_of_relative_month":
        first = date(day0.year, day0.month, 1) + relativedelta(months=1 if g[1].lower() == "next" else 0)
        try:
            return first.replace(day=_day(g[0])).isoformat()
        except ValueError:
            return None
    if kind == "nth_weekday":  # "the first Monday in January"
        month, weekday = _month_number(g[2]), list(_WEEKDAY_FULL.values()).index(g[1].lower())
        year = _year_for(month, 0, at, future)
        if g[0].lower() == "last":
            last = date(year, month, 1) + relativedelta(months=1, days=-1)
            return (last - timedelta(days=(last.weekday() - weekday) % 7)).isoformat()
        first = date(year, month, 1)
        nth = ["first", "second", "third", "fourth"].index(g[0].lower())
        return (first + timedelta(days=(weekday - first.weekday()) % 7, weeks=nth)).isoformat()
    if kind == "season":
        start_month = {"spring": 3, "summer": 6, "fall": 9, "autumn": 9, "winter": 12}[g[0].lower()]
        year = day0.year
        if match.group(0).lower().startswith("next") or (
            future and start_month + 2 <= day0.month
        ):  # its last month too
            year += 1
        return f"{g[0].lower()} {year}"
    if kind == "quarter":
        current = (day0.month - 1) // 3
        if g[0]:
            index = current + {"next": 1, "this": 0, "last": -1}[g[0].lower()]
        else:
            number = int(g[1])
            year = int(g[2]) if g[2] else (day0.year + 1 if number - 1 < current else day0.year)
            index = (year - day0.year) * 4 + number - 1
        year, number = day0.year + index // 4, index % 4 + 1
        return f"Q{number} {year}, {year}-{number * 3 - 2:02d} to {year}-{number * 3:02d}"  # a quarter: its months
    if kind == "end_of":
        step = 1 if g[0].lower() == "next" else 0
        if g[1].lower() == "month":
            return (day0 + relativedelta(months=step)).strftime("%Y-%m")
        return str(day0.year + step)
    if kind == "relative_unit":
        direction, unit = g[0].lower(), g[1].lower()
        step = {"next": 1, "this": 0, "last": -1}[direction]
        if unit in ("week", "weekend"):
            monday = day0 - timedelta(days=day0.weekday()) + timedelta(weeks=step)
            if unit == "weekend":
                return (monday + timedelta(days=5)).isoformat()
            return f"week of {monday.isoformat()}"
        if unit == "month":
            return (day0 + relativedelta(months=step)).strftime("%Y-%m")
        return str(day0.year + step)
    if kind == "next_period":
        amount = int(g[0]) if g[0].isdigit() else _AMOUNTS[g[0].lower()]
        unit = g[1].lower().rstrip("s")
        until = day0 + relativedelta(**{unit + "s": amount})
        return f"until {until.strftime('%Y-%m') if unit in ('month', 'year') else until.isoformat()}"
    if kind in ("in_amount", "ago", "from_now"):
        amount = int(g[0]) if g[0].isdigit() else _AMOUNTS[g[0].lower()]
        unit = g[1].lower().rstrip("s")
        delta = relativedelta(**{unit + "s": amount}) if unit != "week" else relativedelta(weeks=amount)
        when = day0 - delta if kind == "ago" else day0 + delta
        if unit == "month":
            return when.strftime("%Y-%m")
        if unit == "year":
            return str(when.year)
        return when.isoformat()
    if kind == "day_word":
        parsed = _parse(g[0].replace("tonight", "today"), at, future)
        return parsed.date().isoformat() if parsed else None
    if kind in ("month_day", "day_month"):
        month_name, day = (g[0], g[1]) if kind == "month_day" else (g[1], g[0])
        month, day = _month_number(month_name), _day(day)
        year = int(g[2]) if g[2] else _year_for(month, day, at, future)
        try:
            return date(year, month, day).isoformat()
        except ValueError:
            return None
    if kind == "weekday_week":  # "Monday week": the Monday after the coming one
        index = list(_WEEKDAY_FULL.values()).index((g[0] or g[1]).lower())
        ahead = (index - day0.weekday()) % 7 or 7
        return (day0 + timedelta(days=ahead + 7)).isoformat()
    if kind in ("relative_weekday", "weekday"):
        direction = g[0].lower() if kind == "relative_weekday" else ""
        name = (g[1] if kind == "relative_weekday" else g[0]).lower()
        name = _WEEKDAY_FULL.get(name[:3], name)
        wants_future = (
            direction in ("next", "this", "by", "until", "from", "coming")
            or (direction == "on" and future)
            or (not direction and future)
        )
        if direction == "last":
            wants_future = False
        if direction == "next":  # "next Tuesday" is the Tuesday of next week (the set's labelling rule)
            index = list(_WEEKDAY_FULL.values()).index(name)
            return (day0 - timedelta(days=day0.weekday()) + timedelta(weeks=1, days=index)).isoformat()
        parsed = _parse(name, at, wants_future)
        return parsed.date().isoformat() if parsed else None
    if kind == "relative_month":
        month = _month_number(g[1])
        if g[0].lower() == "last":
            return f"{day0.year if month < day0.month else day0.year - 1:04d}-{month:02d}"
        if g[0].lower() == "next" and month <= day0.month:
            return f"{day0.year + 1:04d}-{month:02d}"
        return f"{_year_for(month, 0, at, True):04d}-{month:02d}"
    if kind == "month_year":
        return f"{int(g[1]):04d}-{_month_number(g[0]):02d}"
    if kind in ("month", "month_may"):
        month = _month_number(g[0] if kind == "month" else "may")
        return f"{_year_for(month, 0, at, future):04d}-{month:02d}"
    if kind == "holiday":
        if g[0]:  # "over the holidays": late December of this year (or next, said after them)
            return f"{day0.year}-12" if day0.month < 12 or day0.day < 27 or not future else f"{day0.year + 1}-12"
        name = g[1].lower().replace("'", "")
        if name == "thanksgiving":  # the fourth Thursday of November

            def on(year: int) -> date:
                first = date(year, 11, 1)
                return first + timedelta(days=(3 - first.weekday()) % 7 + 21)
        else:
            month, day = {
                "christmas eve": (12, 24),
                "christmas": (12, 25),
                "new years eve": (12, 31),
                "new years day": (1, 1),
                "new years": (1, 1),
                "halloween": (10, 31),
                "valentines day": (2, 14),
                "independence day": (7, 4),
                "the fourth of july": (7, 4),
            }[name]

            def on(year: int) -> date:
                return date(year, month, day)

        when = on(day0.year)
        if future and when < day0:
            when = on(day0.year + 1)
        elif not future and when > day0:
            when = on(day0.year - 1)
        return when.isoformat()
    if kind == "numeric":
        first, second = int(g[0]), int(g[1])
        month, day = (first, second) if first <= 12 else (second, first)  # US order unless it cannot be
        if g[2]:
            year = int(g[2]) + (2000 if len(g[2]) == 2 else 0)
        else:
            year = _year_for(month, day, at, future) if 1 <= month <= 12 else 0
        try:
            return date(year, month, day).isoformat()
        except ValueError:
            return None
    if kind == "bare_weekday":
        parsed = _parse(g[0], at, future)
        return parsed.date().isoformat() if parsed else None
    if kind == "ordinal_day":
        day = _day(g[0])
        when = date(day0.year, day0.month, 1)
        if day <= day0.day:
            when += relativedelta(months=1)
        try:
            return when.replace(day=day).isoformat()
        except ValueError:
            return None
    return None


def find(text: str, at: datetime, future: bool, ordinal_days: bool = False) -> list[tuple[int, int, str]]:
    """Date phrases of `text` as (start, end, ISO rendering), left to right, never overlapping."""
    found: list[tuple[int, int, str]] = []
    for kind, pattern in PATTERNS:
        if kind in ("ordinal_day", "bare_weekday") and not ordinal_days:
            continue  # "on the 3rd", "Thursday" alone are dates only in a plan
        for match in pattern.finditer(text):
            start, end = match.span()
            if any(start < taken_end and taken_start < end for taken_start, taken_end, _ in found):
                continue
            try:
                iso = resolve(kind, match, at, future)
            except (ValueError, OverflowError):  # "in 99999 years": past the calendar, no date to give
                iso = None
            if iso:
                found.append((start, end, iso))
    return sorted(found)


def render(text: str, at: datetime, future: bool, ordinal_days: bool = False) -> tuple[str, bool]:
    """`text` with each date phrase followed by its absolute value in brackets; and whether there was one."""
    spans = find(text, at, future, ordinal_days)
    if not spans:
        return text, False
    out, last = [], 0
    for _start, end, iso in spans:
        out.append(text[last:end])
        out.append(f" ({iso})")
        last = end
    out.append(text[last:])
    return "".join(out), True
