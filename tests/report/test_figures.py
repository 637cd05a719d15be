"""Figures of the report: physical geometry, shared colour scales, scale bars, units, inputs checked.

Synthetic surfaces where the test is about mechanics (their truth is known by construction); the shipped
SPIEPy STM scan for the no-scale path and a Nanosurf scan from the shared corpus for a realistic render.
"""

from __future__ import annotations

import io
import math
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.collections import QuadMesh
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from mpl_toolkits.mplot3d.art3d import Poly3DCollection
from PIL import Image
from scipy import ndimage

import scansr.io
from scansr.interpolate import downsample, upscale
from scansr.report import figures as F
from scansr.scan import Channel, Scan, UnknownChannelError
from scansr.units import format_length
from tests.conftest import TEST_DATA, shared_path


# --------------------------------------------------------------------------------------------------- fixtures
def _surface(ny: int, nx: int, *, seed: int = 0) -> np.ndarray:
    """A bumpy height field in metres (a few nm) with mild noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:ny, 0:nx]
    return 3e-9 * np.sin(xx / 7.0) * np.cos(yy / 9.0) + 0.3e-9 * rng.standard_normal((ny, nx))


def _scan(data: np.ndarray, pixel_size, *, name: str = "Height", unit: str = "m", extra=None) -> Scan:
    channels = [Channel(name, data, unit)]
    if extra is not None:
        channels.append(extra)
    return Scan(tuple(channels), pixel_size)


@pytest.fixture
def trio():
    """LR (32 x 24 px), HR (128 x 96 px) and bicubic of one field, with non-square pixels (dy != dx)."""
    hr_data = _surface(128, 96)
    hr_pixel = (2e-9, 3e-9)
    lr_data = downsample(hr_data, 4)
    bicubic = upscale(lr_data, 4)
    phase = np.linspace(-20, 40, 128 * 96).reshape(128, 96)
    return {
        "LR": _scan(lr_data, (8e-9, 12e-9), extra=Channel("Phase", downsample(phase, 4), "deg")),
        "HR": _scan(hr_data, hr_pixel, extra=Channel("Phase", phase, "deg")),
        "bicubic": _scan(bicubic, hr_pixel, extra=Channel("Phase", upscale(downsample(phase, 4), 4), "deg")),
    }


def _distinct_colours(png: bytes) -> int:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    return len(image.getcolors(maxcolors=1 << 20) or [])


def _image_axes(figure: Figure):
    return [ax for ax in figure.axes if ax.get_images() and ax.get_label() != "<colorbar>"]


# ------------------------------------------------------------------------------------------------ scale bar
def _mantissa(length: float) -> float:
    return length / 10 ** math.floor(math.log10(length) + 1e-12)


def test_scale_bar_length_is_round_and_at_most_a_third_of_the_width():
    widths = 10 ** np.random.default_rng(1).uniform(-10, -2, 500)  # 0.1 nm .. 1 cm
    for width in widths:
        length = F.scale_bar_length(float(width))
        assert length <= width / 3 * (1 + 1e-12)
        assert length > width / 3 / 2.5  # the next round number up would exceed the limit
        assert min(abs(_mantissa(length) - m) for m in (1, 2, 5)) < 1e-9


@pytest.mark.parametrize(
    ("width", "expected"),
    # by hand: a third of the width, rounded down to 1, 2 or 5 x 10^k
    [(1e-6, 2e-7), (3e-6, 1e-6), (256 * 3.9e-9, 2e-7), (50e-6, 1e-5), (2e-9, 5e-10), (0.999e-6, 2e-7)],
)
def test_scale_bar_length_known_widths(width, expected):
    assert F.scale_bar_length(width) == pytest.approx(expected, rel=1e-12)


def test_scale_bar_length_fraction_and_errors():
    assert F.scale_bar_length(1e-6, max_fraction=0.5) == pytest.approx(5e-7)
    with pytest.raises(ValueError, match="width"):
        F.scale_bar_length(0.0)
    with pytest.raises(ValueError, match="width"):
        F.scale_bar_length(float("nan"))
    with pytest.raises(ValueError, match="max_fraction"):
        F.scale_bar_length(1e-6, max_fraction=1.5)


def test_display_unit_shows_heights_in_nm_and_prefixes_other_units():
    assert F.display_unit("m", 5e-9) == (1e-9, "nm")
    assert F.display_unit("m", 2e-6) == (1e-9, "nm")
    assert F.display_unit("m", 20e-6) == (1e-6, "µm")
    assert F.display_unit("Pa", 3e9) == (1e9, "GPa")
    assert F.display_unit("N", 2e-9) == (1e-9, "nN")
    assert F.display_unit("deg", 30.0) == (1.0, "deg")
    assert F.display_unit("counts", 255.0) == (1.0, "counts")


# --------------------------------------------------------------------------------------------- image panels
def test_comparison_figure_panels_cover_the_physical_field_with_non_square_pixels(trio):
    figure = F.comparison_figure(trio)
    field = (128 * 2e-9, 96 * 3e-9)  # HR pixels x pixel size; LR has 4x fewer, 4x larger pixels
    axes = _image_axes(figure)
    assert len(axes) == 3
    for ax in axes:
        left, right, bottom, top = ax.get_images()[0].get_extent()
        assert (left, top) == (0.0, 0.0)
        assert right == pytest.approx(field[1], rel=1e-12)
        assert bottom == pytest.approx(field[0], rel=1e-12)
        assert ax.get_aspect() == 1.0  # equal physical scale on x and y
    assert [ax.get_title() for ax in axes] == ["LR", "HR", "bicubic"]
    assert _distinct_colours(F.to_png(figure, dpi=60)) > 50


def test_comparison_figure_one_colour_scale_per_channel_and_unit_on_colour_bar(trio):
    figure = F.comparison_figure(trio, channels=["Height", "Phase"], reference="HR")
    axes = _image_axes(figure)
    assert len(axes) == 6
    height_clims = {ax.get_images()[0].get_clim() for ax in axes[:3]}
    phase_clims = {ax.get_images()[0].get_clim() for ax in axes[3:]}
    assert len(height_clims) == 1
    assert len(phase_clims) == 1
    # HR heights in nm: the colour scale spans its 0.5..99.5 percentiles
    lo, hi = np.percentile(trio["HR"]["Height"].data, [0.5, 99.5]) * 1e9
    assert height_clims.pop() == pytest.approx((lo, hi), rel=1e-9)
    assert phase_clims.pop() == pytest.approx(tuple(np.percentile(trio["HR"]["Phase"].data, [0.5, 99.5])))
    labels = [ax.get_ylabel() for ax in figure.axes if ax.get_label() == "<colorbar>"]
    assert labels == ["Height (nm)", "Phase (deg)"]


def test_comparison_figure_fixed_limits_and_unit_check(trio):
    figure = F.comparison_figure(trio, channels="Height", limits={"Height": (-2e-9, 3e-9)})
    for ax in _image_axes(figure):
        assert ax.get_images()[0].get_clim() == pytest.approx((-2.0, 3.0))
    with pytest.raises(ValueError, match="low < high"):
        F.comparison_figure(trio, channels="Height", limits={"Height": (1e-9, 1e-9)})
    volts = _scan(np.zeros((32, 24)), (8e-9, 12e-9), unit="V")
    with pytest.raises(ValueError, match="one unit"):
        F.comparison_figure({"HR": trio["HR"], "odd": volts}, channels="Height")


def test_comparison_figure_draws_a_round_scale_bar_on_every_panel(trio):
    figure = F.comparison_figure(trio)
    width = 96 * 3e-9
    length = F.scale_bar_length(width)
    for ax in _image_axes(figure):
        assert format_length(length) in [t.get_text() for t in ax.texts]
        bars = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_facecolor()[:3] == (1, 1, 1)]
        assert len(bars) == 1
        assert bars[0].get_width() == pytest.approx(length)
        assert bars[0].get_width() <= width / 3


def test_comparison_figure_zoom_shows_the_same_region_for_every_method(trio):
    region = F.Region(y=64e-9, x=96e-9, height=80e-9, width=90e-9)
    figure = F.comparison_figure(trio, zoom=region, line=((10e-9, 10e-9), (200e-9, 250e-9)))
    axes = _image_axes(figure)
    overviews, zooms = axes[:3], axes[3:]
    assert len(zooms) == 3
    for ax in zooms:
        assert ax.get_xlim() == pytest.approx((region.x, region.x + region.width))
        assert ax.get_ylim() == pytest.approx((region.y + region.height, region.y))
        # the crop holds whole pixels around the region and no more than one pixel beyond it
        left, right, bottom, top = ax.get_images()[0].get_extent()
        assert left <= region.x
        assert right >= region.x + region.width
        assert top <= region.y
        assert bottom >= region.y + region.height
        assert format_length(F.scale_bar_length(region.width)) in [t.get_text() for t in ax.texts]
    for ax in overviews:
        outlines = [p for p in ax.patches if isinstance(p, Rectangle) and not p.get_fill()]
        assert len(outlines) == 1
        assert outlines[0].get_xy() == pytest.approx((region.x, region.y))
        assert (outlines[0].get_width(), outlines[0].get_height()) == pytest.approx(
            (region.width, region.height)
        )
        assert {"A", "B"} <= {t.get_text() for t in ax.texts}


def test_comparison_figure_zoom_outside_the_field_is_refused(trio):
    with pytest.raises(ValueError, match="outside the field"):
        F.comparison_figure(trio, zoom=F.Region(200e-9, 0.0, 100e-9, 50e-9))


def test_detail_region_finds_the_textured_window():
    # flat surface with a textured patch in rows 64..95, columns 16..47: the detail window must lie on it
    data = np.zeros((128, 128))
    data[64:96, 16:48] = _surface(32, 32, seed=3)
    region = F.detail_region(_scan(data, (1e-9, 2e-9)), fraction=0.25)
    assert (region.height, region.width) == pytest.approx((32e-9, 64e-9))
    assert region.y == pytest.approx(64e-9, abs=3e-9)
    assert region.x == pytest.approx(32e-9, abs=6e-9)


def test_images_with_nan_pixels_get_finite_colour_limits(trio):
    data = trio["HR"]["Height"].data.copy()
    data[10:20, 5:9] = np.nan
    images = dict(trio, HR=_scan(data, (2e-9, 3e-9)))
    figure = F.comparison_figure(images, reference="HR")
    for ax in _image_axes(figure):
        assert all(np.isfinite(ax.get_images()[0].get_clim()))
    F.to_png(figure, dpi=40)


def test_all_nan_channel_is_refused():
    with pytest.raises(ValueError, match="no finite"):
        F.comparison_figure({"HR": _scan(np.full((8, 8), np.nan), (1e-9, 1e-9))})


def test_unscaled_real_scan_is_drawn_in_pixels_without_scale_bar():
    stm = scansr.io.read(TEST_DATA / "SPIEPy" / "image_with_defects.dat")
    assert stm.pixel_size is None
    data = stm[stm.default_channel].data
    small = Scan((Channel(stm.default_channel, downsample(data, 4), stm[stm.default_channel].unit),), None)
    figure = F.comparison_figure({"LR": small, "HR": stm})
    for ax in _image_axes(figure):
        assert ax.get_images()[0].get_extent() == pytest.approx((0, data.shape[1], data.shape[0], 0))
        assert not [t for t in ax.texts if t.get_text()]
    assert _distinct_colours(F.to_png(figure, dpi=50)) > 50


def test_mixing_scaled_and_unscaled_scans_is_refused(trio):
    with pytest.raises(ValueError, match="pixel size"):
        F.comparison_figure({"HR": trio["HR"], "odd": _scan(np.zeros((8, 8)), None)})


def test_missing_channel_lists_the_channels(trio):
    with pytest.raises(UnknownChannelError, match="Height"):
        F.comparison_figure(trio, channels="Adhesion")


def test_unknown_reference_is_refused(trio):
    with pytest.raises(ValueError, match="reference"):
        F.comparison_figure(trio, reference="VDSR")


def test_comparison_of_a_real_scan():
    scan = scansr.io.read(shared_path("data", "spm", "NSFopen", "image.nid"))
    hr = scan.select(scan.default_channel)
    ny, nx = (s - s % 4 for s in hr.shape)
    hr = hr.map_channels(lambda a: a[:ny, :nx])
    lr = hr.map_channels(lambda a: downsample(a, 4), pixel_size=(hr.pixel_size[0] * 4, hr.pixel_size[1] * 4))
    bicubic = lr.map_channels(lambda a: upscale(a, 4), pixel_size=hr.pixel_size)
    images = {"LR": lr, "HR": hr, "bicubic": bicubic}
    figure = F.comparison_figure(images, zoom=F.detail_region(hr), reference="HR")
    png = F.to_png(figure, dpi=80)
    assert _distinct_colours(png) > 200
    bar = F.scale_bar_length(hr.size[1])
    assert bar <= hr.size[1] / 3
    assert format_length(bar) in [t.get_text() for t in _image_axes(figure)[0].texts]


# --------------------------------------------------------------------------------------------------- profiles
def _map_coordinates_sampler(image, start, end, *, pixel_size):
    """Independent sampler for the test: 64 points on the line, bilinear (scipy), distance in metres."""
    rows = np.linspace(start[0], end[0], 64)
    cols = np.linspace(start[1], end[1], 64)
    values = ndimage.map_coordinates(image, [rows, cols], order=1, mode="nearest")
    distance = np.hypot((rows - rows[0]) * pixel_size[0], (cols - cols[0]) * pixel_size[1])
    return distance, values


def test_line_profiles_take_the_same_physical_line_from_every_pixel_count():
    # a plane h = a * x (x in metres from the left edge, pixel centres at (c + 0.5) dx); area-averaged LR
    # keeps it exactly, so both profiles must read a * x at the sampled positions
    slope = 0.02  # metres of height per metre along x
    ny, nx, dx = 64, 96, 5e-9
    x_hr = (np.arange(nx) + 0.5) * dx
    hr = np.tile(slope * x_hr, (ny, 1))
    lr = downsample(hr, 4)
    images = {"HR": _scan(hr, (dx, dx)), "LR": _scan(lr, (4 * dx, 4 * dx))}
    start, end = (100e-9, 60e-9), (200e-9, 400e-9)  # (y, x) in metres
    profiles = F.line_profiles(images, start, end, sample=_map_coordinates_sampler)
    expected_x = np.linspace(start[1], end[1], 64)
    for label in ("HR", "LR"):
        distance, values = profiles[label]
        np.testing.assert_allclose(values, slope * expected_x, rtol=1e-9, atol=1e-15, err_msg=label)
        assert distance[-1] == pytest.approx(math.hypot(100e-9, 340e-9), rel=1e-9)


def test_line_profiles_with_the_default_roughness_profile():
    # same ramp truth as above, through scansr.metrics.roughness.profile (one sample per pixel, linear)
    slope = 0.02
    dx = 5e-9
    hr = np.tile(slope * (np.arange(96) + 0.5) * dx, (64, 1))
    images = {"HR": _scan(hr, (dx, dx)), "LR": _scan(downsample(hr, 4), (4 * dx, 4 * dx))}
    start, end = (100e-9, 60e-9), (100e-9, 400e-9)  # a horizontal line inside both pixel grids
    profiles = F.line_profiles(images, start, end)
    for label, (distance, values) in profiles.items():
        assert distance[-1] == pytest.approx(340e-9, rel=1e-9), label
        np.testing.assert_allclose(values, slope * (60e-9 + distance), rtol=1e-9, err_msg=label)
    assert profiles["LR"][0].size < profiles["HR"][0].size  # one sample per pixel of each image
    figure = F.profile_figure(profiles, reference="HR")
    assert figure.axes[0].get_lines()[1].get_marker() == "o"  # the coarse LR profile shows its samples


def test_profile_figure_units_and_markers():
    distance = np.linspace(0, 800e-9, 200)
    values = 2e-9 * np.sin(distance / 1e-7)
    coarse = distance[::10], values[::10]
    figure = F.profile_figure({"HR": (distance, values), "LR": coarse}, reference="HR")
    ax = figure.axes[0]
    assert ax.get_xlabel() == "distance (nm)"
    assert ax.get_ylabel() == "height (nm)"
    hr_line, lr_line = ax.get_lines()
    np.testing.assert_allclose(hr_line.get_xdata(), distance * 1e9)
    np.testing.assert_allclose(hr_line.get_ydata(), values * 1e9)
    assert hr_line.get_color() == "black"
    assert lr_line.get_marker() == "o"
    long = F.profile_figure({"HR": (distance * 10, values)})
    assert long.axes[0].get_xlabel() == "distance (µm)"
    pixels = F.profile_figure({"HR": (np.arange(10.0), values[:10])}, distance_unit="px")
    assert pixels.axes[0].get_xlabel() == "distance (px)"
    np.testing.assert_allclose(pixels.axes[0].get_lines()[0].get_xdata(), np.arange(10.0))


def test_profile_figure_rejects_mismatched_arrays():
    with pytest.raises(ValueError, match="differ"):
        F.profile_figure({"HR": (np.arange(5.0), np.arange(4.0))})


# --------------------------------------------------------------------------------------------------- 3-D
def test_decimate_keeps_at_most_max_size_and_averages_blocks():
    data = np.random.default_rng(2).normal(size=(300, 256))
    small, (fy, fx) = F._decimate(data, 128)
    assert max(small.shape) <= 128
    assert (fy, fx) == (3, 2)
    np.testing.assert_allclose(small[0, 0], data[:3, :2].mean())


def test_surface_figure_decimates_and_states_the_exaggeration(trio):
    big = _scan(_surface(300, 200), (1e-9, 1.5e-9))
    figure = F.surface_figure({"HR": big, "bicubic": trio["bicubic"]}, max_size=64)
    for ax in figure.axes:
        surfaces = [c for c in ax.collections if isinstance(c, Poly3DCollection)]
        assert len(surfaces) == 1
        assert len(surfaces[0].get_paths()) <= 63 * 63
        assert "z ×" in ax.get_title()
    true = F.surface_figure({"HR": big}, true_aspect=True, z_exaggeration=20)
    assert "z ×20" in true.axes[0].get_title()
    assert _distinct_colours(F.to_png(true, dpi=50)) > 50


def test_surface_true_aspect_needs_heights():
    phase = _scan(np.ones((8, 8)), (1e-9, 1e-9), name="Phase", unit="deg")
    with pytest.raises(ValueError, match="true_aspect"):
        F.surface_figure({"p": phase}, true_aspect=True)


# --------------------------------------------------------------------------------------------------- spectra
def test_spectrum_figure_log_log_in_inverse_micrometres():
    freq = np.linspace(0, 5e7, 50)  # 1/m, first bin is the zero frequency
    power = np.where(freq > 0, 1e-30 / np.maximum(freq, 1) ** 2, 0)
    figure = F.spectrum_figure({"HR": (freq, power)}, markers={"LR Nyquist": 1 / (2 * 16e-9)})
    ax = figure.axes[0]
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert ax.get_xlabel() == "spatial frequency (1/µm)"
    line = ax.get_lines()[0]
    np.testing.assert_allclose(line.get_xdata(), freq[1:] * 1e-6)
    nyquist = ax.get_lines()[1]
    assert nyquist.get_xdata()[0] == pytest.approx(1e-6 / (2 * 16e-9))


def test_spectrum_figure_takes_radial_spectra_of_scans(trio):
    from scansr.metrics.spectral import radial_power_spectrum

    spectra = {
        label: radial_power_spectrum(scan["Height"].data, pixel_size=scan.pixel_size)
        for label, scan in trio.items()
    }
    lr_nyquist = 1 / (2 * trio["LR"].pixel_size[1])
    figure = F.spectrum_figure(spectra, power_unit="m⁴", reference="HR", markers={"LR Nyquist": lr_nyquist})
    ax = figure.axes[0]
    assert ax.get_ylabel() == "power (m⁴)"
    hr_line = ax.get_lines()[1]
    keep = spectra["HR"].power > 0
    np.testing.assert_allclose(hr_line.get_xdata(), spectra["HR"].frequency[keep] * 1e-6)
    assert _distinct_colours(F.to_png(figure, dpi=50)) > 20


def test_spectrum_figure_needs_positive_points():
    with pytest.raises(ValueError, match="positive"):
        F.spectrum_figure({"HR": (np.zeros(4), np.ones(4))})


# ----------------------------------------------------------------------------------------------- statistics
def test_box_plot_figure_one_box_per_method():
    rng = np.random.default_rng(4)
    values = {"bicubic": rng.normal(30, 1, 12), "VDSR": rng.normal(31, 1, 12), "x": [np.nan, 29.0]}
    figure = F.box_plot_figure(values, metric="PSNR", unit="dB", lower_is_better=False)
    ax = figure.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["bicubic", "VDSR", "x"]
    assert ax.get_ylabel() == "PSNR (dB) — higher is better"
    # the box of the first method spans its quartiles (numpy's default linear percentiles, as Tukey boxes in
    # matplotlib and R's type 7)
    q1, median, q3 = np.percentile(values["bicubic"], [25, 50, 75])
    box = next(p for p in ax.patches if isinstance(p, Rectangle))
    assert box.get_y() == pytest.approx(q1)
    assert box.get_y() + box.get_height() == pytest.approx(q3)
    assert any(np.allclose(line.get_ydata(), [median, median]) for line in ax.get_lines())
    with pytest.raises(ValueError, match="no finite"):
        F.box_plot_figure({"a": [np.nan]}, metric="PSNR")


def test_pvalue_figure_writes_every_value_and_marks_significance():
    p = np.array([[1.0, 0.01, 1e-8], [0.01, 1.0, 0.3], [1e-8, 0.3, 1.0]])
    figure = F.pvalue_figure(p, ["bicubic", "lanczos", "VDSR"], alpha=0.05)
    ax = figure.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == 9
    assert texts.count("—") == 3
    assert sum(t.endswith("*") for t in texts) == 4  # (0,1), (1,0), (0,2), (2,0)
    assert "0.300" in texts


@pytest.mark.parametrize(
    ("matrix", "names", "message"),
    [
        (np.ones((2, 3)), ["a", "b"], "square"),
        (np.ones((2, 2)), ["a", "b", "c"], "methods"),
        (np.full((2, 2), 1.5), ["a", "b"], r"\[0, 1\]"),
        (np.ones((2, 2)), ["a", "a"], "unique"),
    ],
)
def test_pvalue_figure_checks_its_input(matrix, names, message):
    with pytest.raises(ValueError, match=message):
        F.pvalue_figure(matrix, names)


def test_map_figure_diverging_for_signed_and_sequential_for_spread():
    rng = np.random.default_rng(5)
    error = _scan(rng.normal(0, 1e-10, (48, 64)), (2e-9, 1e-9), name="consistency error")
    spread = _scan(np.abs(rng.normal(0, 1e-10, (48, 64))), (2e-9, 1e-9), name="uncertainty")
    figure = F.map_figure({"consistency": error, "uncertainty": spread})
    signed_ax, spread_ax = _image_axes(figure)
    signed = signed_ax.get_images()[0]
    assert isinstance(signed.norm, TwoSlopeNorm)
    assert signed.norm.vcenter == 0
    assert signed.norm.vmin == pytest.approx(-signed.norm.vmax)
    bound = np.percentile(np.abs(error["consistency error"].data), 99.5) * 1e9  # in nm
    assert signed.norm.vmax == pytest.approx(bound)
    assert spread_ax.get_images()[0].norm.vmin == 0
    labels = [ax.get_ylabel() for ax in figure.axes if ax.get_label() == "<colorbar>"]
    assert labels == ["consistency error (nm)", "uncertainty (nm)"]


def test_scatter_figure_histogram_and_fitted_line():
    rng = np.random.default_rng(6)
    height = rng.uniform(0, 10e-9, 20000)
    adhesion = 2e-9 + 0.5 * height + rng.normal(0, 0.1e-9, height.size)  # N, a known linear relation
    figure = F.scatter_figure(
        height, adhesion, x_label="height", x_unit="m", y_label="adhesion", y_unit="N", fit_line=True
    )
    ax = figure.axes[0]
    assert any(isinstance(c, QuadMesh) for c in ax.collections)
    assert ax.get_xlabel() == "height (nm)"
    assert ax.get_ylabel() == "adhesion (nN)"
    line = ax.get_lines()[0]
    x, y = line.get_xdata(), line.get_ydata()
    assert (y[1] - y[0]) / (x[1] - x[0]) == pytest.approx(0.5, rel=0.01)  # nN per nm = N per m
    few = F.scatter_figure(height[:100], adhesion[:100], x_label="h", y_label="a")
    assert not any(isinstance(c, QuadMesh) for c in few.axes[0].collections)
    with pytest.raises(ValueError, match="shape"):
        F.scatter_figure(height, adhesion[:10], x_label="h", y_label="a")


def test_fit_gaussian_recovers_a_known_distribution():
    samples = np.random.default_rng(7).normal(20e-9, 3e-9, 4000)
    fit = F.fit_gaussian(samples)
    assert fit.n == 4000
    assert fit.mean == pytest.approx(20e-9, abs=4 * 3e-9 / math.sqrt(4000))
    assert fit.std == pytest.approx(3e-9, rel=0.05)


def test_histogram_figure_with_gaussian_fits():
    rng = np.random.default_rng(8)
    samples = {"input": rng.normal(20e-9, 3e-9, 200), "output": rng.normal(15e-9, 2e-9, 150)}
    figure = F.histogram_figure(samples, quantity="gap width", bins=20)
    ax = figure.axes[0]
    assert ax.get_xlabel() == "gap width (nm)"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0].startswith("input: μ = ")
    assert "n = 200" in legend[0]
    # each dashed Gaussian is scaled to its histogram: its area divided by the bin width is the sample count
    everything = np.concatenate(list(samples.values())) * 1e9
    bin_width = np.ptp(everything) / 20
    dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert len(dashed) == 2
    for line, n in zip(dashed, (200, 150), strict=True):
        area = np.trapezoid(line.get_ydata(), line.get_xdata())
        assert area / bin_width == pytest.approx(n, rel=0.02)
    with pytest.raises(ValueError, match="no finite"):
        F.histogram_figure({"a": [np.nan]}, quantity="gap")


# --------------------------------------------------------------------------------------------------- plumbing
def test_labels_are_shown_literally():
    figure = F.profile_figure(
        {"$x$ <model>": (np.arange(3.0) * 1e-9, np.zeros(3)), "_hidden": ([0, 1e-9], [0, 0])}
    )
    texts = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert texts[0] == r"\$x\$ <model>"
    assert len(texts) == 2  # a leading underscore does not hide the entry
    F.to_png(figure, dpi=40)


def test_to_png_returns_a_png():
    figure = F.profile_figure({"a": (np.arange(5.0) * 1e-9, np.arange(5.0) * 1e-9)})
    png = F.to_png(figure, dpi=50)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(ValueError, match="dpi"):
        F.to_png(figure, dpi=0)


def test_report_layer_needs_neither_torch_nor_pyplot():
    script = """
