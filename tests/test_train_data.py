"""Training data: reading and preparing scans, aligned LR/HR pairs, stateless seeded batches, split files."""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest

from scansr import degrade, io
from scansr.train import DataConfig, PairSampler, load_images, load_split
from scansr.train.data import prepare_image, resolve_degradation
from tests.conftest import TEST_DATA, shared_path

SPM = TEST_DATA / "afm-cbir-examples" / "CL 0deg xcal.0_00000.spm"
PFM = TEST_DATA / "DTMicroscope" / "PTO_Funakubo0005.h5"
NID = TEST_DATA / "NSFopen" / "circles.nid"
STM = TEST_DATA / "SPIEPy" / "image_with_defects.dat"  # no lateral scale in the file

# Only area sampling: an LR pixel is the exact mean of its s×s HR block, so alignment can be checked exactly.
AREA = degrade.DegradationConfig(
    samplings=("area",),
    sampling_weights=(1.0,),
    **{f.name: 0.0 for f in dataclasses.fields(degrade.DegradationConfig) if f.name.endswith("_probability")},
)


def block_mean(hr: np.ndarray, s: int) -> np.ndarray:
    n, c, h, w = hr.shape
    return hr.reshape(n, c, h // s, s, w // s, s).mean(axis=(3, 5))


# ------------------------------------------------------------------------------------------------ images
def test_folder_skips_non_scans_and_duplicates(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="scansr.train.data"):
        images = load_images([TEST_DATA / "SciFiDatasets"], DataConfig())
    names = [im.name for im in images]
    # The PiFM header file holds TopographyFwd; the channel file of the same name holds the same data.
    assert sum(n.endswith(":TopographyFwd") for n in names) == 1
    assert "not a scan, skipped" in caplog.text  # the .datasw display-settings file
    assert len({im.digest for im in images}) == len(images)


def test_default_channel_is_the_topography() -> None:
    (image,) = load_images([SPM], DataConfig())
    assert image.channel == io.read(SPM).default_channel == "ZSensor"
    assert image.unit == "m"
    assert image.pixel_size == io.read(SPM).pixel_size


def test_channel_list_first_and_each(caplog: pytest.LogCaptureFixture) -> None:
    first = load_images([PFM, SPM], DataConfig(channels=("PhaseRetrace", "ZSensor")))
    assert [im.channel for im in first] == ["PhaseRetrace", "ZSensor"]
    each = load_images([PFM], DataConfig(channels=("heightretrace", "PhaseRetrace"), channel_mode="each"))
    assert [im.channel for im in each] == ["HeightRetrace", "PhaseRetrace"]  # case-insensitive match
    with caplog.at_level(logging.WARNING):
        only = load_images([PFM, SPM], DataConfig(channels=("ZSensor",)))
    assert [im.source for im in only] == [SPM]
    assert "none of the channels ['ZSensor'], skipped" in caplog.text


def test_nothing_left_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"no training image .*no channel \['Nope'\]"):
        load_images([PFM], DataConfig(channels=("Nope",)))


def test_an_explicit_non_scan_file_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown file format"):
        load_images([TEST_DATA / "NOTICE.md"], DataConfig())


def test_preparation_clips_at_the_afm_paper_ranks() -> None:
    raw = io.read(NID)["Topography"].data
    prepared = prepare_image(raw, DataConfig(level_plane=False, align_rows=None))
    values = np.sort(raw.ravel())
    n = values.size  # eq. 1: ranks floor(2.5 % N) and floor(97.5 % N), 1-based
    assert prepared.min() == values[math.floor(0.025 * n) - 1]
    assert prepared.max() == values[math.floor(0.975 * n) - 1]
    assert prepared.shape == raw.shape


# ---------------------------------------------------------------------------------------------- pairs
def sampler(
    config: DataConfig, degradation=AREA, *, scales=(2, 3), seed=0, files=(PFM, NID, SPM)
) -> PairSampler:
    return PairSampler(
        load_images(files, config), scales=scales, config=config, degradation=degradation, seed=seed
    )


def test_lr_patches_are_the_area_means_of_their_hr_patches() -> None:
    s = sampler(DataConfig(patch_size=41, batch_size=16))
    for step in (0, 250):
        groups = s.batch(step, range(16))
        for g in groups:
            p = math.ceil(41 / g.scale)  # HR patch: a multiple of the scale, at least the patch size
            assert g.lr.shape[1:] == (1, p, p)
            assert g.hr.shape[1:] == (1, p * g.scale, p * g.scale)
            assert g.lr.dtype == g.hr.dtype == np.float32
            np.testing.assert_allclose(g.lr, block_mean(g.hr.astype(np.float64), g.scale), atol=2e-6)


