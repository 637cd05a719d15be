"""scansr.enhance: metres in the input's frame, tiled == whole, self-ensemble, consistency, back-projection, writing.

The networks are built here: a tiny VDSR trained for 30 steps on two shipped scans (module fixture, about a
second), the same weights saved with a plain z-score normalisation (no levelling), a VDSR whose last layer is zero
(its output is exactly the bicubic upsampling of its input, an independent reference: OpenCV's bicubic) and an
untrained U-Net with its output layer scaled up (tiling with pooling alignment).
"""

from __future__ import annotations

import dataclasses
import importlib
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from scansr import degrade, interpolate, io
from scansr.enhance import (
    EnhanceResult,
    clear_model_cache,
    consistency_map,
    default_tiling,
    enhance,
    reduce,
    resolve_model,
    write_enhanced,
)
from scansr.models import VDSR, ModelConfig, ModelLoadError, UNet, load_model, save_model
from scansr.scan import OutputExistsError, Scan, UnknownChannelError
from scansr.train import train
from scansr.train.tiled import tile_windows
from tests.conftest import TEST_DATA
from tests.io.gwyddion_reference import load_fields
from tests.train_helpers import TRAIN_FILES, tiny_config

# 128² Asylum PFM scan: HeightRetrace (m), PhaseRetrace (deg), ...
PFM = TEST_DATA / "pycroscopy" / "SingFreqPFM_0003.gwy"
PTO = TEST_DATA / "DTMicroscope" / "PTO_Funakubo0005.h5"  # 256², with a scan offset (origin)
CIRCLES = TEST_DATA / "NSFopen" / "circles.nid"

STANDARD = {
    "kind": "zscore",
    "fit_on": "lr",
    "clip": [2.5, 97.5],
    "level_plane": True,
    "align_rows": "median",
}
PLAIN = {"kind": "zscore", "fit_on": "lr", "clip": None, "level_plane": False, "align_rows": None}


# --------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # The test networks are tiny: with several threads on a busy machine, OpenMP's waiting between the small
    # convolutions costs far more than the work (seconds instead of milliseconds per call).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("enhance") / "run"
    config = tiny_config(out, steps=30, scales=(2, 4), checkpoint_every=30)
    data = dataclasses.replace(config.data, train=tuple(str(p) for p in TRAIN_FILES[:2]), validation=())
    return train(dataclasses.replace(config, data=data), progress=False).model


@pytest.fixture(scope="module")
def plain(trained: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained weights, applied with a bare z-score: no background, no clipping."""
    loaded = load_model(trained)
    config = ModelConfig.for_model(loaded.model, normalisation=PLAIN, training={"channels": "default"})
    return save_model(loaded.model, tmp_path_factory.mktemp("plain") / "model", config=config)


def zero_residual(folder: Path, normalisation: dict) -> Path:
    """A VDSR whose last convolution is zero: output = bicubic upsampling of the input, exactly equivariant."""
    model = VDSR(scales=(2, 3, 4), depth=3, n_feats=8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        model.body[-1].weight.zero_()
        model.body[-1].bias.zero_()
    config = ModelConfig.for_model(model, normalisation=normalisation, training={"channels": "default"})
    return save_model(model, folder, config=config)


@pytest.fixture(scope="module")
def bicubic_net(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return zero_residual(tmp_path_factory.mktemp("bicubic") / "model", STANDARD)


@pytest.fixture(scope="module")
def bicubic_plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return zero_residual(tmp_path_factory.mktemp("bicubic-plain") / "model", PLAIN)


@pytest.fixture(scope="module")
def unet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained U-Net whose output layer is scaled up, so that its residual is as large as a trained one's."""
    model = UNet(scales=(2,), base_channels=4, depth=2, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        model.tail.weight.mul_(100.0)
        model.tail.bias.mul_(100.0)
    config = ModelConfig.for_model(model, normalisation=STANDARD, training={"channels": "default"})
    return save_model(model, tmp_path_factory.mktemp("unet") / "model", config=config)


def height(path: Path = PFM) -> Scan:
    scan = io.read(path)
    return scan.select(scan.default_channel)


def with_data(scan: Scan, data: np.ndarray) -> Scan:
    return scan.replace(channels=(scan.channels[0].replace(data=data),))


def span(a: np.ndarray) -> float:
    return float(np.ptp(a))


def rms(a: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(a))))


