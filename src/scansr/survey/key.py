"""The survey key: which method hides behind each numbered image, sealed by a content hash.

The key is a JSON file (``survey-key.json``) written beside the sheets. It records the samples (source
files and their SHA-256), per sheet the mapping label → method, the seed, the scansr version, the SHA-256 of
every sheet PNG and of the PDF, and finally ``content_hash``: the SHA-256 of the canonical JSON of
everything else in the key (keys sorted, no spaces, UTF-8). Editing the mapping, the list of sheets or a
recorded sheet hash changes the content hash; editing a sheet changes its file hash. `read_key` checks the
first, `verify_sheets` the second. The hash detects accidental or careless edits, not a forgery by someone
who recomputes it (that would need a secret, which a lab's shared folder cannot keep).

Rating scale
------------
Both criteria are scored with whole numbers 1-6, as in the real-pair study (Beilstein J. Nanotechnol. 2025,
"Expert survey"): 1 = lowest, 6 = highest. `ANCHORS` words every step so that raters use the scale alike.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from scansr._atomic import atomic_write_text
from scansr.scan import ScanError

__all__ = [
    "ANCHORS",
    "CRITERIA",
    "KEY_FORMAT",
    "KEY_NAME",
    "SCORES",
    "Problem",
    "SheetRecord",
    "SurveyError",
    "SurveyKey",
    "SurveyKeyError",
    "canonical_json",
    "file_sha256",
    "read_key",
    "verify_sheets",
    "write_key",
]

logger = logging.getLogger(__name__)

KEY_FORMAT = "scansr-survey-key"
KEY_VERSION = 1
KEY_NAME = "survey-key.json"
SCORES = (1, 2, 3, 4, 5, 6)
#: The two criteria a rater scores for every numbered image, with what each means.
CRITERIA: dict[str, str] = {
    "fidelity": "agreement with the ground truth: the same features at the same places, with the same shape "
    "and contrast, nothing lost and nothing invented",
    "quality": "image quality of the numbered image on its own: sharpness, noise, and artefacts such as blur, "
    "streaks, ringing, blockiness or smeared edges",
}
#: Words for every step of the 1-6 scale, per criterion.
ANCHORS: dict[str, dict[int, str]] = {
    "fidelity": {
        1: "no agreement: features missing, invented or misplaced throughout",
        2: "poor: most features distorted, lost or invented",
        3: "fair: the main features are there, many details differ",
        4: "good: features and most details agree, some deviations",
        5: "very good: only small deviations, seen on close inspection",
        6: "excellent: the same content as the ground truth",
    },
    "quality": {
        1: "very poor: dominated by blur or artefacts, unusable",
        2: "poor: strongly blurred or with strong artefacts",
        3: "fair: clearly blurred or with visible artefacts",
        4: "good: slightly soft or with minor artefacts",
        5: "very good: sharp, artefacts only on close inspection",
        6: "excellent: sharp and clean, no visible artefacts",
    },
}


# --------------------------------------------------------------------------------------------------- errors
class Problem(NamedTuple):
    """One thing wrong with a survey file."""

    file: str
    """The file (as given)."""
    row: int | None
    """Line number in the file (1-based, as a text editor or spreadsheet shows it), or None for the file."""
    code: str
    """Kind of problem, for programs: ``"bad_header"``, ``"not_integer"``, ``"out_of_range"``,
    ``"missing_score"``, ``"missing_item"``, ``"duplicate_item"``, ``"unknown_item"``, ``"rater_mismatch"``,
    ``"missing_rater"``, ``"duplicate_rater"``, ``"unreadable"``, ``"key_hash"``, ``"sheet_hash"``,
    ``"bad_key"``."""
    message: str
    """What is wrong and how to fix it, in words."""

    def __str__(self) -> str:
        where = self.file if self.row is None else f"{self.file}, row {self.row}"
        return f"{where}: {self.message}"


class SurveyError(ScanError, ValueError):
    """Survey files that cannot be scored; the message lists every problem with its file and row.

    Parameters
    ----------
    problems : sequence of Problem
        Everything found wrong (at least one).
    limit : int
        How many problems the message lists; the rest are counted. All stay in `problems`.
    """

    def __init__(self, problems: Sequence[Problem], *, limit: int = 30):
        self.problems = tuple(problems)
        files = sorted({p.file for p in self.problems})
        head = f"{len(self.problems)} problem(s) in {len(files)} file(s):"
        lines = [f"  {p}" for p in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"  ... and {len(self.problems) - limit} more")
        super().__init__("\n".join([head, *lines]))

    @property
    def codes(self) -> tuple[str, ...]:
        """The problem codes, in order."""
        return tuple(p.code for p in self.problems)


class SurveyKeyError(SurveyError):
    """The key file is unreadable or was edited, or a sheet no longer matches the hash in the key."""


# --------------------------------------------------------------------------------------------------- hashes
def canonical_json(document: Any) -> bytes:
    """Canonical JSON bytes of a document: keys sorted, no whitespace, UTF-8, no NaN.

    Raises
    ------
    ValueError
        If the document holds NaN or infinity.
    """
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _content_hash(document: Mapping[str, Any]) -> str:
    body = {k: v for k, v in document.items() if k != "content_hash"}
    return hashlib.sha256(canonical_json(body)).hexdigest()


# --------------------------------------------------------------------------------------------------- types
@dataclass(frozen=True)
class SheetRecord:
    """One sheet of the survey: one sample, its ground truth and the numbered method outputs.

    Attributes
    ----------
    sample : str
        Sample id the raters write in their answer sheet (``"S01"``, ...).
    name : str
        Name of the sample (the ground-truth file's stem); not shown to raters.
    lr, hr : str
        The low-resolution input and the ground truth (file paths, or a description of an in-memory scan).
    lr_sha256, hr_sha256 : str or None
        SHA-256 of those files, where they are files.
    mapping : dict of str to str
        Label (``"1"``, ``"2"``, ...) → method name.
    png : str
        The sheet's PNG, relative to the key's folder.
    png_sha256 : str
        SHA-256 of the PNG.
    png_size : (int, int)
        Width and height of the PNG in pixels.
    details : dict
        Channel, unit, scale, registration, crop box, pixel size and panel boxes (JSON values).
    """

    sample: str
    name: str
    lr: str
    hr: str
    lr_sha256: str | None
    hr_sha256: str | None
    mapping: dict[str, str]
    png: str
    png_sha256: str
    png_size: tuple[int, int]
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return the record as the key file stores it."""
        return {
            "sample": self.sample,
            "name": self.name,
            "lr": self.lr,
            "hr": self.hr,
            "lr_sha256": self.lr_sha256,
            "hr_sha256": self.hr_sha256,
            "mapping": dict(self.mapping),
            "png": self.png,
            "png_sha256": self.png_sha256,
            "png_size": list(self.png_size),
            "details": self.details,
        }

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> SheetRecord:
        """Build a record from the key file's JSON (raises KeyError/TypeError/ValueError if malformed)."""
        return cls(
            sample=str(item["sample"]),
            name=str(item["name"]),
            lr=str(item["lr"]),
            hr=str(item["hr"]),
            lr_sha256=item.get("lr_sha256"),
            hr_sha256=item.get("hr_sha256"),
            mapping={str(k): str(v) for k, v in dict(item["mapping"]).items()},
            png=str(item["png"]),
            png_sha256=str(item["png_sha256"]),
            png_size=(int(item["png_size"][0]), int(item["png_size"][1])),
            details=dict(item.get("details", {})),
        )


@dataclass(frozen=True)
class SurveyKey:
    """A blind survey's key: samples, the label → method mapping of every sheet, and the content hash.

    Attributes
    ----------
    path : Path or None
        The key file (None before it is written).
    methods : tuple of str
        Method names, in the order they were given.
    labels : tuple of str
        Labels of the numbered images on every sheet (``"1"`` .. ``"k"``).
    sheets : tuple of SheetRecord
        One per sample, in order.
    seed : int
        Seed of the shuffling.
    balanced : bool
        Whether every method was placed at every position equally often (blocks of k sheets).
    raters : tuple of str
        Raters for whom blank answer sheets were written.
    answer_files : dict of str to str
        Rater → blank answer sheet, relative to the key's folder.
    pdf : str or None
        The PDF with all sheets, relative to the key's folder.
    pdf_sha256 : str or None
        Its SHA-256.
    scansr_version : str
        Version that made the survey.
    settings : dict
        Options of `make_survey` (dpi, crop, channel, level, percentiles, register) and method descriptions.
    content_hash : str
        SHA-256 of the canonical JSON of everything above (see the module notes).
    """

    methods: tuple[str, ...]
    labels: tuple[str, ...]
    sheets: tuple[SheetRecord, ...]
    seed: int
    balanced: bool
    raters: tuple[str, ...]
    answer_files: dict[str, str]
    pdf: str | None
    pdf_sha256: str | None
    scansr_version: str
    settings: dict[str, Any]
    content_hash: str = ""
    path: Path | None = None

    @property
    def samples(self) -> tuple[str, ...]:
        """Sample ids, in sheet order."""
        return tuple(s.sample for s in self.sheets)

    def sheet(self, sample: str) -> SheetRecord:
        """Return the sheet of a sample id.

        Raises
        ------
        KeyError
            If no sheet has that id.
        """
        for s in self.sheets:
            if s.sample == sample:
                return s
        raise KeyError(f"no sample {sample!r}; the samples are {list(self.samples)}")

    def unblind(self, sample: str, label: str) -> str:
        """Return the method behind `label` on the sheet of `sample`.

        Raises
        ------
        KeyError
            If the sample or the label is unknown.
        """
        mapping = self.sheet(sample).mapping
        if label not in mapping:
            raise KeyError(f"no label {label!r} on sheet {sample!r}; the labels are {list(mapping)}")
        return mapping[label]

    def to_json(self) -> dict[str, Any]:
        """Return the key as stored, with `content_hash` computed from the rest."""
        document: dict[str, Any] = {
            "format": KEY_FORMAT,
            "format_version": KEY_VERSION,
            "scansr_version": self.scansr_version,
            "seed": int(self.seed),
            "balanced": bool(self.balanced),
            "methods": list(self.methods),
            "labels": list(self.labels),
            "scores": list(SCORES),
            "criteria": dict(CRITERIA),
            "raters": list(self.raters),
            "answer_files": dict(self.answer_files),
            "pdf": self.pdf,
            "pdf_sha256": self.pdf_sha256,
            "settings": self.settings,
            "sheets": [s.to_json() for s in self.sheets],
        }
        document["content_hash"] = _content_hash(document)
        return document


def write_key(key: SurveyKey, path: str | Path) -> SurveyKey:
    """Write the key as indented JSON (atomically) and return it with its `content_hash` and `path` set.

    Raises
    ------
    ValueError
        If the key holds a value JSON cannot store (NaN, infinity).
    """
    path = Path(path)
    document = key.to_json()
    canonical_json(document)  # raises on NaN before anything is written
    atomic_write_text(path, json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    return dataclasses.replace(key, content_hash=document["content_hash"], path=path)


def read_key(path: str | Path) -> SurveyKey:
    """Read a key file and check its content hash.

    Parameters
    ----------
    path : str or Path
        The ``survey-key.json`` that `make_survey` wrote.

    Returns
    -------
    SurveyKey

    Raises
    ------
    SurveyKeyError
        If the file cannot be read or parsed, is not a scansr survey key, or its content no longer matches
        its hash (the key was edited after the survey was made).
    """
    path = Path(path)
    name = str(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SurveyKeyError(
            [Problem(name, None, "unreadable", f"cannot read the survey key: {exc}")]
        ) from exc
    if not isinstance(document, dict) or document.get("format") != KEY_FORMAT:
        raise SurveyKeyError(
            [Problem(name, None, "bad_key", f'not a scansr survey key (no "format": "{KEY_FORMAT}")')]
        )
    if document.get("format_version") != KEY_VERSION:
        raise SurveyKeyError(
            [
                Problem(
                    name,
                    None,
                    "bad_key",
                    f"key format version {document.get('format_version')!r}; this scansr reads {KEY_VERSION}",
                )
            ]
        )
    recorded = document.get("content_hash")
    try:
        actual = _content_hash(document)
    except ValueError as exc:
        raise SurveyKeyError(
            [Problem(name, None, "bad_key", f"the key holds an invalid value: {exc}")]
        ) from exc
    if recorded != actual:
        raise SurveyKeyError(
            [
                Problem(
                    name,
                    None,
                    "key_hash",
                    f"the key was edited after the survey was made: content hash {str(recorded)[:16]}... "
                    f"recorded, {actual[:16]}... now. Use the key as make_survey wrote it (a copy from the "
                    "survey's archive).",
                )
            ]
        )
    try:
        key = SurveyKey(
            methods=tuple(str(m) for m in document["methods"]),
            labels=tuple(str(label) for label in document["labels"]),
            sheets=tuple(SheetRecord.from_json(item) for item in document["sheets"]),
            seed=int(document["seed"]),
            balanced=bool(document["balanced"]),
            raters=tuple(str(r) for r in document.get("raters", ())),
            answer_files={str(k): str(v) for k, v in dict(document.get("answer_files", {})).items()},
            pdf=document.get("pdf"),
            pdf_sha256=document.get("pdf_sha256"),
            scansr_version=str(document["scansr_version"]),
            settings=dict(document.get("settings", {})),
            content_hash=str(recorded),
            path=path,
        )
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise SurveyKeyError(
            [Problem(name, None, "bad_key", f"the key lacks or garbles a field: {exc!r}")]
        ) from exc
    _check_consistency(key, name)
    return key


def _check_consistency(key: SurveyKey, name: str) -> None:
    problems = []
    if len(set(key.samples)) != len(key.samples):
        problems.append(Problem(name, None, "bad_key", f"sample ids repeat: {list(key.samples)}"))
    for sheet in key.sheets:
        if set(sheet.mapping) != set(key.labels) or sorted(sheet.mapping.values()) != sorted(key.methods):
            problems.append(
                Problem(
                    name,
                    None,
                    "bad_key",
                    f"sheet {sheet.sample}: the mapping {sheet.mapping} does not give every label "
                    f"{list(key.labels)} one of the methods {list(key.methods)}",
                )
            )
    if problems:
        raise SurveyKeyError(problems)


def verify_sheets(key: SurveyKey) -> tuple[str, ...]:
    """Check the SHA-256 of every sheet PNG and of the PDF that lie beside the key.

    Sheets that are absent (a key kept apart from the sheets) are skipped and logged.

    Parameters
    ----------
    key : SurveyKey
        A key read with `read_key` (its `path` locates the sheets).

    Returns
    -------
    tuple of str
        The files that were present and checked (relative to the key's folder).

    Raises
    ------
    SurveyKeyError
        If a present sheet or PDF differs from the hash recorded in the key; every such file is listed.
    ValueError
        If the key has no `path`.
    """
    if key.path is None:
        raise ValueError("the key has no path; read it with read_key to locate its sheets")
    folder = key.path.parent
    recorded = [(s.png, s.png_sha256) for s in key.sheets]
    if key.pdf is not None and key.pdf_sha256 is not None:
        recorded.append((key.pdf, key.pdf_sha256))
    checked, missing, problems = [], [], []
    for relative, expected in recorded:
        file = folder / relative
        if not file.is_file():
            missing.append(relative)
            continue
        actual = file_sha256(file)
        checked.append(relative)
        if actual != expected:
            problems.append(
                Problem(
                    str(file),
                    None,
                    "sheet_hash",
                    f"this file differs from the one the key was made with (SHA-256 {actual[:16]}... instead "
                    f"of {expected[:16]}...): the raters may have seen another image; restore the original",
                )
            )
    if missing:
        logger.info(
            "%d sheet file(s) not beside the key, not checked: %s", len(missing), ", ".join(missing[:5])
        )
    if problems:
        raise SurveyKeyError(problems)
    return tuple(checked)
