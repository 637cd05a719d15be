"""scansr.units: unit strings as files and users write them -> scansr's SI symbols and factors; lengths.

Expected factors are the SI definitions (BIPM SI brochure: prefixes; 1 Å = 1e-10 m; 1 rad = 180/π deg).
"""

import math

import pytest

from scansr.units import (
    PREFIX_EXPONENTS,
    PREFIXES,
    canonical_unit,
    format_length,
    length_factor,
    parse_length,
    parse_quantity,
    parse_unit,
    split_prefix,
    split_quantity,
    unit_scale,
)


@pytest.mark.parametrize(
    ("text", "metres"),
    [("2um", 2e-6), ("2 µm", 2e-6), ("500nm", 5e-7), ("1e-6", 1e-6), ("3 Å", 3e-10), ("0.5mm", 5e-4)],
)
def test_parse_length(text, metres):
    assert parse_length(text) == pytest.approx(metres, rel=1e-12)


@pytest.mark.parametrize("text", ["", "abc", "-2um", "2 furlongs", "0"])
def test_parse_length_rejects(text):
    with pytest.raises(ValueError, match=r"length|unit"):
        parse_length(text)


def test_unit_scale_and_format():
    assert unit_scale("nV", "V") == pytest.approx(1e-9)
    assert unit_scale("deg", "deg") == 1.0
    with pytest.raises(ValueError, match="SI prefix"):
        unit_scale("ft", "m")
    assert format_length(1.25e-6) == "1.25 µm"
    assert format_length(3.9e-9) == "3.9 nm"
    assert format_length(2.0) == "2 m"


def test_prefix_factors_are_the_powers_of_ten():
    for prefix, exponent in PREFIX_EXPONENTS.items():
        assert PREFIXES[prefix] == float(f"1e{exponent}")
    for micro in ("u", "\u00b5", "\u03bc", "~"):
        assert PREFIXES[micro] == 1e-6


@pytest.mark.parametrize(
    ("text", "unit", "factor"),
    [
        ("m", "m", 1.0),
        ("nm", "m", 1e-9),
        ("µm", "m", 1e-6),  # micro sign U+00B5
        ("μm", "m", 1e-6),  # Greek mu U+03BC
        ("um", "m", 1e-6),
        ("~m", "m", 1e-6),  # NanoScope headers
        ("mm", "m", 1e-3),
        ("cm", "m", 1e-2),
        ("micron", "m", 1e-6),  # ImageJ
        ("\u00c5", "m", 1e-10),  # Å, Latin capital A with ring
        ("\u212b", "m", 1e-10),  # Å, angstrom sign
        ("A\u030a", "m", 1e-10),  # A + combining ring
        ("angstrom", "m", 1e-10),
        ("Ang", "m", 1e-10),  # WSxM
        ("A", "A", 1.0),  # a bare A is the ampere, never ångström
        ("nA", "A", 1e-9),
        ("pA", "A", 1e-12),
        ("mV", "V", 1e-3),
        ("nN", "N", 1e-9),
        ("nN/m", "N/m", 1e-9),
        ("Pa", "Pa", 1.0),  # not peta-"a"
        ("MPa", "Pa", 1e6),
        ("kPa", "Pa", 1e3),
        ("N/m2", "Pa", 1.0),
        ("kHz", "Hz", 1e3),
        ("ms", "s", 1e-3),
        ("mol", "mol", 1.0),  # not milli-"ol"
        ("kg", "kg", 1.0),
        ("deg", "deg", 1.0),
        ("°", "deg", 1.0),
        ("\u00ba", "deg", 1.0),  # masculine ordinal, as NanoScope / WSxM write degrees
        ("degrees", "deg", 1.0),
        ("rad", "deg", 180 / math.pi),
        ("counts", "counts", 1.0),
        ("a.u.", "", 1.0),
        ("", "", 1.0),
        (" nm ", "m", 1e-9),
    ],
)
def test_parse_unit_and_split_prefix_agree_on_known_units(text, unit, factor):
    for parse in (parse_unit, split_prefix):
        got_unit, got_factor = parse(text)
        assert got_unit == unit
        assert got_factor == pytest.approx(factor, rel=1e-15)


def test_unknown_units():
    assert split_prefix("N/V") == ("N/V", 1.0)  # compound: as written, factor 1
    assert split_prefix(" furlong ") == ("furlong", 1.0)
    with pytest.raises(ValueError, match=r"unknown unit 'furlong'.*nm"):
        parse_unit("furlong")


def test_canonical_unit_only_respells():
    assert canonical_unit("°") == "deg"
    assert canonical_unit("N/m2") == "Pa"
    assert canonical_unit("a.u.") == ""
    assert canonical_unit("V") == "V"
    assert canonical_unit("nm") == "nm"  # calling it "m" would need the values scaled


def test_lengths_and_the_bare_a():
    assert length_factor("nm") == 1e-9
    assert length_factor("Å") == 1e-10
    assert length_factor("V") is None
    assert length_factor("A") is None
    assert length_factor("A", bare_a_is_angstrom=True) == 1e-10
    assert parse_length("3 A", bare_a_is_angstrom=True) == pytest.approx(3e-10, rel=1e-12)
    with pytest.raises(ValueError, match="ampere"):
        parse_length("3 A")


def test_quantities():
    assert split_quantity("59.7449 nm") == (59.7449, "nm")
    assert parse_quantity("3.0 µm") == pytest.approx((3e-6, "m"))
    assert parse_quantity("1.5e-3 V")[0] == pytest.approx(1.5e-3)
    assert parse_quantity("256") == (256.0, "")
    assert parse_quantity("Trace") is None
