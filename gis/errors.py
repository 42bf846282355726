"""Exceptions. Each subclasses a built-in type too, so callers may catch either (as rasterio does).

Library messages say what is wrong and what it looks like; they never name a command-line flag. An
error that a caller can fix by giving one more setting carries it as ``setting`` (``"crs"``,
``"layer"``, ``"encoding"``, ``"overwrite"``) with an optional ``suggestion`` (``"EPSG:4523"``); the
command line turns that into flag advice ("pass --crs EPSG:4523"). The command line turns every
:class:`ParkGISError` into a one-line message and exit code 2.

>>> str(CRSError("a.shp has no CRS", setting="crs", suggestion="EPSG:4523"))
'a.shp has no CRS'
>>> CRSError("a.shp has no CRS", setting="crs", suggestion="EPSG:4523").suggestion
'EPSG:4523'
"""

from __future__ import annotations

__all__ = [
    "ParkGISError",
    "InputError",
    "CRSError",
    "LayerNotFoundError",
    "OutputExistsError",
    "GeometryTypeError",
    "EncodingError",
    "SETTINGS",
]

SETTINGS = ("crs", "layer", "encoding", "overwrite", "source_crs", "band")
"""The settings an error may ask for; the CLI maps each to its flag."""


class ParkGISError(Exception):
    """Base class: the operation could not run; the message says what to do next."""

    def __init__(self, message: str = "", *, setting: str | None = None, suggestion: str | None = None,
                 choices=None):
        super().__init__(message)
        self.setting = setting
        self.suggestion = suggestion
        self.choices = list(choices) if choices is not None else None


class InputError(ParkGISError, ValueError):
    """The input data or an argument is unusable as given."""


class CRSError(InputError):
    """A coordinate reference system is missing, unknown or unsuitable."""


class GeometryTypeError(InputError):
    """The layer has geometries of a type the operation cannot use."""


class EncodingError(InputError):
    """The text encoding of a file cannot be told or is wrong."""


class LayerNotFoundError(ParkGISError, FileNotFoundError):
    """A file, a layer inside a file, or a bundled layer does not exist."""


class OutputExistsError(ParkGISError, FileExistsError):
    """An output would overwrite an existing file (or an input) without --overwrite."""
