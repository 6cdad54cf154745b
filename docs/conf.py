"""Sphinx configuration of the numsmooth documentation.

Build: ``python -m sphinx -W --keep-going -b html docs docs/_build/html``;
doctests: ``python -m sphinx -b doctest docs docs/_build/doctest``.
Figures are made at build time by the scripts in ``plots/`` (matplotlib's plot directive).
"""

from __future__ import annotations

import os
import sys
from datetime import date

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "_ext"))

# Figures and doctests must not depend on the machine's thread count or a display.
os.environ.setdefault("MPLBACKEND", "Agg")

import numsmooth  # noqa: E402

project = "numsmooth"
author = "numsmooth developers"
copyright = f"{date.today().year}, {author}"
version = release = numsmooth.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "matplotlib.sphinxext.plot_directive",
    "numsmooth_api_check",
    "numsmooth_asv",
]

# -- the asv dashboard ---------------------------------------------------------------------------
# `python asv_benchmarks/publish.py` writes it to asv_benchmarks/html/asv; when it is there, the
# build copies it to asv/ beside the pages and docs/benchmarks.rst links to it.
ASV_HTML = os.path.join(HERE, "..", "asv_benchmarks", "html")
if os.path.exists(os.path.join(ASV_HTML, "asv", "index.html")):
    html_extra_path = [ASV_HTML]
    tags.add("asv_dashboard")  # type: ignore[name-defined]  # noqa: F821 - Sphinx provides it

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
default_role = "code"  # `x` in a docstring is code, not a broken reference
primary_domain = "py"

# -- API reference -----------------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_typehints = "none"  # the numpydoc sections say the types
autodoc_preserve_defaults = True  # defaults as written (2 / 3), not their repr (0.6666666666666666)
autodoc_member_order = "bysource"
autodoc_default_options = {"inherited-members": False}
numpydoc_show_class_members = False  # members come from the class template (no toctree warnings)
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_use_plots = False

# -- doctest -----------------------------------------------------------------------------------
doctest_global_setup = """
import numpy as np
import numsmooth as ns
"""
doctest_test_doctest_blocks = "default"

# -- figures (matplotlib plot directive) -------------------------------------------------------
plot_basedir = "plots"  # relative to this directory
plot_include_source = False
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 100)]
plot_rcparams = {"figure.dpi": 100, "savefig.bbox": "tight", "font.size": 9}
plot_apply_rcparams = True

# -- links -------------------------------------------------------------------------------------
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}  # offline builds: no inventories
# (numpy/scipy/python inventories would need the network at build time)

# -- HTML --------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"numsmooth {release}"
html_static_path = ["_static"]
html_css_files = ["numsmooth.css"]  # code and API titles that fit a 1280 px window
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
# Pages without the navigation sidebar: the top-level pages (their code may be wider, see
# _static/numsmooth.css and tests/test_docs.py).
html_sidebars = {"index": [], "getting_started": [], "torchzero": [], "theory": [], "performance": [],
                 "methods": [], "contributing": []}
html_show_sourcelink = False
