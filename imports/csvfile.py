"""Reading uploaded CSV files: the file rules (checked before mapping) and the row reader.

File rules (a failure rejects the file with a message naming the rule, the header or the line):
- CSV by content: UTF-8 with or without a BOM; spreadsheets (XLSX/XLS), PDFs, other binary
  files and other encodings (UTF-16, Latin-1, ...) are rejected;
- the separator: a first line ``sep=X`` (Excel's way of declaring it; X a comma, semicolon, tab or
  vertical bar) declares it and is not part of the data; otherwise it is detected from the header
  and the first rows (4 KB) by the standard library's ``csv.Sniffer`` among comma, semicolon, tab and
  vertical bar. A header line that holds a comma outside quotes makes a comma file whatever the
  sniffer says (a header cannot contain a comma), so a comma file whose cells hold semicolons
  stays a comma file;
- RFC 4180 quoting (quoted separators and line breaks, "" for a quote); broken quoting (a quote
  left open) rejects the file rather than swallowing the rows after it;
- not empty, a header row and at least one data row, at most 1,000,000 data rows and 100 columns;
- no cell longer than 1 MB (1,048,576 characters) and no physical line longer than 8 MB: lines are
  read in bounded pieces, so a huge line is refused without being held in memory;
- headers: unique, no leading, trailing or consecutive spaces, only the allowed characters.
  Empty columns at the end (no header and no value in any row, or rows that end with a separator)
  are ignored, with a notice; a column without a header that holds a value rejects the file.
Blank lines are not rows. A row with a different number of cells than the header is a failed
row (see rows.py), not a file error. Line numbers always count the file's own lines (the
``sep=`` line is line 1).
"""

import codecs
import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from memory_console.text import MAX_VALUE_LENGTH
from traits.charset import name_problem

MAX_ROWS = 1_000_000
MAX_COLUMNS = 100
MAX_CELL_LENGTH = MAX_VALUE_LENGTH  # characters; a cell of exactly this many is accepted
MAX_LINE_LENGTH = 8 * MAX_CELL_LENGTH  # characters of one physical line (memory stays bounded by it)
SAMPLE_ROWS = 3
SAMPLE_LENGTH = 200  # characters of each sample value kept for the mapping page
# Characters of the file's start given to the sniffer: csv.Sniffer's quote regex is quadratic on
# hostile input (64 KB of ';"' took 31 s, 4 KB takes 0.1 s), and 4 KB holds the header and dozens of rows.
SNIFF_LENGTH = 4 * 1024
DEFAULT_IDENTIFIER_KINDS = ("phone", "email", "whatsappid")
SEPARATORS = {",": "comma (,)", ";": "semicolon (;)", "\t": "tab", "|": "vertical bar (|)"}
CELL_TOO_LONG = "has a cell longer than 1 MB (1,048,576 characters)"

csv.field_size_limit(MAX_CELL_LENGTH)  # one cell may be up to 1 MB; more is not a customer attribute

_SEP_LINE = re.compile(r"sep=(\\t|.)?", re.DOTALL)


class FileRuleError(ValueError):
    """The file breaks a file rule; the message says which and where."""


@dataclass(frozen=True)
class CsvLayout:
    """How to read a checked file: its separator, whether a ``sep=`` line comes first (skipped,
    but counted in line numbers), and how many header columns are kept (``None``: all; cells after
    them are dropped from a row when they are all empty, i.e. trailing empty columns)."""

    delimiter: str = ","
    declared: bool = False
    width: int | None = None


COMMA = CsvLayout()  # a plain comma separated file


@dataclass
class CheckedFile:
    headers: list[str]
    samples: list[list[str]]  # per column, up to SAMPLE_ROWS values
    total_rows: int
    delimiter: str = ","
    declared: bool = False  # the separator came from a sep= first line
    notes: list[str] = field(default_factory=list)  # what was ignored, for the mapping page


def separator_label(delimiter: str) -> str:
    """``"semicolon (;)"``: a separator named for people."""
    return SEPARATORS.get(delimiter, f"“{delimiter}”")


_SIGNATURES = [
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook?)"),
    (b"\xd0\xcf\x11\xe0", "an Excel .xls workbook"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x1f\x8b", "a gzip archive"),
]
_SAVE_AS = "Save it from your spreadsheet as “CSV UTF-8 (comma delimited)” and upload that."


