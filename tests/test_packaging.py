"""Packaging promises: pyproject and environment.yml list the same packages; a built wheel carries the
bundled layers, map specs and vendored web assets, and finds them once installed."""

import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"pyyaml": "pyyaml"}  # PyPI name (lower case) -> conda-forge name, where they differ


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[;]", req.strip(), maxsplit=1)[0].lower()


def test_environment_yml_lists_the_same_packages_as_pyproject():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip = {_name(r) for r in meta["dependencies"]}
    for extra in meta["optional-dependencies"].values():
        pip |= {_name(r) for r in extra}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)} - {"python", "pip"}
    pip_as_conda = {CONDA_NAMES.get(n, n) for n in pip}
    assert pip_as_conda == conda, f"only in pyproject: {pip_as_conda - conda}; only in environment.yml: {conda - pip_as_conda}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(out), str(ROOT)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"building the wheel failed: {proc.stderr[-2000:]}")
    return next(out.glob("parkgis-*.whl"))


def test_wheel_carries_layers_specs_and_assets(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for layer in ("parks", "port_zones", "yaogu_zones", "urban_mining_zones"):
        assert f"gis/_bundled_layers/{layer}.geojson" in names
    assert "gis/_bundled_layers/targets.yaml" in names
    assert any(n.startswith("gis/_bundled_maps/") and n.endswith(".yaml") for n in names)
    assert any(n.startswith("gis/data/") for n in names)


def test_installed_wheel_finds_the_bundled_layers(wheel, tmp_path):
    # unpack the wheel as site-packages would hold it, and import from there, away from the checkout
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import gis, gis.bundled as b; from gis.targets import check_bundled; "
            "assert str(b.layers_dir()).startswith(%r), b.layers_dir(); "
            "print(len(b.bundled_layer_names()), bool(check_bundled()['within'].all()))" % str(site))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[1] == "True" and int(proc.stdout.split()[0]) >= 4
