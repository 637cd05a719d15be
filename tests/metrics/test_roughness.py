"""Tests of scansr.metrics.roughness against closed-form values and scikit-image's profile_line."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from scansr.metrics.roughness import (
    height_wasserstein,
    histogram_intersection,
    profile,
    roughness,
    sa,
    sq,
    sz,
)

A = 3e-9  # amplitude in metres


def sine_surface(n_periods: int = 4, samples_per_period: int = 64) -> np.ndarray:
    x = np.arange(n_periods * samples_per_period) / samples_per_period
    return np.tile(A * np.sin(2 * np.pi * x + 0.3), (16, 1))


def test_iso_parameters_of_a_sine():
    z = sine_surface() + 5e-9  # an offset does not matter
    r = roughness(z)
    assert r.sa == pytest.approx(2 * A / np.pi, rel=1e-3)
    assert r.sq == pytest.approx(A / np.sqrt(2), rel=1e-12)
    assert r.sz == pytest.approx(2 * A, rel=1e-3)  # peaks and pits sampled within 0.1 % of ±A
    assert r.sz == pytest.approx(r.sp + r.sv)
    assert r.ssk == pytest.approx(0.0, abs=1e-10)
    assert r.sku == pytest.approx(1.5, rel=1e-10)
    assert (sa(z), sq(z), sz(z)) == pytest.approx((r.sa, r.sq, r.sz), rel=1e-12)


def test_iso_parameters_by_hand():
    z = np.array([[0.0, 1.0], [2.0, 5.0]])  # mean 2; deviations -2, -1, 0, 3
    r = roughness(z)
    assert r.sa == pytest.approx(1.5)
    assert r.sq == pytest.approx(np.sqrt(14 / 4))
    assert (r.sp, r.sv, r.sz) == pytest.approx((3.0, 2.0, 5.0))
    assert r.ssk == pytest.approx((-8 - 1 + 0 + 27) / 4 / (14 / 4) ** 1.5)


def test_wasserstein_of_shifted_and_scaled_distributions():
    rng = np.random.default_rng(0)
    z = 1e-9 * rng.standard_normal(5000)
    # an offset is ignored by default and is exactly the distance without centring
    assert height_wasserstein(z, z + 2e-9) == pytest.approx(0.0, abs=1e-20)
    assert height_wasserstein(z, z + 2e-9, center=False) == pytest.approx(2e-9, rel=1e-9)
    # scaling by c: the monotone coupling moves every height by |c - 1| |z - z̄|, so W1 = |c - 1| Sa
    assert height_wasserstein(z, 1.5 * z) == pytest.approx(0.5 * sa(z), rel=1e-9)


def test_histogram_intersection_limits():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((64, 64))
    assert histogram_intersection(z, z) == pytest.approx(1.0)
    assert histogram_intersection(z, z + 100.0, center=False) == pytest.approx(0.0)
    assert 0.2 < histogram_intersection(z, 3 * z) < 0.9


def test_profile_distance_and_values_on_a_plane_with_non_square_pixels():
    dy, dx = 2e-9, 1e-9
    yy, xx = np.mgrid[0:40, 0:50]
    a, b = 0.1, -0.2  # slope in m/m along x and y
    z = a * xx * dx + b * yy * dy
    prof = profile(z, (5, 3), (29, 35), pixel_size=(dy, dx), width=5, order=1)
    length = np.hypot(24 * dy, 32 * dx)
    assert prof.distance_m[0] == 0.0
    assert prof.distance_m[-1] == pytest.approx(length)
    assert prof.values.size == int(np.ceil(np.hypot(24, 32))) + 1
    # along the line the plane rises linearly from z(start) to z(end); the band is symmetric, so the mean
    # agrees
    z0, z1 = a * 3 * dx + b * 5 * dy, a * 35 * dx + b * 29 * dy
    assert_allclose(prof.values, z0 + (z1 - z0) * prof.distance_m / length, rtol=0, atol=1e-20)


def test_profile_matches_skimage_profile_line():
    from skimage.measure import profile_line

    rng = np.random.default_rng(2)
    img = rng.standard_normal((40, 40))
    for width in (1, 3):
        ours = profile(img, (8, 6), (30, 27), width=width, order=1).values
        ref = profile_line(img, (8, 6), (30, 27), linewidth=width, order=1, mode="constant")
        assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)


def test_profile_outside_the_image_is_nan():
    img = np.ones((10, 10))
    prof = profile(img, (5, 5), (5, 14))
    assert np.isnan(prof.values[-1])
    assert not np.isnan(prof.values[:5]).any()


def test_profile_rejects_a_point_line():
    with pytest.raises(ValueError, match="same point"):
        profile(np.ones((4, 4)), (1, 1), (1, 1))
