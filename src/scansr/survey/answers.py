"""Answer sheets: the blank CSV each rater fills in, and the strict reader that checks a filled one.

An answer sheet is a CSV file with one row per numbered image of every survey sheet and the columns
``rater, sample, label, fidelity, quality, comment``. Lines starting with ``#`` are comments: the blank sheet
explains the 1-6 scale there and records the survey it belongs to (``# survey-key: <first 16 hex digits of
the key's content hash>``). The reader accepts what spreadsheets make of such a file: a UTF-8 byte-order
mark or Windows-1252 text, ``;`` or tab instead of ``,``, quoted cells, comment lines split into cells, blank
rows, rows in any order, and ``5.0`` for 5. It rejects everything else with a `Problem` naming the file,
the row (the line number a text editor or spreadsheet shows) and what is wrong, and it reports every problem
of a file together.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from scansr.survey.key import ANCHORS, CRITERIA, SCORES, Problem, SurveyError, SurveyKey

__all__ = [
    "COLUMNS",
    "Answer",
    "AnswerFile",
    "answer_file_name",
    "blank_answer_sheet",
    "check_rater_names",
    "read_answer_files",
]

logger = logging.getLogger(__name__)

COLUMNS = ("rater", "sample", "label", "fidelity", "quality", "comment")
_REQUIRED = COLUMNS[:5]
_RATER_NAME = re.compile(r"^[^\W_][\w .'-]*$")
_KEY_LINE = re.compile(r"#\s*survey-key:\s*([0-9a-fA-F]+)")


class Answer(NamedTuple):
    """One rater's scores of one numbered image."""

    rater: str
    sample: str
    label: str
    fidelity: int
    quality: int
    row: int
    """Line number in the answer file."""
    comment: str = ""


class AnswerFile(NamedTuple):
    """A checked answer file."""

    path: Path
    rater: str
    answers: tuple[Answer, ...]


# --------------------------------------------------------------------------------------------------- raters
def check_rater_names(raters: int | Sequence[str]) -> tuple[str, ...]:
    """Rater names from a count (``rater1``, ``rater2``, ...) or a list of names.

    Names start with a letter or digit and hold letters, digits, spaces, ``.``, ``'``, ``-`` and ``_``; they
    must differ even ignoring case and spaces versus underscores (each gets its own file).

    Raises
    ------
    ValueError
        If the count is below 1, a name is invalid, or two names collide.
    """
    if isinstance(raters, bool):
        raise ValueError(f"raters must be a count or a list of names, got {raters!r}")
    if isinstance(raters, int):
        if raters < 1:
            raise ValueError(f"the number of raters must be at least 1, got {raters}")
        return tuple(f"rater{i}" for i in range(1, raters + 1))
    if isinstance(raters, str):
        raise ValueError(f"raters must be a list of names, not one string: use [{raters!r}]")
    names = tuple(str(r).strip() for r in raters)
    if not names:
        raise ValueError("name at least one rater")
    for name in names:
        if not _RATER_NAME.match(name):
            raise ValueError(
                f"rater name {name!r} must start with a letter or digit and hold only letters, digits, "
                "spaces and . ' - _"
            )
    files = [answer_file_name(n).casefold() for n in names]
    repeated = sorted({n for n, f in zip(names, files, strict=True) if files.count(f) > 1})
    if repeated:
        raise ValueError(f"rater names must be unique (ignoring case and spaces), repeated: {repeated}")
    return names


def answer_file_name(rater: str) -> str:
    """File name of a rater's answer sheet: ``answers-<name>.csv`` with spaces as underscores."""
    return f"answers-{rater.replace(' ', '_')}.csv"


