"""parkgis: a GIS toolkit for development-zone planners.

Areas on the CGCS2000 ellipsoid held against the plan's targets (:mod:`gis.area`, :mod:`gis.targets`,
:mod:`gis.plancheck`), geometry checks (:mod:`gis.validate`), reading and writing files, folders and
databases with findings (:mod:`gis.io`, one findings schema in :mod:`gis.findings`), China's coordinate
offsets (:mod:`gis.offsets`, :mod:`gis.convert`), the bundled plan layers (:mod:`gis.bundled`),
land-intensity audits (:mod:`gis.indicators` — the one indicator registry —, :mod:`gis.intensity`,
:mod:`gis.rules`, :mod:`gis.scoring`, :mod:`gis.audit`, :mod:`gis.trend`, the leadership workbook
:mod:`gis.audit_workbook`), terrain and zonal statistics (:mod:`gis.raster`, :mod:`gis.zonal`), briefing
maps, slides and PDF (:mod:`gis.webmap`), the shared PostGIS store (:mod:`gis.store`) and partitioned
datasets on dask (:mod:`gis.dask_engine`).

The notebook face: ``gis.read(source)`` (frame, findings, notices), ``gis.areas(gdf, by=…)``,
``gis.validate(gdf)``, ``gis.audit(gdf, rules=[…])``, ``gis.zonal(raster, zones)``.
"""

from __future__ import annotations

from .area import add_area_columns, area_m2, areas
from .bundled import bundled_layer_names, layers_dir, load_targets, read_bundled
from .crs import require_crs
from .errors import CRSError, InputError, LayerNotFoundError, OutputExistsError, ParkGISError
from .io import read, read_layer, write_layer
from .units import HA_M2, KM2_M2, MU_M2
from .validate import validate  # noqa: E402  (the function; the module stays importable as gis.validate)
from .audit import audit  # noqa: E402
from .zonal import zonal_table as zonal  # noqa: E402

__all__ = [
    "areas",
    "validate",
    "audit",
    "zonal",
    "read",
    "area_m2",
    "add_area_columns",
    "read_layer",
    "write_layer",
    "read_bundled",
    "bundled_layer_names",
    "layers_dir",
    "load_targets",
    "require_crs",
    "MU_M2",
    "HA_M2",
    "KM2_M2",
    "ParkGISError",
    "InputError",
    "CRSError",
    "LayerNotFoundError",
    "OutputExistsError",
]

__version__ = "0.1.0"