def only(scan: Scan | None) -> np.ndarray:
    assert scan is not None
    assert len(scan.channels) == 1
    return scan.channels[0].data


# ----------------------------------------------------------------------------------------------- grid, units
def test_output_grid_units_origin_and_metadata(trained: Path) -> None:
    full = io.read(PTO)
    scan = full.replace(channels=tuple(c.replace(data=c.data[:40, :52]) for c in full.channels))
    result = enhance(scan, scale=4, model=trained)
    assert isinstance(result, EnhanceResult)
    out = result.scan
    assert out.names == ("HeightRetrace",)  # the other channels are not carried over by default
    assert out.shape == (160, 208)
    assert out.channels[0].unit == "m"
    assert out.pixel_size == pytest.approx((scan.pixel_size[0] / 4, scan.pixel_size[1] / 4), rel=1e-12)
    assert out.origin == scan.origin  # the top-left corner of the field stays put
    assert out.metadata["scansr.enhance.scale"] == 4
    assert out.metadata["scansr.enhance.model_path"] == str(trained)
    assert out.metadata["scansr.enhance.arch"] == "vdsr"
    assert json.loads(out.metadata["scansr.enhance.options"])["tta"] is False
    assert result.model.scales == (2, 4)
    assert only(result.consistency).shape == scan.shape
    assert result.consistency.pixel_size == scan.pixel_size
    assert only(result.uncertainty).shape == out.shape
    assert result.to_scan().names == (
        "HeightRetrace",
        "HeightRetrace consistency",
        "HeightRetrace uncertainty",
    )
    assert result.to_scan(maps=False).names == ("HeightRetrace",)

    kept = enhance(scan, scale=4, model=trained, other_channels="bicubic", uncertainty=False)
    assert kept.scan.names == scan.names
    np.testing.assert_array_equal(
        kept.scan["PhaseRetrace"].data, interpolate.upscale(scan["PhaseRetrace"].data, 4, method="bicubic")
    )
    assert kept.scan["PhaseRetrace"].unit == "deg"
    assert json.loads(kept.scan.metadata["scansr.enhance.bicubic_channels"]) == [
        "AmplitudeRetrace",
        "DeflectionRetrace",
        "PhaseRetrace",
    ]


def test_without_pixel_size_the_output_has_none(trained: Path) -> None:
    scan = height().replace(pixel_size=None)
    assert enhance(scan, scale=2, model=trained, uncertainty=False).scan.pixel_size is None


def test_heights_stay_in_metres_in_the_input_frame(trained: Path) -> None:
    scan = height()
    z = only(scan)
    out = only(enhance(scan, scale=2, model=trained, uncertainty=False).scan)
    assert abs(out.mean() - z.mean()) < 0.01 * span(z)
    assert rms(reduce(out, 2) - z) < 0.05 * span(z)  # reduced back, it explains the measurement


def test_an_identity_residual_network_gives_bicubic(bicubic_plain: Path, bicubic_net: Path) -> None:
    # A network whose residual is zero outputs the bicubic upsampling of what it is given. Without background
    # or clipping the result must be the bicubic upsampling of the input (OpenCV's INTER_CUBIC, the independent
    # reference); with the standard preparation too, since the plane, the interpolated row offsets and the
    # clipped-away part all come back through the same (linear) interpolation.
    scan = height()
    z = only(scan)
    for model in (bicubic_plain, bicubic_net):
        for scale in (2, 3, 4):
            out = only(enhance(scan, scale=scale, model=model, uncertainty=False).scan)
            expected = interpolate.upscale(z, scale, method="bicubic")
            np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5 * span(z))


