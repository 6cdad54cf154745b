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


# -- what fits a 1280 px window (docs/_static/numsmooth.css) -------------------------------------
#: Columns of a code line that show unclipped at 1280 px on a page with the navigation sidebar
#: (the user guide, the API pages), and on one without it (html_sidebars = [] in docs/conf.py).
CODE_COLUMNS = 88
CODE_COLUMNS_WIDE = 110

_CODE_DIRECTIVE = re.compile(r"^(\s*)\.\. (code-block|code|sourcecode|doctest|testcode|testoutput)::")
_INCLUDE = re.compile(r"^\s*\.\. literalinclude:: (\S+)")


def _indent(line):
    return len(line) - len(line.lstrip())


def code_lines(text, here=None):
    """``(line number, columns shown, line)`` of every line an rst text shows in a code box:
    literal blocks (after ``::`` or a code/doctest directive), doctest blocks (``>>>``
    paragraphs) and literalinclude'd files (relative to the directory ``here``)."""
    lines = text.splitlines()
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        m = _INCLUDE.match(line)
        if m and here is not None:
            for k, inc in enumerate((here / m.group(1)).read_text(encoding="utf-8").splitlines()):
                out.append((f"{m.group(1)}:{k + 1}", len(inc.rstrip()), inc))
            i += 1
            continue
        if stripped.startswith(">>>"):  # a doctest block: to the next blank line
            base = _indent(line)
            while i < len(lines) and lines[i].strip():
                out.append((i + 1, len(lines[i].rstrip()) - base, lines[i]))
                i += 1
            continue
        if _CODE_DIRECTIVE.match(line) or (stripped.endswith("::") and not stripped.startswith("..")):
            base = _indent(line)
            i += 1
            while i < len(lines) and lines[i].strip().startswith(":") and _indent(lines[i]) > base:
                i += 1  # directive options
            content = None
            while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > base):
                if lines[i].strip():
                    content = _indent(lines[i]) if content is None else content
                    out.append((i + 1, len(lines[i].rstrip()) - content, lines[i]))
                i += 1
            continue
        i += 1
    return out


def test_code_lines_parser():
    text = ("Text::\n\n   a = 1\n     b\n\nmore\n\n.. code-block:: python\n   :caption: x\n\n"
            "   long line\n\n.. math::\n\n   not code\n\n   >>> f(1)\n   2\n")
    assert [(n, w) for n, w, _ in code_lines(text)] == [(3, 5), (4, 3), (11, 9), (17, 8), (18, 1)]


def _sidebar_free_pages():
    conf = (DOCS / "conf.py").read_text(encoding="utf-8")
    m = re.search(r"^html_sidebars = (\{.*?\})$", conf, re.S | re.M)
    return {name for name, items in eval(m.group(1)).items() if items == []}


def _too_wide(lines, limit):
    return [f"{n}: {w} columns: {line.strip()[:60]}" for n, w, line in lines if w > limit]


@pytest.mark.parametrize("page", sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.rst")
                                        if "_templates" not in p.parts))
def test_code_lines_fit_a_1280px_window(page):
    """Code boxes scroll sideways, so a line wider than the page shows is clipped at 1280 px (the
    homotopy and training pages were): at most CODE_COLUMNS columns, CODE_COLUMNS_WIDE on pages
    without the navigation sidebar."""
    path = DOCS / page
    wide = page[:-len(".rst")] in _sidebar_free_pages()
    limit = CODE_COLUMNS_WIDE if wide else CODE_COLUMNS
    assert not _too_wide(code_lines(path.read_text(encoding="utf-8"), path.parent), limit)


def _public_docstrings():
    """(qualified name, docstring) of every public module, class, function and method of numsmooth
    (what the API pages show)."""
    import ast

    root = Path(numsmooth.__file__).parent
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if any(part.startswith("_") and part != "__init__.py" for part in rel.parts):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        nodes = [(str(rel), tree)] + [(f"{rel}:{n.name}", n) for n in ast.walk(tree)
                                       if isinstance(n, (ast.ClassDef, ast.FunctionDef)) and not n.name.startswith("_")]
        for name, node in nodes:
            doc = ast.get_docstring(node)
            if doc:
                yield name, doc


def test_docstring_examples_fit_a_1280px_window():
    wide = [f"{name} {msg}" for name, doc in _public_docstrings()
            for msg in _too_wide(code_lines(doc), CODE_COLUMNS)]
    assert not wide


def test_css_that_sizes_the_code_is_installed():
    conf = (DOCS / "conf.py").read_text(encoding="utf-8")
    assert re.search(r'^html_css_files = \["numsmooth.css"\]', conf, re.M)
    css = (DOCS / "_static" / "numsmooth.css").read_text(encoding="utf-8")
    assert "--pst-sidebar-primary-width: 18%" in css and "section.numsmooth-api > h1" in css
    for template in (DOCS / "_templates" / "autosummary").glob("*.rst"):  # API titles: smaller, wrapped
        assert template.read_text(encoding="utf-8").startswith(".. rst-class:: numsmooth-api\n")


def test_signature_defaults_render_as_written():
    """Signatures show a default as its source text (``decay=2 / 3``), not its repr
    (``0.6666666666666666``): conf.py preserves defaults, and no public default is written as
    a long float literal."""
    import ast

    conf = (DOCS / "conf.py").read_text(encoding="utf-8")
    assert re.search(r"^autodoc_preserve_defaults = True", conf, re.M)
    root = Path(numsmooth.__file__).parent
    long_floats = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for d in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
                    if isinstance(d, ast.Constant) and isinstance(d.value, float) and len(repr(d.value)) > 10:
                        long_floats.append(f"{path.name}:{node.name}={d.value!r}")
    assert not long_floats
    # the case that prompted it: GradientSampling's decay is 2/3, written so in its signature
    assert numsmooth.GradientSampling().decay == 2 / 3
    assert "decay: float = 2 / 3" in inspect.getsource(numsmooth.GradientSampling.__init__)


def test_benchmark_page_lists_what_asv_discovers():
    """The table of docs/benchmarks.rst (read from the benchmarks' source) has one row per
    benchmark that asv would run: compared with the benchmark modules imported, their classes'
    methods named as asv's discovery names them."""
    import sys

    spec = importlib.util.spec_from_file_location("numsmooth_asv", DOCS / "_ext" / "numsmooth_asv.py")
    ext = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ext)
    listed = {(mod, name) for mod, name, _, _ in ext.benchmarks()}
    folder = ext.BENCHMARKS
    sys.path.insert(0, str(folder.parent))  # the suite is the package "benchmarks", as asv imports it
    try:
        found = set()
        for path in sorted(folder.glob("bench_*.py")):
            module = importlib.import_module(f"{folder.name}.{path.stem}")
            for cname, cls in inspect.getmembers(module, inspect.isclass):
                if cls.__module__ != module.__name__:
                    continue
                for mname, _ in inspect.getmembers(cls, inspect.isfunction):
                    if re.match(r"(time|track|peakmem|mem|timeraw)_", mname):
                        found.add((path.stem, f"{cname}.{mname}"))
    finally:
        sys.path.remove(str(folder.parent))
    assert found and listed == found
    assert ".. asv-benchmarks::" in (DOCS / "benchmarks.rst").read_text()
