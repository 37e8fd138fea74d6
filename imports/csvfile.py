"""Reading uploaded CSV files: the file rules (checked before mapping) and the row reader.

File rules (a failure rejects the file with a message naming the rule, the header or the line):
- CSV by content: UTF-8 with or without a BOM; spreadsheets (XLSX/XLS), PDFs, other binary
  files and other encodings (UTF-16, Latin-1, ...) are rejected;
- the separator: a first line ``sep=X`` (Excel's way of declaring it; X a comma, semicolon, tab or
  vertical bar), also written quoted as ``"sep=X"`` by some tools, declares it and is not part of
  the data; otherwise it is detected from the header
  and the first rows (4 KB) by the standard library's ``csv.Sniffer`` among comma, semicolon, tab and
  vertical bar. A header line that holds a comma outside quotes makes a comma file whatever the
  sniffer says (a header cannot contain a comma), so a comma file whose cells hold semicolons
  stays a comma file;
- RFC 4180 quoting (quoted separators and line breaks, "" for a quote); broken quoting (a quote
  left open) rejects the file rather than swallowing the rows after it;
- not empty, a header row and at least one data row, at most 1,000,000 data rows and 100 columns;
- no cell longer than 1 MB (1,048,576 characters), no row longer than 4,194,304 characters
  (MAX_ROW_LENGTH, line breaks included: a row whose quoted cells hold line breaks spans several
  lines and counts them all) and no row of more than 1,000 cells (MAX_ROW_CELLS). Lines are read
  with a bounded ``readline`` and the cells of a row are counted (separators outside quotes) before
  the csv module splits it, so neither a huge line nor a row of millions of cells is ever held:
  memory stays under 50 MB whatever the file;
- headers: read in Unicode NFC (an NFD header and an NFC ``--map`` spec name the same column);
  unique, no leading, trailing or consecutive spaces, only the allowed characters.
  Empty columns at the end (no header and no value in any row, or rows that end with a separator)
  are ignored, with a notice; a column without a header that holds a value rejects the file.
Blank lines are not rows. A row with a different number of cells than the header is a failed
row (see rows.py), not a file error. Line numbers always count the file's own lines (the
``sep=`` line is line 1).

A failed-rows download uploaded again (`failed_rows_download`: its last five headers are the
download's own ``line, kind, column, value, reason``, or the same prefixed with ``import ``) is read
back to the values of the original file: the one ``'`` the download put before a cell starting with
``= + - @``, a tab or a carriage return (possibly after other ``'``) is removed, and its note lines
(kind ``note``) are not rows.

A profiles export (`imports.export`; recognised by `profiles_export`: an ``identifier:KIND`` header
and every other header a ``Group.trait`` path) is read back the same way: the one ``'`` its
`formula_escape` put before a cell is removed (`formula_unescape`), with a notice.
"""

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from memory_console.text import MAX_VALUE_LENGTH, text_nfc
from traits.charset import name_problem
from traits.defaults import DEFAULT_TRAITS

MAX_ROWS = 1_000_000
MAX_COLUMNS = 100
MAX_CELL_LENGTH = MAX_VALUE_LENGTH  # characters; a cell of exactly this many is accepted
# Characters of one row, line breaks included (a row spans lines when quoted cells hold line breaks).
# Memory stays bounded by it: a line of 4 M emoji is 16 MB as a str, 32 MB while readline joins it.
MAX_ROW_LENGTH = 4 * MAX_CELL_LENGTH
# Cells of one row: the column limit with room for rows a spreadsheet pads with empty cells; a row
# is refused before the csv module splits it into more (millions of tiny cells cost ~60 bytes each).
MAX_ROW_CELLS = 10 * MAX_COLUMNS
SAMPLE_ROWS = 3
SAMPLE_LENGTH = 200  # characters of each sample value kept for the mapping page
# Characters of the file's start given to the sniffer: csv.Sniffer's quote regex is quadratic on
# hostile input (64 KB of ';"' took 31 s, 4 KB takes 0.1 s), and 4 KB holds the header and dozens of rows.
SNIFF_LENGTH = 4 * 1024
DEFAULT_IDENTIFIER_KINDS = ("phone", "email", "whatsappid")
SEPARATORS = {",": "comma (,)", ";": "semicolon (;)", "\t": "tab", "|": "vertical bar (|)"}
CELL_TOO_LONG = "has a cell longer than 1 MB (1,048,576 characters)"

csv.field_size_limit(MAX_CELL_LENGTH)  # one cell may be up to 1 MB; more is not a customer attribute

