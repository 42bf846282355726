"""Planners' ledgers (台账): CSV and Excel tables as they are really kept.

A ledger may carry a title row above its header (``2026年第三季度供地台账``), merged cells in its group
columns (园区, 片区), two columns with the same header, ids that are text (``001``, ``01`` and ``1`` are
three parcels), and GBK text. Each of these is handled here and said as a finding; nothing is dropped.
Geometry, when a ledger has it, is a WKT column or longitude/latitude columns.
"""

from __future__ import annotations

import csv
import io as _io
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from ..errors import EncodingError, InputError, LayerNotFoundError
from ..findings import concat_findings, empty_findings, row_findings, table_finding

__all__ = ["read_ledger", "geometry_from_columns", "WKT_COLUMNS", "LON_COLUMNS", "LAT_COLUMNS"]

log = logging.getLogger(__name__)

WKT_COLUMNS = ("wkt", "geometry", "geom", "the_geom", "shape", "几何", "空间信息")
LON_COLUMNS = ("lon", "lng", "long", "longitude", "经度", "x")
LAT_COLUMNS = ("lat", "latitude", "纬度", "y")
_ID_PATTERN = re.compile(r"(^id$|_id$|^fid$|编号|编码|代码|宗地号|^code$|_code$|adcode)", re.IGNORECASE)
_SCAN_ROWS = 30


def _text_columns() -> set[str]:
    """Headers that hold identifiers or codes: the schema's text fields and their aliases (gis/data/headers.yaml)."""
    try:
        from ..parcels import load_headers

        spec = load_headers()
    except Exception:  # noqa: BLE001 - a broken headers file must not stop reading a ledger
        return set()
    names = set()
    for field, fs in spec.get("fields", {}).items():
        if fs.get("kind", "text") == "text":
            names.add(str(field).lower())
            names.update(str(a).lower() for a in fs.get("aliases", []))
    return names


def _is_id_column(name, text_cols) -> bool:
    base = re.split(r"[（(\[/]", str(name).strip(), maxsplit=1)[0].strip().lower()
    return base in text_cols or bool(_ID_PATTERN.search(base))