def test_plane_and_row_offsets_are_restored_on_the_output_grid(trained: Path) -> None:
    scan = height()
    z = only(scan)
    ny, nx = z.shape
    s = 2
    base = only(enhance(scan, scale=s, model=trained, uncertainty=False).scan)

    # A steep tilt (40 data ranges across the image) comes back as the plane at the output pixel centres:
    # output pixel k lies at input coordinate (k + 0.5) / s - 0.5.
    a, b, c = 3.0 * span(z), 0.3 * span(z), -0.2 * span(z)
    yy, xx = np.mgrid[0:ny, 0:nx]
    tilted = with_data(scan, z + a + b * xx + c * yy)
    y = (np.arange(ny * s) + 0.5) / s - 0.5
    x = (np.arange(nx * s) + 0.5) / s - 0.5
    plane = a + b * x[None, :] + c * y[:, None]
    out = only(enhance(tilted, scale=s, model=trained, uncertainty=False).scan)
    np.testing.assert_allclose(out - base, plane, rtol=0, atol=1e-5 * span(z))

    # Scan-line offsets (without a mean or a trend over the lines, which the plane would take) come back
    # interpolated between the input rows like the bicubic upscaler does, or replicated on the rows of each
    # input row.
    rng = np.random.default_rng(5)
    offsets = rng.normal(scale=span(z), size=ny)
    rows = np.column_stack([np.ones(ny), np.arange(ny)])
    offsets -= rows @ np.linalg.lstsq(rows, offsets, rcond=None)[0]
    streaks = np.repeat(offsets[:, None], nx, axis=1)
    expected = {
        "interpolate": interpolate.upscale(streaks, s, method="bicubic"),
        "replicate": np.repeat(np.repeat(streaks, s, axis=0), s, axis=1),
    }
    for mode, background in expected.items():
        options = {"scale": s, "model": trained, "uncertainty": False, "row_offsets": mode}
        base = only(enhance(scan, **options).scan)
        streaked = only(enhance(with_data(scan, z + streaks), **options).scan)
        np.testing.assert_allclose(streaked - base, background, rtol=0, atol=1e-5 * span(z))


def test_a_feature_taller_than_the_clip_bounds_survives(trained: Path) -> None:
    scan = height()
    z = only(scan)
    bump = 5 * span(z)  # far beyond the 97.5th percentile the model clips its training scans to
    tall = z.copy()
    tall[60:66, 40:46] += bump
    inner = (slice(61, 65), slice(41, 45))
    for mode, low, high in (("bicubic", 0.9, 1.1), ("network", 0.9, 1.3), ("drop", -0.1, 0.2)):
        out = only(
            enhance(with_data(scan, tall), scale=2, model=trained, uncertainty=False, beyond_clip=mode).scan
        )
        kept = (reduce(out, 2)[inner] - z[inner]).mean() / bump
        assert low < kept < high, (mode, kept)


# ----------------------------------------------------------------------------------------------------- tiling
def odd_scan() -> Scan:
    scan = io.read(CIRCLES).select("Topography")
    return with_data(scan, scan.channels[0].data[3:104, 5:82])  # 101 x 77


@pytest.mark.parametrize(("scale", "tile"), [(2, 24), (4, 20)])
def test_tiled_equals_whole_image_inference(trained: Path, scale: int, tile: int) -> None:
    scan = odd_scan()
    overlap = default_tiling(resolve_model(trained, device="cpu"), scale).overlap
    assert len(tile_windows(101, tile=tile, overlap=overlap)) > 2
    tiled = enhance(scan, scale=scale, model=trained, tile=tile, uncertainty=False)
    whole = enhance(scan, scale=scale, model=trained, tile=10_000, uncertainty=False)
    assert tiled.options["tile"] == tile
    assert tiled.options["overlap"] == overlap
    np.testing.assert_allclose(only(tiled.scan), only(whole.scan), rtol=0, atol=1e-4 * span(only(scan)))
    # The comparison can fail: windows without context show their seams.
    seams = enhance(scan, scale=scale, model=trained, tile=tile, overlap=1, uncertainty=False)
    assert np.abs(only(seams.scan) - only(whole.scan)).max() > 1e-3 * span(only(scan))


