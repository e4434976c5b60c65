"""Reading the CSV files people bring (spreadsheets saved as "CSV UTF-8"): text, then rows.

One reader for every import (places, scan logs): UTF-8 with or without a byte order mark,
comma- or semicolon-separated, a header line, blank lines skipped, and each row with the line
it starts on (quoted cells may span lines), so errors can name it.
"""
from __future__ import annotations

import csv
import io

from ingest.errors import IngestError, Message

Rows = list[tuple[int, list[str]]]


class UnreadableCsv(IngestError):
    """The file cannot be read as CSV at all; ``message`` says why, in both languages."""

    def __init__(self, message: Message) -> None:
        super().__init__(message.en)
        self.message = message


def csv_text(data: str | bytes) -> str:
    """The file's text, without a byte order mark.

    >>> csv_text("\\ufeffcode,name".encode())
    'code,name'
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise UnreadableCsv(Message(
                f"is not UTF-8 text (line {line}, byte {exc.start}); save it as CSV UTF-8",
                f"không phải văn bản UTF-8 (dòng {line}, byte {exc.start}); hãy lưu dưới dạng CSV UTF-8")) from exc
    return data.removeprefix("\ufeff")


def csv_rows(text: str) -> tuple[list[str], Rows]:
    """The header (lowercased names), and (line where the row starts, cells) for each row.

    >>> csv_rows('code;name\\nA;"Chợ\\nBến Thành"\\n\\nB;Chợ Lớn\\n')
    (['code', 'name'], [(2, ['A', 'Chợ\\nBến Thành']), (5, ['B', 'Chợ Lớn'])])
    """
    first = text.split("\n", 1)[0]
    delimiter = ";" if ";" in first and "," not in first else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [name.strip().lower() for name in next(reader, [])]
        if not any(header):
            raise UnreadableCsv(Message("is empty: the first line must name the columns",
                                        "trống: dòng đầu phải là tên các cột"))
        rows: Rows = []
        start = reader.line_num + 1
        for cells in reader:
            if any(cell.strip() for cell in cells):
                rows.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise UnreadableCsv(Message(f"cannot be read as CSV at line {reader.line_num}: {exc}",
                                    f"không đọc được dạng CSV ở dòng {reader.line_num}: {exc}")) from exc
    return header, rows
