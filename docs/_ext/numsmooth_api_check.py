"""Fail the build when a public name of numsmooth has no entry in the API reference.

The public names are ``numsmooth.__all__`` when the package defines it, otherwise every name
that ``numsmooth/__init__.py`` binds by import or assignment (the package re-exports its public
API and nothing else). After reading, each must be a documented Python object
``numsmooth.<name>`` (a class, function, data or module directive, e.g. from autosummary). A
missing one is a warning, which ``-W`` turns into an error. ``tests/test_docs.py`` checks the
same list against ``docs/api.rst`` without Sphinx.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from typing import Any


def public_names(package: object) -> list[str]:
    """The public names of ``package``: its ``__all__``, else what its ``__init__`` binds."""
    declared = getattr(package, "__all__", None)
    if declared is not None:
        return sorted(set(declared))
    init = Path(inspect.getfile(package))  # type: ignore[arg-type]
    names: set[str] = set()
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom):
            names.update(a.asname or a.name for a in node.names)
        elif isinstance(node, ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return sorted(n for n in names if not n.startswith("_") and n != "annotations")


def check_api(app: Any, env: Any) -> None:
    import numsmooth
    from sphinx.util import logging

    logger = logging.getLogger(__name__)

    documented = set(env.get_domain("py").objects)
    missing = [n for n in public_names(numsmooth) if f"numsmooth.{n}" not in documented]
    for name in missing:
        logger.warning("public name numsmooth.%s is missing from the API reference (docs/api.rst)",
                       name, type="numsmooth", subtype="api")


def setup(app: Any) -> dict[str, object]:
    app.connect("env-check-consistency", check_api)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