def test_point_sampled_lr_patches_lie_on_a_grid_of_their_hr_patches() -> None:
    point = dataclasses.replace(AREA, samplings=("point",))
    s = sampler(DataConfig(patch_size=24), point, scales=(3,))
    for g in s.batch(0, range(8)):
        for lr, hr in zip(g.lr[:, 0], g.hr[:, 0], strict=True):
            phases = [
                (py, px) for py in range(3) for px in range(3) if np.allclose(hr[py::3, px::3], lr, atol=1e-6)
            ]
            assert phases, "no sampling phase reproduces the LR patch"


def test_lr_normalisation_is_fitted_on_the_lr_scan() -> None:
    s = sampler(DataConfig())
    v = s.version(0, 2, step=0)
    assert float(v.lr.mean()) == pytest.approx(0.0, abs=1e-6)
    assert float(v.lr.std(ddof=1)) == pytest.approx(1.0, abs=1e-5)
    hr = sampler(DataConfig(normalise_from="hr")).version(0, 2, step=0)
    assert (hr.offset, hr.scale) == pytest.approx((hr.hr.mean(), hr.hr.std(ddof=1)))


def test_batches_are_a_function_of_step_and_sample_only() -> None:
    config = DataConfig(batch_size=8, patch_size=16)
    whole = {
        k: (g.scale, g.lr[i], g.hr[i])
        for g in sampler(config).batch(3, range(8))
        for i, k in enumerate(g.samples)
    }
    fresh = sampler(config)  # another process: its own cache, its own share
    shards = [g for r in (1, 0) for g in fresh.batch(3, range(4 * r, 4 * r + 4))]
    parts = {k: (g.scale, g.lr[i], g.hr[i]) for g in shards for i, k in enumerate(g.samples)}
    assert parts.keys() == whole.keys()
    for k, (scale, lr, hr) in whole.items():
        assert parts[k][0] == scale
        np.testing.assert_array_equal(parts[k][1], lr)
        np.testing.assert_array_equal(parts[k][2], hr)
    other_seed = sampler(config, seed=1).batch(3, range(8))
    assert not np.array_equal(other_seed[0].lr, sampler(config).batch(3, range(8))[0].lr)


def test_scale_sampling_modes() -> None:
    per_batch = sampler(DataConfig(scale_sampling="batch", batch_size=16))
    assert all(len(per_batch.batch(step, range(16))) == 1 for step in range(5))
    mixed = sampler(DataConfig(scale_sampling="mixed", batch_size=16)).batch(0, range(16))
    assert [g.scale for g in mixed] == [2, 3]
    assert [g.samples for g in mixed] == [tuple(range(0, 16, 2)), tuple(range(1, 16, 2))]


def test_degraded_versions_are_redrawn_every_degrade_every_steps() -> None:
    s = sampler(DataConfig(degrade_every=10), resolve_degradation("afm"))
    gens = [[s.generation(i, step) for step in range(30)] for i in range(3)]
    for g in gens:  # each image changes version every 10 steps...
        assert [b - a for a, b in itertools.pairwise(g)].count(1) in (2, 3)
    assert len({tuple(g) for g in gens}) == 3  # ...at staggered steps
    first, later = s.version(0, 2, 0).lr.copy(), s.version(0, 2, 10).lr
    assert first.shape != later.shape or not np.array_equal(first, later)


def test_scans_without_pixel_size_train_without_the_tip() -> None:
    tip_only = dataclasses.replace(resolve_degradation("bicubic"), tip_probability=1.0)
    s = sampler(DataConfig(), tip_only, scales=(2,), files=(STM,))
    (g,) = s.batch(0, range(4))
    assert np.isfinite(g.lr).all()


def test_too_small_images_are_reported() -> None:
    with pytest.raises(ValueError, match="large enough for ×8"):
        sampler(DataConfig(patch_size=300), scales=(8,))


# ---------------------------------------------------------------------------------------------- split
def test_split_file_paths_are_relative_to_it(tmp_path: Path) -> None:
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"train": ["a.spm", "/abs/b.gwy"], "validation": ["v/"], "comment": "x"}))
    split = load_split(path)
    assert split.train == (str(tmp_path / "a.spm"), "/abs/b.gwy")
    assert split.validation == (str(tmp_path / "v"),)
    path.write_text(json.dumps({"train": ["a"]}))
    with pytest.raises(ValueError, match="needs the keys 'train' and 'validation'"):
        load_split(path)


@pytest.mark.corpus
def test_every_frame_of_a_video_is_an_image() -> None:
    path = shared_path("data", "spm", "AFMReader", "sample_0.h5-jpk")  # 4 frames, GPL: not shipped
    n = io.read(path).n_frames
    frames = load_images([path], DataConfig(frames="all"))
    assert [im.frame for im in frames] == list(range(n))
    assert frames[1].name.endswith("#1")
    (first,) = load_images([path], DataConfig())
    assert first.frame == 0