def check_encoding(path: Path) -> None:
    """Reject binary files and anything that is not UTF-8 text, naming the line of a bad byte."""
    with open(path, "rb") as handle:
        head = handle.read(8)
        if not head:
            raise FileRuleError("The file is empty: it needs a header row and at least one data row.")
        for signature, what in _SIGNATURES:
            if head.startswith(signature):
                raise FileRuleError(f"This is {what}, not a CSV file. {_SAVE_AS}")
        # UTF-16 text with a BOM, or without one: ASCII text then has a NUL byte beside every letter.
        zeros = b"\x00" * 4
        utf16_ascii = len(head) == 8 and (head[::2] == zeros) != (head[1::2] == zeros)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or utf16_ascii:
            raise FileRuleError(f"The file is UTF-16 text; only UTF-8 CSV files can be imported. {_SAVE_AS}")
        handle.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")("strict")
        line = 1
        while chunk := handle.read(1 << 20):
            if b"\x00" in chunk:
                line += chunk[: chunk.index(b"\x00")].count(b"\n")
                raise FileRuleError(f"Line {line} holds a NUL byte: this is a binary file, not a CSV file.")
            pending = decoder.getstate()[0]  # the start of a character cut by the previous block
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                data = pending + chunk  # exc.start counts from the pending bytes (never a line break)
                line += data[: exc.start].count(b"\n")
                raise FileRuleError(
                    f"Line {line} is not valid UTF-8 text (byte 0x{data[exc.start]:02x}); the file may be in "
                    f"another encoding such as Latin-1 or Windows-1252. {_SAVE_AS}"
                ) from None
            line += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise FileRuleError(f"The file ends in the middle of a UTF-8 character. {_SAVE_AS}") from None


def header_problems(headers: list[str]) -> list[str]:
    problems = []
    if len(headers) > MAX_COLUMNS:
        problems.append(f"The file has {len(headers)} columns; at most {MAX_COLUMNS} are allowed.")
    seen: dict[str, int] = {}
    for position, header in enumerate(headers, start=1):
        if header == "":
            problems.append(f"Column {position} has no header.")
            continue
        problem = name_problem(header)
        if problem:
            problems.append(f"Header “{header}” (column {position}) {problem}.")
        if header in seen:
            problems.append(f"Header “{header}” appears twice (columns {seen[header]} and {position}).")
        else:
            seen[header] = position
    return problems


def _open(path: Path):
    return open(path, encoding="utf-8-sig", newline="")


class _LongLine(Exception):
    """A physical line longer than MAX_LINE_LENGTH; `reason` reads after "Line N"."""

    def __init__(self, reason: str):
        self.reason = reason


def _lines(handle, delimiter: str) -> Iterator[str]:
    """The physical lines of `handle`, each read with a bounded `readline`: a line longer than
    MAX_LINE_LENGTH raises _LongLine after holding at most that many characters."""
    readline = handle.readline
    while line := readline(MAX_LINE_LENGTH):
        if len(line) == MAX_LINE_LENGTH and line[-1] not in "\r\n":
            longest = max(map(len, line.split(delimiter)))
            if longest > MAX_CELL_LENGTH:
                raise _LongLine(CELL_TOO_LONG)
            raise _LongLine(f"is longer than {MAX_LINE_LENGTH // MAX_CELL_LENGTH} MB ({MAX_LINE_LENGTH:,} characters)")
        yield line


def _skip_declaration(handle, layout: CsvLayout) -> int:
    """Read past the ``sep=`` line when the layout has one; how many lines were skipped."""
    if layout.declared:
        handle.readline(MAX_LINE_LENGTH)
        return 1
    return 0


def _reader(handle, layout: CsvLayout):
    return csv.reader(_lines(handle, layout.delimiter), delimiter=layout.delimiter, strict=True)


def _csv_problem(exc: csv.Error, line: int) -> FileRuleError:
    if "field larger than field limit" in str(exc):
        return FileRuleError(f"Line {line} {CELL_TOO_LONG}.")
    return FileRuleError(f"Line {line}: the CSV is malformed ({exc}).")


def read_rows(path: Path, layout: CsvLayout = COMMA) -> Iterator[tuple[int, list[str]]]:
    """(line where the row starts, cells) for every data row; blank lines are skipped.

    Raises FileRuleError on broken quoting or an over-long cell or line. The header row (and a
    ``sep=`` line before it) is not yielded; trailing empty cells past ``layout.width`` are dropped.
    """
    width = layout.width
    with _open(path) as handle:
        offset = _skip_declaration(handle, layout)
        reader = _reader(handle, layout)
        previous = 0
        try:
            for cells in reader:
                start, previous = previous + 1, reader.line_num
                if start == 1 or not cells or (len(cells) == 1 and not cells[0].strip()):
                    continue  # the header, or a blank line (nothing, or only spaces)
                if width is not None and len(cells) > width and not any(cells[width:]):
                    del cells[width:]  # a trailing separator, or empty columns without a header
                yield start + offset, cells
        except _LongLine as exc:
            raise FileRuleError(f"Line {previous + 1 + offset} {exc.reason}.") from None
        except csv.Error as exc:
            raise _csv_problem(exc, previous + 1 + offset) from None


