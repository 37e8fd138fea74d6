"""The upload check and the worker's reader hold memory flat whatever one row holds (issue 13): a
row of millions of cells spread over lines by a quoted line break, a line of emoji (4 bytes a
character in CPython) and the like are refused naming their line, with peak RSS growth under 50 MB.

Peak RSS is measured in a fresh child process, after its imports and again after the check:
tracemalloc misses memory the csv module and the text decoder hold outside Python objects. The
child reads its own high-water mark, VmHWM in /proc/self/status (its memory since exec), because
``ru_maxrss`` keeps the test process's larger peak across fork and exec on Linux."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from imports.csvfile import MAX_ROW_CELLS, FileRuleError, csv_file_check, read_rows

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc (Linux)")
ROOT = Path(__file__).resolve().parent.parent
LIMIT_MB = 50

_CHILD = """
import json, sys
from imports.csvfile import CsvLayout, FileRuleError, csv_file_check, read_rows

def peak():  # KB
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

path, how = sys.argv[1], sys.argv[2]
before = peak()
try:
    if how == "check":
        csv_file_check(path)
    else:
        for _ in read_rows(path, CsvLayout(width=2)):
            pass
    message = ""
except FileRuleError as exc:
    message = str(exc)
print(json.dumps({"message": message, "growth_mb": (peak() - before) / 1024}))
"""


def _measured(path: Path, how: str) -> tuple[str, float]:
    """(the FileRuleError's message or "", peak RSS growth in MB) of checking `path` in a child."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), how], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    return answer["message"], answer["growth_mb"]


@pytest.mark.parametrize("how", ["check", "worker"])
def test_a_row_of_millions_of_cells_over_quoted_line_breaks_is_refused_in_flat_memory(tmp_path, how):
    # The review's file: a quoted line break makes one row of five lines of 4,000,000 separators.
    path = tmp_path / "cells.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write('email,name\na@example.test,"x\n')
        for _ in range(5):
            handle.write('"' + "," * 4_000_000 + '"\n')
        handle.write('"\n')
    assert path.stat().st_size > 20_000_000
    message, growth = _measured(path, how)
    assert message == f"Line 2 has more than {MAX_ROW_CELLS:,} cells (a file has at most 100 columns)."
    assert growth < LIMIT_MB, f"peak RSS grew {growth:.0f} MB"


@pytest.mark.parametrize("how", ["check", "worker"])
def test_a_line_of_emoji_is_refused_in_flat_memory(tmp_path, how):
    # 40 MB of U+1F600: 10 M characters, 4 bytes each in a Python str.
    path = tmp_path / "emoji.csv"
    with open(path, "wb") as handle:
        handle.write(b"email,name\r\n")
        for _ in range(40):
            handle.write("\U0001f600".encode() * (1 << 18))
    message, growth = _measured(path, how)
    assert message == "Line 2 has a cell longer than 1 MB (1,048,576 characters)."
    assert growth < LIMIT_MB, f"peak RSS grew {growth:.0f} MB"


def test_a_line_of_emoji_cells_under_1_mb_is_refused_as_too_long_in_flat_memory(tmp_path):
    path = tmp_path / "emoji-cells.csv"
    cell = "\U0001f600" * 500_000
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write("email,name\r\n" + ",".join([cell] * 20) + "\r\n")
    message, growth = _measured(path, "check")
    assert message == "Line 2 is longer than 4 MB (4,194,304 characters)."
    assert growth < LIMIT_MB, f"peak RSS grew {growth:.0f} MB"


def test_a_row_over_4_mb_across_quoted_line_breaks_is_refused_naming_its_first_line(tmp_path):
    path = tmp_path / "long-row.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write('email,name\r\na@example.test,Ana\r\nb@example.test,"x\r\n')
        for _ in range(6):  # each line ends a cell of 800,000 characters and opens the next one
            handle.write("y" * 800_000 + '","\r\n')
        handle.write('"\r\n')
    with pytest.raises(FileRuleError, match=r"^Line 3 starts a row longer than 4 MB \(4,194,304 characters\) over"):
        csv_file_check(path)


def test_small_lines_of_a_quoted_cell_cannot_add_up_to_too_many_cells(tmp_path):
    # Each line closes the quoted cell, adds ten cells and opens another one: 2,000 cells in one row.
    path = tmp_path / "many-lines.csv"
    path.write_text('email,name\na@example.test,"x\n' + '",,,,,,,,,,"\n' * 200 + '"\n', encoding="utf-8")
    with pytest.raises(FileRuleError, match=f"^Line 2 has more than {MAX_ROW_CELLS:,} cells"):
        csv_file_check(path)


def test_separators_inside_quoted_cells_are_not_cells(tmp_path):
    # A note of 300 lines holding 1,200 commas, and a one-line cell of 5,000 commas: 2 cells each.
    note = "\n".join(["a, b, c, d, e"] * 300)
    path = tmp_path / "notes.csv"
    path.write_text(f'email,note\na@example.test,"{note}"\nb@example.test,"{"," * 5_000}"\n', encoding="utf-8")
    checked = csv_file_check(path)
    assert checked.total_rows == 2
    assert [(line, len(cells)) for line, cells in read_rows(path)] == [(2, 2), (302, 2)]
    assert next(read_rows(path))[1][1] == note
