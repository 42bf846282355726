"""Shared raster plumbing: opening with clear errors, band choice, validity masks, block windows,
the output profile, and the ground size of a cell on the ellipsoid in any CRS.

Internal to :mod:`gis.raster` and :mod:`gis.zonal`; the public face is there.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import rasterio
from pyproj import CRS, Geod, Transformer
from rasterio.enums import MaskFlags
from rasterio.windows import Window

from .errors import CRSError, InputError, LayerNotFoundError

__all__ = [
    "BLOCK",
    "GDAL_CACHE_MB",
    "raster_env",
    "open_raster",
    "raster_crs",
    "choose_band",
    "read_valid",
    "block_windows",
    "output_profile",
    "default_nodata",
    "require_some_data",
    "ground_steps",
    "cell_area_m2",
    "zones_in_raster_crs",
]

log = logging.getLogger(__name__)

BLOCK = 512
"""Tile size of every GeoTIFF written and the processing block size."""
GDAL_CACHE_MB = 128
"""GDAL block cache while processing; kept small so peak memory stays bounded on huge rasters."""


@contextlib.contextmanager
def raster_env():
    """A rasterio/GDAL environment with a bounded block cache."""
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 2**20, GDAL_TIFF_INTERNAL_MASK=True):  # rasterio wants bytes
        yield


_RASTER_MEMBERS = (".tif", ".tiff", ".hgt", ".img", ".asc", ".bil", ".dem", ".vrt", ".jp2", ".nc", ".dt0", ".dt1", ".dt2")


def _zip_member(path: Path, name: str) -> str:
    """The one raster inside a zip (``N45E006.hgt.zip``, ``dem.tif.zip``) as a /vsizip/ path."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.namelist() if m.lower().endswith(_RASTER_MEMBERS) and not m.endswith("/")]
    except zipfile.BadZipFile:
        raise InputError(f"{name} is not a readable zip file") from None
    if not members:
        raise InputError(f"{name} holds no raster (none of {', '.join(_RASTER_MEMBERS[:4])} …)")
    if len(members) > 1:
        raise InputError(f"{name} holds {len(members)} rasters ({', '.join(members[:5])}): unzip it and give one of them")
    return f"/vsizip/{path.resolve()}/{members[0]}"


def open_raster(path, *, what: str | None = None):
    """Open a raster for reading, with a one-line error for a missing file or a file GDAL cannot read.

    A zipped raster (``.hgt.zip``, ``.tif.zip``, any zip holding one raster) is read through GDAL's
    /vsizip/ without unpacking.
    """
    path = Path(path)
    name = what or path.name
    if not path.exists():
        raise LayerNotFoundError(f"no such file: {path}")
    if path.is_dir():
        raise InputError(f"{name} is a folder, not a raster: give a GeoTIFF (or any raster GDAL reads)")
    target = _zip_member(path, name) if path.suffix.lower() == ".zip" else path
    try:
        ds = rasterio.open(target)
    except rasterio.errors.RasterioIOError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise InputError(f"{name} is not a raster GDAL can read ({first.rstrip('.')}): give a GeoTIFF") from None
    if ds.count == 0 or ds.width == 0 or ds.height == 0:
        ds.close()
        raise InputError(f"{name} has no raster bands (is it a vector file?): give a GeoTIFF")
    return ds


def raster_crs(ds, *, what: str | None = None, crs=None) -> CRS:
    """The raster's CRS as a pyproj CRS, or a CRSError saying how to assign one.

    ``crs`` is used for a raster that has none (an SRTM .hgt has its own; a bare .asc or a
    world-file TIFF may not); a raster with its own CRS keeps it (logged when ``crs`` differs).
    """
    name = what or Path(ds.name).name
    own = ds.crs if ds.crs is not None and ds.crs.to_wkt() else None
    if crs is not None:
        given = CRS.from_user_input(crs)
        if own is None:
            log.info("%s has no CRS: read as %s", name, given.to_string())
            return given
        if not CRS.from_wkt(own.to_wkt()).equals(given):
            log.warning("%s has its own CRS (%s): %s is not assigned to it", name,
                        CRS.from_wkt(own.to_wkt()).to_string(), given.to_string())
    if own is None:
        from .crs import guess_crs_from_bounds

        hint = guess_crs_from_bounds(tuple(ds.bounds))
        one = hint is not None and hint.count("EPSG:") == 1 and not hint.startswith("longitude/latitude")
        code = hint.split("EPSG:", 1)[1].split()[0].rstrip("),") if one else None
        looks = (f"its coordinates look like {hint}" if hint else
                 "its coordinates fit no usual system (EPSG:4544 is CGCS2000 Gauss–Krüger 105°E, EPSG:4490 CGCS2000 "
                 "longitude/latitude)")
        raise CRSError(f"{name} has no CRS; {looks}", setting="crs", suggestion=f"EPSG:{code}" if code else None)
    return CRS.from_wkt(own.to_wkt())


