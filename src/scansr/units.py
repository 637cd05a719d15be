"""Units of measurement: unit strings as instrument files write them, SI prefixes, lengths.

Every reader in `scansr.io` and the command line convert units here, so that ``"µm"``, ``"um"``, ``"μm"``,
``"~m"``, ``"micron"`` and ``"1e-6 m"`` mean the same everywhere. scansr stores values in SI base units with
its own symbols (Scan conventions): ``"m"``, ``"V"``, ``"A"``, ``"N"``, ``"Pa"``, ``"N/m"``, ``"Hz"``,
``"s"``, ``"deg"``, ``"counts"``, ``""`` (dimensionless).

Two kinds of parsing, chosen by the caller:

- `parse_unit` is strict (a unit the user typed, e.g. the ``value_unit`` option): an unknown unit is a
  ``ValueError`` that lists valid ones.
- `split_prefix` is lenient (a unit string from a file header): an unknown or compound unit comes back as
  written with factor 1, so a reader keeps what it cannot convert instead of failing.

Both return ``(unit, factor)`` with ``value_in_unit * factor`` the value in scansr's SI unit.

Ångström versus ampere: a bare ``"A"`` is the ampere in every function here (it is how files write current
units: ``"A"``, ``"nA"``, ``"pA"``). Ångström is ``"Å"`` (either code point, or ``A`` + combining ring),
``"angstrom"`` or ``"Ang"``. `length_factor` and `parse_length` read a bare ``"A"`` as ångström only with
``bare_a_is_angstrom=True``, for a header field that is known to be a length in a format that writes Å so.
No format scansr reads needs that today; a length ``"A"`` is otherwise refused with a message saying why.

Hand-written rather than taken from ``pint``/``astropy.units``: those are large dependencies, and neither
knows the spellings SPM vendors use (``"~m"`` for µm in NanoScope headers, ``"º"`` for degrees, ``"a.u."``,
``"N/m2"``, Latin-1 ``"µ"``).
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import NamedTuple

__all__ = [
    "PREFIXES",
    "PREFIX_EXPONENTS",
    "SIUnit",
    "canonical_unit",
    "format_length",
    "length_factor",
    "parse_length",
    "parse_quantity",
    "parse_unit",
    "split_prefix",
    "split_quantity",
    "unit_scale",
]

# Prefix symbol -> power of ten. "u", "µ" (micro sign U+00B5), "μ" (Greek mu U+03BC) and "~" (NanoScope
# headers, whose 7-bit text has no µ) all mean micro.
PREFIX_EXPONENTS: dict[str, int] = {
    "y": -24, "z": -21, "a": -18, "f": -15, "p": -12, "n": -9, "u": -6, "\u00b5": -6, "\u03bc": -6, "~": -6,
    "m": -3, "c": -2, "d": -1, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15,
}  # fmt: skip
# Prefix symbol -> factor (``10.0 ** exponent``, equal to the literal ``1e-9`` etc.).
PREFIXES: dict[str, float] = {p: 10.0**e for p, e in PREFIX_EXPONENTS.items()}


class SIUnit(NamedTuple):
    """A unit string resolved into scansr's SI symbol and the factor from the original unit to it."""

    unit: str
    """scansr's SI symbol (``"m"``, ``"V"``, ``"deg"``, ...), or the text as written when it is unknown."""
    factor: float
    """Multiply a value in the original unit by this to get it in `unit` (``"nm"`` -> ``1e-9``)."""


