"""Error vocabulary of the planner: every bad-input error derives from PlannerError."""

from __future__ import annotations

__all__ = [
    "PlannerError",
    "InvalidProblemError",
    "InvalidPlanError",
    "ProblemFormatError",
    "InvalidSolverOptionError",
    "TravelTimeError",
    "InvalidPointsError",
    "UnknownModeError",
    "InvalidTravelParameterError",
    "RoadNetworkError",
]


class PlannerError(ValueError):
    """Base class for bad input to the planner library."""


class InvalidProblemError(PlannerError):
    """A patrol problem whose units, stops, windows or travel times cannot be planned."""


class InvalidPlanError(PlannerError):
    """A plan that does not fit the problem it is checked or re-planned against."""


class ProblemFormatError(PlannerError):
    """A problem JSON document that does not follow docs/problem-schema.md."""


class InvalidSolverOptionError(PlannerError):
    """A solver option (time limit, seed, engine, jitter) outside its allowed range."""


class TravelTimeError(PlannerError):
    """Base class for bad input to the travel-time functions."""


class InvalidPointsError(TravelTimeError):
    """Longitudes and latitudes that differ in length, are not finite or are out of range."""


class UnknownModeError(TravelTimeError):
    """A travel mode that has no speed table (known modes: ``MODE_SPEEDS_KMH``)."""


class InvalidTravelParameterError(TravelTimeError):
    """A speed, circuity factor or distance limit that is not a positive finite number."""


class RoadNetworkError(TravelTimeError):
    """An OpenStreetMap file that cannot be read or holds no street the mode may use."""
