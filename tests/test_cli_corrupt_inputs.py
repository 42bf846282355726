"""Every subcommand on corrupt input: one line on stderr, exit 2, no traceback, nothing written."""

from __future__ import annotations

import subprocess
import sys

import pytest

CORRUPT = {
    "garbage.geojson": b"{\"type\": \"FeatureCollection\", \"features\": [ {\"type\": ",
    "garbage.gpkg": b"SQLite format 3\x00" + bytes(range(256)) * 8,
    "garbage.shp": b"\x00\x00\x27\x0a" + b"\x01" * 200,
    "garbage.xlsx": b"PK\x03\x04 this is no workbook",
    "garbage.csv": b"\xff\xfe\xfa\xfb,\x81\x30\n\x00\x00",
    "garbage.tif": b"II*\x00" + b"\x07" * 100,
    "garbage.parquet": b"PAR1 not really PAR1",
    "garbage.yaml": b"rules: [ {metric: : :",
}


@pytest.fixture
def corrupt(tmp_path):
    for name, data in CORRUPT.items():
        (tmp_path / name).write_bytes(data)
    return tmp_path


def _commands(d):
    out = d / "out"
    return [
        ["areas", d / "garbage.geojson"],
        ["areas", d / "garbage.gpkg", "--by", "x"],
        ["areas", d / "garbage.shp"],
        ["areas", d / "garbage.xlsx"],
        ["areas", d / "garbage.csv"],
        ["areas", d / "garbage.parquet"],
        ["areas", d / "no-such-file.geojson"],
        ["areas", "postgresql://nobody@/nodb?host=/nonexistent&table=parcels"],
        ["check", d / "garbage.geojson", "--target", "yaogu.phase1"],
        ["validate", d / "garbage.gpkg"],
        ["validate", "parks", "--within", d / "garbage.geojson"],
        ["convert", d / "garbage.geojson", out.with_suffix(".geojson"), "--from", "gcj02"],
        ["audit", d / "garbage.csv"],
        ["audit", "samples/yaogu_phase1_parcels", "--rules", d / "garbage.yaml"],
        ["audit", "samples/yaogu_phase1_parcels", "--zones", d / "garbage.gpkg"],
        ["map", d / "garbage.geojson", "--out", out.with_suffix(".html")],
        ["raster", "slope", d / "garbage.tif", "--out", out.with_suffix(".tif")],
        ["raster", "aspect", d / "garbage.tif", "--out", out.with_suffix(".tif")],
        ["raster", "hillshade", d / "garbage.tif", "--out", out.with_suffix(".tif")],
        ["raster", "zonal", d / "garbage.tif", "parks"],
        ["raster", "zonal", d / "garbage.tif", d / "garbage.gpkg"],
        ["raster", "rasterize", d / "garbage.gpkg", "--field", "id", "--cell", "10", "--out", out.with_suffix(".tif")],
        ["raster", "clip", d / "garbage.tif", "--to", "parks", "--out", out.with_suffix(".tif")],
        ["raster", "reproject", d / "garbage.tif", "--dst-crs", "EPSG:4544", "--out", out.with_suffix(".tif")],
        ["db", "check", "postgresql://nobody@/nodb?host=/nonexistent&table=parcels"],
    ]


def test_every_subcommand_on_corrupt_input_exits_2_with_one_line(corrupt, run_cli):
    failures = []
    for args in _commands(corrupt):
        code, out, err = run_cli(*args)
        lines = [line for line in err.strip().splitlines() if not line.startswith("note:")]
        if code != 2 or "Traceback" in err + out or len(lines) != 1 or "internal error" in err:
            failures.append((args, code, err.strip()[:300]))
    assert not failures, failures
    assert not [p for p in corrupt.iterdir() if p.name.startswith("out")]  # nothing half-written


def test_debug_keeps_exit_2_and_adds_the_traceback(corrupt):
    proc = subprocess.run([sys.executable, "-m", "gis", "--debug", "areas", str(corrupt / "garbage.geojson")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" in proc.stderr and proc.stderr.strip().splitlines()[-1].startswith("parkgis: error")


def test_an_internal_error_is_one_line_exit_2(monkeypatch, run_cli, tmp_path):
    import gis.cli.areas as areas

    def boom(*a, **k):
        raise KeyError("not a user problem")

    monkeypatch.setattr(areas, "validate", boom)
    code, _, err = run_cli("areas", "parks")
    assert code == 2 and "internal error" in err and "--debug" in err and len(err.strip().splitlines()) == 1
