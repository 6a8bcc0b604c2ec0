"""The clause matrix as an Excel workbook, where legal teams filter and annotate.

Written with openpyxl: it writes and reads .xlsx (the tests read the file back with it), is
pure Python and long maintained. Sheet "matrix": a row per contract family, a column per
field showing the value in force (or the state), coloured by state, the quote, page and chain
in the cell's comment. Sheet "cells": the same cells one per line, with every detail, for
filtering.
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from tasks.matrix import ClauseMatrix, MatrixCell, chain_text

FILLS = {
    "found": None,
    "absent": PatternFill("solid", fgColor="EEEEEE"),
    "failed": PatternFill("solid", fgColor="F8CBAD"),
    "not reviewed": PatternFill("solid", fgColor="FFE699"),
}
INVALID = PatternFill("solid", fgColor="FCE4D6")  # found, but the value is not of its type
CELL_COLUMNS = ("contract", "field", "state", "value", "value status", "value reason",
                "document", "page", "quote", "chain")  # fmt: skip


def write_xlsx(matrix: ClauseMatrix, path: Path) -> None:
    book = Workbook()
    del book[book.sheetnames[0]]  # the empty default sheet
    sheet = book.create_sheet("matrix")
    sheet.append(["contract", "documents", *matrix.columns])
    for row in matrix.rows:
        sheet.append([row.label, "\n".join(row.members), *(c.display for c in row.cells)])
        for index, cell in enumerate(row.cells, start=3):
            target = sheet.cell(row=sheet.max_row, column=index)
            fill = INVALID if cell.value_status == "invalid" else FILLS[cell.state]
            if fill is not None:
                target.fill = fill
            if cell.state == "found":
                target.comment = Comment(_comment(cell), "nightshift", width=400, height=200)
    for heading in sheet[1]:
        heading.font = Font(bold=True)
    sheet.freeze_panes = "C2"
    for index in range(1, len(matrix.columns) + 3):
        sheet.column_dimensions[get_column_letter(index)].width = 28
    details = book.create_sheet("cells")
    details.append(list(CELL_COLUMNS))
    for row in matrix.rows:
        for cell in row.cells:
            details.append([
                row.label, cell.field, cell.state, cell.value, cell.value_status,
                cell.value_reason, cell.relpath, cell.page, cell.quote, chain_text(cell),
            ])  # fmt: skip
    for heading in details[1]:
        heading.font = Font(bold=True)
    details.freeze_panes = "A2"
    book.save(path)


def _comment(cell: MatrixCell) -> str:
    where = f"{cell.relpath}, page {cell.page}" if cell.page else f"{cell.relpath}"
    text = f'{where}\n"{cell.quote}"'
    if cell.value_status == "invalid":
        text += f"\n(value not read as its type: {cell.value_reason})"
    if len(cell.chain) > 1:
        text += f"\nAs amended: {chain_text(cell)}"
    return text