# --------------------------------------------------------------------------------------------------- blank
def blank_answer_sheet(key: SurveyKey, rater: str) -> str:
    """Return the text of a blank answer sheet: the scale in comments, then one row per image.

    Parameters
    ----------
    key : SurveyKey
        The survey (its `content_hash` must be set: the sheet records it).
    rater : str
        The rater's name, written in every row.

    Returns
    -------
    str
        CSV text with CR LF line ends (what spreadsheets expect).
    """
    lines = [
        f"# scansr blind survey: answer sheet of {rater}",
        f"# survey-key: {key.content_hash[:16]}",
        f"# {len(key.sheets)} sheets (samples {key.samples[0]} to {key.samples[-1]}), images "
        f"{key.labels[0]} to {key.labels[-1]} on each; the leftmost image of a sheet is the ground truth.",
        f"# For every numbered image write two whole numbers from {SCORES[0]} (lowest) to {SCORES[-1]} "
        "(highest); the comment column is optional.",
    ]
    for criterion, meaning in CRITERIA.items():
        lines.append(f"# {criterion}: {meaning}.")
        lines.extend(f"#   {score} = {ANCHORS[criterion][score]}" for score in SCORES)
    lines.append("# Do not change the columns rater, sample and label. Save as CSV.")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for sheet in key.sheets:
        for label in key.labels:
            writer.writerow([rater, sheet.sample, label, "", "", ""])
    # comments are written raw: csv.writer would quote their commas and a spreadsheet would show the quotes
    return "\r\n".join(lines) + "\r\n" + buffer.getvalue()


# --------------------------------------------------------------------------------------------------- reading
def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="strict")


def _delimiter(lines: list[str]) -> str:
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.lstrip('"').startswith("#"):
            continue
        counts = {d: stripped.count(d) for d in (",", ";", "\t")}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] >= len(_REQUIRED) - 1 else ","
    return ","


def _integer(text: str) -> int | None:
    """Parse a whole number written as ``5``, ``+5``, `` 5 `` or ``5.0``; None if it is not one."""
    try:
        value = float(text.replace(",", ".")) if text.strip() else math.nan
    except ValueError:
        return None
    if not math.isfinite(value) or value != int(value):
        return None
    return int(value)


