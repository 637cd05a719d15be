"""Find channels by physical meaning across instruments: ``"height"``, ``"adhesion"``, ``"modulus"``, ...

Vendors name one quantity many ways (``Height``, ``HeightRetrace``, ``Height Sensor``, ``ZSensor``, ``Z``,
``Topography``, ``TopographyFwd``, ``Z-Axis``, ``Height (measured)`` are all topography). `CHANNEL_ALIASES` maps a
canonical name to the names files use, best first; `CHANNEL_UNITS` gives the SI units a channel of that kind has.
Most aliases are channel names that ``scansr.io.read`` gives for the shared corpus (``../shared/data``: Bruker
PeakForce QNM, Asylum PFM with Nap channels, JPK QI force maps, Gwyddion force-map exports, Nanosurf, Nanonis,
NT-MDT c-AFM, Molecular Vista PiFM, Agilent PicoView, Park, WSxM, HS-AFM) or image titles and channel names in
their headers (Bruker ``Height Sensor``, ``DMTModulus``, ``LogDMTModulus``, ``TM Deflection``, ``TM Friction``,
``MFM Phase``, ``Amplitude Error``, ``Phase Error``). Common vendor names that no corpus file holds are kept so
that such files resolve, unchecked against a real file: ``Lateral Deflection``, ``Lateral Force``, ``Adhesion
Force``, ``DMT Modulus``, ``Young's Modulus``, ``Modulus``, ``Elastic Modulus``, ``LogModulus``, ``Contact
Stiffness``, ``Indentation``, ``Energy Dissipation``, ``Maximum Force``, ``TipCurrent``, ``TUNA Current``, ``I``,
``Surface Potential``, ``KPFM``, ``NapPotential``, ``CPD``, ``df``, ``AFM-IR``, ``IR Amplitude``, ``PTIR``. See
`channel_kind` for how a channel is recognised.

Names are compared after `normalize_name` (case, spaces, underscores, hyphens, brackets ignored) and after the
scan-direction marker is taken off (`split_direction`: ``...Trace``/``...Retrace``, ``... retrace``,
``...Fwd``/``...Bwd``, NT-MDT's ``1F:``/``1B:`` prefixes).

The unit decides between quantities that share a name. Bruker labels its DMT-modulus image ``Stiffness`` (with the
title "DMTModulus"), and Gwyddion exports of PeakForce and force-map files keep that name with unit Pa, while a
true contact stiffness is in N/m (JPK QI calls it ``Slope``): ``"Stiffness"`` is therefore an alias of both
``"modulus"`` (when in Pa) and ``"stiffness"`` (when in N/m). Stiffness (N/m) and modulus (Pa) are different
quantities and never stand in for each other.

A channel whose unit is ``""`` or ``"V"`` while its kind has another SI unit (e.g. Bruker ``Adhesion`` stored in
volts because the file lacks the sensitivity) is an *uncalibrated* channel: it is still found by its kind when the
alias names only that kind, after every calibrated candidate, with a warning. Correlation coefficients do not
change under a linear calibration, but values and per-domain means stay in the file's unit.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import NamedTuple

from scansr.scan import DIRECTIONS, Channel, Scan, UnknownChannelError

__all__ = [
    "CHANNEL_ALIASES",
    "CHANNEL_UNITS",
    "UNCALIBRATED_UNITS",
    "ChannelKind",
    "ChannelPair",
    "TraceRetrace",
    "UnresolvedChannelError",
    "canonical_name",
    "channel_kind",
    "normalize_name",
    "resolve_channels",
    "split_direction",
    "split_trace_retrace",
]

logger = logging.getLogger(__name__)

# Canonical name -> channel names as files write them, best first (the first present one wins among channels of
# equal unit and direction). Written as the files spell them; compared with `normalize_name`.
CHANNEL_ALIASES: dict[str, tuple[str, ...]] = {
    "height": (
        "Height", "Topography", "Z-Axis", "Z", "Height (measured)", "Height Sensor", "ZSensor", "Z_Sensor",
        "Z-Axis Sensor", "AFMHead-Z", "Scanner-Z",
    ),
    "amplitude": ("Amplitude", "Amplitude1", "Lock-In Amplitude", "Amplitude2"),
    "phase": ("Phase", "Phase1", "Lock-In Phase", "Phase2"),
    "nap_amplitude": ("NapAmplitude", "MFM Amplitude"),
    "nap_phase": ("NapPhase", "MFM Phase"),
    "deflection": ("Deflection", "Vertical Deflection", "TM Deflection"),
    "error": ("Error Signal", "Peak Force Error", "DeflectionError", "Amplitude Error", "Phase Error"),
    "friction": ("Friction", "Friction force", "TM Friction", "Lateral Deflection", "Lateral Force"),
    "adhesion": ("Adhesion", "Adhesion Force"),
    "modulus": ("DMTModulus", "DMT Modulus", "YoungsModulus", "Young's Modulus", "Modulus", "Elastic Modulus",
                "Stiffness"),
    "log_modulus": ("LogDMTModulus", "LogModulus", "LogStiffness"),
    "stiffness": ("Stiffness", "Slope", "Contact Stiffness"),
    "deformation": ("Deformation", "Indentation"),
    "dissipation": ("Dissipation", "Energy Dissipation"),
    "max_force": ("Max Force", "Maximum Force"),
    "current": ("Current", "Iprobe", "TipCurrent", "Tip Current", "TUNA Current", "I"),
    "potential": ("Potential", "Surface Potential", "SurfacePotential", "KPFM", "NapPotential", "CPD"),
    "frequency": ("Frequency", "Frequency_Shift", "Frequency Shift", "df"),
    "infrared": ("PiFM", "AFM-IR", "IR Amplitude", "PTIR"),
}  # fmt: skip

# Canonical name -> SI units (scansr's symbols) a calibrated channel of that kind has.
CHANNEL_UNITS: dict[str, tuple[str, ...]] = {
    "height": ("m",),
    "amplitude": ("m", "V"),
    "phase": ("deg",),
    "nap_amplitude": ("m", "V"),
    "nap_phase": ("deg",),
    "deflection": ("m", "N", "V"),
    "error": ("m", "N", "V", "deg"),
    "friction": ("V", "N"),
    "adhesion": ("N",),
    "modulus": ("Pa",),
    "log_modulus": ("",),
    "stiffness": ("N/m",),
    "deformation": ("m",),
    "dissipation": ("J", "eV"),
    "max_force": ("N",),
    "current": ("A",),
    "potential": ("V",),
    "frequency": ("Hz",),
    "infrared": ("V", ""),
}

# Units of a raw detector signal that the file did not convert to physical units.
UNCALIBRATED_UNITS = ("", "V")

_SUFFIX = re.compile(
    r"[\s_\-]*(?:(?P<word>retrace|trace|fwd|bwd|forward|backward)|[\(\[](?P<bracket>fwd|bwd|forward|backward)[\)\]])$",
    re.IGNORECASE,
)
_PREFIX = re.compile(r"^\s*\d*(?P<mark>[FB])\s*:\s*")  # NT-MDT: "1F:Iprobe", "1B:Iprobe"
_RETRACE_WORDS = {"retrace", "bwd", "backward"}
_NON_ALNUM = re.compile(r"[\W_]+")


def _check_tables() -> None:
    # A typo in the tables above should fail at import, not give a silently unreachable alias.
    if set(CHANNEL_ALIASES) != set(CHANNEL_UNITS):
        raise RuntimeError("CHANNEL_ALIASES and CHANNEL_UNITS must have the same keys")


_check_tables()


def normalize_name(name: str) -> str:
    """Return `name` lower-cased with everything but letters and digits removed (``"Z-Axis"`` -> ``"zaxis"``).

    Parameters
    ----------
    name : str
        A channel name or alias.

    Returns
    -------
    str
    """
    return _NON_ALNUM.sub("", str(name).casefold())


def split_direction(name: str) -> tuple[str, str | None]:
    """Split a channel name into its stem and the scan direction its name states.

    ``"HeightRetrace"`` -> ``("Height", "retrace")``, ``"Z-Axis retrace"`` -> ``("Z-Axis", "retrace")``,
    ``"TopographyFwd"`` -> ``("Topography", "trace")``, ``"1B:Iprobe"`` -> ``("Iprobe", "retrace")``,
    ``"Adhesion"`` -> ``("Adhesion", None)``.

    Parameters
    ----------
    name : str
        A channel name.

    Returns
    -------
    stem : str
        The name without the direction marker (the whole name when that would leave nothing).
    direction : {"trace", "retrace"} or None
        The direction the name states, if any.
    """
    text = str(name)
    direction = None
    prefix = _PREFIX.match(text)
    if prefix and prefix.end() < len(text):
        direction = "retrace" if prefix["mark"] == "B" else "trace"
        text = text[prefix.end() :]
    suffix = _SUFFIX.search(text)
    if suffix and suffix.start() > 0:
        word = (suffix["word"] or suffix["bracket"]).casefold()
        direction = "retrace" if word in _RETRACE_WORDS else "trace"
        text = text[: suffix.start()]
    return text.strip(), direction


def _direction(channel: Channel) -> str | None:
    return channel.direction if channel.direction is not None else split_direction(channel.name)[1]


def _stem_key(name: str) -> str:
    return normalize_name(split_direction(name)[0])


_ALIAS_KEYS: dict[str, tuple[str, ...]] = {
    kind: tuple(dict.fromkeys(normalize_name(a) for a in aliases))
    for kind, aliases in CHANNEL_ALIASES.items()
}


def _kinds_of_alias(key: str) -> tuple[str, ...]:
    return tuple(kind for kind, keys in _ALIAS_KEYS.items() if key in keys)


class ChannelKind(NamedTuple):
    """What a channel is, by its name and unit (see `channel_kind`)."""

    kind: str
    """Canonical name (a key of `CHANNEL_ALIASES`)."""
    calibrated: bool
    """False when the unit is an uncalibrated ``""``/``"V"`` where the kind has another unit."""
    rank: int
    """Position of the matching alias in ``CHANNEL_ALIASES[kind]`` (0 = the most usual name)."""


def channel_kind(channel: Channel) -> ChannelKind | None:
    """Recognise what `channel` measures from its name (without direction marker) and unit.

    A channel is of kind K when its stem is an alias of K and either its unit is one of ``CHANNEL_UNITS[K]``
    (calibrated), or its unit is ``""``/``"V"`` and the stem is an alias of K alone (uncalibrated).

    Parameters
    ----------
    channel : Channel
        A channel of a scan.

    Returns
    -------
    ChannelKind or None
        None when the name is no known alias, or the unit fits none of the kinds the name could mean
        (e.g. ``Stiffness`` with no unit: modulus or stiffness).
    """
    key = _stem_key(channel.name)
    kinds = _kinds_of_alias(key)
    for kind in kinds:
        if channel.unit in CHANNEL_UNITS[kind]:
            return ChannelKind(kind, True, _ALIAS_KEYS[kind].index(key))
    if len(kinds) == 1 and channel.unit in UNCALIBRATED_UNITS:
        return ChannelKind(kinds[0], False, _ALIAS_KEYS[kinds[0]].index(key))
    return None


def canonical_name(name: str) -> str | None:
    """Return the canonical name that `name` asks for (``"DMT Modulus"`` -> ``"modulus"``), or None.

    A canonical name stands for itself; an alias shared by several kinds (``"Stiffness"``) gives the kind of the
    same name, else None.

    Parameters
    ----------
    name : str
        A canonical name or an alias, in any case and spacing, with or without a direction marker.

    Returns
    -------
    str or None
    """
    key = normalize_name(name)
    for kind in CHANNEL_ALIASES:
        if normalize_name(kind) == key:
            return kind
    kinds = _kinds_of_alias(_stem_key(name))
    return kinds[0] if len(kinds) == 1 else None


class UnresolvedChannelError(UnknownChannelError):
    """A requested channel that is neither a channel name of the scan nor a kind the scan holds.

    A `scansr.scan.UnknownChannelError`; the message lists the scan's channels, the kinds they were recognised
    as, and the canonical names.
    """

    def __init__(self, name: str, scan: Scan):
        super().__init__(name, scan.names, scan.source)
        found: dict[str, list[str]] = {}
        for c in scan.channels:
            kind = channel_kind(c)
            if kind is not None:
                found.setdefault(kind.kind, []).append(c.name)
        have = "; ".join(f"{k}: {', '.join(v)}" for k, v in found.items()) or "none"
        self.args = (
            f"{self.args[0]}. By meaning this scan holds {have}. Canonical names: {', '.join(CHANNEL_ALIASES)}",
        )


class _Candidate(NamedTuple):
    channel: Channel
    primary: tuple  # ranks before the direction (calibrated first)
    secondary: tuple  # ranks after the direction (usual alias first, then file order)


def _candidates(scan: Scan, name: str) -> tuple[list[_Candidate], bool]:
    """Channels that could answer `name`; the flag says whether the name fixed one channel exactly."""
    for c in scan.channels:
        if c.name == name:
            return [_Candidate(c, (), ())], True
    if name in CHANNEL_ALIASES:
        kind: str | None = name
    else:
        same = [c for c in scan.channels if c.name.casefold() == name.casefold()]
        if len(same) == 1:
            return [_Candidate(same[0], (), ())], True
        key = _stem_key(name)
        by_stem = [_Candidate(c, (), (i,)) for i, c in enumerate(scan.channels) if _stem_key(c.name) == key]
        if by_stem:
            return by_stem, False
        kind = canonical_name(name)
    if kind is None:
        return [], False
    found = []
    for i, c in enumerate(scan.channels):
        k = channel_kind(c)
        if k is not None and k.kind == kind:
            found.append(_Candidate(c, (not k.calibrated,), (k.rank, i)))
    return found, False


def _best(candidates: list[_Candidate], direction: str | None) -> _Candidate:
    def key(cand: _Candidate) -> tuple:
        d = _direction(cand.channel)
        return (cand.primary, d is not None and direction is not None and d != direction, cand.secondary)

    return min(candidates, key=key)


def _target_direction(resolved: list[tuple[list[_Candidate], bool]], prefer: str | None) -> str | None:
    fixed = [_direction(cs[0].channel) for cs, exact in resolved if exact and _direction(cs[0].channel)]
    if fixed:
        return fixed[0]
    counts = {
        d: sum(any(_direction(c.channel) in (d, None) for c in cs) for cs, _ in resolved) for d in DIRECTIONS
    }
    if prefer is None:
        return None if counts["trace"] == counts["retrace"] else max(DIRECTIONS, key=counts.__getitem__)
    other = next(d for d in DIRECTIONS if d != prefer)
    return other if counts[other] > counts[prefer] else prefer


def resolve_channels(
    scan: Scan, names: Sequence[str], *, prefer_direction: str | None = "trace"
) -> tuple[str, ...]:
    """Find the scan's channel for each requested name: a channel name, or a kind such as ``"height"``.

    Each name is resolved, in this order, as

    1. a channel name, exactly as written;
    2. a canonical name, exactly as written (lower case: ``"height"``, ``"log_modulus"``): any channel of that
       kind (`channel_kind`), calibrated units first, then the more usual alias, then file order;
    3. a channel name in any case, then without its direction marker (``"ZSensor"`` finds ``ZSensorTrace`` and
       ``ZSensorRetrace``);
    4. an alias (``"DMT Modulus"``, ``"Z-Axis"``, ``"Topography"``) or a canonical name in any spelling: any
       channel of that kind, ranked as in 2.

    Among trace/retrace versions, all names are resolved in ONE direction where the scan allows it, so that the
    channels are co-registered (trace and retrace images are offset by the scanner's hysteresis). That direction
    is the one of a channel named exactly, else the one in which most names have a channel, `prefer_direction`
    breaking ties; a name with no channel in that direction takes the other. Resolve every channel of one
    analysis in one call.

    Parameters
    ----------
    scan : Scan
        The scan.
    names : sequence of str
        Requested channels, at least one.
    prefer_direction : {"trace", "retrace"} or None
        Direction preferred when the scan has both; None: no preference (file order).

    Returns
    -------
    tuple of str
        Channel names of `scan`, one per requested name, in the order given.

    Raises
    ------
    UnresolvedChannelError
        (a `scansr.scan.UnknownChannelError`) if a name matches no channel; the message lists the scan's
        channels, what they were recognised as, and the canonical names.
    ValueError
        If `names` is empty or a plain string, `prefer_direction` is invalid, or two names resolve to one
        channel.
    """
    if prefer_direction is not None and prefer_direction not in DIRECTIONS:
        raise ValueError(f"prefer_direction must be one of {DIRECTIONS} or None, got {prefer_direction!r}")
    if isinstance(names, str) or not names:
        raise ValueError(f"names must be a non-empty sequence of channel names, got {names!r}")
    resolved: list[tuple[list[_Candidate], bool]] = []
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"channel names must be non-empty strings, got {name!r}")
        candidates, exact = _candidates(scan, name.strip())
        if not candidates:
            raise UnresolvedChannelError(name, scan)
        resolved.append((candidates, exact))

    target = _target_direction(resolved, prefer_direction)
    chosen = tuple(_best(cs, target).channel for cs, _ in resolved)
    result = tuple(c.name for c in chosen)
    for name, c in zip(names, chosen, strict=True):
        kind = channel_kind(c)
        if kind is not None and not kind.calibrated and canonical_name(name) == kind.kind and c.name != name:
            logger.warning(
                "%s: %r resolved to channel %r, whose unit %r is not calibrated (%s is measured in %s)",
                scan.source or "scan", name, c.name, c.unit, kind.kind, " or ".join(CHANNEL_UNITS[kind.kind]),
            )  # fmt: skip
    directions = {_direction(c) for c in chosen} - {None}
    if len(directions) > 1:
        logger.warning(
            "%s: channels %s mix trace and retrace images, which are not exactly co-registered",
            scan.source or "scan",
            list(result),
        )
    seen: dict[str, str] = {}
    for name, channel in zip(names, result, strict=True):
        if channel in seen:
            raise ValueError(f"{seen[channel]!r} and {name!r} both resolve to channel {channel!r}")
        seen[channel] = name
    return result


class ChannelPair(NamedTuple):
    """The trace and retrace images of one signal (`split_trace_retrace`)."""

    stem: str
    """The name without direction marker (``"Height"`` for ``HeightTrace``/``HeightRetrace``)."""
    trace: str | None
    """Name of the trace channel, or None when the scan has only the retrace."""
    retrace: str | None
    """Name of the retrace channel, or None when the scan has only the trace."""


class TraceRetrace(NamedTuple):
    """A scan's channels grouped by scan direction."""

    pairs: tuple[ChannelPair, ...]
    """One entry per signal with a known direction, in file order of its first channel."""
    undirected: tuple[str, ...]
    """Channels whose direction neither the file nor the name states."""


def split_trace_retrace(scan: Scan) -> TraceRetrace:
    """Pair each trace channel with the retrace channel of the same signal.

    Channels pair when their names without direction marker are equal (`normalize_name`) and their units are
    equal; the direction is `Channel.direction`, else the one the name states (`split_direction`).

    Parameters
    ----------
    scan : Scan
        The scan.

    Returns
    -------
    TraceRetrace
    """
    slots: dict[tuple[str, str], list[dict]] = {}
    ordered: list[dict] = []
    undirected = []
    for c in scan.channels:
        direction = _direction(c)
        if direction is None:
            undirected.append(c.name)
            continue
        stem = split_direction(c.name)[0] or c.name
        key = (normalize_name(stem), c.unit)
        for slot in slots.setdefault(key, []):
            if slot[direction] is None:
                slot[direction] = c.name
                break
        else:
            slot = {"stem": stem, "trace": None, "retrace": None, direction: c.name}
            slots[key].append(slot)
            ordered.append(slot)
    pairs = tuple(ChannelPair(s["stem"], s["trace"], s["retrace"]) for s in ordered)
    return TraceRetrace(pairs, tuple(undirected))
