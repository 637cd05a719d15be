"""Tests of scansr.register: known synthetic transforms, and a real zoom located where its scan offsets say.

Real scans come from ../shared/data/spm/DTMicroscope (MIT; pyNSID HDF5 made from Asylum .ibw files), read with
`scansr.io.read` (which sets ``Scan.origin`` from the Asylum scan offsets); the tests skip without the corpus.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import ndimage

from scansr.io import read
from scansr.register import (
    Registration,
    RegistrationError,
    crop_common,
    initial_transform_from_metadata,
    refine_elastic,
    register_ecc,
    register_phase,
    register_scans,
    register_sift,
    render8,
    warp,
)
from scansr.scan import Channel, Scan
from tests.conftest import TEST_DATA, shared_path

N = 192  # side of the synthetic fixed / moving images
MARGIN = 32  # they are cut from a 256² source with this margin, so both are fully measured


# --------------------------------------------------------------------------------------------------- helpers
def texture(seed: int = 1, n: int = 256) -> np.ndarray:
    """Band-limited random surface (~1e-8 m) with blobs at two scales: stands in for an AFM height image."""
    rng = np.random.default_rng(seed)
    a = ndimage.gaussian_filter(rng.standard_normal((n, n)), 3.0)
    b = ndimage.gaussian_filter(rng.standard_normal((n, n)), 1.0)
    return 1e-8 * (a / a.std() + 0.3 * b / b.std())


def true_matrix(shift_x: float, shift_y: float, angle_deg: float, scale: float) -> np.ndarray:
    """Moving → fixed pixel map: rotation (cv2 convention) and scale about the image centre, then a shift."""
    c = (N - 1) / 2.0
    m = cv2.getRotationMatrix2D((c, c), angle_deg, scale)
    m[:, 2] += (shift_x, shift_y)
    return np.vstack([m, [0.0, 0.0, 1.0]])


def make_pair(source: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """fixed = source crop; moving(q) = fixed(matrix · q), sampled with a cubic spline (independent of
    cv2)."""
    yy, xx = np.mgrid[0:N, 0:N].astype(np.float64)
    x = matrix[0, 0] * xx + matrix[0, 1] * yy + matrix[0, 2] + MARGIN
    y = matrix[1, 0] * xx + matrix[1, 1] * yy + matrix[1, 2] + MARGIN
    if x.min() < 0 or y.min() < 0 or x.max() > source.shape[1] - 1 or y.max() > source.shape[0] - 1:
        raise ValueError("the transform reaches outside the source image; use a smaller one")
    fixed = source[MARGIN : MARGIN + N, MARGIN : MARGIN + N].copy()
    moving = ndimage.map_coordinates(source, [y, x], order=3, mode="nearest")
    return fixed, moving


def corner_error(reg: Registration, truth: np.ndarray) -> float:
    """Largest distance, in fixed pixels, between where `reg` and `truth` put the moving image's corners."""
    corners = np.array([[0, 0], [N - 1, 0], [0, N - 1], [N - 1, N - 1]], dtype=np.float64)
    expected = corners @ truth[:2, :2].T + truth[:2, 2]
    return float(np.abs(reg.map_points(corners) - expected).max())


def levelled(image: np.ndarray) -> np.ndarray:
    """`image` minus its least-squares plane."""
    yy, xx = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    a = np.column_stack([np.ones(image.size), xx.ravel(), yy.ravel()])
    coef, *_ = np.linalg.lstsq(a, image.ravel(), rcond=None)
    return image - (a @ coef).reshape(image.shape)


def read_pto(name: str) -> Scan:
    """A PTO_Funakubo scan of the shared corpus (pyNSID HDF5 from an Asylum .ibw), with its scan offset."""
    return read(shared_path("data", "spm", "DTMicroscope", name))


CASES = [
    pytest.param((3.37, -5.81, 0.0, 1.0), id="shift"),
    pytest.param((3.37, -5.81, 2.5, 1.0), id="shift+rotation"),
    pytest.param((-4.2, 2.9, -1.5, 1.04), id="shift+rotation+scale"),
]