def test_tiled_equals_whole_image_for_a_pooling_unet(unet: Path) -> None:
    scan = odd_scan()
    tiling = default_tiling(resolve_model(unet, device="cpu"), 2)
    assert tiling.align == 2
    tile = 2 * tiling.overlap + tiling.align + 9
    assert len(tile_windows(101, tile=tile, overlap=tiling.overlap, align=2)) > 2
    tiled = enhance(scan, scale=2, model=unet, tile=tile, uncertainty=False)
    whole = enhance(scan, scale=2, model=unet, tile=10_000, uncertainty=False)
    assert span(only(whole.scan) - interpolate.upscale(only(scan), 2)) > 0.1 * span(only(scan))
    np.testing.assert_allclose(only(tiled.scan), only(whole.scan), rtol=0, atol=1e-4 * span(only(scan)))
    seams = enhance(scan, scale=2, model=unet, tile=17, overlap=4, uncertainty=False)
    assert np.abs(only(seams.scan) - only(whole.scan)).max() > 1e-4 * span(only(scan))


def test_the_default_model_when_installed() -> None:
    module = importlib.import_module("scansr.enhance")
    try:
        loaded = resolve_model("default", device="cpu")
    except ModelLoadError:
        pytest.skip(f"no default model in {module._default_model_folder()}")
    scale = min(loaded.config.scales)
    scan = odd_scan()  # 101 x 77
    tiling = default_tiling(loaded, scale)
    tile = 2 * tiling.overlap + tiling.align + 4
    assert len(tile_windows(77, tile=tile, overlap=tiling.overlap, align=tiling.align)) > 2
    tiled = enhance(scan, scale=scale, tile=tile, uncertainty=False)
    whole = enhance(scan, scale=scale, tile=10_000, uncertainty=False)
    assert tiled.model.name == "default"
    np.testing.assert_allclose(only(tiled.scan), only(whole.scan), rtol=0, atol=1e-4 * span(only(scan)))
    assert rms(only(whole.consistency)) < 0.1 * span(only(scan))


# Corpus folders whose scans are GPL/AGPL (../shared/data/README.md): weights trained on them must not ship.
COPYLEFT_FOLDERS = ("AFMReader", "nanoAFMr", "nanoscopeAFM", "pNanolocz-FileReaders", "playNano", "sem")


def test_the_shipped_model_is_small_and_trained_on_permissive_scans_only() -> None:
    module = importlib.import_module("scansr.enhance")
    folder = module._default_model_folder()
    if not (folder / "config.json").is_file():
        pytest.skip(f"no default model in {folder}")
    assert sum(f.stat().st_size for f in folder.iterdir()) <= 20_000_000
    record = json.loads((folder / "config.json").read_text(encoding="utf-8"))["training"]
    trained = {name.split(":")[0] for name in record["train_images"]}
    validated = {name.split(":")[0] for name in record["validation_images"]}
    # the weights come from the committed split, whose training scans are all permissively licensed
    split = json.loads(
        (Path(__file__).parents[1] / "training/afm-default/split-multi.json").read_text(encoding="utf-8")
    )
    assert trained == {Path(p).name for p in split["train"]}
    for source in split["train"]:
        assert not set(Path(source).parts) & set(COPYLEFT_FOLDERS), f"{source} is copyleft data"
    assert len(validated) >= 8
    assert not trained & validated


# ---------------------------------------------------------------------------------------------- self-ensemble
def test_an_equivariant_network_has_zero_uncertainty_and_tta_changes_nothing(bicubic_net: Path) -> None:
    scan = height()
    z = only(scan)
    plain_out = enhance(scan, scale=2, model=bicubic_net)
    tta_out = enhance(scan, scale=2, model=bicubic_net, tta=True)
    np.testing.assert_allclose(only(tta_out.scan), only(plain_out.scan), rtol=0, atol=1e-6 * span(z))
    assert only(plain_out.uncertainty).max() < 1e-6 * span(z)


