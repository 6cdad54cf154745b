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


# -- the contributors page's Layout list --------------------------------------------------------
PACKAGE = Path(numsmooth.__file__).resolve().parent


def layout_entries(text):
    """Paths (relative to numsmooth/) the Layout block of docs/contributing.rst names.

    In its literal block a line starts with one or more names separated by ", " and then two
    spaces or more before the description; a name ending in "/" opens a folder for the lines
    indented below it. Other lines (wrapped descriptions) are skipped.
    """
    block = text.split("\nLayout\n------\n", 1)[1].split("::\n", 1)[1]
    lines = []
    for line in block.splitlines():
        if line.strip() and not line.startswith(" "):
            break  # the next paragraph or heading
        lines.append(line)
    entries, folders = set(), []  # folders: (indent, path) of the open folders
    for line in lines:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        names = [n.strip() for n in re.split(r"\s{2,}", line.strip())[0].split(", ")]
        if not all(n.endswith((".py", "/")) and " " not in n for n in names):
            continue
        while folders and folders[-1][0] >= indent:
            folders.pop()
        prefix = folders[-1][1] if folders else ""
        for n in names:
            entries.add(prefix + n)
        if len(names) == 1 and names[0].endswith("/"):
            folders.append((indent, prefix + names[0]))
    return {e.removeprefix("numsmooth/") for e in entries if e != "numsmooth/"}


def test_layout_entries_parser():
    text = ("\nLayout\n------\n\nFiles::\n\n   numsmooth/\n     a.py        one\n                 wrapped a.py, text\n"
            "     b.py, c.py  two\n     sub/        folder\n       d.py      in it\n     e.py        back\n\n"
            "Next\n----\n     f.py  not in the block\n")
    assert layout_entries(text) == {"a.py", "b.py", "c.py", "sub/", "sub/d.py", "e.py"}


def test_contributing_layout_lists_every_module():
    listed = layout_entries((DOCS / "contributing.rst").read_text())
    modules = {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")}
    missing = sorted(modules - listed)
    assert not missing, ("docs/contributing.rst, section Layout, does not list these files under numsmooth/ "
                         f"(add one line each, with its job): {', '.join(missing)}")


def test_contributing_layout_lists_no_stale_file():
    listed = layout_entries((DOCS / "contributing.rst").read_text())
    stale = sorted(p for p in listed if not (PACKAGE / p).exists())
    assert not stale, f"docs/contributing.rst, section Layout, lists files that numsmooth/ does not have: {stale}"
