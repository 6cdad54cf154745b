"""The API reference lists every public name, and nothing that is not one.

The Sphinx build makes the same check on the built documentation (docs/_ext/numsmooth_api_check.py,
a warning that ``-W`` turns into an error); this test runs without Sphinx installed.
"""

import importlib.util
import inspect
import re
from pathlib import Path

import pytest

import numsmooth

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _api_check_module():
    spec = importlib.util.spec_from_file_location("numsmooth_api_check", DOCS / "_ext" / "numsmooth_api_check.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def public_names():
    return _api_check_module().public_names(numsmooth)


def autosummary_entries(text):
    """Names listed in the autosummary directives of an rst text."""
    names, inside = [], False
    for line in text.splitlines():
        if re.match(r"^\.\. autosummary::", line):
            inside = True
            continue
        if inside:
            if not line.strip() or line.lstrip().startswith(":"):
                continue
            if line.startswith("   "):
                names.append(line.strip().lstrip("~"))
            else:
                inside = False
    return names


pytestmark = pytest.mark.skipif(not (DOCS / "api.rst").exists(), reason="no docs/ in this checkout")


def test_public_names_are_what_the_package_exports():
    names = set(public_names())
    # every public non-module attribute of the package is one of them (nothing exported by accident)
    attrs = {n for n in dir(numsmooth) if not n.startswith("_") and not inspect.ismodule(getattr(numsmooth, n))}
    assert attrs <= names, sorted(attrs - names)
    assert "problems" in names and "GradientSampling" in names and "minimize" in names
    for n in names:
        assert hasattr(numsmooth, n), n


def test_every_public_name_is_in_the_api_reference():
    listed = set(autosummary_entries((DOCS / "api.rst").read_text(encoding="utf-8")))
    missing = sorted(set(public_names()) - listed)
    assert not missing, f"public names missing from docs/api.rst: {missing}"


def test_api_reference_lists_no_stale_names():
    listed = autosummary_entries((DOCS / "api.rst").read_text(encoding="utf-8"))
    def has(name):
        obj = numsmooth
        for part in name.split("."):
            if not hasattr(obj, part):
                return False
            obj = getattr(obj, part)
        return True

    stale = sorted(n for n in listed if not has(n))
    assert not stale, f"docs/api.rst lists names numsmooth does not have: {stale}"
    assert len(listed) == len(set(listed)), "a name is listed twice in docs/api.rst"


def test_problems_page_lists_the_problems_api():
    text = (DOCS / "api" / "problems.rst").read_text(encoding="utf-8")
    listed = set(autosummary_entries(text))
    assert set(numsmooth.problems.__all__) <= listed, sorted(set(numsmooth.problems.__all__) - listed)


def test_every_figure_script_is_used():
    used = set()
    for rst in DOCS.rglob("*.rst"):
        if "_build" in rst.parts:
            continue
        used.update(re.findall(r"^\.\. plot:: (\S+)", rst.read_text(encoding="utf-8"), flags=re.M))
    scripts = {p.name for p in (DOCS / "plots").glob("*.py")}
    assert scripts <= used, sorted(scripts - used)