def choose_band(ds, band: int | None, *, what: str | None = None) -> int:
    """The band to use: ``band`` if given and present; band 1 of a single-band raster; else an error."""
    name = what or Path(ds.name).name
    if band is None:
        if ds.count == 1:
            return 1
        raise InputError(f"{name} has {ds.count} bands and none is chosen (1 to {ds.count})", setting="band",
                         suggestion="N")
    if not 1 <= int(band) <= ds.count:
        raise InputError(f"{name} has {ds.count} band(s); band {band} does not exist (use 1 to {ds.count})")
    return int(band)


def read_valid(ds, band: int, window: Window, *, dtype=np.float64):
    """Read a window as floats with invalid cells (nodata, NaN, masked) set to NaN.

    Cells of the window outside the raster are NaN too (boundless read), so callers can ask for a
    window with a margin around a block.
    """
    full = Window(0, 0, ds.width, ds.height)
    inner = window.intersection(full) if _overlaps(window, full) else None
    out = np.full((int(window.height), int(window.width)), np.nan, dtype=dtype)
    if inner is None:
        return out
    r0 = int(inner.row_off - window.row_off)
    c0 = int(inner.col_off - window.col_off)
    h, w = int(inner.height), int(inner.width)
    data = ds.read(band, window=inner).astype(dtype, copy=False)
    valid = np.isfinite(data)
    nodata = ds.nodatavals[band - 1]
    if nodata is not None and not np.isnan(nodata):
        valid &= data != nodata
    flags = ds.mask_flag_enums[band - 1]
    if MaskFlags.per_dataset in flags or MaskFlags.alpha in flags:
        valid &= ds.read_masks(band, window=inner) > 0
    data[~valid] = np.nan
    out[r0:r0 + h, c0:c0 + w] = data
    return out


def _overlaps(a: Window, b: Window) -> bool:
    return (a.col_off < b.col_off + b.width and b.col_off < a.col_off + a.width
            and a.row_off < b.row_off + b.height and b.row_off < a.row_off + a.height)


def block_windows(width: int, height: int, *, block: int = BLOCK, col_off: int = 0, row_off: int = 0) -> Iterator[Window]:
    """Windows of ``block``×``block`` cells covering a ``width``×``height`` area, row by row."""
    for r in range(0, height, block):
        for c in range(0, width, block):
            yield Window(col_off + c, row_off + r, min(block, width - c), min(block, height - r))


def default_nodata(dtype) -> float | int:
    """A nodata value for a dtype: -9999 for floats, 0 for unsigned, the minimum for signed integers."""
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return -9999.0
    if dt.kind == "u":
        return 0
    return int(np.iinfo(dt).min)


def output_profile(*, crs, transform, width: int, height: int, count: int = 1, dtype="float32", nodata=None) -> dict:
    """Profile of a compressed, tiled GeoTIFF (512 blocks, deflate, BIGTIFF=IF_SAFER)."""
    dt = np.dtype(dtype)
    profile = {
        "driver": "GTiff", "crs": crs, "transform": transform, "width": int(width), "height": int(height),
        "count": int(count), "dtype": dt.name, "nodata": nodata, "compress": "deflate", "BIGTIFF": "IF_SAFER",
        "predictor": 3 if dt.kind == "f" else 2,
    }
    if width >= BLOCK and height >= BLOCK:
        profile.update(tiled=True, blockxsize=BLOCK, blockysize=BLOCK)
    else:  # a small raster: tiles larger than the image are not allowed, strips are as good
        profile.update(tiled=False)
    if dt.itemsize == 1:
        profile["predictor"] = 1
    return profile