_SEP_LINE = re.compile(r'(")?sep=(\\t|.)?(?(1)")', re.DOTALL)


class FileRuleError(ValueError):
    """The file breaks a file rule; the message says which and where."""


@dataclass(frozen=True)
class CsvLayout:
    """How to read a checked file: its separator, whether a ``sep=`` line comes first (skipped,
    but counted in line numbers), and how many header columns are kept (``None``: all; cells after
    them are dropped from a row when they are all empty, i.e. trailing empty columns), and whether
    it is a failed-rows download (its ``'`` escapes are removed and its note lines skipped)."""

    delimiter: str = ","
    declared: bool = False
    width: int | None = None
    download: bool = False  # a failed-rows download uploaded again: see `failed_rows_download`
    export: bool = False  # a profiles export (imports/export.py): its ' escapes are removed, see `profiles_export`


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


class _Refused(Exception):
    """A row the reader refuses before the csv module splits it; `reason` reads after "Line N"."""

    def __init__(self, reason: str):
        self.reason = reason


class _Record:
    """Shared by `_lines` and the loop over the csv reader: the loop sets `ended` each time the
    reader yields a record, so `_lines` knows whether its next line starts a row or continues one
    (a row goes on to the next line only when a quoted cell holds the line break)."""

    __slots__ = ("ended",)

    def __init__(self):
        self.ended = True


_QUOTED = re.compile(r'[^"]*(?:""[^"]*)*')  # the inside of a quoted cell, up to its closing quote


def _separators(line: str, delimiter: str, *, quoted: bool, most: int) -> int:
    """How many separators of `line` end a cell (those outside quotes, as the csv module reads
    them), counting no further than `most`. `quoted`: the line continues a quoted cell begun on an
    earlier line. Python work is one step per cell, and stops at `most`."""
    count, position, end = 0, 0, len(line)
    if not quoted and line.startswith('"'):
        quoted, position = True, 1
    while position < end:
        if quoted:
            position = _QUOTED.match(line, position).end()  # at the closing quote, or the line's end
            if position >= end:
                return count  # the quoted cell goes on to the next line
            position += 1
        separator = line.find(delimiter, position)
        if separator < 0:
            return count
        count += 1
        if count >= most:
            return count
        position = separator + 1
        quoted = line.startswith('"', position)
        position += quoted
    return count


def _has_long_cell(text: str, delimiter: str) -> bool:
    """Whether `text` holds more than MAX_CELL_LENGTH characters in a row without a separator: a
    few `find`/`rfind` calls in windows of that size (every two windows move on by at least one),
    never a copy of `text`."""
    start, end = 0, len(text)
    while end - start > MAX_CELL_LENGTH:
        stop = start + MAX_CELL_LENGTH + 1
        last = text.rfind(delimiter, start, stop)
        if last < 0:
            return True
        start = last + 1
    return False


def _too_long(piece: str, delimiter: str, *, spans_lines: bool) -> _Refused:
    if _has_long_cell(piece, delimiter):
        return _Refused(CELL_TOO_LONG)
    size = f"{MAX_ROW_LENGTH // MAX_CELL_LENGTH} MB ({MAX_ROW_LENGTH:,} characters)"
    if spans_lines:
        return _Refused(f"starts a row longer than {size} over several lines (quoted cells hold line breaks)")
    return _Refused(f"is longer than {size}")


def _too_many_cells() -> _Refused:
    return _Refused(f"has more than {MAX_ROW_CELLS:,} cells (a file has at most {MAX_COLUMNS} columns)")


def _lines(handle, delimiter: str, record: _Record) -> Iterator[str]:
    """The physical lines of `handle`, for the csv reader, each row (`record`) bounded before the
    reader sees it: at most MAX_ROW_LENGTH characters over all its lines (each `readline` asks for
    no more than the row has left) and at most MAX_ROW_CELLS cells, else _Refused.

    A row's first line is counted only when it is long enough to matter (`count`, then the exact
    `_separators` only with many separators); it is kept until the next call, and counted exactly
    if the row goes on, so the common one-line row costs nothing more."""
    readline = handle.readline
    most = MAX_ROW_CELLS  # separators: a row with this many has more than MAX_ROW_CELLS cells
    length = separators = 0
    first = None  # the row's first line, not counted yet
    while True:
        if record.ended:
            record.ended = False
            line = readline(MAX_ROW_LENGTH + 1)
            if not line:
                return
            length = len(line)
            if length > MAX_ROW_LENGTH:
                raise _too_long(line, delimiter, spans_lines=False)
            if length > most and line.count(delimiter) >= most:
                first, separators = None, _separators(line, delimiter, quoted=False, most=most)
                if separators >= most:
                    raise _too_many_cells()
            else:
                first = line  # the common one-line row: counted only if it goes on to a next line
        else:  # the row goes on: the line before ended inside a quoted cell
            if first is not None:
                separators, first = _separators(first, delimiter, quoted=False, most=most), None
            line = readline(MAX_ROW_LENGTH - length + 1)
            if not line:
                return  # inside quotes at the end of the file: the csv reader says so
            length += len(line)
            if length > MAX_ROW_LENGTH:
                raise _too_long(line, delimiter, spans_lines=True)
            if delimiter in line:
                separators += _separators(line, delimiter, quoted=True, most=most - separators)
                if separators >= most:
                    raise _too_many_cells()
        yield line


