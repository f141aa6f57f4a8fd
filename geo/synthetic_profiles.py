"""When and where each category's incidents happen in the synthetic demo city
(:mod:`geo.synthetic`): relative weights per local hour and per kind of place, and
:func:`profile_arrays`, which checks a city's categories and turns them into arrays.

The shares and rhythms are invented to look like a Chinese city bureau's received incidents
(disputes, traffic accidents and thefts most common; robbery and drugs rare); they are not
measured from any city's records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from numpy.typing import NDArray

from geo.checks import check_number
from geo.errors import GeoError

__all__ = [
    "DEFAULT_CATEGORY_PROFILES",
    "DEFAULT_CATEGORY_SHARES",
    "GENERIC_PLACES",
    "HOUR_WEIGHTS",
    "PLACE_KINDS",
    "CategoryProfile",
    "ProfileArrays",
    "profile_arrays",
]

FloatArray = NDArray[np.float64]

#: Where a category's incidents happen: hotspots of three kinds, main roads, or anywhere.
PLACE_KINDS = ("commercial", "residential", "nightlife", "road", "anywhere")


@dataclass(frozen=True)
class CategoryProfile:
    """When and where incidents of one category happen in the synthetic city.

    ``share`` is the category's city-wide share (>= 0; shares are normalised), ``hours`` 24
    relative weights for the local hours 00..23, ``places`` relative weights of the kinds in
    :data:`PLACE_KINDS` (kinds left out weigh 0).
    """

    share: float
    hours: tuple[float, ...]
    places: Mapping[str, float]


# The daily rhythms: relative incidents per local hour 00..23, one column a rhythm.
#   all      every recorded incident together: a trough before dawn, a rise through the day
#            and an evening peak (also the rhythm of categories given by a share alone);
#   daytime  shops and markets open, crowds (pickpocketing, snatching);
#   night    the small hours, and the working day when flats stand empty (burglary);
#   rush     morning and evening rush hours (traffic accidents);
#   evening  evenings at home (family and neighbour disputes, gambling among acquaintances);
#   late     late evening and after midnight, drink involved (fights, provoking trouble,
#            robbery);
#   office   office hours: fraud calls and their reports, hazards found on daytime rounds.
_RHYTHM_NAMES = ("all", "daytime", "night", "rush", "evening", "late", "office")
_RHYTHM_TABLE = (
    # all  daytime night rush evening late office
    (0.95, 0.10, 1.60, 0.20, 0.60, 2.00, 0.05),  # 00
    (0.75, 0.05, 2.00, 0.15, 0.40, 1.80, 0.05),  # 01
    (0.60, 0.05, 2.40, 0.10, 0.20, 1.40, 0.05),  # 02
    (0.45, 0.05, 2.40, 0.10, 0.15, 0.90, 0.05),  # 03
    (0.35, 0.05, 2.00, 0.15, 0.10, 0.50, 0.05),  # 04
    (0.35, 0.10, 1.40, 0.30, 0.10, 0.30, 0.10),  # 05
    (0.45, 0.30, 0.60, 0.80, 0.20, 0.15, 0.30),  # 06
    (0.65, 0.60, 0.40, 2.20, 0.40, 0.15, 0.70),  # 07
    (0.85, 1.00, 0.50, 2.40, 0.50, 0.20, 1.30),  # 08
    (0.95, 1.40, 0.80, 1.20, 0.60, 0.25, 1.80),  # 09
    (1.00, 1.80, 1.00, 0.90, 0.70, 0.30, 1.90),  # 10
    (1.05, 2.00, 1.00, 1.00, 0.80, 0.40, 1.80),  # 11
    (1.15, 1.80, 0.90, 1.30, 0.90, 0.50, 1.20),  # 12
    (1.05, 1.60, 0.90, 1.00, 0.80, 0.50, 1.30),  # 13
    (1.05, 1.70, 1.00, 0.90, 0.80, 0.50, 1.70),  # 14
    (1.10, 1.90, 0.90, 1.00, 0.80, 0.50, 1.80),  # 15
    (1.15, 2.10, 0.70, 1.30, 0.90, 0.60, 1.70),  # 16
    (1.20, 2.20, 0.50, 2.30, 1.10, 0.70, 1.40),  # 17
    (1.30, 2.00, 0.40, 2.40, 1.60, 0.90, 1.00),  # 18
    (1.40, 1.60, 0.40, 1.40, 2.10, 1.20, 0.80),  # 19
    (1.45, 1.20, 0.50, 0.90, 2.40, 1.60, 0.60),  # 20
    (1.40, 0.80, 0.60, 0.70, 2.30, 2.00, 0.40),  # 21
    (1.30, 0.40, 0.90, 0.50, 1.80, 2.30, 0.20),  # 22
    (1.15, 0.20, 1.20, 0.30, 1.10, 2.30, 0.10),  # 23
)  # fmt: skip
_RHYTHMS: Mapping[str, tuple[float, ...]] = MappingProxyType(
    {name: tuple(hour[i] for hour in _RHYTHM_TABLE) for i, name in enumerate(_RHYTHM_NAMES)}
)
#: Relative incidents per local hour 00..23 of every recorded incident together; also the
#: rhythm of categories given by a share alone.
HOUR_WEIGHTS = _RHYTHMS["all"]

# Where incidents of a category given by a share alone happen.
GENERIC_PLACES: Mapping[str, float] = MappingProxyType(
    {"commercial": 0.3, "residential": 0.3, "nightlife": 0.15, "road": 0.05, "anywhere": 0.2}
)


def _profile(share: float, rhythm: str, **places: float) -> CategoryProfile:
    return CategoryProfile(share, _RHYTHMS[rhythm], MappingProxyType(places))


# The codes of data/demo/categories.csv. Shares: roughly a Chinese city bureau's received
# incidents (disputes, traffic accidents and thefts most common; robbery and drugs rare).
DEFAULT_CATEGORY_PROFILES: Mapping[str, CategoryProfile] = MappingProxyType(
    {
        "ROBBERY": _profile(0.01, "late", nightlife=0.35, commercial=0.2, road=0.15, anywhere=0.3),
        "ASSAULT": _profile(0.04, "late", nightlife=0.45, residential=0.25, anywhere=0.3),
        "FIGHT": _profile(0.06, "late", nightlife=0.7, commercial=0.1, anywhere=0.2),
        "SNATCHING": _profile(0.015, "daytime", commercial=0.5, road=0.3, anywhere=0.2),
        "BURGLARY": _profile(0.05, "night", residential=0.85, anywhere=0.15),
        "PICKPOCKETING": _profile(0.06, "daytime", commercial=0.85, anywhere=0.15),
        "EBIKE_THEFT": _profile(0.09, "all", residential=0.55, commercial=0.3, anywhere=0.15),
        "THEFT_FROM_VEHICLE": _profile(0.04, "night", residential=0.45, commercial=0.25,
                                       road=0.1, anywhere=0.2),
        "OTHER_THEFT": _profile(0.08, "all", commercial=0.4, residential=0.3, anywhere=0.3),
        "TELECOM_FRAUD": _profile(0.10, "office", residential=0.8, anywhere=0.2),
        "PROVOKING_TROUBLE": _profile(0.03, "late", nightlife=0.6, commercial=0.2, anywhere=0.2),
        "PUBLIC_DISORDER": _profile(0.04, "late", nightlife=0.45, commercial=0.35, anywhere=0.2),
        "FAMILY_DISPUTE": _profile(0.07, "evening", residential=0.9, anywhere=0.1),
        "NEIGHBOUR_DISPUTE": _profile(0.10, "evening", residential=0.9, anywhere=0.1),
        "TRAFFIC_ACCIDENT": _profile(0.14, "rush", road=0.9, anywhere=0.1),
        "GAMBLING": _profile(0.02, "evening", residential=0.5, nightlife=0.3, anywhere=0.2),
        "DRUGS": _profile(0.01, "late", nightlife=0.6, residential=0.2, anywhere=0.2),
        "PROSTITUTION": _profile(0.005, "late", nightlife=0.9, anywhere=0.1),
        "SAFETY_HAZARD": _profile(0.04, "office", commercial=0.3, residential=0.3,
                                  road=0.2, anywhere=0.2),
    }
)  # fmt: skip
#: The default categories' city-wide shares.
DEFAULT_CATEGORY_SHARES: Mapping[str, float] = MappingProxyType(
    {code: profile.share for code, profile in DEFAULT_CATEGORY_PROFILES.items()}
)


@dataclass(frozen=True)
class ProfileArrays:
    """Categories as arrays (what :func:`profile_arrays` returns): shares, hour probabilities
    and place-kind weights, one row a category."""

    codes: tuple[str, ...]
    share: FloatArray  # per category, sums to 1
    hour_p: FloatArray  # category x 24, rows sum to 1
    place_w: FloatArray  # category x len(PLACE_KINDS), rows sum to 1


def profile_arrays(categories: Mapping[str, float | CategoryProfile]) -> ProfileArrays:
    """Validate the categories (profiles or shares) and turn them into arrays."""
    if not isinstance(categories, Mapping) or not categories:
        raise GeoError(
            f"categories must be a non-empty mapping of code to profile or share, "
            f"got {categories!r}"
        )
    shares, hours, places = [], [], []
    for code, value in categories.items():
        if not isinstance(code, str) or not code.strip():
            raise GeoError(f"category codes must be non-empty strings, got {code!r}")
        profile = value if isinstance(value, CategoryProfile) else None
        share = profile.share if profile is not None else value
        shares.append(check_number(share, f"share of category {code!r}", low=0.0))
        hours.append(_weights(profile.hours if profile else HOUR_WEIGHTS, code, "hours", 24))
        mix = profile.places if profile else GENERIC_PLACES
        if not isinstance(mix, Mapping) or set(mix) - set(PLACE_KINDS):
            raise GeoError(
                f"places of category {code!r} must map kinds of {', '.join(PLACE_KINDS)} "
                f"to weights, got {mix!r}"
            )
        row = [mix.get(kind, 0.0) for kind in PLACE_KINDS]
        places.append(_weights(row, code, "places", len(PLACE_KINDS)))
    total = float(sum(shares))
    if total <= 0:
        raise GeoError("category shares must not all be zero")
    return ProfileArrays(
        codes=tuple(categories),
        share=np.asarray(shares, dtype=np.float64) / total,
        hour_p=np.vstack(hours),
        place_w=np.vstack(places),
    )


def _weights(values: object, code: str, name: str, size: int) -> FloatArray:
    """``size`` weights >= 0, not all zero, normalised to sum to 1."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        array = np.empty(0)
    if array.shape != (size,) or not np.isfinite(array).all() or (array < 0).any():
        raise GeoError(f"{name} of category {code!r} must be {size} weights >= 0, got {values!r}")
    if array.sum() <= 0:
        raise GeoError(f"{name} of category {code!r} must not all be zero")
    return array / array.sum()
