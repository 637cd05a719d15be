"""scansr.enhance with a multichannel (guided) model: inputs by kind, per-channel units, maps, errors.

The reference networks are built here: FusionSR models whose tails are zero, so that output k is exactly the
bicubic upsampling of input k (`scansr.models.fusion`); what enhance does around the network (per-channel
normalisation, background, clipping) is then checked against OpenCV's bicubic and against the single-channel
path of `enhance` with a zero-residual VDSR, channel by channel.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from scansr import io
from scansr.channels import UnresolvedChannelError
from scansr.enhance import default_tiling, enhance, resolve_model
from scansr.models import VDSR, ModelConfig, save_model
from scansr.models.fusion import FusionSR
from scansr.scan import Scan
from tests.conftest import TEST_DATA

PTO = (
    TEST_DATA / "DTMicroscope" / "PTO_Funakubo0005.h5"
)  # Asylum PFM: HeightRetrace, AmplitudeRetrace, PhaseRetrace
PFM = TEST_DATA / "pycroscopy" / "SingFreqPFM_0003.gwy"  # 128², the same channels
NID = TEST_DATA / "NSFopen" / "circles.nid"  # Topography and Amplitude, no phase

NAMES = ("height", "amplitude", "phase")
STANDARD = {
    "kind": "zscore",
    "fit_on": "lr",
    "clip": [2.5, 97.5],
    "level_plane": True,
    "align_rows": "median",
}
PLAIN = {"kind": "zscore", "fit_on": "lr", "clip": None, "level_plane": False, "align_rows": None}
PER_CHANNEL = [
    {"name": "height", "units": ["m"]},
    {"name": "amplitude", "units": ["m"]},
    {"name": "phase", "units": ["deg"]},
]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def fusion(folder: Path, *, out_channels: int, normalisation: dict, zero: bool = True) -> Path:
    model = FusionSR(
        scales=(2, 4),
        in_channels=3,
        out_channels=out_channels,
        n_feats=4,
        guide_feats=2,
        n_blocks=1,
        generator=torch.Generator().manual_seed(3),
    )
    with torch.no_grad():
        for tail in model.tail.values():
            if zero:
                tail[0].weight.zero_()
                tail[0].bias.zero_()
            else:  # an untrained residual as large as a trained one's
                tail[0].weight.mul_(30.0)
    config = ModelConfig.for_model(
        model,
        input_names=NAMES,
        output_names=NAMES[:out_channels],
        normalisation={**normalisation, "channels": PER_CHANNEL},
        training={"channels": list(NAMES), "unit": "m"},
    )
    return save_model(model, folder, config=config)


def zero_vdsr(folder: Path, unit: str) -> Path:
    model = VDSR(scales=(2, 4), depth=3, n_feats=4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        model.body[-1].weight.zero_()
        model.body[-1].bias.zero_()
    config = ModelConfig.for_model(model, normalisation=STANDARD, training={"unit": unit})
    return save_model(model, folder, config=config)


@pytest.fixture(scope="module")
def all_plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fusion(tmp_path_factory.mktemp("all-plain") / "m", out_channels=3, normalisation=PLAIN)


@pytest.fixture(scope="module")
def all_standard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fusion(tmp_path_factory.mktemp("all-standard") / "m", out_channels=3, normalisation=STANDARD)


@pytest.fixture(scope="module")
def topography(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fusion(tmp_path_factory.mktemp("topo") / "m", out_channels=1, normalisation=STANDARD, zero=False)


def pfm() -> Scan:
    return io.read(PFM)


# -------------------------------------------------------------------------------------------- per channel
def test_each_output_is_its_own_channel_upscaled_in_its_own_unit(all_plain: Path) -> None:
    scan = pfm()
    result = enhance(scan, scale=2, model=all_plain, uncertainty=False)
    assert result.scan.names == ("HeightRetrace", "AmplitudeRetrace", "PhaseRetrace")
    for c in result.scan.channels:
        raw = scan.channel(c.name)
        assert c.unit == raw.unit
        reference = cv2.resize(raw.data, (raw.shape[1] * 2, raw.shape[0] * 2), interpolation=cv2.INTER_CUBIC)
        np.testing.assert_allclose(c.data, reference, rtol=0, atol=1e-5 * np.ptp(raw.data))
    assert result.scan.pixel_size == pytest.approx((scan.pixel_size[0] / 2, scan.pixel_size[1] / 2))


def test_per_channel_background_and_clipping_match_the_single_channel_path(
    all_standard: Path, tmp_path: Path
) -> None:
    scan = pfm()
    multi = enhance(scan, scale=4, model=all_standard, uncertainty=False)
    for name, unit in (("HeightRetrace", "m"), ("AmplitudeRetrace", "m"), ("PhaseRetrace", "deg")):
        single = enhance(
            scan, scale=4, model=zero_vdsr(tmp_path / name, unit), channels=name, uncertainty=False
        )
        np.testing.assert_allclose(
            multi.scan.channel(name).data,
            single.scan.channel(name).data,
            rtol=0,
            atol=1e-5 * np.ptp(scan[name].data),
        )
        np.testing.assert_allclose(
            multi.consistency.channel(name).data,
            single.consistency.channel(name).data,
            rtol=0,
            atol=1e-5 * np.ptp(scan[name].data),
        )


def test_maps_per_output_channel_in_its_unit(all_plain: Path) -> None:
    result = enhance(pfm(), scale=2, model=all_plain)
    assert result.uncertainty.names == result.consistency.names == result.scan.names
    assert [c.unit for c in result.uncertainty] == ["m", "m", "deg"]
    for c in result.uncertainty:  # bicubic commutes with flips and rotations: the members agree
        assert float(np.abs(c.data).max()) <= 1e-5 * np.ptp(pfm()[c.name].data)
    maps = result.to_scan(maps=True).names
    assert {"PhaseRetrace consistency", "PhaseRetrace uncertainty"} <= set(maps)


# ------------------------------------------------------------------------------------------------ inputs
def test_inputs_are_found_by_kind_and_the_topography_comes_out_in_metres(topography: Path) -> None:
    scan = io.read(PTO)
    result = enhance(scan, scale=2, model=topography, uncertainty=False)
    assert result.options["inputs"] == ["HeightRetrace", "AmplitudeRetrace", "PhaseRetrace"]
    assert result.scan.names == ("HeightRetrace",)
    height = result.scan.channel("HeightRetrace")
    assert height.unit == "m"
    assert 1e-9 < np.ptp(height.data) < 1e-6  # nanometres (a large random residual), not z-scores
    assert json.loads(result.scan.metadata["scansr.enhance.inputs"]) == result.options["inputs"]
    explicit = enhance(
        scan, scale=2, model=topography, channels=("HeightRetrace", "Amplitude", "phase"), uncertainty=False
    )
    np.testing.assert_array_equal(explicit.scan.channels[0].data, height.data)


def test_the_guides_steer_the_topography(topography: Path) -> None:
    scan = io.read(PTO)
    noise = np.random.default_rng(0).standard_normal(scan.shape)
    swapped = scan.replace(
        channels=tuple(
            c.replace(data=noise * np.ptp(c.data)) if c.name == "PhaseRetrace" else c for c in scan
        )
    )
    a = enhance(scan, scale=2, model=topography, uncertainty=False, consistency=False)
    b = enhance(swapped, scale=2, model=topography, uncertainty=False, consistency=False)
    assert not np.allclose(a.scan.channels[0].data, b.scan.channels[0].data)


def test_a_missing_channel_lists_the_channels(topography: Path) -> None:
    with pytest.raises(UnresolvedChannelError, match=r"no channel 'phase'.*'Topography'.*takes \['height'"):
        enhance(io.read(NID), scale=2, model=topography)


def test_channels_must_be_one_per_input_in_order(topography: Path) -> None:
    scan = io.read(PTO)
    with pytest.raises(ValueError, match=r"takes 3 channels \(height, amplitude, phase\)"):
        enhance(scan, scale=2, model=topography, channels=("HeightRetrace", "PhaseRetrace"))
    with pytest.raises(ValueError, match="'PhaseRetrace' measures phase, but input 1"):
        enhance(
            scan, scale=2, model=topography, channels=("HeightRetrace", "PhaseRetrace", "AmplitudeRetrace")
        )


def test_other_channels_are_upscaled_bicubically_beside_the_enhanced_topography(topography: Path) -> None:
    scan = pfm()
    result = enhance(scan, scale=2, model=topography, other_channels="bicubic", uncertainty=False)
    assert result.scan.names == scan.names
    assert json.loads(result.scan.metadata["scansr.enhance.channels"]) == ["HeightRetrace"]


# ------------------------------------------------------------------------------------------------ tiling
def test_tiled_equals_whole_image(topography: Path) -> None:
    scan = io.read(PTO)
    loaded = resolve_model(topography)
    tiling = default_tiling(loaded, 2)
    assert tiling.overlap == loaded.model.receptive_radius + 1
    whole = enhance(scan, scale=2, model=topography, tile=10_000, uncertainty=False)
    tiled = enhance(scan, scale=2, model=topography, tile=2 * tiling.overlap + 8, uncertainty=False)
    height = whole.scan.channels[0].data
    np.testing.assert_allclose(tiled.scan.channels[0].data, height, rtol=0, atol=1e-4 * np.ptp(height))
