import numpy as np
import pytest

from scansr.scan import Channel, Scan, ScanReadError, UnknownChannelError


def _scan(**kw):
    data = np.arange(12.0).reshape(3, 4) * 1e-9
    channels = kw.pop(
        "channels",
        (
            Channel("Phase", data * 1e9, unit="deg"),
            Channel("Height", data, unit="m", direction="trace"),
            Channel("Height retrace", data, unit="m", direction="retrace"),
        ),
    )
    return Scan(channels, pixel_size=kw.pop("pixel_size", (2e-9, 1e-9)), **kw)


def test_channel_data_is_a_readonly_float64_copy():
    src = np.ones((2, 3), dtype=np.float32)
    c = Channel("Height", src, unit="m")
    assert c.data.dtype == np.float64
    assert not c.data.flags.writeable
    src[0, 0] = 5
    assert c.data[0, 0] == 1


@pytest.mark.parametrize("bad", [np.ones(3), np.ones((2, 2, 2)), np.ones((0, 4))])
def test_channel_rejects_non_2d(bad):
    with pytest.raises(ValueError, match="channel 'x'"):
        Channel("x", bad)


def test_channel_rejects_unknown_direction():
    with pytest.raises(ValueError, match="direction must be one of"):
        Channel("x", np.ones((2, 2)), direction="forward")


def test_unknown_channel_lists_channels():
    scan = _scan(source="/data/a.spm")
    with pytest.raises(UnknownChannelError) as info:
        scan.channel("Adhesion")
    msg = str(info.value)
    assert "a.spm" in msg
    assert "'Adhesion'" in msg
    for name in scan.names:
        assert repr(name) in msg
    assert isinstance(info.value, ValueError)


def test_channel_lookup_is_exact_then_case_insensitive():
    scan = _scan()
    assert scan["height"].name == "Height"
    assert "HEIGHT RETRACE" in scan
    assert "Adhesion" not in scan


def test_default_channel_prefers_trace_topography_in_metres():
    assert _scan().default_channel == "Height"
    only_phase = _scan(channels=(Channel("Phase", np.ones((2, 2)), unit="deg"),))
    assert only_phase.default_channel == "Phase"
    # a "Height" channel in volts is not topography; ZSensor in metres is
    scan = _scan(
        channels=(Channel("Height", np.ones((2, 2)), unit="V"), Channel("ZSensor", np.ones((2, 2)), unit="m"))
    )
    assert scan.default_channel == "ZSensor"


def test_size_uses_both_pixel_sizes():
    scan = _scan()
    assert scan.shape == (3, 4)
    assert scan.size == pytest.approx((6e-9, 4e-9))
    assert _scan(pixel_size=None).size is None


@pytest.mark.parametrize("bad", [(0, 1e-9), (-1e-9, 1e-9), (np.nan, 1e-9), (1e-9,), "abc"])
def test_pixel_size_validated(bad):
    with pytest.raises(ValueError, match="pixel_size"):
        _scan(pixel_size=bad)


def test_channels_must_share_shape_and_have_unique_names():
    with pytest.raises(ValueError, match="one shape"):
        Scan((Channel("a", np.ones((2, 2))), Channel("b", np.ones((2, 3)))), pixel_size=None)
    with pytest.raises(ValueError, match="unique"):
        Scan((Channel("a", np.ones((2, 2))), Channel("a", np.ones((2, 2)))), pixel_size=None)
    with pytest.raises(ValueError, match="at least one channel"):
        Scan((), pixel_size=None)


def test_frame_must_be_within_n_frames():
    with pytest.raises(ValueError, match=r"frame must be in 0\.\.1"):
        _scan(frame=2, n_frames=2)


def test_select_and_map_channels_return_new_scans():
    scan = _scan()
    sub = scan.select(["Height retrace", "Phase"])
    assert sub.names == ("Height retrace", "Phase")
    assert scan.names == ("Phase", "Height", "Height retrace")
    doubled = scan.map_channels(lambda a: np.repeat(a, 2, axis=1), pixel_size=(2e-9, 0.5e-9))
    assert doubled.shape == (3, 8)
    assert doubled.pixel_size == (2e-9, 0.5e-9)
    assert scan.shape == (3, 4)


def test_scan_read_error_names_file_and_problem():
    err = ScanReadError("/x/y.gwy", "truncated")
    assert str(err) == "/x/y.gwy: truncated"
    assert isinstance(err, ValueError)
