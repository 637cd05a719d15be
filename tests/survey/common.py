"""Helpers of the survey tests: small synthetic scan pairs and simulated raters who fill answer sheets."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np

from scansr.interpolate import downsample_scan
from scansr.scan import Channel, Scan
from scansr.survey import SurveyKey

PIXEL = 10e-9  # m


def surface(ny: int = 64, nx: int = 64, *, seed: int = 0) -> Scan:
    """A bumpy height field (a few nm, mild noise and a tilt) with 10 nm pixels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:ny, 0:nx]
    z = 3e-9 * np.sin(xx / (4.0 + seed)) * np.cos(yy / 5.0) + 0.2e-9 * rng.standard_normal((ny, nx))
    z += 1e-11 * xx  # a tilt, removed for display by the plane levelling
    return Scan((Channel("Height", z, "m"),), (PIXEL, PIXEL), origin=(0.0, 0.0))


def pair(seed: int = 0, *, scale: int = 4) -> tuple[Scan, Scan]:
    """(low-resolution, ground truth): the ground truth and its block-mean downsampled version."""
    hr = surface(seed=seed)
    return downsample_scan(hr, scale), hr


Scorer = Callable[[str, str, str], tuple[int, int]]


def fill_answers(blank: Path, out: Path, key: SurveyKey, scorer: Scorer) -> Path:
    """Fill a blank answer sheet: ``scorer(sample, label, method) -> (fidelity, quality)``.

    The simulated rater sees the method only through the key, as the analysis will: a wrong unblinding would
    scramble the preferences.
    """
    lines = blank.read_text(encoding="utf-8").splitlines()
    out_lines = []
    header_seen = False
    for line in lines:
        if line.startswith("#") or not line.strip():
            out_lines.append(line)
            continue
        if not header_seen:
            header_seen = True
            out_lines.append(line)
            continue
        rater, sample, label, _, _, comment = next(csv.reader([line]))
        fidelity, quality = scorer(sample, label, key.unblind(sample, label))
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="").writerow([rater, sample, label, fidelity, quality, comment])
        out_lines.append(buffer.getvalue())
    out.write_text("\r\n".join(out_lines) + "\r\n", encoding="utf-8")
    return out


def simulated_rater(
    preferences: dict[str, float], rng: np.random.Generator, *, bias: float, noise: float
) -> Scorer:
    """A rater whose scores are ``preference[method] + bias + N(0, noise)``, rounded and clipped to 1..6."""

    def score(sample: str, label: str, method: str) -> tuple[int, int]:
        values = preferences[method] + bias + noise * rng.standard_normal(2)
        fidelity, quality = (int(np.clip(np.rint(v), 1, 6)) for v in values)
        return fidelity, quality

    return score
