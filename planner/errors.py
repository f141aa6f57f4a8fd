"""Error vocabulary of the planner: every bad-input error derives from PlannerError."""

from __future__ import annotations

__all__ = [
    "PlannerError",
    "InvalidProblemError",
    "InvalidPlanError",
    "ProblemFormatError",
    "InvalidSolverOptionError",
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
