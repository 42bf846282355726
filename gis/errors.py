"""Exceptions. Each subclasses a built-in type too, so callers may catch either (as rasterio does).

The command line turns every :class:`ParkGISError` into a one-line message and exit code 2.
"""

from __future__ import annotations

__all__ = [
    "ParkGISError",
    "InputError",
    "CRSError",
    "LayerNotFoundError",
    "OutputExistsError",
    "GeometryTypeError",
]


class ParkGISError(Exception):
    """Base class: the operation could not run; the message says what to do next."""


class InputError(ParkGISError, ValueError):
    """The input data or an argument is unusable as given."""


class CRSError(InputError):
    """A coordinate reference system is missing, unknown or unsuitable."""


class GeometryTypeError(InputError):
    """The layer has geometries of a type the operation cannot use."""


class LayerNotFoundError(ParkGISError, FileNotFoundError):
    """A file, a layer inside a file, or a bundled layer does not exist."""


class OutputExistsError(ParkGISError, FileExistsError):
    """An output would overwrite an existing file (or an input) without --overwrite."""