def _skip_declaration(handle, layout: CsvLayout) -> int:
    """Read past the ``sep=`` line when the layout has one; how many lines were skipped."""
    if layout.declared:
        handle.readline(SNIFF_LENGTH)  # detect_layout found the whole line in the first SNIFF_LENGTH
        return 1
    return 0


def _reader(handle, layout: CsvLayout, record: _Record):
    return csv.reader(_lines(handle, layout.delimiter, record), delimiter=layout.delimiter, strict=True)


def _csv_problem(exc: csv.Error, line: int) -> FileRuleError:
    if "field larger than field limit" in str(exc):
        return FileRuleError(f"Line {line} {CELL_TOO_LONG}.")
    if "unexpected end of data" in str(exc):  # the file ended inside a quoted cell
        return FileRuleError(
            f"Line {line}: the CSV is malformed (a quoted cell opened on this line is never closed: "
            'a " is missing, or a quote inside the cell is not doubled as "").'
        )
    return FileRuleError(f"Line {line}: the CSV is malformed ({exc}).")


# The failed-rows download (services.import_failed_rows_csv) writes these after the file's headers,
# prefixed with "import " when the file has a header of that name.
DOWNLOAD_COLUMNS = ("line", "kind", "column", "value", "reason")
DOWNLOAD_NOTE = "note"  # the kind of a note line (an identifier of an ingested row not kept)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_ESCAPED = re.compile(r"'+[=+\-@\t\r]")  # a cell the download escaped: one ' is removed


def failed_rows_download(headers: list[str]) -> bool:
    """Whether a file with these headers is a failed-rows download: its last five headers are
    exactly ``line, kind, column, value, reason``, or all five prefixed with ``import ``, after at
    least one header of the original file."""
    tail = tuple(headers[-len(DOWNLOAD_COLUMNS) :])
    return len(headers) > len(DOWNLOAD_COLUMNS) and (
        tail == DOWNLOAD_COLUMNS or tail == tuple(f"import {name}" for name in DOWNLOAD_COLUMNS)
    )


EXPORT_IDENTIFIER = "identifier:"  # a profiles export's identifier headers: identifier:KIND, identifier:KIND 2, ...


def profiles_export(headers: list[str]) -> bool:
    """Whether a file with these headers is a profiles export (`imports.export`): at least one header
    ``identifier:KIND`` (or ``identifier:KIND N``) and every other header a trait path ``Group.trait``
    (a dot after its first character). Its cells are read back without the ``'`` escapes the export
    wrote by the failed-rows download's rule (`formula_escape`, `formula_unescape`)."""
    identifiers = [header for header in headers if header.startswith(EXPORT_IDENTIFIER)]
    return bool(identifiers) and all(header.startswith(EXPORT_IDENTIFIER) or "." in header[1:-1] for header in headers)


def formula_escape(cell: str) -> str:
    """A cell as the failed-rows download and the profiles export write it: with a ``'`` before it when it starts with
    ``= + - @``, a tab or a carriage return, possibly after ``'`` (so spreadsheets do not run it,
    and so `formula_unescape` gives back exactly the cell)."""
    return "'" + cell if cell[:1] in FORMULA_STARTS or _ESCAPED.match(cell) else cell


def formula_unescape(cell: str) -> str:
    """The cell `formula_escape` was given: without the one ``'`` it added."""
    return cell[1:] if cell[:1] == "'" and _ESCAPED.match(cell) else cell