# Base units that take a prefix -> (scansr symbol, factor). Longest first in the pattern, so that "Pa" is the
# pascal and not peta-"a", "mol" the mole and not milli-"ol".
_BASES: dict[str, tuple[str, float]] = {
    "m": ("m", 1.0), "V": ("V", 1.0), "A": ("A", 1.0), "N": ("N", 1.0), "Pa": ("Pa", 1.0), "Hz": ("Hz", 1.0),
    "s": ("s", 1.0), "F": ("F", 1.0), "C": ("C", 1.0), "W": ("W", 1.0), "S": ("S", 1.0), "T": ("T", 1.0),
    "K": ("K", 1.0), "Ohm": ("Ohm", 1.0), "eV": ("eV", 1.0), "Wb": ("Wb", 1.0), "mol": ("mol", 1.0),
    "N/m": ("N/m", 1.0), "deg": ("deg", 1.0),
    "rad": ("deg", 180.0 / math.pi),  # phase is stored in degrees
    "g": ("kg", 1e-3),  # the SI base is the kilogram
}  # fmt: skip
_PREFIXED = re.compile(
    "^(?P<prefix>[" + "".join(p for p in PREFIX_EXPONENTS if p) + "])?"
    "(?P<base>" + "|".join(re.escape(b) for b in sorted(_BASES, key=len, reverse=True)) + ")$"
)
# Spellings that files use for a unit without prefix -> (scansr symbol, factor); matched exactly (after
# Unicode NFC, so U+212B and "A" + combining ring are "Å", U+2126 is "Ω").
_SYNONYMS: dict[str, tuple[str, float]] = {
    "\u00c5": ("m", 1e-10), "Ang": ("m", 1e-10),
    "\u00b0": ("deg", 1.0), "\u00ba": ("deg", 1.0), "Deg": ("deg", 1.0),  # ° and º (masculine ordinal)
    "N/m2": ("Pa", 1.0), "N/m^2": ("Pa", 1.0), "N m^-2": ("Pa", 1.0),
    "\u03a9": ("Ohm", 1.0),
    "cnt": ("counts", 1.0), "count": ("counts", 1.0), "counts": ("counts", 1.0),
    "": ("", 1.0), "1": ("", 1.0), "a.u.": ("", 1.0), "arb.u.": ("", 1.0), "arb. u.": ("", 1.0),
    "arb. units": ("", 1.0),
}  # fmt: skip
# Unit words, matched case-insensitively ("Angstrom", "DEGREES", "Volt").
_WORDS: dict[str, tuple[str, float]] = {
    "angstrom": ("m", 1e-10), "micron": ("m", 1e-6), "microns": ("m", 1e-6), "meter": ("m", 1.0),
    "metre": ("m", 1.0), "degree": ("deg", 1.0), "degrees": ("deg", 1.0), "rad": ("deg", 180.0 / math.pi),
    "volt": ("V", 1.0), "ampere": ("A", 1.0), "ohm": ("Ohm", 1.0),
}  # fmt: skip
_EXAMPLES = "m, mm, um, µm, nm, pm, Å, angstrom, mV, nA, nN, kPa, deg, rad, counts"
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_QUANTITY = re.compile(rf"^\s*({_NUMBER})\s*(.*?)\s*$")


def _resolve(unit: str) -> SIUnit | None:
    text = unicodedata.normalize("NFC", str(unit)).strip()
    if text in _SYNONYMS:
        return SIUnit(*_SYNONYMS[text])
    if text.casefold() in _WORDS:
        return SIUnit(*_WORDS[text.casefold()])
    match = _PREFIXED.match(text)
    if match is None:
        return None
    symbol, factor = _BASES[match.group("base")]
    prefix = match.group("prefix")
    return SIUnit(symbol, factor if prefix is None else PREFIXES[prefix] * factor)


def parse_unit(unit: str) -> SIUnit:
    """Resolve a unit into scansr's SI symbol and factor; strict, for units that a user gives.

    Parameters
    ----------
    unit : str
        A unit symbol with an optional SI prefix (``"nm"``, ``"µm"``, ``"um"``, ``"mV"``, ``"nA"``, ``"kPa"``,
        ``"nN/m"``), or a spelling files use (``"Å"``, ``"angstrom"``, ``"°"``, ``"rad"``, ``"N/m2"``,
        ``"a.u."``, ``"micron"``). A bare ``"A"`` is the ampere.

    Returns
    -------
    SIUnit
        ``(unit, factor)``: ``parse_unit("nm") == ("m", 1e-9)``, ``parse_unit("rad") == ("deg", 57.29...)``.

    Raises
    ------
    ValueError
        If the unit is not recognised; the message gives examples of valid units.
    """
    resolved = _resolve(unit)
    if resolved is None:
        raise ValueError(f"unknown unit {unit!r}; use an SI unit with an optional prefix, e.g. {_EXAMPLES}")
    return resolved


def split_prefix(unit: str) -> SIUnit:
    """Resolve a unit string from a file header into scansr's SI symbol and factor; never raises.

    Parameters
    ----------
    unit : str
        As the file writes it, e.g. ``"nm"``, ``"µm"``, ``"mV"``, ``"N/m2"``, ``"°"``, ``""``. A bare ``"A"``
        is the ampere.

    Returns
    -------
    SIUnit
        As `parse_unit` (``split_prefix("nm") == ("m", 1e-9)``); a compound or unknown unit comes back as
        written (stripped) with factor 1.
    """
    resolved = _resolve(unit)
    return resolved if resolved is not None else SIUnit(str(unit).strip(), 1.0)