def read_headers(path: Path, layout: CsvLayout = COMMA) -> list[str]:
    with _open(path) as handle:
        offset = _skip_declaration(handle, layout)
        try:
            return next(_reader(handle, layout), [])
        except _LongLine as exc:
            raise FileRuleError(f"Line {1 + offset} {exc.reason}.") from None
        except csv.Error as exc:
            raise _csv_problem(exc, 1 + offset) from None


def _unquoted(line: str) -> str:
    """`line` without its quoted parts (a header's text outside quotes)."""
    return re.sub(r'"[^"]*"?', "", line)


def detect_layout(path: Path) -> CsvLayout:
    """The file's separator: declared by a ``sep=`` first line, else sniffed (see the module doc).

    Raises FileRuleError for a ``sep=`` line that declares a separator we do not read."""
    with _open(path) as handle:
        sample = handle.read(SNIFF_LENGTH)
        more = bool(handle.read(1))
    header = re.split(r"\r\n|\r|\n", sample, maxsplit=1)[0]
    declared = _SEP_LINE.fullmatch(header)
    if declared:
        found = declared.group(1) or ""
        found = "\t" if found == "\\t" else found
        if found not in SEPARATORS:
            shown = f"“{found}”" if found.isprintable() and found.strip() else repr(found)
            raise FileRuleError(
                f"Line 1 (sep={found}) declares the separator {shown}; only comma, semicolon, tab and vertical "
                "bar separated files can be imported."
            )
        return CsvLayout(delimiter=found, declared=True)
    if more and "\n" in sample:
        sample = sample[: sample.rindex("\n") + 1]  # whole lines only
    if "," in _unquoted(header):
        return CsvLayout(delimiter=",")
    try:
        found = csv.Sniffer().sniff(sample, delimiters="".join(SEPARATORS)).delimiter
    except csv.Error:  # one column, or nothing consistent: read it as comma separated
        found = ","
    # A separator the header does not hold would make the file one column: read it as a comma file.
    return CsvLayout(delimiter=found if found in SEPARATORS and found in _unquoted(header) else ",")


def csv_file_check(path: Path) -> CheckedFile:
    """Apply every file rule to the file at `path`; FileRuleError names the first broken one.

    Memory stays bounded whatever the file: bytes are read in 1 MB blocks, lines in pieces of at
    most MAX_LINE_LENGTH characters."""
    check_encoding(path)
    layout = detect_layout(path)
    raw_headers = read_headers(path, layout)
    if not any(raw_headers):
        raise FileRuleError("The file is empty: it needs a header row and at least one data row.")
    width = len(raw_headers)
    while raw_headers[width - 1] == "":
        width -= 1
    headers = raw_headers[:width]
    problems = header_problems(headers)
    if problems:
        raise FileRuleError(" ".join(problems))
    samples: list[list[str]] = [[] for _ in headers]
    total = trailing_rows = 0
    for line, cells in read_rows(path, layout):
        total += 1
        if len(cells) > width:
            extra = cells[width:]
            if not any(extra):
                trailing_rows += len(cells) > len(raw_headers)
            else:
                position = width + 1 + next(i for i, cell in enumerate(extra) if cell)
                if position <= len(raw_headers):
                    raise FileRuleError(
                        f"Column {position} has no header but line {line} holds a value in it: give the column "
                        "a header, or delete it."
                    )
        if total <= SAMPLE_ROWS:
            for position, cell in enumerate(cells[:width]):
                samples[position].append(cell[:SAMPLE_LENGTH])
        if total > MAX_ROWS:
            raise FileRuleError(f"The file has more than {MAX_ROWS:,} data rows; split it into smaller files.")
    if total == 0:
        raise FileRuleError("The file has a header row but no data rows.")
    notes = []
    if width < len(raw_headers):
        span = f"{width + 1}" if width + 1 == len(raw_headers) else f"{width + 1}-{len(raw_headers)}"
        plural = "s" if width + 1 < len(raw_headers) else ""
        notes.append(f"Empty column{plural} {span} at the end (no header, no values) ignored.")
    if trailing_rows:
        rows = f"{trailing_rows:,} rows end" if trailing_rows > 1 else "1 row ends"
        notes.append(f"{rows} with a separator after the last column (an empty cell without a header): ignored.")
    return CheckedFile(
        headers=headers,
        samples=samples,
        total_rows=total,
        delimiter=layout.delimiter,
        declared=layout.declared,
        notes=notes,
    )


def template_csv() -> str:
    """The CSV template offered on the upload page: the default identifiers and Contact traits."""
    from traits.defaults import DEFAULT_TRAITS

    headers = list(DEFAULT_IDENTIFIER_KINDS) + [name for name, _, _ in DEFAULT_TRAITS if name != "phone"]
    return ",".join(headers) + "\r\n"