def read_rows(
    path: Path, layout: CsvLayout = COMMA, *, notes: list[int] | None = None
) -> Iterator[tuple[int, list[str]]]:
    """(line where the row starts, cells) for every data row; blank lines are skipped.

    Raises FileRuleError on broken quoting, an over-long cell or row, or a row of too many cells.
    The header row (and a ``sep=`` line before it) is not yielded; trailing empty cells past
    ``layout.width`` are dropped. For a failed-rows download (``layout.download``) the cells lose
    the download's ``'`` escapes and note lines are skipped (their line numbers appended to
    `notes` when given).
    """
    width = layout.width
    kind = None  # in a failed-rows download: the position of its "kind" column
    with _open(path) as handle:
        offset = _skip_declaration(handle, layout)
        record = _Record()
        reader = _reader(handle, layout, record)
        previous = 0
        try:
            for cells in reader:
                record.ended = True
                start, previous = previous + 1, reader.line_num
                if start == 1 and layout.download:
                    kind = len(cells) - 1 - next(i for i, cell in enumerate(reversed(cells)) if cell) - 3
                if start == 1 or not cells or (len(cells) == 1 and not cells[0].strip()):
                    continue  # the header, or a blank line (nothing, or only spaces)
                if width is not None and len(cells) > width and not any(cells[width:]):
                    del cells[width:]  # a trailing separator, or empty columns without a header
                if layout.export:
                    cells = [formula_unescape(cell) for cell in cells]
                if kind is not None:
                    cells = [formula_unescape(cell) for cell in cells]
                    if len(cells) > kind and cells[kind] == DOWNLOAD_NOTE:
                        if notes is not None:
                            notes.append(start + offset)
                        continue
                yield start + offset, cells
        except _Refused as exc:
            raise FileRuleError(f"Line {previous + 1 + offset} {exc.reason}.") from None
        except csv.Error as exc:
            raise _csv_problem(exc, previous + 1 + offset) from None


def read_headers(path: Path, layout: CsvLayout = COMMA) -> list[str]:
    """The header row's cells, in Unicode NFC."""
    with _open(path) as handle:
        offset = _skip_declaration(handle, layout)
        try:
            return [text_nfc(header) for header in next(_reader(handle, layout, _Record()), [])]
        except _Refused as exc:
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
        found = declared.group(2) or ""
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


DOWNLOAD_NOTICE = (
    "This is a failed-rows download: the ' added before cells starting with =, +, -, @ (or a tab or carriage "
    "return) is removed, so each cell reads as in the original file{notes}; its last five columns ({columns}) are "
    "not mapped unless you map them."
)


EXPORT_NOTICE = (
    "This is a profiles export (identifier:KIND and Group.trait headers): the ' the export added before cells "
    "starting with =, +, -, @ (or a tab or carriage return) is removed, so each cell reads as the "
    "value it was exported from."
)


def csv_file_check(path: Path) -> CheckedFile:
    """Apply every file rule to the file at `path`; FileRuleError names the first broken one.

    Memory stays bounded whatever the file: bytes are read in 1 MB blocks, rows of at most
    MAX_ROW_LENGTH characters and MAX_ROW_CELLS cells (peak RSS growth under 50 MB, tested).
    A failed-rows download is read as `read_rows` reads it (escapes removed, note lines skipped:
    not counted in `total_rows`), with a notice saying so."""
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
    download = failed_rows_download(headers)
    export = not download and profiles_export(headers)
    samples: list[list[str]] = [[] for _ in headers]
    total = trailing_rows = 0
    skipped: list[int] = []
    for line, cells in read_rows(path, replace(layout, download=download, export=export), notes=skipped):
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
    if download:
        lines = f", and its {len(skipped):,} note lines are skipped (they are not rows)" if len(skipped) > 1 else ""
        lines = ", and its note line is skipped (it is not a row)" if len(skipped) == 1 else lines
        columns = ", ".join(headers[-len(DOWNLOAD_COLUMNS) :])
        notes.append(DOWNLOAD_NOTICE.format(notes=lines, columns=columns))
    if export:
        notes.append(EXPORT_NOTICE)
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


# The template's one example row, by header: a fictional customer (an example.com address; the
# phone number of Twilio's documentation examples, valid so the row imports as it is).
TEMPLATE_EXAMPLE = {
    "phone": "+14155552671",
    "email": "ada@example.com",
    "whatsappid": "+14155552671",
    "firstName": "Ada",
    "lastName": "Lovelace",
    "address": "12 Example Street, London",
}


def template_csv() -> str:
    """The CSV template offered on the upload page: the default identifiers and Contact traits as the
    header, then one example row (`TEMPLATE_EXAMPLE`; cells quoted where they hold a comma)."""
    headers = list(DEFAULT_IDENTIFIER_KINDS) + [name for name, _, _ in DEFAULT_TRAITS if name != "phone"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerow([TEMPLATE_EXAMPLE[header] for header in headers])
    return out.getvalue()