def canonical_unit(unit: str) -> str:
    """Return scansr's spelling of `unit` where the respelling changes no value, else `unit` as written.

    ``"°"`` -> ``"deg"``, ``"N/m2"`` -> ``"Pa"``, ``"a.u."`` -> ``""``, ``"V"`` -> ``"V"``; but ``"nm"`` stays
    ``"nm"``, since calling it ``"m"`` would need the values scaled (use `split_prefix` for that).
    """
    resolved = split_prefix(unit)
    return resolved.unit if resolved.factor == 1.0 else str(unit).strip()


def length_factor(unit: str, *, bare_a_is_angstrom: bool = False) -> float | None:
    """Return the factor from the length unit `unit` to metres, or None when `unit` is no length.

    Parameters
    ----------
    unit : str
        ``"m"``, ``"nm"``, ``"µm"``, ``"um"``, ``"~m"``, ``"micron"``, ``"Å"``, ``"angstrom"``, ...
    bare_a_is_angstrom : bool
        Read a bare ``"A"`` as ångström; only for a header field known to hold a length in a format that
        writes Å so. Otherwise ``"A"`` is the ampere, not a length.

    Returns
    -------
    float or None
        ``length_factor("nm") == 1e-9``; None for ``"V"``, ``"A"``, ``""`` or an unknown unit.
    """
    if bare_a_is_angstrom and str(unit).strip() == "A":
        return 1e-10
    resolved = _resolve(unit)
    return resolved.factor if resolved is not None and resolved.unit == "m" else None


def unit_scale(unit: str, base: str) -> float:
    """Return the factor that converts values in `unit` to `base` (``unit_scale("nm", "m") == 1e-9``).

    Raises
    ------
    ValueError
        If `unit` is not `base` with an SI prefix (or another spelling of it, such as Å for metres).
    """
    resolved = _resolve(unit)
    if resolved is not None and resolved.unit == base:
        return resolved.factor
    valid = ", ".join(p + base for p in ("", "m", "u", "µ", "n", "p")) + (", Å" if base == "m" else "")
    hint = (
        " ('A' is the ampere; write Å or angstrom for ångström)"
        if base == "m" and unit.strip() == "A"
        else ""
    )
    raise ValueError(f"unit must be {base!r} with an SI prefix ({valid}), got {unit!r}{hint}")


def split_quantity(text: str) -> tuple[float, str] | None:
    """Split ``"59.7 nm"`` into the number and the unit as written, ``(59.7, "nm")``; None if no number."""
    match = _QUANTITY.match(str(text))
    if match is None:
        return None
    return float(match.group(1)), match.group(2)


def parse_quantity(text: str) -> tuple[float, str] | None:
    """Parse ``"3.0 µm"`` / ``"1.5e-3 V"`` / ``"256"`` into ``(value in SI, SI unit)``; None if no number.

    The unit is resolved leniently (`split_prefix`): ``parse_quantity("2 furlong") == (2.0, "furlong")``.
    """
    split = split_quantity(text)
    if split is None:
        return None
    unit, factor = split_prefix(split[1])
    return split[0] * factor, unit


def parse_length(text: str, *, bare_a_is_angstrom: bool = False) -> float:
    """Parse a length such as ``"2um"``, ``"500 nm"``, ``"3 Å"`` or ``"1e-6"`` (bare numbers are metres).

    Parameters
    ----------
    text : str
        A positive number with an optional length unit.
    bare_a_is_angstrom : bool
        Read ``"3 A"`` as 3 Å (see `length_factor`); by default a bare ``"A"`` is refused (it is the ampere).

    Returns
    -------
    float
        The length in metres.

    Raises
    ------
    ValueError
        If the text is not a positive length.
    """
    split = split_quantity(text)
    if split is None or (split[1] and split[1][0].isdigit()):
        raise ValueError(f"not a length: {text!r} (examples: 2um, 500nm, 1e-6)")
    number, unit = split
    factor = 1.0
    if unit:
        found = length_factor(unit, bare_a_is_angstrom=bare_a_is_angstrom)
        factor = found if found is not None else unit_scale(unit, "m")  # unit_scale raises, naming the unit
    value = number * factor
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"a length must be positive, got {text!r}")
    return value


def format_length(metres: float, *, digits: int = 3) -> str:
    """Format a length in metres with a readable prefix: ``format_length(1.25e-6) == "1.25 µm"``."""
    if metres == 0 or not math.isfinite(metres):
        return f"{metres:g} m"
    for symbol, factor in (("m", 1.0), ("mm", 1e-3), ("µm", 1e-6), ("nm", 1e-9), ("pm", 1e-12)):
        if abs(metres) >= factor * 0.999999:
            return f"{metres / factor:.{digits}g} {symbol}"
    return f"{metres / 1e-12:.{digits}g} pm"