def _read_one(path: Path, key: SurveyKey) -> tuple[AnswerFile | None, list[Problem]]:
    name = str(path)
    problems: list[Problem] = []
    try:
        text = _decode(path.read_bytes())
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(name, None, "unreadable", f"cannot read the file: {exc}")]
    lines = text.splitlines()
    for line in lines:
        match = _KEY_LINE.match(line.strip().lstrip('"'))
        if match and not key.content_hash.startswith(match.group(1).lower()):
            problems.append(
                Problem(
                    name,
                    None,
                    "wrong_survey",
                    f"this answer sheet belongs to another survey (key {match.group(1)}, this key is "
                    f"{key.content_hash[:16]})",
                )
            )
            return None, problems
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(lines))
    samples = {s.casefold(): s for s in key.samples}
    labels = set(key.labels)
    columns: dict[str, int] | None = None
    raters: dict[str, int] = {}
    seen: dict[tuple[str, str], int] = {}
    answers: list[Answer] = []
    for cells in reader:
        row = reader.line_num
        cells = [c.strip() for c in cells]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if columns is None:
            header = [c.casefold() for c in cells]
            missing = [c for c in _REQUIRED if c not in header]
            if missing:
                problems.append(
                    Problem(
                        name,
                        row,
                        "bad_header",
                        f"the header lacks column(s) {missing}; it must name {list(_REQUIRED)} "
                        f"(found {cells}). Start from the blank answer sheet.",
                    )
                )
                return None, problems
            columns = {c: header.index(c) for c in COLUMNS if c in header}
            continue

        def cell(column: str, cells: list[str] = cells, columns: dict[str, int] = columns) -> str:
            index = columns.get(column)
            return cells[index] if index is not None and index < len(cells) else ""

        rater = cell("rater")
        if rater:
            raters.setdefault(rater, row)
        else:
            problems.append(Problem(name, row, "missing_rater", "the rater column is empty"))
        sample_text, label_text = cell("sample"), cell("label")
        sample = samples.get(sample_text.casefold())
        label_number = _integer(label_text)
        label = str(label_number) if label_number is not None else label_text
        item_ok = True
        if sample is None or label not in labels:
            item_ok = False
            what = f"sample {sample_text!r}" if sample is None else f"label {label_text!r}"
            problems.append(
                Problem(
                    name,
                    row,
                    "unknown_item",
                    f"unknown {what}: the survey has samples {key.samples[0]}..{key.samples[-1]} and "
                    f"labels {', '.join(key.labels)}",
                )
            )
        scores: dict[str, int] = {}
        for criterion in CRITERIA:
            raw = cell(criterion)
            value = _integer(raw)
            if not raw:
                problems.append(
                    Problem(
                        name, row, "missing_score", f"no {criterion} score (write {SCORES[0]}..{SCORES[-1]})"
                    )
                )
            elif value is None:
                problems.append(
                    Problem(
                        name,
                        row,
                        "not_integer",
                        f"{criterion} score {raw!r} is not a whole number {SCORES[0]}..{SCORES[-1]}",
                    )
                )
            elif value not in SCORES:
                problems.append(
                    Problem(
                        name,
                        row,
                        "out_of_range",
                        f"{criterion} score {value} is outside the scale {SCORES[0]}..{SCORES[-1]}",
                    )
                )
            else:
                scores[criterion] = value
        if not item_ok:
            continue
        item = (sample, label)
        if item in seen:
            problems.append(
                Problem(
                    name,
                    row,
                    "duplicate_item",
                    f"sample {sample}, image {label} is answered twice (also in row {seen[item]}); keep one",
                )
            )
            continue
        seen[item] = row
        if len(scores) == len(CRITERIA) and rater:
            answers.append(
                Answer(rater, sample, label, scores["fidelity"], scores["quality"], row, cell("comment"))
            )
    if columns is None:
        problems.append(
            Problem(name, None, "bad_header", f"no header row with the columns {list(_REQUIRED)}")
        )
        return None, problems
    if len(raters) > 1:
        first, *others = raters
        for other in others:
            problems.append(
                Problem(
                    name,
                    raters[other],
                    "rater_mismatch",
                    f"rater {other!r} differs from {first!r} (row {raters[first]}): one answer file per rater",
                )
            )
    if not raters:
        problems.append(Problem(name, None, "missing_rater", "no row names its rater"))
    for sample in key.samples:
        for label in key.labels:
            if (sample, label) not in seen:
                problems.append(
                    Problem(name, None, "missing_item", f"no answer for sample {sample}, image {label}")
                )
    if problems:
        return None, problems
    return AnswerFile(path, next(iter(raters)), tuple(answers)), problems


def read_answer_files(paths: Sequence[str | Path], key: SurveyKey) -> tuple[AnswerFile, ...]:
    """Read and check answer files against a survey key.

    Checks that every score is a whole number 1-6, that every image of every sheet is answered exactly once,
    that no row names an unknown sample or label, that each file holds one rater and that rater names are
    unique across files (ignoring case).

    Parameters
    ----------
    paths : sequence of str or Path
        One filled answer sheet per rater (a single path is taken as a list of one). Rater names need not be
        those the blank sheets were made for (an extra rater may fill in a copy under their own name).
    key : SurveyKey
        The survey's key (`read_key`).

    Returns
    -------
    tuple of AnswerFile
        In the order of `paths`.

    Raises
    ------
    SurveyError
        Listing every problem of every file, each with its file, row and what is wrong.
    ValueError
        If `paths` is empty.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("give at least one answer file")
    files: list[AnswerFile] = []
    problems: list[Problem] = []
    owners: dict[str, Path] = {}
    for path in paths:
        parsed, found = _read_one(path, key)
        problems.extend(found)
        if parsed is None:
            continue
        folded = parsed.rater.casefold()
        if folded in owners:
            problems.append(
                Problem(
                    str(path),
                    parsed.answers[0].row if parsed.answers else None,
                    "duplicate_rater",
                    f"rater {parsed.rater!r} also answered in {owners[folded]}: each rater answers once, "
                    "under a name of their own",
                )
            )
            continue
        owners[folded] = path
        files.append(parsed)
    if problems:
        raise SurveyError(problems)
    return tuple(files)