# --------------------------------------------------------------------------------------- reading
def read_ledger(path: Path, *, sheet: str | None = None, encoding: str | None = None):
    """``(frame, findings, notices)`` of a CSV/TSV/TXT or XLSX ledger, every value as read."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm", ".xls"):
        grid, merged, notices = _excel_grid(path, sheet)
    else:
        grid, notices = _csv_grid(path, encoding), []
        merged = []
    return _frame_from_grid(grid, merged, path.name, notices)


def _csv_grid(path: Path, encoding: str | None) -> list[list]:
    raw = path.read_bytes()
    encodings = [encoding] if encoding else ["utf-8-sig", "gb18030"]
    for enc in encodings:
        try:
            text = raw.decode(enc)
            break
        except (UnicodeDecodeError, LookupError):
            continue
    else:
        raise EncodingError(f"{path.name}: its text is neither UTF-8 nor GB18030", setting="encoding", suggestion="gb18030")
    sample = text[:20000]
    delimiter = "\t" if path.suffix.lower() == ".tsv" or sample.count("\t") > sample.count(",") else ","
    rows = list(csv.reader(_io.StringIO(text), delimiter=delimiter))
    return [[c if c.strip() != "" else None for c in r] for r in rows]


def _excel_grid(path: Path, sheet):
    if path.suffix.lower() == ".xls":
        try:
            frames = pd.read_excel(path, sheet_name=None, header=None, dtype=object)
        except Exception as exc:  # noqa: BLE001 - xlrd/openpyxl errors become one line
            raise InputError(f"{path.name} cannot be read as a workbook ({str(exc).splitlines()[0]})") from None
        name = _choose_sheet(path, {k: not v.dropna(how="all").empty for k, v in frames.items()}, sheet)
        grid = frames[name].astype(object).where(frames[name].notna(), None).values.tolist()
        return grid, [], _sheet_notices(path, frames, name)
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, data_only=True)
    except Exception as exc:  # noqa: BLE001 - zip, XML and openpyxl errors
        raise InputError(f"{path.name} is not a readable .xlsx workbook ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    filled = {ws.title: ws.max_row > 1 or ws.max_column > 1 or ws.cell(1, 1).value is not None for ws in wb.worksheets}
    name = _choose_sheet(path, filled, sheet)
    ws = wb[name]
    grid = [list(r) for r in ws.iter_rows(values_only=True)]
    merged = [(r.min_row - 1, r.max_row - 1, r.min_col - 1, r.max_col - 1) for r in ws.merged_cells.ranges]
    return grid, merged, _sheet_notices(path, filled, name)


def _choose_sheet(path: Path, filled: dict, sheet):
    names = list(filled)
    if sheet is not None:
        if sheet not in filled:
            raise LayerNotFoundError(f"{path.name} has no sheet {sheet!r}; its sheets are: {', '.join(names)}",
                                     setting="layer", choices=names)
        return sheet
    with_data = [n for n, f in filled.items() if f]
    if len(with_data) > 1:
        raise InputError(f"{path.name} holds {len(with_data)} sheets with data and none is chosen",
                         setting="layer", choices=with_data)
    return with_data[0] if with_data else names[0]


def _sheet_notices(path, filled, name) -> list[str]:
    others = [n for n in filled if n != name]
    return [f"{path.name}: read sheet {name!r}; the other sheets ({', '.join(others)}) are empty"] if others else []


def _header_row(grid: list[list]) -> int:
    """Index of the header row: the first of the first rows with two or more cells, none of them a number.

    Rows above it (a title such as ``2026年第三季度供地台账`` in one cell) are titles. Data rows hold
    numbers (ids, areas, money); a header does not.
    """
    scan = grid[:_SCAN_ROWS]
    for i, r in enumerate(scan):
        cells = [v for v in r if v is not None]
        if len(cells) >= 2 and not any(_is_number(v) for v in cells):
            return i
    return next((i for i, r in enumerate(scan) if any(v is not None for v in r)), 0)


def _is_number(v) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float, np.number)):
        return True
    if isinstance(v, str):
        try:
            float(v.strip().replace(",", ""))
            return True
        except ValueError:
            return False
    return False


def _frame_from_grid(grid, merged, name: str, notices: list[str]):
    findings = []
    while grid and all(v is None for v in grid[-1]):
        grid.pop()
    if not grid:
        raise InputError(f"{name} is empty: no header row")
    h = _header_row(grid)
    if h > 0:
        title = " ".join(str(v) for r in grid[:h] for v in r if v is not None)
        findings.append(table_finding(kind="header", check="title_row_skipped", severity="info",
                                      reason_zh=f"表头上方的标题行已跳过：{title}",
                                      reason_en=f"{h} title row(s) above the header skipped: {title}", raw=title))
    width = max(len(r) for r in grid[h:])
    header = list(grid[h]) + [None] * (width - len(grid[h]))
    body = [list(r) + [None] * (width - len(r)) for r in grid[h + 1:]]
    # merged cells below the header: each cell of the range takes the range's top-left value
    fill_rows: dict[int, np.ndarray] = {}
    for r0, r1, c0, c1 in merged:
        if r1 <= h or r0 == r1 and c0 == c1:
            continue
        r0b = max(r0, h + 1)
        value = grid[r0][c0] if r0 >= h + 1 else None
        for r in range(r0b, r1 + 1):
            for c in range(c0, c1 + 1):
                if body[r - h - 1][c] is None and value is not None:
                    body[r - h - 1][c] = value
                    fill_rows.setdefault(c, np.zeros(len(body), dtype=bool))[r - h - 1] = True
    names = _header_names(header, findings)
    # keep even blank lines inside the table? a line with no value at all is no record: say how many
    blank = [i for i, r in enumerate(body) if all(v is None for v in r)]
    if blank:
        notices.append(f"{name}: {len(blank)} empty line(s) inside the table skipped (no value in any column)")
        body = [r for r in body if any(v is not None for v in r)]
        keep = np.array([i not in set(blank) for i in range(len(body) + len(blank))])
        fill_rows = {c: m[keep] for c, m in fill_rows.items()}
    frame = pd.DataFrame(body, columns=names, dtype=object)
    frame = _typed(frame)
    stub = pd.DataFrame(index=range(len(frame)))
    for c, mask in fill_rows.items():
        col = names[c]
        findings.append(row_findings(stub, mask, kind="value", check="merged_cell_filled", severity="info",
                                     column=str(col),
                                     reason_zh=f"“{col}”为合并单元格，已向下填充", reason_en=f"{col!r} was a merged cell: filled down"))
    return frame, (concat_findings(findings, sort=False) if findings else empty_findings()), notices


def _header_names(header, findings) -> list[str]:
    names, seen = [], {}
    for j, v in enumerate(header):
        text = str(v).strip() if v is not None else ""
        if not text:
            text = f"column_{j + 1}"
        if text in seen:
            seen[text] += 1
            new = f"{text}.{seen[text]}"
            findings.append(table_finding(kind="header", check="duplicate_header", severity="warning", column=text,
                                          reason_zh=f"两列表头均为“{text}”：第二列改名为“{new}”",
                                          reason_en=f"two columns are headed {text!r}: the later one is renamed {new!r}"))
            text = new
        else:
            seen[text] = 0
        names.append(text)
    return names


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers where a whole column is numbers; ids, codes and zero-padded values stay text."""
    text_cols = _text_columns()
    out = {}
    for col in frame.columns:
        s = frame[col]
        values = s.dropna()
        if _is_id_column(col, text_cols):
            out[col] = s.map(_id_text).astype(object)
            continue
        if not len(values):
            out[col] = pd.to_numeric(s, errors="coerce") if s.isna().all() else s
            continue
        as_text = values.map(lambda v: v.strip() if isinstance(v, str) else v)
        if as_text.map(lambda v: isinstance(v, str) and bool(re.fullmatch(r"[+-]?0\d+", v))).any():
            out[col] = s  # zero-padded codes: text
            continue
        nums = pd.to_numeric(as_text.map(_number_text), errors="coerce")
        if nums.notna().all():
            out[col] = pd.to_numeric(s.map(_number_text), errors="coerce")
        else:
            out[col] = s
    return pd.DataFrame(out, index=frame.index)