# -------------------------------------------------------------------------------------------- synthetic truth
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("method", ["sift", "ecc"])
def test_known_transform_on_synthetic_texture(case, method):
    truth = true_matrix(*case)
    fixed, moving = make_pair(texture(), truth)
    reg = register_sift(fixed, moving) if method == "sift" else register_ecc(fixed, moving, motion="affine")
    assert reg.method == method
    assert corner_error(reg, truth) < 0.1
    assert reg.rotation_deg == pytest.approx(case[2], abs=0.1)
    assert reg.scale == pytest.approx(case[3], abs=1e-3)


def test_phase_correlation_recovers_subpixel_shift():
    truth = true_matrix(3.37, -5.81, 0.0, 1.0)
    fixed, moving = make_pair(texture(seed=2), truth)
    reg = register_phase(fixed, moving, upsample=50)
    assert_allclose(reg.matrix[:2, 2], [3.37, -5.81], atol=0.05)
    assert_allclose(reg.matrix[:2, :2], np.eye(2), atol=0)
    assert reg.score > 0.99


def test_ecc_euclidean_and_translation_models():
    truth = true_matrix(-2.6, 4.1, 1.2, 1.0)
    fixed, moving = make_pair(texture(seed=4), truth)
    reg = register_ecc(fixed, moving, motion="euclidean")
    assert corner_error(reg, truth) < 0.1
    assert reg.scale == pytest.approx(1.0, abs=1e-6)  # a Euclidean model has no scale (float32 in ECC)
    shifted = true_matrix(-2.6, 4.1, 0.0, 1.0)
    fixed, moving = make_pair(texture(seed=4), shifted)
    assert corner_error(register_ecc(fixed, moving, motion="translation"), shifted) < 0.1


def test_ecc_needs_a_starting_guess_for_a_large_offset():
    truth = true_matrix(25.0, -18.0, 0.0, 1.0)
    src = texture(seed=5, n=320)
    yy, xx = np.mgrid[0:N, 0:N].astype(np.float64)
    fixed = src[64 : 64 + N, 64 : 64 + N]
    moving = ndimage.map_coordinates(src, [yy + truth[1, 2] + 64, xx + truth[0, 2] + 64], order=3)
    guess = true_matrix(23.0, -16.5, 0.0, 1.0)  # e.g. from the scan offsets, 2 px off
    reg = register_ecc(fixed, moving, motion="translation", init=guess)
    assert_allclose(reg.matrix[:2, 2], [25.0, -18.0], atol=0.05)


def test_sift_without_features_raises_and_suggests_alternatives():
    yy, xx = np.mgrid[0:128, 0:128]
    smooth = np.sin(xx / 40.0) + 0.5 * yy / 128.0  # no blobs or corners for SIFT
    with pytest.raises(RegistrationError, match=r"register_phase|register_ecc"):
        register_sift(smooth, smooth + 0.01)


def test_registration_error_is_a_value_error():
    assert issubclass(RegistrationError, ValueError)


# ------------------------------------------------------------------------------------------------ warp & crop
def test_warp_identity_and_integer_shift_are_exact():
    img = texture(seed=6)[:64, :80]
    same = warp(img, Registration(np.eye(3), "identity"), img.shape)
    assert_allclose(same.image, img, rtol=0, atol=1e-20)
    assert same.valid.all()
    shift = Registration(np.array([[1, 0, 5], [0, 1, -3], [0, 0, 1]]), "shift")  # moving (x, y) -> (x+5, y-3)
    out = warp(img, shift, img.shape)
    assert_allclose(out.image[0:61, 5:80], img[3:64, 0:75], rtol=0, atol=1e-20)
    assert not out.valid[:, :5].any()
    assert not out.valid[61:, :].any()
    assert np.isnan(out.image[~out.valid]).all()


def test_warp_keeps_nan_pixels_invalid():
    img = texture(seed=6)[:64, :64].copy()
    img[20, 30] = np.nan
    out = warp(img, Registration(np.eye(3), "identity"), img.shape, interpolation="linear")
    assert not out.valid[20, 30]
    assert out.valid.sum() == img.size - 1


