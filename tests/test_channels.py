"""Tests of scansr.channels: finding channels by meaning across vendors.

Expected channels come from the files' own headers and the vendors' naming conventions (Asylum ``...Trace`` /
``...Retrace``, Nanosurf/JPK/Nanonis ``... retrace``, Molecular Vista ``...Fwd``/``...Bwd``, NT-MDT ``1F:``/``1B:``;
the Bruker header of AFMReader/sample_0.spm marks ``Height`` as Trace and every other image as Retrace).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from scansr import io as sio
from scansr.channels import (
    CHANNEL_ALIASES,
    CHANNEL_UNITS,
    ChannelPair,
    UnresolvedChannelError,
    canonical_name,
    channel_kind,
    normalize_name,
    resolve_channels,
    split_direction,
    split_trace_retrace,
)
from scansr.scan import Channel, Scan, UnknownChannelError
from tests.conftest import TEST_DATA, shared_path


def make_scan(*specs: tuple[str, str, str | None]) -> Scan:
    rng = np.random.default_rng(0)
    channels = tuple(Channel(n, rng.normal(size=(4, 4)), u, d) for n, u, d in specs)
    return Scan(channels, (1e-9, 1e-9))


# --------------------------------------------------------------------------------------------------- names
@pytest.mark.parametrize(
    ("name", "stem", "direction"),
    [
        ("HeightRetrace", "Height", "retrace"),
        ("HeightTrace", "Height", "trace"),
        ("NapPhaseRetrace", "NapPhase", "retrace"),
        ("Z-Axis retrace", "Z-Axis", "retrace"),
        ("Height (measured) retrace", "Height (measured)", "retrace"),
        ("TopographyFwd", "Topography", "trace"),
        ("AFMHead-ZBwd", "AFMHead-Z", "retrace"),
        ("LIA1 PhaseFwd", "LIA1 Phase", "trace"),
        ("1F:Iprobe", "Iprobe", "trace"),
        ("1B:Iprobe", "Iprobe", "retrace"),
        ("Z (backward)", "Z", "retrace"),
        ("Adhesion", "Adhesion", None),
        ("Retrace", "Retrace", None),  # nothing would be left: the name stays
        ("Feedback", "Feedback", None),
    ],
)
def test_split_direction(name: str, stem: str, direction: str | None) -> None:
    assert split_direction(name) == (stem, direction)


def test_normalize_name_ignores_case_space_and_punctuation() -> None:
    assert normalize_name("Z-Axis") == normalize_name("z axis") == normalize_name("Z_AXIS") == "zaxis"
    assert normalize_name("Height (measured)") == "heightmeasured"


def test_tables_cover_the_same_kinds_and_every_requested_canonical_name() -> None:
    assert set(CHANNEL_ALIASES) == set(CHANNEL_UNITS)
    for kind in ("height", "adhesion", "modulus", "stiffness", "deformation", "dissipation", "phase"):
        assert kind in CHANNEL_ALIASES
    for kind in ("amplitude", "current", "potential", "deflection", "friction"):
        assert kind in CHANNEL_ALIASES


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("DMT Modulus", "modulus"),
        ("dmtmodulus", "modulus"),
        ("Height Sensor", "height"),
        ("ZSensorRetrace", "height"),
        ("Iprobe", "current"),
        ("KPFM", "potential"),
        ("stiffness", "stiffness"),
        ("Stiffness", "stiffness"),  # shared alias: the kind of the same name
        ("UserIn0", None),
    ],
)
def test_canonical_name(name: str, kind: str | None) -> None:
    assert canonical_name(name) == kind


def test_the_unit_separates_modulus_from_stiffness() -> None:
    data = np.zeros((2, 2))
    assert channel_kind(Channel("Stiffness", data, "Pa")).kind == "modulus"
    assert channel_kind(Channel("Stiffness", data, "N/m")).kind == "stiffness"
    assert channel_kind(Channel("Stiffness", data, "")) is None  # uncalibrated: could be either
    assert channel_kind(Channel("Slope", data, "Pa")) is None  # JPK's Slope is a stiffness, never a modulus


def test_uncalibrated_channels_are_recognised_as_such() -> None:
    kind = channel_kind(Channel("Adhesion", np.zeros((2, 2)), "V"))
    assert kind is not None
    assert kind.kind == "adhesion"
    assert not kind.calibrated
    assert channel_kind(Channel("Adhesion", np.zeros((2, 2)), "m")) is None  # a wrong physical unit


# --------------------------------------------------------------------------------------------------- resolve
def test_canonical_names_prefer_the_trace_image() -> None:
    scan = make_scan(("HeightTrace", "m", "trace"), ("HeightRetrace", "m", "retrace"))
    assert resolve_channels(scan, ["height"]) == ("HeightTrace",)
    assert resolve_channels(scan, ["height"], prefer_direction="retrace") == ("HeightRetrace",)


def test_channels_are_resolved_in_one_direction_where_possible() -> None:
    # Only the retrace has an amplitude: the height follows it, so that the two are co-registered.
    scan = make_scan(
        ("HeightTrace", "m", "trace"), ("HeightRetrace", "m", "retrace"), ("AmplitudeRetrace", "m", "retrace")
    )
    assert resolve_channels(scan, ["height", "amplitude"]) == ("HeightRetrace", "AmplitudeRetrace")


def test_an_exact_channel_name_fixes_the_direction_of_the_others() -> None:
    scan = make_scan(
        ("Height", "m", "trace"), ("Adhesion", "N", "trace"), ("Height retrace", "m", "retrace"),
        ("Adhesion retrace", "N", "retrace"),
    )  # fmt: skip
    assert resolve_channels(scan, ["Height retrace", "adhesion"]) == ("Height retrace", "Adhesion retrace")
    assert resolve_channels(scan, ["Height", "adhesion"]) == ("Height", "Adhesion")


def test_stem_names_and_aliases_resolve() -> None:
    scan = make_scan(
        ("Z-Axis", "m", "trace"),
        ("ZSensorTrace", "m", "trace"),
        ("DMTModulus", "Pa", None),
        ("Slope", "N/m", None),
    )
    assert resolve_channels(scan, ["ZSensor"]) == ("ZSensorTrace",)
    assert resolve_channels(scan, ["Topography"]) == ("Z-Axis",)
    assert resolve_channels(scan, ["modulus", "stiffness"]) == ("DMTModulus", "Slope")
    assert resolve_channels(scan, ["Young's Modulus"]) == ("DMTModulus",)


def test_calibrated_channels_come_before_uncalibrated_ones() -> None:
    scan = make_scan(("ZSensorTrace", "V", "trace"), ("HeightTrace", "m", "trace"))
    assert resolve_channels(scan, ["height"]) == ("HeightTrace",)


def test_an_uncalibrated_channel_is_found_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    scan = make_scan(("Height", "m", None), ("Adhesion", "V", None))
    with caplog.at_level(logging.WARNING, logger="scansr.channels"):
        assert resolve_channels(scan, ["height", "adhesion"]) == ("Height", "Adhesion")
    assert "not calibrated" in caplog.text


def test_a_missing_channel_lists_the_channels_and_the_canonical_names() -> None:
    scan = make_scan(("HeightRetrace", "m", "retrace"), ("PhaseRetrace", "deg", "retrace"))
    with pytest.raises(UnknownChannelError) as info:
        resolve_channels(scan, ["height", "adhesion"])
    message = str(info.value)
    assert "'adhesion'" in message
    assert "'HeightRetrace'" in message
    assert "'PhaseRetrace'" in message
    assert "modulus" in message
    assert "stiffness" in message
    assert "phase: PhaseRetrace" in message  # what the channels were recognised as
    assert isinstance(info.value, UnresolvedChannelError)
    assert info.value.available == ("HeightRetrace", "PhaseRetrace")


def test_two_names_for_one_channel_are_an_error() -> None:
    scan = make_scan(("Topography", "m", None), ("Phase", "deg", None))
    with pytest.raises(ValueError, match="both resolve"):
        resolve_channels(scan, ["height", "Topography"])


@pytest.mark.parametrize(
    ("names", "prefer"), [([], "trace"), ("height", "trace"), (["height"], "forward"), ([""], "trace")]
)
def test_bad_arguments(names, prefer) -> None:
    scan = make_scan(("Topography", "m", None))
    with pytest.raises(ValueError):  # noqa: PT011 - each case names a different bad argument
        resolve_channels(scan, names, prefer_direction=prefer)


# --------------------------------------------------------------------------------------------------- pairs
def test_split_trace_retrace_pairs_by_stem_and_unit() -> None:
    scan = make_scan(
        ("Height", "m", "trace"), ("Height retrace", "m", "retrace"), ("ZSensor", "m", "retrace"),
        ("Adhesion", "N", None), ("1F:Iprobe", "A", None), ("1B:Iprobe", "A", None),
    )  # fmt: skip
    split = split_trace_retrace(scan)
    assert split.pairs == (
        ChannelPair("Height", "Height", "Height retrace"),
        ChannelPair("ZSensor", None, "ZSensor"),
        ChannelPair("Iprobe", "1F:Iprobe", "1B:Iprobe"),
    )
    assert split.undirected == ("Adhesion",)


# --------------------------------------------------------------------------------------------------- real files
def test_asylum_pfm_file() -> None:
    scan = sio.read(TEST_DATA / "DTMicroscope" / "PTO_Funakubo0005.h5")
    assert resolve_channels(scan, ["height", "amplitude", "phase", "deflection"]) == (
        "HeightRetrace", "AmplitudeRetrace", "PhaseRetrace", "DeflectionRetrace",
    )  # fmt: skip
    assert all(p.trace is None for p in split_trace_retrace(scan).pairs)


def test_nanonis_and_nanosurf_files() -> None:
    sxm = sio.read(TEST_DATA / "pySPM" / "test.sxm")
    assert resolve_channels(sxm, ["topography", "current"]) == ("Z", "Current")
    assert resolve_channels(sxm, ["height", "I"], prefer_direction="retrace") == (
        "Z retrace",
        "Current retrace",
    )
    nid = sio.read(TEST_DATA / "NSFopen" / "circles.nid")
    assert split_trace_retrace(nid).pairs == (
        ChannelPair("Topography", "Topography", "Topography retrace"),
        ChannelPair("Amplitude", "Amplitude", "Amplitude retrace"),
    )


def test_pifm_file_keeps_trace_and_retrace_apart() -> None:
    scan = sio.read(TEST_DATA / "SciFiDatasets" / "PiFM" / "MAPIold_0012.txt")
    # The phase exists as PhaseFwd only, so the topography comes from the forward scan too.
    assert resolve_channels(scan, ["height", "phase"], prefer_direction="retrace") == (
        "TopographyFwd",
        "PhaseFwd",
    )


def test_bruker_peakforce_qnm_file() -> None:
    scan = sio.read(shared_path("data", "spm", "AFMReader", "sample_0.spm"))
    assert resolve_channels(scan, ["height"]) == ("Height",)  # the only trace topography
    # Adhesion and Deformation exist as retrace only: the height sensor of the retrace goes with them.
    assert resolve_channels(scan, ["height", "adhesion", "deformation"]) == (
        "ZSensor",
        "Adhesion",
        "Deformation",
    )
    # The header labels the DMT-modulus image [Stiffness]; uncalibrated it could be a stiffness: ask by name.
    with pytest.raises(UnknownChannelError, match="'Stiffness'"):
        resolve_channels(scan, ["height", "DMTModulus"])
    assert resolve_channels(scan, ["ZSensor", "Stiffness"]) == ("ZSensor", "Stiffness")


def test_force_map_files() -> None:
    gwy = sio.read(shared_path("data", "spm", "AFMReader", "sample_0.gwy"))
    assert resolve_channels(gwy, ["height", "modulus", "adhesion", "log_modulus", "dissipation"]) == (
        "Height", "Stiffness", "Adhesion", "LogStiffness", "Dissipation",
    )  # fmt: skip
    qi = sio.read(shared_path("data", "spm", "AFMReader", "sample_0.jpk-qi-image"))
    assert resolve_channels(qi, ["height", "stiffness", "adhesion"]) == ("Height", "Slope", "Adhesion")
    with pytest.raises(UnknownChannelError, match="'Slope'"):
        resolve_channels(qi, ["modulus"])  # N/m is no modulus


def test_ntmdt_current_map() -> None:
    scan = sio.read(shared_path("data", "spm", "SciFiReaders", "GaAs_map.mdt"))
    assert resolve_channels(scan, ["current"]) == ("1F:Iprobe",)
    assert split_trace_retrace(scan).pairs == (ChannelPair("Iprobe", "1F:Iprobe", "1B:Iprobe"),)