def test_tta_is_the_mean_of_the_transformed_scans_transformed_back(plain: Path) -> None:
    # With a bare z-score (no levelling or row alignment, which depend on the orientation) each member equals
    # enhancing the rotated/flipped scan and undoing the rotation/flip by hand.
    scan = with_data(height(), only(height())[:64, :48])  # not square: a wrong inverse changes the shape
    z = only(scan)
    members = []
    for k in range(4):
        for flip in (False, True):
            t = np.rot90(z, k)
            t = t[:, ::-1] if flip else t
            y = only(enhance(with_data(scan, t), scale=2, model=plain, uncertainty=False).scan)
            y = y[:, ::-1] if flip else y
            members.append(np.rot90(y, -k))
    members = np.stack(members)
    result = enhance(scan, scale=2, model=plain, tta=True)
    np.testing.assert_allclose(only(result.scan), members.mean(axis=0), rtol=0, atol=1e-6 * span(z))
    np.testing.assert_allclose(only(result.uncertainty), members.std(axis=0), rtol=0, atol=1e-6 * span(z))
    identity = enhance(
        scan, scale=2, model=plain
    )  # uncertainty without tta: the image is the identity member
    np.testing.assert_allclose(only(identity.scan), members[0], rtol=0, atol=1e-6 * span(z))
    np.testing.assert_allclose(
        only(identity.uncertainty), only(result.uncertainty), rtol=0, atol=1e-9 * span(z)
    )


def test_the_trained_network_has_a_positive_uncertainty_in_metres(trained: Path) -> None:
    scan = height()
    result = enhance(scan, scale=2, model=trained)
    u = only(result.uncertainty)
    assert result.uncertainty.channels[0].unit == "m"
    assert (u >= 0).all()
    assert 1e-4 * span(only(scan)) < u.mean() < 0.2 * span(only(scan))


# ------------------------------------------------------------------------------------------------ consistency
def test_consistency_of_an_exact_oracle_is_zero() -> None:
    hr = only(height())  # 128 x 128: a real scan as the "perfect" enhanced image
    for s in (2, 4):
        assert np.abs(consistency_map(hr, degrade.area_downsample(hr, s), s)).max() < 1e-12 * span(hr)
        lr = interpolate.downsample(hr, s, method="bicubic")
        assert np.abs(consistency_map(hr, lr, s, downsample="bicubic")).max() < 1e-12 * span(hr)
    hr3 = hr[:126, :126]
    lr3 = degrade.point_sample(hr3, 3, rng=None, phase=(1, 1)).image
    assert np.abs(consistency_map(hr3, lr3, 3, downsample="point")).max() == 0
    # An image that does not explain the measurement is seen where it departs from it, in metres.
    wrong = hr.copy()
    wrong[8:12, 20:24] += 1e-9
    error = consistency_map(wrong, degrade.area_downsample(hr, 4), 4)
    assert error[2, 5] == pytest.approx(1e-9, rel=1e-6)
    assert np.count_nonzero(np.abs(error) > 1e-15) == 1


def test_the_consistency_map_is_the_reduced_output_minus_the_input(trained: Path) -> None:
    scan = height()
    result = enhance(scan, scale=4, model=trained, uncertainty=False, downsample="bicubic")
    expected = interpolate.downsample(only(result.scan), 4, method="bicubic") - only(scan)
    np.testing.assert_allclose(only(result.consistency), expected, rtol=0, atol=1e-12 * span(only(scan)))
    replicated = result.to_scan()["HeightRetrace consistency"].data
    np.testing.assert_array_equal(replicated[::4, ::4], only(result.consistency))
    np.testing.assert_array_equal(replicated[3::4, 2::4], only(result.consistency))