def test_crop_common_matches_brute_force_largest_rectangle():
    rng = np.random.default_rng(0)
    mask = ndimage.binary_opening(rng.random((18, 21)) > 0.25)
    best = 0
    for y0 in range(18):
        for y1 in range(y0 + 1, 19):
            for x0 in range(21):
                for x1 in range(x0 + 1, 22):
                    if (y1 - y0) * (x1 - x0) > best and mask[y0:y1, x0:x1].all():
                        best = (y1 - y0) * (x1 - x0)
    img = rng.random(mask.shape)
    common = crop_common(img, img + 1, mask)
    y0, y1, x0, x1 = common.box
    assert (y1 - y0) * (x1 - x0) == best
    assert mask[y0:y1, x0:x1].all()
    assert_allclose(common.moving - common.fixed, 1.0)


def test_crop_common_of_rotated_image_is_inside_the_valid_region():
    truth = true_matrix(0.0, 0.0, 10.0, 1.0)
    img = texture(seed=7)[:N, :N]
    out = warp(img, Registration(truth, "rot"), img.shape)
    common = crop_common(img, out.image, out.valid)
    assert np.isfinite(common.moving).all()
    y0, y1, x0, x1 = common.box
    # a square rotated by 10° about its centre holds an axis-aligned square of side N/(cos 10° + sin 10°)
    side = (N - 1) / (np.cos(np.radians(10)) + np.sin(np.radians(10)))
    assert min(y1 - y0, x1 - x0) >= side - 2


def test_crop_common_without_overlap_raises():
    img = np.ones((16, 16))
    with pytest.raises(RegistrationError, match="do not overlap"):
        crop_common(img, img, np.zeros((16, 16), dtype=bool))


# --------------------------------------------------------------------------------------------------- elastic
def test_refine_elastic_recovers_a_smooth_displacement_field():
    src = texture(seed=8)
    yy, xx = np.mgrid[0:N, 0:N].astype(np.float64)

    def field(x, y):
        return 1.5 * np.sin(2 * np.pi * y / 150 + 0.3), 1.2 * np.cos(2 * np.pi * x / 130)

    ux, uy = field(xx, yy)
    warped = ndimage.map_coordinates(src, [yy + MARGIN - uy, xx + MARGIN - ux], order=3)
    fixed = src[MARGIN : MARGIN + N, MARGIN : MARGIN + N]
    # exact truth: fixed(p) = warped(q) with q - u(q) = p, solved by fixed-point iteration
    qx, qy = xx.copy(), yy.copy()
    for _ in range(30):
        ax, ay = field(qx, qy)
        qx, qy = xx + ax, yy + ay
    flow = refine_elastic(fixed, warped)
    inner = np.s_[16:-16, 16:-16]
    error = np.hypot(flow[..., 0] - (qx - xx), flow[..., 1] - (qy - yy))[inner]
    assert error.mean() < 0.15
    corrected = warp(warped, Registration(np.eye(3), "elastic", flow=flow), fixed.shape).image
    before = np.sqrt(np.mean((warped - fixed)[inner] ** 2))
    after = np.sqrt(np.mean((corrected - fixed)[inner] ** 2))
    assert after < 0.2 * before


# ------------------------------------------------------------------------------------------- metadata & scans
def test_initial_transform_from_metadata_zoom():
    big = Scan([Channel("Height", np.zeros((100, 100)), "m")], (10e-9, 10e-9), origin=(0.0, 0.0))
    zoom = Scan([Channel("Height", np.zeros((100, 100)), "m")], (2e-9, 2.5e-9), origin=(300e-9, 150e-9))
    m = initial_transform_from_metadata(big, zoom)
    # origins are top-left corners: the centre of zoom pixel (x, y) sits at (150 nm + 2.5 nm (x + ½),
    # 300 nm + 2 nm (y + ½)), i.e. at big pixel ((151.25 + 2.5 x) / 10 - ½, (301 + 2 y) / 10 - ½)
    assert_allclose(m, [[0.25, 0, 14.625], [0, 0.2, 29.6], [0, 0, 1]], rtol=1e-12, atol=1e-12)
    assert_allclose(initial_transform_from_metadata(zoom, big), np.linalg.inv(m), rtol=1e-12, atol=1e-12)


