"""Reading CSV files the imports take (partners, leads): rows with the line each starts on, and the
problems every import reports the same way (a cell the csv module cannot read, a NUL character)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from store.errors import ImportFailed

NUL_PROBLEM = ("contains a NUL character (\\x00), which cannot be stored — if the file was saved as UTF-16, "
               "save it again as CSV UTF-8")


def csv_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """(the line a row starts on, its cells) for every row of CSV text, the header first. A row the
    csv module cannot read is ImportFailed at that line: nothing after it can be trusted."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    while True:
        line = reader.line_num + 1  # where this row starts, even if a quoted field spans lines
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            if "field larger than field limit" in str(error):
                problem = (f"a cell runs past {csv.field_size_limit():,} characters, the most one may hold — most "
                           "likely a quote (\") in this row is never closed, so the rest of the file ran into it")
            else:
                problem = f"not readable as CSV ({error})"
            raise ImportFailed([(line, problem)]) from None
        yield line, cells


def nul_problems(header: list[str], cells: list[str]) -> list[str]:
    """`column: contains a NUL character …` for each cell of a row that has one."""
    return [f"{name}: {NUL_PROBLEM}" for name, cell in zip(header, cells) if "\x00" in cell]
