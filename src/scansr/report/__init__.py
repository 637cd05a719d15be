"""The HTML report and its figures: one self-contained file a user can show their group.

- `scansr.report.html`: `Report`, a small builder (headings, text, tables, figures, sections) that saves one
  HTML file with every figure embedded as PNG; no external resources, no JavaScript.
- `scansr.report.figures`: matplotlib figures (Agg canvas, no pyplot state) of scans, profiles, surfaces,
  spectra and statistics. Imported on demand: ``from scansr.report import figures``.

This package sits on top of the numpy layer and never imports torch.
"""

from __future__ import annotations

from scansr.report.html import Report, Section

__all__ = ["Report", "Section"]
