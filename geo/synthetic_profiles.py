"""When and where each category's incidents happen in the synthetic demo city
(:mod:`geo.synthetic`): relative weights per local hour and per kind of place.

The shares and rhythms are invented to look like a Chinese city bureau's received incidents
(disputes, traffic accidents and thefts most common; robbery and drugs rare); they are not
measured from any city's records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "DEFAULT_CATEGORY_PROFILES",
    "DEFAULT_CATEGORY_SHARES",
    "GENERIC_PLACES",
    "HOUR_WEIGHTS",
    "PLACE_KINDS",
    "CategoryProfile",
]

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


# Relative incidents per local hour 00..23 of every recorded incident together: a trough
# before dawn, a rise through the day and an evening peak. Also the rhythm of categories
# given by a share alone.
HOUR_WEIGHTS = (
    0.95, 0.75, 0.60, 0.45, 0.35, 0.35,  # 00-05
    0.45, 0.65, 0.85, 0.95, 1.00, 1.05,  # 06-11
    1.15, 1.05, 1.05, 1.10, 1.15, 1.20,  # 12-17
    1.30, 1.40, 1.45, 1.40, 1.30, 1.15,  # 18-23
)  # fmt: skip
# Busy daytime: shops and markets open, crowds (pickpocketing, snatching).
_HOURS_DAYTIME = (
    0.10, 0.05, 0.05, 0.05, 0.05, 0.10,
    0.30, 0.60, 1.00, 1.40, 1.80, 2.00,
    1.80, 1.60, 1.70, 1.90, 2.10, 2.20,
    2.00, 1.60, 1.20, 0.80, 0.40, 0.20,
)  # fmt: skip
# Night: the small hours, and the working day when flats stand empty (burglary).
_HOURS_NIGHT = (
    1.60, 2.00, 2.40, 2.40, 2.00, 1.40,
    0.60, 0.40, 0.50, 0.80, 1.00, 1.00,
    0.90, 0.90, 1.00, 0.90, 0.70, 0.50,
    0.40, 0.40, 0.50, 0.60, 0.90, 1.20,
)  # fmt: skip
# Morning and evening rush hours (traffic accidents).
_HOURS_RUSH = (
    0.20, 0.15, 0.10, 0.10, 0.15, 0.30,
    0.80, 2.20, 2.40, 1.20, 0.90, 1.00,
    1.30, 1.00, 0.90, 1.00, 1.30, 2.30,
    2.40, 1.40, 0.90, 0.70, 0.50, 0.30,
)  # fmt: skip
# Evenings at home (family and neighbour disputes, gambling among acquaintances).
_HOURS_EVENING = (
    0.60, 0.40, 0.20, 0.15, 0.10, 0.10,
    0.20, 0.40, 0.50, 0.60, 0.70, 0.80,
    0.90, 0.80, 0.80, 0.80, 0.90, 1.10,
    1.60, 2.10, 2.40, 2.30, 1.80, 1.10,
)  # fmt: skip
# Late evening and after midnight, drink involved (fights, provoking trouble, robbery).
_HOURS_LATE = (
    2.00, 1.80, 1.40, 0.90, 0.50, 0.30,
    0.15, 0.15, 0.20, 0.25, 0.30, 0.40,
    0.50, 0.50, 0.50, 0.50, 0.60, 0.70,
    0.90, 1.20, 1.60, 2.00, 2.30, 2.30,
)  # fmt: skip
# Office hours: fraud calls and their reports, hazards found on daytime rounds.
_HOURS_OFFICE = (
    0.05, 0.05, 0.05, 0.05, 0.05, 0.10,
    0.30, 0.70, 1.30, 1.80, 1.90, 1.80,
    1.20, 1.30, 1.70, 1.80, 1.70, 1.40,
    1.00, 0.80, 0.60, 0.40, 0.20, 0.10,
)  # fmt: skip

# Where incidents of a category given by a share alone happen.
GENERIC_PLACES: Mapping[str, float] = MappingProxyType(
    {"commercial": 0.3, "residential": 0.3, "nightlife": 0.15, "road": 0.05, "anywhere": 0.2}
)


def _profile(share: float, hours: tuple[float, ...], **places: float) -> CategoryProfile:
    return CategoryProfile(share, hours, MappingProxyType(places))


# The codes of data/demo/categories.csv. Shares: roughly a Chinese city bureau's received
# incidents (disputes, traffic accidents and thefts most common; robbery and drugs rare).
DEFAULT_CATEGORY_PROFILES: Mapping[str, CategoryProfile] = MappingProxyType(
    {
        "ROBBERY": _profile(0.01, _HOURS_LATE, nightlife=0.35, commercial=0.2, road=0.15,
                            anywhere=0.3),
        "ASSAULT": _profile(0.04, _HOURS_LATE, nightlife=0.45, residential=0.25, anywhere=0.3),
        "FIGHT": _profile(0.06, _HOURS_LATE, nightlife=0.7, commercial=0.1, anywhere=0.2),
        "SNATCHING": _profile(0.015, _HOURS_DAYTIME, commercial=0.5, road=0.3, anywhere=0.2),
        "BURGLARY": _profile(0.05, _HOURS_NIGHT, residential=0.85, anywhere=0.15),
        "PICKPOCKETING": _profile(0.06, _HOURS_DAYTIME, commercial=0.85, anywhere=0.15),
        "EBIKE_THEFT": _profile(0.09, HOUR_WEIGHTS, residential=0.55, commercial=0.3,
                                anywhere=0.15),
        "THEFT_FROM_VEHICLE": _profile(0.04, _HOURS_NIGHT, residential=0.45, commercial=0.25,
                                       road=0.1, anywhere=0.2),
        "OTHER_THEFT": _profile(0.08, HOUR_WEIGHTS, commercial=0.4, residential=0.3,
                                anywhere=0.3),
        "TELECOM_FRAUD": _profile(0.10, _HOURS_OFFICE, residential=0.8, anywhere=0.2),
        "PROVOKING_TROUBLE": _profile(0.03, _HOURS_LATE, nightlife=0.6, commercial=0.2,
                                      anywhere=0.2),
        "PUBLIC_DISORDER": _profile(0.04, _HOURS_LATE, nightlife=0.45, commercial=0.35,
                                    anywhere=0.2),
        "FAMILY_DISPUTE": _profile(0.07, _HOURS_EVENING, residential=0.9, anywhere=0.1),
        "NEIGHBOUR_DISPUTE": _profile(0.10, _HOURS_EVENING, residential=0.9, anywhere=0.1),
        "TRAFFIC_ACCIDENT": _profile(0.14, _HOURS_RUSH, road=0.9, anywhere=0.1),
        "GAMBLING": _profile(0.02, _HOURS_EVENING, residential=0.5, nightlife=0.3,
                             anywhere=0.2),
        "DRUGS": _profile(0.01, _HOURS_LATE, nightlife=0.6, residential=0.2, anywhere=0.2),
        "PROSTITUTION": _profile(0.005, _HOURS_LATE, nightlife=0.9, anywhere=0.1),
        "SAFETY_HAZARD": _profile(0.04, _HOURS_OFFICE, commercial=0.3, residential=0.3,
                                  road=0.2, anywhere=0.2),
    }
)  # fmt: skip
#: The default categories' city-wide shares.
DEFAULT_CATEGORY_SHARES: Mapping[str, float] = MappingProxyType(
    {code: profile.share for code, profile in DEFAULT_CATEGORY_PROFILES.items()}
)