import importlib.abc, sys
class BlockTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked")
sys.meta_path.insert(0, BlockTorch())
import numpy as np
from scansr.report import Report, figures
from scansr.scan import Channel, Scan
scan = Scan((Channel("Height", np.arange(64.0).reshape(8, 8) * 1e-10, "m"),), (1e-9, 1e-9))
report = Report("t")
report.add_figure(figures.comparison_figure({"HR": scan}), caption="c")
report.add_figure(figures.surface_figure({"HR": scan}), caption="c")
report.add_figure(figures.box_plot_figure({"a": [1.0, 2.0, 3.0]}, metric="m"), caption="c")
report.add_figure(figures.pvalue_figure(np.ones((2, 2)), ["a", "b"]), caption="c")
ramp = np.arange(9.0)
report.add_figure(figures.scatter_figure(ramp, ramp, x_label="x", y_label="y"), caption="c")
report.add_figure(figures.histogram_figure({"a": np.arange(9.0)}, quantity="q"), caption="c")
report.add_figure(figures.map_figure({"m": scan}), caption="c")
report.add_figure(figures.spectrum_figure({"s": ([1.0, 2.0], [1.0, 0.5])}), caption="c")
report.render()
assert "matplotlib.pyplot" not in sys.modules, "pyplot imported"
assert not [m for m in sys.modules if m.split(".")[0] == "torch"], "torch imported"
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