@pytest.mark.parametrize("downsample", ["area", "bicubic"])
def test_back_projection_reduces_the_consistency_error(trained: Path, downsample: str) -> None:
    scan = with_data(height(), only(height())[:64, :64])
    errors = [
        rms(
            only(
                enhance(
                    scan, scale=4, model=trained, uncertainty=False, back_projection=k, downsample=downsample
                ).consistency
            )
        )
        for k in range(4)
    ]
    assert all(b < a for a, b in itertools.pairwise(errors)), errors
    assert errors[-1] < 0.3 * errors[0]


# ----------------------------------------------------------------------------------------------------- errors
def test_a_scale_the_model_does_not_have_is_refused(trained: Path) -> None:
    with pytest.raises(ValueError, match=r"scale must be one of \(2, 4\)"):
        enhance(height(), scale=3, model=trained)


def test_a_phase_channel_is_refused_by_a_height_model(trained: Path) -> None:
    with pytest.raises(ValueError, match=r"'PhaseRetrace' is in 'deg'.*heights.*'m'"):
        enhance(io.read(PFM), scale=2, model=trained, channels="PhaseRetrace")


def test_an_unknown_channel_lists_the_channels(trained: Path) -> None:
    with pytest.raises(UnknownChannelError, match="PhaseRetrace"):
        enhance(io.read(PFM), scale=2, model=trained, channels="Nope")


def test_missing_pixels_and_tiny_scans_are_refused(trained: Path) -> None:
    z = only(height()).copy()
    z[5, 7] = np.nan
    with pytest.raises(ValueError, match=r"'HeightRetrace' has 1 missing"):
        enhance(with_data(height(), z), scale=2, model=trained)
    with pytest.raises(ValueError, match="at least 4x4"):
        enhance(with_data(height(), only(height())[:3, :3]), scale=2, model=trained)


def test_a_missing_or_corrupt_model_folder_names_the_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(ModelLoadError, match="nowhere"):
        enhance(height(), scale=2, model=missing)
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "config.json").write_text("{not json", encoding="utf-8")
    (corrupt / "model.safetensors").write_bytes(b"\0" * 16)
    with pytest.raises(ModelLoadError, match="corrupt"):
        enhance(height(), scale=2, model=corrupt)


def test_an_absent_default_model_says_how_to_pass_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = importlib.import_module("scansr.enhance")
    monkeypatch.setattr(module, "_default_model_folder", lambda: tmp_path / "afm-default")
    with pytest.raises(ModelLoadError, match=r"default model is not installed.*model='path/to/model'"):
        enhance(height(), scale=2)


