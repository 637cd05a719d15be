"""Multichannel training: stacked channels by kind, joint degradation, per-channel normalisation, fusion runs."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from scansr import degrade, io
from scansr.models import load_model
from scansr.train import (
    DataConfig,
    PairSampler,
    degrade_stack,
    load_images,
    load_stacks,
    prepare_stack_validation,
    recipe,
    train,
)
from scansr.train.data import prepare_image, resolve_degradation
from scansr.train.loop import CHECKPOINT_FILE
from tests.conftest import TEST_DATA

PTO = TEST_DATA / "DTMicroscope" / "PTO_Funakubo0005.h5"  # Asylum: HeightRetrace, AmplitudeRetrace (m), ...
BTFO = TEST_DATA / "SciFiDatasets" / "IgorIBWReader_ImageStack_BTFO_DSO.ibw"  # Asylum, same channels
PFM = TEST_DATA / "pycroscopy" / "SingFreqPFM_0003.gwy"  # 128², same channels
NID = (
    TEST_DATA / "NSFopen" / "circles.nid"
)  # Nanosurf: Topography, Amplitude (V), trace and retrace; no phase

STACK = DataConfig(
    channels=("height", "amplitude", "phase"), channel_mode="stack", patch_size=12, batch_size=4
)
BASELINE = dataclasses.replace(STACK, channels=("height",), require=("amplitude", "phase"))
NO_EXTRAS = {
    f.name: 0.0 for f in dataclasses.fields(degrade.DegradationConfig) if f.name.endswith("_probability")
}
AREA = degrade.DegradationConfig(samplings=("area",), sampling_weights=(1.0,), **NO_EXTRAS)


def only(**changes) -> degrade.DegradationConfig:
    """Point sampling and just the given extras."""
    return degrade.DegradationConfig(
        samplings=("point",), sampling_weights=(1.0,), **{**NO_EXTRAS, **changes}
    )


def block_mean(hr: np.ndarray, s: int) -> np.ndarray:
    n, c, h, w = hr.shape
    return hr.reshape(n, c, h // s, s, w // s, s).mean(axis=(3, 5))


# ------------------------------------------------------------------------------------------------- loading
def test_channels_are_resolved_by_kind_with_vendor_names_in_one_direction() -> None:
    (asylum,) = load_stacks([PTO], STACK)
    assert asylum.channels == ("HeightRetrace", "AmplitudeRetrace", "PhaseRetrace")
    assert asylum.units == ("m", "m", "deg")
    assert asylum.kinds == ("height", "amplitude", "phase")
    assert asylum.tip == (True, False, False)
    assert asylum.name == "PTO_Funakubo0005.h5:HeightRetrace"
    (nanosurf,) = load_stacks([NID], dataclasses.replace(STACK, channels=("height", "amplitude")))
    assert nanosurf.channels == ("Topography", "Amplitude")  # both trace, not "Topography retrace"
    assert nanosurf.units == ("m", "V")


def test_each_channel_is_prepared_on_its_own() -> None:
    (stack,) = load_stacks([PTO], STACK)
    scan = io.read(PTO)
    for k, name in enumerate(stack.channels):
        np.testing.assert_array_equal(stack.data[k], prepare_image(scan.channel(name).data, STACK))
    assert not stack.data.flags.writeable


def test_files_lacking_a_channel_are_skipped_and_named(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="scansr.train.data"):
        stacks = load_stacks([PTO, NID], STACK)
    assert [s.source for s in stacks] == [PTO]
    assert "circles.nid: skipped, it lacks the stacked channels" in caplog.text
    assert "Topography" in caplog.text  # the message lists the file's channels
    with pytest.raises(ValueError, match="no training image with the channels"):
        load_stacks([NID], STACK)


def test_required_channels_are_checked_like_stacked_ones(tmp_path: Path) -> None:
    scan = io.read(PTO)
    phase = scan.channel("PhaseRetrace").data.copy()
    phase[3, 5] = np.nan
    bad = tmp_path / "bad.npz"
    io.write(
        scan.replace(channels=tuple(c.replace(data=phase) if c.name == "PhaseRetrace" else c for c in scan)),
        bad,
    )
    assert [s.source for s in load_stacks([PTO, bad], STACK)] == [PTO]
    assert [s.source for s in load_stacks([PTO, bad], BASELINE)] == [PTO]  # the same scans


def test_stack_settings_are_checked() -> None:
    with pytest.raises(ValueError, match=r'"stack" needs data\.channels'):
        DataConfig(channel_mode="stack")
    with pytest.raises(ValueError, match=r'data\.require is for channel_mode "stack"'):
        DataConfig(channels=("height",), require=("phase",))
    with pytest.raises(ValueError, match="use load_stacks"):
        load_images([PTO], STACK)


# --------------------------------------------------------------------------------------------- degradation
def smooth_field(seed: int, shape=(64, 64)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    from scipy import ndimage

    return ndimage.gaussian_filter(rng.standard_normal(shape), 3) * 1e-8


def test_channel_0_is_the_single_channel_degradation() -> None:
    hr = np.stack([smooth_field(1), smooth_field(2) * 1e9, smooth_field(3) * 1e10])
    for seed in range(6):
        stacked = degrade_stack(
            hr,
            4,
            pixel_size=(2e-9, 2e-9),
            config=degrade.AFM_DEFAULT,
            rng=np.random.default_rng(seed),
            tip=(1, 0, 0),
        )
        rng = np.random.default_rng(seed)
        pipeline = degrade.sample_pipeline(degrade.AFM_DEFAULT, rng=rng)
        single = degrade.apply_pipeline(pipeline, hr[0], 4, pixel_size=(2e-9, 2e-9), rng=rng)
        np.testing.assert_array_equal(stacked[0], single)


def test_drift_and_sampling_phase_are_shared() -> None:
    # An affine image of channel 0 stays that affine image under the same drift and point-sampling grid.
    a = smooth_field(4)
    hr = np.stack([a, 3.0 * a + 2.0])
    config = only(drift_probability=1.0, shear_range=(0.02, 0.05), jitter_range=(0.3, 0.5))
    for seed in range(4):
        lr = degrade_stack(hr, 3, pixel_size=None, config=config, rng=np.random.default_rng(seed), tip=(1, 0))
        np.testing.assert_allclose(lr[1], 3.0 * lr[0] + 2.0, rtol=0, atol=1e-12)
    phases = set()
    for seed in range(12):  # the phase does vary between draws: the agreement is not by accident
        lr = degrade_stack(hr, 3, pixel_size=None, config=only(), rng=np.random.default_rng(seed), tip=(0, 0))
        phases.add(
            next(p for p in np.ndindex(3, 3) if np.array_equal(a[p[0] :: 3, p[1] :: 3][:21, :21], lr[0]))
        )
    assert len(phases) > 1


def test_noise_is_drawn_independently_per_channel() -> None:
    a = smooth_field(5, shape=(256, 256))
    hr = np.stack([a, a])
    config = degrade.DegradationConfig(
        samplings=("area",),
        sampling_weights=(1.0,),
        **{**NO_EXTRAS, "line_noise_probability": 1.0},
        line_noise_range=(0.05, 0.05),
    )
    lr = degrade_stack(hr, 2, pixel_size=None, config=config, rng=np.random.default_rng(0), tip=(1, 0))
    clean = degrade.area_downsample(a, 2)
    n0, n1 = (lr[k] - clean for k in range(2))
    expected = 0.05 * degrade.robust_range(a)
    assert n0.std() == pytest.approx(expected, rel=0.05)
    assert n1.std() == pytest.approx(expected, rel=0.05)
    assert abs(np.corrcoef(n0.ravel(), n1.ravel())[0, 1]) < 0.05  # 16384 pixels: |r| ~ 0.008 if independent


def test_the_tip_dilates_only_the_topography() -> None:
    (stack,) = load_stacks([PFM], STACK)
    config = degrade.DegradationConfig(
        samplings=("area",),
        sampling_weights=(1.0,),
        **{**NO_EXTRAS, "tip_probability": 1.0},
        tip_radius_range=(2e-6, 2e-6),  # pixels are 39 nm: a blunt tip
    )
    lr = degrade_stack(
        stack.data, 2, pixel_size=stack.pixel_size, config=config, rng=np.random.default_rng(0), tip=stack.tip
    )
    for k in (1, 2):  # amplitude and phase: exactly the area means
        np.testing.assert_array_equal(lr[k], degrade.area_downsample(stack.data[k], 2))
    area = degrade.area_downsample(stack.data[0], 2)
    assert np.all(lr[0] >= area - 1e-18)  # a dilation only raises heights
    assert np.mean(lr[0] - area) > 0


# ----------------------------------------------------------------------------------------------- batches
def test_batches_are_aligned_stacks_normalised_per_channel() -> None:
    stacks = load_stacks([PTO, BTFO], STACK)
    sampler = PairSampler(stacks, scales=(2, 4), config=STACK, degradation=AREA, seed=3, targets=3)
    for group in sampler.batch(0, range(4)):
        assert group.lr.shape[1] == group.hr.shape[1] == 3
        np.testing.assert_allclose(block_mean(group.hr.astype(float), group.scale), group.lr, atol=2e-5)
    version = sampler.version(0, 2, 0)
    for k in range(3):  # z-score of each LR channel on its own
        assert abs(float(version.lr[k].mean())) < 1e-5
        assert float(version.lr[k].std()) == pytest.approx(1.0, abs=1e-4)
    topography = PairSampler(stacks, scales=(2,), config=STACK, degradation=AREA, seed=3, targets=1)
    (group,) = topography.batch(0, range(4))
    assert (group.lr.shape[1], group.hr.shape[1]) == (3, 1)
    with pytest.raises(ValueError, match=r"targets must be in 1\.\.3"):
        PairSampler(stacks, scales=(2,), config=STACK, degradation=AREA, seed=3, targets=4)


def test_the_baseline_sees_exactly_the_stacked_topography() -> None:
    # channels=("height",) + require=(amplitude, phase): same files, direction, degradations, patches.
    guided = load_stacks([PTO, BTFO, NID], STACK)
    single = load_stacks([PTO, BTFO, NID], BASELINE)
    assert [s.name for s in guided] == [s.name for s in single]  # circles.nid (no phase) left out of both
    afm = resolve_degradation("afm")
    a = PairSampler(guided, scales=(2, 4), config=STACK, degradation=afm, seed=1, targets=1)
    b = PairSampler(single, scales=(2, 4), config=BASELINE, degradation=afm, seed=1, targets=1)
    for step in (0, 5, 9):
        for ga, gb in zip(a.batch(step, range(4)), b.batch(step, range(4)), strict=True):
            np.testing.assert_array_equal(ga.lr[:, :1], gb.lr)
            np.testing.assert_array_equal(ga.hr, gb.hr)
    va = prepare_stack_validation(guided, scales=(2, 4), config=STACK, degradation=afm, seed=0, ssim=False)
    vb = prepare_stack_validation(single, scales=(2, 4), config=BASELINE, degradation=afm, seed=0, ssim=False)
    for pa, pb in zip(va, vb, strict=True):
        np.testing.assert_array_equal(pa.lr[0], pb.lr[0])
        assert pa.bicubic_psnr == pb.bicubic_psnr


# --------------------------------------------------------------------------------------------------- runs
def fusion_config(out: Path, **changes) -> object:
    base = recipe("fusion")
    data = dataclasses.replace(
        STACK, train=(str(PTO), str(BTFO)), validation=(str(PFM),), degrade_every=7, batch_size=4
    )
    config = dataclasses.replace(
        base,
        scales=(2, 4),
        model_kwargs={"n_feats": 8, "guide_feats": 4, "n_blocks": 1},
        data=data,
        validation=dataclasses.replace(base.validation, every=10, tile=32, overlap=8),
        steps=10,
        out=str(out),
        checkpoint_every=5,
        log_every=5,
        threads=1,
    )
    return dataclasses.replace(config, **changes)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    return train(fusion_config(tmp_path_factory.mktemp("fusion") / "run"), progress=False)


def test_a_fusion_run_records_its_inputs_and_per_channel_normalisation(run) -> None:
    saved = load_model(run.model)
    assert (saved.config.in_channels, saved.config.out_channels) == (3, 1)
    assert saved.config.input_names == ("height", "amplitude", "phase")
    assert saved.config.output_names == ("height",)
    assert saved.config.normalisation["channels"] == [
        {"name": "height", "units": ["m"]},
        {"name": "amplitude", "units": ["m"]},
        {"name": "phase", "units": ["deg"]},
    ]
    assert saved.config.training["unit"] == "m"
    files = json.loads((run.run / "files.json").read_text())
    assert files["validation"][0]["channels"] == ["HeightRetrace", "AmplitudeRetrace", "PhaseRetrace"]


def test_validation_scores_the_topography_in_metres(run) -> None:
    config = fusion_config(run.run)
    (stack,) = load_stacks(config.data.validation, config.data, what="validation")
    pairs = prepare_stack_validation(
        [stack], scales=(2, 4), config=config.data, degradation=resolve_degradation("afm"), seed=0
    )
    logged = {(r["image"], r["scale"]): r for r in run.validation["images"]}
    assert set(run.validation["by_channel"]) == {"height"}
    from scansr import metrics
    from scansr.train.tiled import predict_tiled

    model = load_model(run.model).model
    for p in pairs:
        assert p.hr[0].max() < 1e-6  # metres
        x = (p.lr - p.offset[:, None, None]) / p.norm_scale[:, None, None]
        y = predict_tiled(model, torch.from_numpy(x.astype(np.float32))[None], p.scale, tile=32, overlap=8)
        sr = y[0, 0].double().numpy() * p.norm_scale[0] + p.offset[0]
        expected = metrics.psnr(p.hr[0], sr, data_range=float(np.ptp(p.hr[0])))
        assert logged[(p.name, p.scale)]["psnr"] == pytest.approx(expected, abs=1e-6)
        assert logged[(p.name, p.scale)]["channel"] == "height"


def test_all_channel_outputs_are_scored_per_channel(tmp_path: Path) -> None:
    config = fusion_config(
        tmp_path / "all",
        steps=2,
        model_kwargs={"n_feats": 4, "guide_feats": 2, "n_blocks": 0, "out_channels": 3},
    )
    result = train(config, progress=False)
    assert set(result.validation["by_channel"]) == {"height", "amplitude", "phase"}
    assert result.validation["psnr"] == result.validation["by_channel"]["height"]["psnr"]
    assert load_model(result.model).config.output_names == ("height", "amplitude", "phase")


def test_in_channels_must_match_the_stack(tmp_path: Path) -> None:
    config = fusion_config(tmp_path / "bad", model_kwargs={"n_feats": 4, "in_channels": 2})
    with pytest.raises(ValueError, match=r"data\.channels stacks 3 channels"):
        train(config, progress=False)


def test_a_run_written_before_a_setting_existed_resumes(tmp_path: Path) -> None:
    config = fusion_config(
        tmp_path / "old",
        steps=5,
        validation=dataclasses.replace(fusion_config(tmp_path).validation, every=100),
    )
    train(config, progress=False)
    path = tmp_path / "old" / CHECKPOINT_FILE
    state = torch.load(path, weights_only=True)
    del state["config"]["data"]["require"]  # as written by scansr before data.require existed
    torch.save(state, path)
    assert train(dataclasses.replace(config, steps=6), resume=True, progress=False).step == 6
