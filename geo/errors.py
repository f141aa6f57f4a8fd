"""Error vocabulary of the geo library: every bad-input error derives from GeoError."""

from __future__ import annotations

__all__ = [
    "GeoError",
    "InvalidBoundaryError",
    "InvalidCoordinatesError",
    "InvalidResolutionError",
    "FileFormatError",
    "ColumnMappingError",
]


class GeoError(ValueError):
    """Base class for bad input to the geo library."""


class InvalidBoundaryError(GeoError):
    """A boundary or area file is unreadable, empty or has unusable geometry."""


class InvalidCoordinatesError(GeoError):
    """Coordinates or a coordinate system cannot be used."""


class InvalidResolutionError(GeoError):
    """An H3 resolution outside 0..15 or coarser than required."""


class FileFormatError(GeoError):
    """A whole input file is unusable (empty, truncated, wrong encoding or delimiter)."""


class ColumnMappingError(GeoError):
    """The columns an import needs are missing or mapped wrongly."""
