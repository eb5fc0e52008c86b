"""Packaging: ranges in pyproject.toml, exact pins in constraints.txt, the test env made from them, ruff.

Reads files and installed metadata only (no torch import): runs in well under a second.
"""

import ast
import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _requirements(lines) -> list:
    """``Requirement`` of every non-comment line (extras' entries included)."""
    return [Requirement(line) for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _constraints(name: str = "constraints.txt") -> list:
    """Every pin of ``name`` that applies to this platform, as ``Requirement``."""
    lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
    return [req for req in _requirements(lines) if req.marker is None or req.marker.evaluate()]


def _pinned_version(req: Requirement) -> str:
    (spec,) = req.specifier
    assert spec.operator == "==", f"constraints.txt: {req} is not an exact pin"
    return spec.version


def _declared() -> list:
    project = _pyproject()["project"]
    extras = [line for lines in project.get("optional-dependencies", {}).values() for line in lines]
    return _requirements(project["dependencies"] + extras)


@pytest.mark.parametrize("req", _declared(), ids=str)
def test_dependencies_are_ranges(req):
    """A lower and an upper bound, never one exact release (which would break a user's env)."""
    operators = {spec.operator for spec in req.specifier}
    assert "==" not in operators and "===" not in operators, f"{req} pins one release"
    assert operators & {">=", ">", "~="}, f"{req} has no lower bound"
    assert operators & {"<", "<=", "~="}, f"{req} has no upper bound"


def test_constraints_pin_every_dependency_inside_its_range():
    """Each declared dependency is pinned, and the pin lies inside the declared range."""
    pins = {canonicalize_name(req.name): _pinned_version(req) for req in _constraints()}
    for req in _declared():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is declared in pyproject.toml but not pinned in constraints.txt"
        assert req.specifier.contains(pins[name], prereleases=True), f"pin {name}=={pins[name]} outside {req}"


def test_lower_bounds_are_the_lowest_tested_versions():
    """Every ``>=`` bound of the dependencies is pinned in constraints-lowest.txt, the set that
    `make test-lowest` installs and tests, and that file pins nothing else."""
    lowest = {
        canonicalize_name(req.name): Version(_pinned_version(req)) for req in _constraints("constraints-lowest.txt")
    }
    project = _pyproject()["project"]
    bounds = {}
    for req in _requirements(project["dependencies"]):
        (floor,) = [Version(spec.version) for spec in req.specifier if spec.operator == ">="]
        bounds[canonicalize_name(req.name)] = floor
    assert bounds == lowest


def test_constraints_are_installed():
    """The test environment is the one constraints.txt describes (run `make` after changing it)."""
    wrong = []
    for req in _constraints():
        try:
            installed = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed is None or canonicalize_name(installed) != canonicalize_name(_pinned_version(req)):
            wrong.append(f"{req.name}: pinned {_pinned_version(req)}, installed {installed}")
    assert not wrong, "; ".join(wrong)


def test_constraints_have_the_named_pins():
    pins = {canonicalize_name(req.name): _pinned_version(req) for req in _constraints()}
    for name in ("torch", "torchaudio", "asteroid", "pytorch-lightning", "ruff", "hypothesis"):
        assert name in pins, f"{name} is not pinned"


def test_version_has_one_source():
    """``asteroid_mvae.__version__`` is the version pyproject.toml builds and the env has installed."""
    project = _pyproject()
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "asteroid_mvae.__version__"}
    tree = ast.parse((ROOT / "asteroid_mvae" / "__init__.py").read_text(encoding="utf-8"))
    (version,) = [
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and [t.id for t in node.targets if isinstance(t, ast.Name)] == ["__version__"]
    ]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert metadata.version("asteroid-mvae") == version


def test_only_asteroid_mvae_is_packaged():
    """Nothing but ``asteroid_mvae`` lands at the top level of site-packages; one console script."""
    project = _pyproject()
    assert project["tool"]["setuptools"]["packages"]["find"]["include"] == ["asteroid_mvae", "asteroid_mvae.*"]
    assert project["project"]["scripts"] == {"asteroid-mvae": "asteroid_mvae.cli:main"}
    assert not (ROOT / "setup.py").exists()


def test_ruff_is_configured_and_run_by_make_test():
    ruff = _pyproject()["tool"]["ruff"]
    assert ruff["line-length"] == 120
    assert {"E", "F", "W", "I"} <= set(ruff["lint"]["select"]) and "E501" not in ruff["lint"].get("ignore", [])
    assert "format" in ruff
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^lint:.*\n\t\$\(BIN\)/ruff check \.$", makefile, re.M), "no `ruff check .` target"
    assert re.search(r"^lint:.*\n(\t.*\n)*\t\$\(BIN\)/ruff format --check \.$", makefile, re.M), "no format check"
    assert re.search(r"^test: .*\blint\b", makefile, re.M), "`make test` does not run the linter"
    assert re.search(r"^format:.*\n(\t.*\n)*\t\$\(BIN\)/ruff format \.", makefile, re.M)
    assert re.search(r"^\$\(STAMP\): pyproject\.toml constraints\.txt$", makefile, re.M)
    assert '-e ".[test]" -c constraints.txt' in makefile
