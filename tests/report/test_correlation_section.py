"""The topography–property correlation section: a synthetic scan with known relations and a real PFM scan.

References: `numpy.corrcoef` and `scipy.stats.spearmanr` / `pearsonr` (Pearson r, Spearman ρ and the naive
p-values), direct per-domain counts and means with numpy, and the synthetic scan of
``tests/test_correlate.py`` (a 5 nm terrace whose adhesion is 5 nN off it and 2 nN on it). The report is
read back with the standard library's HTML parser and PIL.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

import numpy as np
import pytest
from scipy import stats

from scansr import io as sio
from scansr.correlate import correlate_scan, segment_watershed
from scansr.report import Report
from scansr.report.correlation import (
    MAX_DOMAIN_ROWS,
    P_UNDERFLOW,
    add_correlation_section,
    format_number,
)
from scansr.scan import Channel, Scan, UnknownChannelError
from tests.conftest import TEST_DATA
from tests.report.report_html import distinct_colours, read_report, table_with
from tests.test_correlate import multichannel_scan, smooth_field

# Display units of the table headers, written out here (not taken from scansr) as the independent reading.
UNIT_FACTORS = {"nm": 1e-9, "deg": 1.0, "nN": 1e-9, "GPa": 1e9, "MPa": 1e6, "mV": 1e-3, "V": 1.0}


def _number(cell: str) -> float:
    return 0.0 if cell == P_UNDERFLOW else float(cell.replace("–", "nan"))


def _check_cell(cell: str, value: float) -> None:
    """The cell shows `value` as the report formats it, and reads back as it to the digits shown."""
    if value == 0 and cell == P_UNDERFLOW:
        return
    assert cell == format_number(value)
    last_digit = 10.0 ** Decimal(cell).as_tuple().exponent  # "1.5e-26": 1e-27; "0.0416": 1e-4
    assert abs(_number(cell) - value) <= 0.5 * last_digit * (1 + 1e-9)


@pytest.fixture(scope="module")
def pfm(tmp_path_factory):
    scan = sio.read(TEST_DATA / "DTMicroscope" / "PTO_Funakubo0005.h5")
    result = correlate_scan(scan, topography="HeightRetrace", properties=["AmplitudeRetrace", "PhaseRetrace"])
    report = Report("PFM", dpi=60)
    add_correlation_section(report, scan, result)
    return scan, result, read_report(report.save(tmp_path_factory.mktemp("corr") / "pfm.html"))


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    scan, truth = multichannel_scan(np.random.default_rng(19))
    result = correlate_scan(
        scan, topography="height", properties=["adhesion", "modulus", "potential"], window=9
    )
    report = Report("synthetic", dpi=60)
    add_correlation_section(report, scan, result, title="Correlation <i>synthetic</i>")
    return scan, truth, result, read_report(report.save(tmp_path_factory.mktemp("corr") / "synthetic.html"))


# --------------------------------------------------------------------------------------------------- real PFM
def test_real_scan_report_has_every_figure_and_every_png_is_drawn(pfm) -> None:
    _, result, page = pfm
    # One 2-D histogram per property, the local-correlation maps, the domain map.
    assert page.n_figures == len(result.rows) + 2 == 4
    assert len(page.images) == 4
    for image in page.images:
        assert min(image.size) > 50
        assert distinct_colours(image) > 20
    assert any("Read the adjusted p" in p and "n_eff" in p for p in page.paragraphs)


def test_correlation_table_matches_scipy_on_the_real_scan(pfm) -> None:
    scan, result, page = pfm
    table = table_with(page, "Pixel-wise correlation")
    assert table.header == [
        "property",
        "unit",
        "Pearson r",
        "Pearson p (adjusted)",
        "Spearman ρ",
        "Spearman p (adjusted)",
        "n",
        "n_eff (r)",
        "n_eff (ρ)",
        "Pearson p (naive)",
        "Spearman p (naive)",
    ]
    height = scan.channel("HeightRetrace").data.ravel()
    records = table.records()
    assert [r["property"] for r in records] == ["AmplitudeRetrace", "PhaseRetrace"]
    assert [r["unit"] for r in records] == ["m", "deg"]
    for record, row in zip(records, result.rows, strict=True):
        prop = scan.channel(row.property).data.ravel()
        pearson = stats.pearsonr(height, prop)
        spearman = stats.spearmanr(height, prop)
        assert _number(record["Pearson r"]) == pytest.approx(np.corrcoef(height, prop)[0, 1], abs=6e-4)
        assert _number(record["Spearman ρ"]) == pytest.approx(spearman.statistic, abs=6e-4)
        assert _number(record["Pearson p (naive)"]) == pytest.approx(pearson.pvalue, rel=0.06, abs=1e-300)
        assert _number(record["Spearman p (naive)"]) == pytest.approx(spearman.pvalue, rel=0.06, abs=1e-300)
        assert record["n"] == str(height.size) == "65536"
        for column, value in (
            ("Pearson r", row.pearson_r),
            ("Pearson p (adjusted)", row.pearson_p_adjusted),
            ("Spearman ρ", row.spearman_rho),
            ("Spearman p (adjusted)", row.spearman_p_adjusted),
            ("n_eff (r)", row.n_effective),
            ("n_eff (ρ)", row.n_effective_spearman),
            ("Pearson p (naive)", row.pearson_p_naive),
            ("Spearman p (naive)", row.spearman_p_naive),
        ):
            _check_cell(record[column], value)
        # The point of the adjusted p: far fewer independent samples than pixels.
        assert _number(record["n_eff (r)"]) < height.size / 100
        assert _number(record["Pearson p (adjusted)"]) > _number(record["Pearson p (naive)"])


def _unit_of(header: str) -> float:
    match = re.search(r"\(([^)]*)\)$", header)
    return UNIT_FACTORS[match.group(1)] if match else 1.0


def test_domain_table_matches_direct_counts_and_means(pfm) -> None:
    scan, result, page = pfm
    records = table_with(page, "Per-domain statistics").records()
    assert [int(r["domain"]) for r in records] == list(result.domains.labels)
    dy, dx = scan.pixel_size
    for record in records:
        in_domain = result.labels == int(record["domain"])
        assert record["pixels"] == str(int(in_domain.sum()))
        assert _number(record["area (µm²)"]) == pytest.approx(in_domain.sum() * dy * dx / 1e-12, rel=6e-3)
        assert _number(record["fraction (%)"]) == pytest.approx(100 * in_domain.mean(), rel=6e-3)
        for name in ("HeightRetrace", "AmplitudeRetrace", "PhaseRetrace"):
            values = scan.channel(name).data[in_domain]
            (mean_col,) = [h for h in record if h.startswith(f"{name} mean")]
            (std_col,) = [h for h in record if h.startswith(f"{name} std")]
            factor = _unit_of(mean_col)
            assert _number(record[mean_col]) * factor == pytest.approx(values.mean(), rel=6e-3)
            assert _number(record[std_col]) * factor == pytest.approx(values.std(ddof=1), rel=6e-3)


def test_domain_tests_table(pfm) -> None:
    _, result, page = pfm
    records = table_with(page, "differ across domains").records()
    assert [r["channel"] for r in records] == list(result.domains.channels)
    for record, test in zip(records, result.domains.tests, strict=True):
        assert record["domains"] == str(test.n_domains)
        _check_cell(record["ANOVA F"], test.anova_f)
        _check_cell(record["ANOVA p (adjusted)"], test.anova_p_adjusted)
        _check_cell(record["ANOVA p (naive)"], test.anova_p_naive)
        _check_cell(record["Kruskal–Wallis p (adjusted)"], test.kruskal_p_adjusted)
    # The domains come from the height itself: the report says its test is circular.
    assert any("circular" in p for p in page.paragraphs)


# ------------------------------------------------------------------------------------------------- synthetic
def test_synthetic_scan_report_recovers_the_known_relations(synthetic) -> None:
    scan, truth, result, page = synthetic
    assert page.n_figures == 3 + 2
    assert all(distinct_colours(image) > 20 for image in page.images)
    assert "Correlation &lt;i&gt;synthetic&lt;/i&gt;" in page.text
    records = {r["property"]: r for r in table_with(page, "Pixel-wise correlation").records()}
    height = scan.channel("HeightRetrace").data.ravel()
    adhesion = scan.channel("AdhesionRetrace").data.ravel()
    assert _number(records["AdhesionRetrace"]["Pearson r"]) == pytest.approx(
        np.corrcoef(height, adhesion)[0, 1], abs=6e-4
    )
    assert _number(records["AdhesionRetrace"]["Pearson r"]) < -0.95  # 3 nN less on the 5 nm terrace
    assert _number(records["AdhesionRetrace"]["Pearson p (adjusted)"]) < 1e-3
    assert abs(_number(records["PotentialRetrace"]["Pearson r"])) < 0.3  # independent by construction
    # Domains: off the terrace (0) and on it (1); adhesion 5 nN and 2 nN, height 0 and 5 nm.
    domains = table_with(page, "Per-domain statistics").records()
    assert [d["pixels"] for d in domains] == [str(int((result.labels == k).sum())) for k in (0, 1)]
    assert [int(d["pixels"]) for d in domains] == pytest.approx([(~truth).sum(), truth.sum()], rel=1e-3)
    (adhesion_mean,) = [h for h in domains[0] if h.startswith("AdhesionRetrace mean")]
    assert adhesion_mean == "AdhesionRetrace mean (nN)"
    assert [_number(d[adhesion_mean]) for d in domains] == pytest.approx([5.0, 2.0], abs=0.02)
    assert [_number(d["HeightRetrace mean (nm)"]) for d in domains] == pytest.approx([0.0, 5.0], abs=0.05)


def test_many_domains_are_cut_to_the_largest(tmp_path) -> None:
    rng = np.random.default_rng(3)
    height = smooth_field(rng, (64, 64), 1.5) * 1e-9
    scan = Scan(
        (Channel("Height", height, "m"), Channel("Adhesion", smooth_field(rng, (64, 64), 2.0) * 1e-9, "N")),
        (1e-8, 1e-8),
    )
    labels = segment_watershed(height, smooth=0.0)
    n_domains = int(labels.max()) + 1
    assert n_domains > MAX_DOMAIN_ROWS
    result = correlate_scan(scan, topography="Height", properties=["Adhesion"], segmentation=labels)
    report = Report("many", dpi=40)
    add_correlation_section(report, scan, result)
    page = read_report(report.save(tmp_path / "many.html"))
    table = table_with(page, "Per-domain statistics")
    assert len(table.rows) == MAX_DOMAIN_ROWS
    assert f"largest of {n_domains} domains" in table.caption
    shown = [int(r["pixels"]) for r in table.records()]
    sizes = np.bincount(labels[labels >= 0].ravel())
    assert min(shown) >= np.sort(sizes)[::-1][MAX_DOMAIN_ROWS - 1]
    assert not any("circular" in p for p in page.paragraphs)  # a user's labels: not circular


# --------------------------------------------------------------------------------------------------- errors
def test_format_number() -> None:
    assert format_number(0.0) == "0"
    assert format_number(-0.04163) == "-0.0416"
    assert format_number(23.449) == "23.4"
    assert format_number(74613.2) == "74613"
    assert format_number(1.53e-26) == "1.5e-26"
    assert format_number(2.5e7) == "2.5e+07"
    assert math.isclose(float(format_number(0.61372)), 0.614)


def test_bad_arguments(pfm) -> None:
    scan, result, _ = pfm
    report = Report("bad")
    with pytest.raises(ValueError, match="CorrelationResult"):
        add_correlation_section(report, scan, result.to_dict())
    with pytest.raises(ValueError, match="Scan"):
        add_correlation_section(report, scan.channel("HeightRetrace").data, result)
    small = Scan(tuple(Channel(c.name, c.data[:64, :64], c.unit) for c in scan.channels), scan.pixel_size)
    with pytest.raises(ValueError, match="pixels"):
        add_correlation_section(report, small, result)
    other = Scan((scan.channel("HeightRetrace"), scan.channel("DeflectionRetrace")), scan.pixel_size)
    with pytest.raises(UnknownChannelError, match="AmplitudeRetrace"):
        add_correlation_section(report, other, result)