def require_some_data(ds, band: int, *, what: str | None = None) -> None:
    """Raise InputError when every cell of the band is nodata; stops at the first block with data."""
    name = what or Path(ds.name).name
    for window in block_windows(ds.width, ds.height, block=2048):
        if np.isfinite(read_valid(ds, band, window, dtype=np.float32)).any():
            return
    raise InputError(f"{name} band {band} has only nodata cells: nothing to compute (check the nodata value with `rio info`)")


# ----------------------------------------------------------------------------- ground metric
def _geod(crs: CRS) -> Geod:
    ell = crs.ellipsoid
    if ell is None:
        return Geod(ellps="GRS80")
    return Geod(a=ell.semi_major_metre, b=ell.semi_minor_metre)


class _Metric:
    """Transformer to the CRS's own longitude/latitude and the geodesic on its ellipsoid, built once."""

    def __init__(self, crs: CRS):
        self.crs = crs
        geodetic = crs.geodetic_crs or crs
        self.to_lonlat = Transformer.from_crs(crs, geodetic, always_xy=True)
        self.geod = _geod(crs)


_METRICS: dict[str, _Metric] = {}


def _metric(crs: CRS) -> _Metric:
    key = crs.to_wkt()
    if key not in _METRICS:
        _METRICS[key] = _Metric(crs)
    return _METRICS[key]


def ground_steps(crs: CRS, transform, rows, cols):
    """Ground length (m) and azimuth (°) of one column step and one row step at cell centres.

    ``rows`` and ``cols`` are arrays of cell indices (broadcast together). The step vectors of the
    affine ``transform`` are taken half a cell either side of each centre, converted to the CRS's own
    longitude/latitude and measured as geodesics on its ellipsoid. So a geographic raster's cells get
    their true east–west and north–south size row by row, and a projected raster's cells lose the
    projection's scale factor (Gauss–Krüger, UTM, Web Mercator alike). Returns ``(dx_m, az_col,
    dy_m, az_row)``.
    """
    m = _metric(crs)
    rows, cols = np.broadcast_arrays(np.asarray(rows, dtype=float), np.asarray(cols, dtype=float))
    t = transform
    x = t.a * (cols + 0.5) + t.b * (rows + 0.5) + t.c
    y = t.d * (cols + 0.5) + t.e * (rows + 0.5) + t.f
    out = []
    for sx, sy in ((t.a, t.d), (t.b, t.e)):
        lon1, lat1 = m.to_lonlat.transform(x - sx / 2, y - sy / 2)
        lon2, lat2 = m.to_lonlat.transform(x + sx / 2, y + sy / 2)
        az, _, dist = m.geod.inv(lon1, lat1, lon2, lat2)
        out.extend([np.asarray(dist, dtype=float), np.asarray(az, dtype=float)])
    dx, azc, dy, azr = out
    if not (np.all(np.isfinite(dx)) and np.all(np.isfinite(dy))):
        raise CRSError(f"cells of the raster cannot be placed on the ellipsoid in {crs.name}: check the raster's CRS")
    return dx, azc, dy, azr


def cell_area_m2(crs: CRS, transform, rows, col) -> np.ndarray:
    """Ground area (m²) of the cells in ``rows`` at column ``col``: the product of the two steps times
    the sine of the angle between them (1 for the usual north-up grids)."""
    dx, azc, dy, azr = ground_steps(crs, transform, rows, col)
    return dx * dy * np.abs(np.sin(np.radians(azr - azc)))


def zones_in_raster_crs(zones, crs: CRS, *, raster_name: str = "the raster", zones_name: str = "the zones"):
    """The zones' geometry as a GeoSeries in the raster's CRS (reprojected, with a log message, when needed)."""
    from .crs import require_crs

    zcrs = require_crs(zones, what=zones_name)
    geoms = zones.geometry if hasattr(zones, "geometry") else zones
    if zcrs.equals(crs):
        return geoms
    log.warning("%s in %s reprojected to the raster's CRS, %s of %s",
                zones_name, zcrs.to_string(), crs.to_string(), raster_name)
    return geoms.to_crs(crs)


GEOTIFF_SUFFIXES = (".tif", ".tiff")


def require_geotiff_name(path) -> None:
    """Raster results are GeoTIFFs: refuse an output name whose extension says otherwise (``slope.png``)."""
    from pathlib import Path

    suffix = Path(path).suffix.lower()
    if suffix not in GEOTIFF_SUFFIXES:
        raise InputError(f"{Path(path).name}: raster results are written as GeoTIFF, and {suffix or 'no extension'} "
                         f"would say another format: name the output .tif")