# ------------------------------------------------------------------------------------------------- the cache
def test_a_model_folder_is_loaded_once(trained: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import scansr.models

    calls = []

    def counting(folder, **kwargs):
        calls.append(folder)
        return load_model(folder, **kwargs)

    monkeypatch.setattr(scansr.models, "load_model", counting)
    clear_model_cache()
    scan = with_data(height(), only(height())[:16, :16])
    first = enhance(scan, scale=2, model=trained, uncertainty=False)
    enhance(scan, scale=2, model=str(trained), uncertainty=False)
    loaded = resolve_model(trained, device="cpu")
    again = enhance(scan, scale=2, model=loaded, uncertainty=False)
    assert len(calls) == 1
    assert again.model == first.model  # a cached LoadedModel still knows its folder
    np.testing.assert_array_equal(only(again.scan), only(first.scan))


# ---------------------------------------------------------------------------------------------------- writing
def test_write_gwy_holds_the_maps_as_channels(trained: Path, tmp_path: Path) -> None:
    result = enhance(height(), scale=2, model=trained)
    [path] = write_enhanced(result, tmp_path / "out.gwy")
    fields = load_fields(path)  # gwyfile: an independent reader
    assert [f.title for f in fields] == [
        "HeightRetrace",
        "HeightRetrace consistency",
        "HeightRetrace uncertainty",
    ]
    np.testing.assert_array_equal(fields[0].data, only(result.scan))
    np.testing.assert_array_equal(fields[2].data, only(result.uncertainty))
    assert fields[1].data.shape == fields[0].data.shape
    assert {f.unit_z for f in fields} == {"m"}
    assert fields[0].pixel_size == pytest.approx(result.scan.pixel_size, rel=1e-9)
    with pytest.raises(OutputExistsError):
        write_enhanced(result, path)
    assert write_enhanced(result, path, force=True) == [path]


def test_write_gsf_puts_the_maps_in_sibling_files(trained: Path, tmp_path: Path) -> None:
    result = enhance(height(), scale=2, model=trained)
    target = tmp_path / "enhanced.gsf"
    (tmp_path / "enhanced.uncertainty.gsf").write_bytes(b"keep")
    with pytest.raises(OutputExistsError, match="uncertainty"):
        write_enhanced(result, target)
    assert not target.exists()  # nothing written when one target is taken
    paths = write_enhanced(result, target, force=True)
    assert [p.name for p in paths] == ["enhanced.gsf", "enhanced.consistency.gsf", "enhanced.uncertainty.gsf"]
    main, cons, unc = (io.read(p) for p in paths)
    assert (main.names, cons.names, unc.names) == (
        ("HeightRetrace",),
        ("HeightRetrace consistency",),
        ("HeightRetrace uncertainty",),
    )
    np.testing.assert_allclose(only(main), only(result.scan), rtol=1e-6)  # GSF stores float32
    np.testing.assert_allclose(only(unc), only(result.uncertainty), rtol=1e-6)
    np.testing.assert_allclose(only(cons)[1::2, ::2], only(result.consistency), rtol=1e-6)
    for scan in (main, cons, unc):
        assert scan.shape == result.scan.shape
        assert scan.pixel_size == pytest.approx(result.scan.pixel_size, rel=1e-6)


def test_several_channels_are_enhanced_each_on_its_own(trained: Path, tmp_path: Path) -> None:
    full = io.read(CIRCLES)
    scan = full.replace(channels=tuple(c.replace(data=c.data[:48, :40]) for c in full.channels))
    names = ["Topography", "Topography retrace"]
    result = enhance(scan, scale=2, model=trained, channels=names)
    assert result.scan.names == tuple(names)
    alone = enhance(scan.select("Topography retrace"), scale=2, model=trained)
    np.testing.assert_array_equal(result.scan["Topography retrace"].data, only(alone.scan))
    [path] = write_enhanced(result, tmp_path / "both.npz")
    assert io.read(path).names == (
        "Topography",
        "Topography retrace",
        "Topography consistency",
        "Topography retrace consistency",
        "Topography uncertainty",
        "Topography retrace uncertainty",
    )


def test_a_bad_option_names_the_choices(trained: Path) -> None:
    with pytest.raises(ValueError, match=r"downsample must be one of \('area', 'bicubic', 'point'\)"):
        enhance(height(), scale=2, model=trained, downsample="nearest")


def test_a_loaded_model_is_not_moved_to_another_device(trained: Path) -> None:
    loaded = resolve_model(trained, device="cpu")
    with pytest.raises(ValueError, match="is on cpu"):
        enhance(height(), scale=2, model=loaded, device="meta")


def test_a_single_channel_format_refuses_several_channels(trained: Path, tmp_path: Path) -> None:
    result = enhance(io.read(PFM), scale=2, model=trained, other_channels="bicubic", uncertainty=False)
    with pytest.raises(ValueError, match="holds one channel"):
        write_enhanced(result, tmp_path / "out.gsf")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------------- imports
def test_the_module_imports_and_checks_consistency_without_torch() -> None:
    script = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError(name)
sys.meta_path.insert(0, Block())
import importlib
import numpy as np
module = importlib.import_module("scansr.enhance")
assert callable(module.enhance)
hr = np.arange(64.0).reshape(8, 8)
assert np.abs(module.consistency_map(hr, module.reduce(hr, 2), 2)).max() == 0
assert module.back_project(hr, module.reduce(hr, 2), 2, iterations=2).shape == (8, 8)
assert not [m for m in sys.modules if m == "torch" or m.startswith("torch.")]
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