def test_initial_transform_needs_origins():
    a = Scan([Channel("Height", np.zeros((8, 8)), "m")], (1e-9, 1e-9))
    with pytest.raises(ValueError, match="origin"):
        initial_transform_from_metadata(a, a)


def _scans_from_texture(coarse: int) -> tuple[Scan, Scan, np.ndarray]:
    """A fine scan (fixed) and a coarse, offset, larger scan (moving) cut from one synthetic surface."""
    src = texture(seed=9, n=480)
    d = 5e-9
    fixed = Scan([Channel("Height", src[100:292, 120:312], "m")], (d, d), origin=(100 * d, 120 * d))
    # the coarse scan: every `coarse`-th sample after a small blur, starting at pixel (10, 14), 0.4 px drift
    # in x
    blurred = ndimage.gaussian_filter(src, 0.5 * coarse)
    yy, xx = np.mgrid[0 : 150 // coarse * 3, 0 : 150 // coarse * 3].astype(np.float64)
    coarse_img = ndimage.map_coordinates(blurred, [10 + coarse * yy, 14.4 + coarse * xx], order=3)
    # origins are pixel corners: coarse pixel 0 is centred on fine pixel (10, 14.4), its corner half a coarse
    # pixel before; the recorded offset misses the 0.4 px drift in x
    corner = 0.5 - coarse / 2
    moving = Scan(
        [Channel("Height", coarse_img, "m"), Channel("Phase", -coarse_img * 1e9, "deg")],
        (coarse * d, coarse * d),
        origin=((10 + corner) * d, (14 + corner) * d),
    )
    truth = np.array([[coarse, 0, 14.4 - 120], [0, coarse, 10 - 100], [0, 0, 1.0]])
    return fixed, moving, truth


@pytest.mark.parametrize("method", ["sift", "ecc", "phase", "auto"])
def test_register_scans_on_a_coarser_scan(method):
    fixed, moving, truth = _scans_from_texture(coarse=2)
    pair = register_scans(fixed, moving, method=method)
    # the fixed image's corners, and where they are in the moving scan
    corners = np.array([[0, 0], [N - 1, 0], [0, N - 1], [N - 1, N - 1]], dtype=np.float64)
    in_moving = Registration(np.linalg.inv(truth), "truth").map_points(corners)
    # 0.1 fixed px; phase correlation 0.2 fixed px (0.1 px of the coarse scan): its whitening gives the
    # aliased top octave of the upscaled scan full weight (see register_phase)
    tolerance = 0.2 if method == "phase" else 0.1
    assert np.abs(pair.registration.map_points(in_moving) - corners).max() < tolerance
    assert pair.fixed.shape == pair.moving.shape
    assert pair.moving.pixel_size == fixed.pixel_size
    assert pair.moving.names == ("Height", "Phase")
    assert pair.moving["Phase"].unit == "deg"
    a, b = pair.fixed["Height"].data, pair.moving["Height"].data
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.95
    y0, _, x0, _ = pair.box
    assert pair.fixed.origin == pytest.approx((fixed.origin[0] + y0 * 5e-9, fixed.origin[1] + x0 * 5e-9))


def test_plain_cross_correlation_is_unbiased_on_an_upscaled_scan():
    fixed, moving, truth = _scans_from_texture(coarse=2)
    upscaled = warp(moving["Height"].data, Registration(np.diag([2.0, 2.0, 1.0]), "x2"), (449, 449)).image
    guess = np.array([[1, 0, 14 - 120], [0, 1, 10 - 100], [0, 0, 1.0]])  # from the scan offsets
    reg = register_phase(fixed["Height"].data, upscaled, init=guess, normalization=None)
    # the upscaled scan's pixel (x, y) is the coarse scan's (x/2, y/2)
    assert_allclose(reg.matrix[:2, 2], truth[:2, 2], atol=0.05)


def test_register_scans_elastic_adds_a_flow_field():
    fixed, moving, _ = _scans_from_texture(coarse=2)
    pair = register_scans(fixed, moving, method="ecc", elastic=True)
    assert pair.registration.flow is not None
    assert pair.registration.flow.shape == (*fixed.shape, 2)
    assert pair.registration.method == "ecc+elastic"
    assert np.abs(pair.registration.flow).mean() < 0.3  # the global transform was already right


def test_register_scans_rejects_unknown_method():
    fixed, moving, _ = _scans_from_texture(coarse=2)
    with pytest.raises(ValueError, match="method must be one of"):
        register_scans(fixed, moving, method="orb")


def test_render8_is_robust_to_spikes():
    img = texture(seed=10)[:64, :64].copy()
    img[5, 5] = 1.0  # a 1 m spike
    r = render8(img)
    assert r.dtype == np.uint8
    assert r.max() == 255
    assert r.min() == 0
    assert 60 < np.median(r) < 200  # the spike did not squash the grey range


# ------------------------------------------------------------------------------------------------- real scans
def _crop_of_shipped_scan() -> tuple[Scan, Scan]:
    """PTO_Funakubo0005 (HeightRetrace: smooth, no SIFT features) and its central 128² cut out exactly."""
    full = read(TEST_DATA / "DTMicroscope" / "PTO_Funakubo0005.h5")
    dy, dx = full.pixel_size
    crop = full.replace(
        channels=tuple(c.replace(data=c.data[64:192, 64:192]) for c in full.channels),
        origin=(full.origin[0] + 64 * dy, full.origin[1] + 64 * dx),
    )
    return full, crop


CROP_CORNERS = np.array([[0, 0], [127, 0], [0, 127], [127, 127]], dtype=np.float64)


@pytest.mark.parametrize("start_error", [0.0, 2.5], ids=["exact-start", "start-2.5px-off"])
@pytest.mark.parametrize("motion", ["translation", "affine"])
def test_ecc_finds_a_crop_of_a_smooth_real_scan(motion, start_error):
    # Regression: with a separate plane removed from the crop and from the whole scan, ECC left the correct
    # start (64, 64) for scale 0.65, shift (14, -20), correlation 0.6. The crop is the scan's own pixels, so
    # the truth is exact: crop pixel (x, y) is scan pixel (x + 64, y + 64).
    full, crop = _crop_of_shipped_scan()
    h, c = full["HeightRetrace"].data, crop["HeightRetrace"].data
    start = np.array([[1, 0, -64 + start_error], [0, 1, -64 - start_error], [0, 0, 1.0]])  # scan -> crop
    reg = register_ecc(c, h, motion=motion, init=start)
    assert np.abs(reg.map_points(CROP_CORNERS + 64) - CROP_CORNERS).max() < 0.1
    assert reg.score > 0.999
    # the other way round: the crop moves onto the scan
    back = register_ecc(h, c, motion=motion, init=np.linalg.inv(start))
    assert np.abs(back.map_points(CROP_CORNERS) - (CROP_CORNERS + 64)).max() < 0.1


@pytest.mark.parametrize("motion", ["translation", "affine"])
def test_register_scans_auto_finds_a_crop_of_a_smooth_real_scan(motion):
    # SIFT finds nothing on this smooth height map, so "auto" falls back to ECC from the scan offsets
    full, crop = _crop_of_shipped_scan()
    pair = register_scans(crop, full, method="auto", channel="HeightRetrace", motion=motion)
    assert pair.registration.method == "ecc"
    assert np.abs(pair.registration.map_points(CROP_CORNERS + 64) - CROP_CORNERS).max() < 0.1
    assert_allclose(
        pair.moving["HeightRetrace"].data,
        crop["HeightRetrace"].data[slice(*pair.box[:2]), slice(*pair.box[2:])],
        rtol=0,
        atol=1e-3 * np.ptp(crop["HeightRetrace"].data),
    )


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize(
    ("method", "channel"),
    [
        ("ecc", "DeflectionRetrace"),
        ("auto", "PhaseRetrace"),
    ],
)
def test_known_transform_on_shipped_real_scan(case, method, channel):
    # PTO_Funakubo0005 (1 µm PFM zoom, shipped in tests/data); "auto" = SIFT refined by ECC, through Scans
    src = read(TEST_DATA / "DTMicroscope" / "PTO_Funakubo0005.h5")[channel].data
    truth = true_matrix(*case)
    fixed, moving = make_pair(src, truth)
    if method == "ecc":
        reg = register_ecc(fixed, moving)
    else:
        as_scan = [Scan([Channel(channel, img, "m")], (3.9e-9, 3.9e-9)) for img in (fixed, moving)]
        reg = register_scans(*as_scan, method="auto").registration
        assert reg.method == "sift+ecc"
    assert corner_error(reg, truth) < 0.1
    assert reg.rotation_deg == pytest.approx(case[2], abs=0.1)
    assert reg.scale == pytest.approx(case[3], abs=1e-3)


@pytest.mark.corpus
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize(("method", "channel"), [("sift", "AmplitudeRetrace"), ("ecc", "HeightRetrace")])
def test_known_transform_on_real_scan(case, method, channel):
    # PTO_Funakubo0004 (3 µm, 11.7 nm/px): SIFT alone finds ~500 matches here, enough for 0.1 px; on the
    # smoother 1 µm zoom its ~70 matches give 0.2-0.5 px at the corners, hence "auto" refines with ECC
    src = read_pto("PTO_Funakubo0004.h5")[channel].data
    truth = true_matrix(*case)
    fixed, moving = make_pair(src, truth)
    reg = register_sift(fixed, moving) if method == "sift" else register_ecc(fixed, moving)
    assert corner_error(reg, truth) < 0.1
    assert reg.rotation_deg == pytest.approx(case[2], abs=0.1)


@pytest.mark.corpus
def test_phase_correlation_on_real_scan():
    src = read_pto("PTO_Funakubo0004.h5")["HeightRetrace"].data
    truth = true_matrix(-6.42, 2.77, 0.0, 1.0)
    fixed, moving = make_pair(src, truth)
    assert_allclose(register_phase(fixed, moving).matrix[:2, 2], [-6.42, 2.77], atol=0.05)


@pytest.mark.corpus
@pytest.mark.parametrize(
    ("method", "channel", "direction"),
    [
        ("sift", "AmplitudeRetrace", "zoom-fixed"),
        ("ecc", "AmplitudeRetrace", "zoom-fixed"),
        ("phase", "AmplitudeRetrace", "zoom-fixed"),
        ("auto", "HeightRetrace", "zoom-fixed"),
        ("ecc", "DeflectionRetrace", "large-fixed"),
        ("auto", "AmplitudeRetrace", "large-fixed"),
    ],
)
def test_real_zoom_is_found_where_the_scan_offsets_predict(method, channel, direction):
    large = read_pto("PTO_Funakubo0004.h5")  # 3 µm, 11.7 nm/px
    zoom = read_pto("PTO_Funakubo0005.h5")  # 1 µm inside it, 3.9 nm/px
    fixed, moving = (zoom, large) if direction == "zoom-fixed" else (large, zoom)
    predicted = initial_transform_from_metadata(fixed, moving)
    pair = register_scans(fixed, moving, method=method, channel=channel)
    # where the zoom's corners fall in the large scan, in large-scan (low-resolution) pixels
    corners = np.array([[0, 0], [255, 0], [0, 255], [255, 255]], dtype=np.float64)
    if direction == "zoom-fixed":
        found = Registration(np.linalg.inv(pair.registration.matrix), "inv").map_points(corners)
        expected = Registration(np.linalg.inv(predicted), "inv").map_points(corners)
    else:
        found = pair.registration.map_points(corners)
        expected = Registration(predicted, "meta").map_points(corners)
    assert np.abs(found - expected).max() <= 10.0
    assert pair.registration.scale == pytest.approx(predicted[0, 0], rel=0.05)
    # the aligned crops show the same surface (correlation after removing each crop's plane: the two scans
    # were levelled differently by the instrument)
    a, b = levelled(pair.fixed[channel].data), levelled(pair.moving[channel].data)
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.4
