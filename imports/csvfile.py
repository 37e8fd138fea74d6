"""Reading uploaded CSV files: the file rules (checked before mapping) and the row reader.

File rules (a failure rejects the file with a message naming the rule, the header or the line):
- CSV by content: UTF-8 with or without a BOM; spreadsheets (XLSX/XLS), PDFs, other binary
  files and other encodings (UTF-16, Latin-1, ...) are rejected;
- comma separated, RFC 4180 quoting (quoted commas and line breaks, "" for a quote); broken
  quoting (a quote left open) rejects the file rather than swallowing the rows after it;
- not empty, a header row and at least one data row, at most 1,000,000 data rows and 100 columns;
- headers: unique, no leading, trailing or consecutive spaces, only the allowed characters.
Blank lines are not rows. A row with a different number of cells than the header is a failed
row (see rows.py), not a file error.
"""

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from traits.charset import name_problem

MAX_ROWS = 1_000_000
MAX_COLUMNS = 100
SAMPLE_ROWS = 3
SAMPLE_LENGTH = 200  # characters of each sample value kept for the mapping page
DEFAULT_IDENTIFIER_KINDS = ("phone", "email", "whatsappid")

csv.field_size_limit(1024 * 1024)  # one cell may be up to 1 MB; more is not a customer attribute


class FileRuleError(ValueError):
    """The file breaks a file rule; the message says which and where."""


@dataclass
class CheckedFile:
    headers: list[str]
    samples: list[list[str]]  # per column, up to SAMPLE_ROWS values
    total_rows: int


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


def read_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line where the row starts, cells) for every data row; blank lines are skipped.

    Raises FileRuleError on broken quoting. The header row is not yielded.
    """
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, strict=True)
        previous = 0
        try:
            for cells in reader:
                start, previous = previous + 1, reader.line_num
                if start == 1 or not cells or (len(cells) == 1 and not cells[0].strip()):
                    continue  # the header, or a blank line (nothing, or only spaces)
                yield start, cells
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                raise FileRuleError(f"Line {previous + 1} has a cell longer than 1 MB.") from None
            raise FileRuleError(f"Line {previous + 1}: the CSV is malformed ({exc}).") from None


def read_headers(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        try:
            return next(csv.reader(handle, strict=True), [])
        except csv.Error as exc:
            raise FileRuleError(f"Line 1: the CSV is malformed ({exc}).") from None


def csv_file_check(path: Path) -> CheckedFile:
    """Apply every file rule to the file at `path`; FileRuleError names the first broken one."""
    check_encoding(path)
    headers = read_headers(path)
    if not any(headers):
        raise FileRuleError("The file is empty: it needs a header row and at least one data row.")
    problems = header_problems(headers)
    if problems:
        raise FileRuleError(" ".join(problems))
    samples: list[list[str]] = [[] for _ in headers]
    total = 0
    for _, cells in read_rows(path):
        total += 1
        if total <= SAMPLE_ROWS:
            for position, cell in enumerate(cells[: len(headers)]):
                samples[position].append(cell[:SAMPLE_LENGTH])
        if total > MAX_ROWS:
            raise FileRuleError(f"The file has more than {MAX_ROWS:,} data rows; split it into smaller files.")
    if total == 0:
        raise FileRuleError("The file has a header row but no data rows.")
    return CheckedFile(headers=headers, samples=samples, total_rows=total)


def template_csv() -> str:
    """The CSV template offered on the upload page: the default identifiers and Contact traits."""
    from traits.defaults import DEFAULT_TRAITS

    headers = list(DEFAULT_IDENTIFIER_KINDS) + [name for name, _, _ in DEFAULT_TRAITS if name != "phone"]
    return ",".join(headers) + "\r\n"
