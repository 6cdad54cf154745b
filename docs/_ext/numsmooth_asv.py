"""``.. asv-benchmarks::``: the table of the asv benchmarks numsmooth tracks.

Read from the source of ``asv_benchmarks/benchmarks/*.py`` (parsed, not imported: building the
docs runs no benchmark code): one row per benchmark method (``time_*``, ``track_*``,
``peakmem_*``, ``mem_*``), with its class's parameters and the first line of the class's and
the method's docstrings. The table can therefore not fall behind the suite.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parents[2] / "asv_benchmarks" / "benchmarks"
PREFIXES = ("time_", "track_", "peakmem_", "mem_", "timeraw_")


def _first_line(node: ast.AST) -> str:
    doc = ast.get_docstring(node) or ""  # type: ignore[arg-type]
    return " ".join(doc.strip().split("\n\n")[0].split())


def benchmarks(folder: Path = BENCHMARKS) -> list[tuple[str, str, str, str]]:
    """``(module, Class.method, parameters, description)`` of every benchmark in ``folder``."""
    rows = []
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        source = path.read_text(encoding="utf-8")
        for cls in ast.parse(source).body:
            if not isinstance(cls, ast.ClassDef):
                continue
            params = ""
            for stmt in cls.body:
                if isinstance(stmt, ast.Assign) and any(getattr(t, "id", "") == "param_names" for t in stmt.targets):
                    params = ", ".join(ast.literal_eval(stmt.value))
            for fn in cls.body:
                if isinstance(fn, ast.FunctionDef) and fn.name.startswith(PREFIXES):
                    what = " ".join(p for p in (_first_line(cls), _first_line(fn)) if p)
                    rows.append((path.stem, f"{cls.name}.{fn.name}", params, what))
    return rows


def _table(rows: list[tuple[str, str, str, str]]) -> Any:
    """The docutils table of ``rows`` (docutils is imported here: `benchmarks` works without it)."""
    from docutils import nodes

    table = nodes.table()
    group = nodes.tgroup(cols=4)
    table += group
    for width in (14, 30, 14, 42):
        group += nodes.colspec(colwidth=width)

    def row(cells: tuple[str, ...], literal: tuple[bool, ...]) -> Any:
        r = nodes.row()
        for text, lit in zip(cells, literal):
            entry = nodes.entry()
            para = nodes.paragraph()
            para += nodes.literal(text=text) if lit and text else nodes.Text(text)
            entry += para
            r += entry
        return r

    head = nodes.thead()
    head += row(("module", "benchmark", "parameters", "what it measures"), (False,) * 4)
    group += head
    body = nodes.tbody()
    for cells in rows:
        body += row(cells, (True, True, False, False))
    group += body
    return table


def setup(app: Any) -> dict[str, Any]:
    from docutils.parsers.rst import Directive

    class AsvBenchmarks(Directive):
        has_content = False

        def run(self) -> list[Any]:
            return [_table(benchmarks())]

    app.add_directive("asv-benchmarks", AsvBenchmarks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