def _number_text(v):
    if isinstance(v, str):
        t = v.strip().replace(",", "")
        return t if t else None
    if isinstance(v, bool):
        return None
    return v


def _id_text(v):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


# --------------------------------------------------------------------------------------- geometry
_CURVE_WKT = re.compile(r"\s*(CIRCULARSTRING|COMPOUNDCURVE|CURVEPOLYGON|MULTICURVE|MULTISURFACE|POLYHEDRALSURFACE|TIN|"
                        r"TRIANGLE)\b", re.IGNORECASE)


def _from_wkt(values):
    try:
        return shapely.from_wkt(values, on_invalid="ignore")
    except NotImplementedError:  # curves among the rows: each row on its own, curves left missing for now
        out = np.full(len(values), None, dtype=object)
        for i, v in enumerate(values):
            if v is not None and not _CURVE_WKT.match(v):
                out[i] = shapely.from_wkt(v, on_invalid="ignore")
        return out


def _curved_wkt(wkts):
    """Curved WKT parsed by GDAL's CSV reader into WKB, then by :mod:`gis.io._wkb` (arcs stroked)."""
    import tempfile
    import warnings

    import pyogrio

    from ._vector import parse_wkb_column

    with tempfile.TemporaryDirectory(prefix="parkgis-wkt-") as tmp:
        path = Path(tmp) / "curves.csv"
        with open(path, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, quoting=csv.QUOTE_ALL)
            writer.writerow(["wkt"])
            writer.writerows([[w] for w in wkts])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            meta, table = pyogrio.raw.read_arrow(str(path), open_options={"GEOM_POSSIBLE_NAMES": "wkt"})
        return parse_wkb_column(table.column(meta.get("geometry_name") or "wkb_geometry"))
def _find_column(columns, candidates):
    lookup = {str(c).strip().lower(): c for c in columns}
    for cand in candidates:
        if cand in lookup:
            return lookup[cand]
    return None


def geometry_from_columns(df: pd.DataFrame, name: str):
    """``(frame, geometry, crs, findings, notices)``: geometry from a WKT column or lon/lat columns."""
    stub = pd.DataFrame(index=range(len(df)))
    wkt_col = _find_column(df.columns, WKT_COLUMNS)
    if wkt_col is not None:
        text = df[wkt_col].astype("string").fillna("").str.strip()
        values = text.to_numpy(dtype=object)
        geoms = _from_wkt(np.where(values == "", None, values))
        findings = []
        curved = _CURVE_WKT.match  # GEOS reads no curves: such rows go through GDAL and gis.io._wkb
        rows = np.flatnonzero(shapely.is_missing(geoms) & (values != ""))
        rows = np.array([i for i in rows if curved(values[i])], dtype=np.int64)
        if len(rows):
            parsed, notes = _curved_wkt(values[rows])
            geoms[rows] = parsed
            from ._sanitize import wkb_note_findings

            findings.append(wkb_note_findings(len(df), {int(rows[k]): v for k, v in notes.items()}))
        unread = shapely.is_missing(geoms) & (values != "")
        if unread.any():
            findings.append(row_findings(stub, unread, kind="geometry", check="geometry_unreadable", severity="error",
                                         column=str(wkt_col), raw=np.array([v[:200] for v in values], dtype=object),
                                         reason_zh="WKT 无法读取，面积缺失", reason_en="the WKT cannot be read: area missing"))
        return df.drop(columns=[wkt_col]), geoms, None, (concat_findings(findings) if findings else empty_findings()), []
    lon_col, lat_col = _find_column(df.columns, LON_COLUMNS), _find_column(df.columns, LAT_COLUMNS)
    if lon_col is not None and lat_col is not None:
        lon = pd.to_numeric(df[lon_col], errors="coerce").to_numpy(dtype=float)
        lat = pd.to_numeric(df[lat_col], errors="coerce").to_numpy(dtype=float)
        missing = np.isnan(lon) | np.isnan(lat)
        geoms = np.where(missing, None, shapely.points(lon, lat))
        findings = []
        if missing.any():
            findings.append(row_findings(stub, missing, kind="geometry", check="coordinates_missing", severity="error",
                                         reason_zh="经纬度缺失或不是数字", reason_en=f"{lon_col}/{lat_col} missing or not a number"))
        crs = None
        notices = []
        if str(lon_col).lower() != "x" and np.nanmax(np.abs(lon), initial=0) <= 180:
            from pyproj import CRS

            crs = CRS.from_epsg(4326)
            notices.append(f"{name}: points from {lon_col}/{lat_col} taken as WGS84 longitude/latitude (EPSG:4326)")
        return df, geoms, crs, (concat_findings(findings) if findings else empty_findings()), notices
    raise InputError(f"{name} has no geometry: add a WKT column (named wkt or geometry) or longitude/latitude "
                     f"columns (lon, lat)")
