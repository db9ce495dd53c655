"""The history as a chart: a self-contained HTML page (inline SVG, no script, no fetch) and a PNG.

One layout, two renderers: :func:`layout` turns the runs into rectangles and
text at pixel positions (grouped bars, one group per test, one bar per run:
requests per second on top, p99 latency below), and SVG and the PNG canvas
draw the very same list, so the page and the picture cannot disagree.  Test
names are redis-benchmark's first word (``LRANGE_100``); the page's table keeps
the whole name and every percentile of the latest run.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from redisops.bench.history import Record
from redisops.bench.png import Canvas, text_width
from redisops.errors import StateDirError

__all__ = ["Shape", "layout", "render_html", "render_png", "render_svg", "same_target", "write_chart"]

Color = tuple[int, int, int]
PALETTE: tuple[Color, ...] = ((76, 120, 168), (245, 133, 24), (84, 162, 75), (228, 87, 86), (114, 183, 178),
                              (178, 121, 162))
INK: Color = (40, 40, 40)
GRID: Color = (225, 225, 225)
SCALE = 2  # the PNG font's pixel size: glyphs 6 x 10 pixels
BAR = 14
PLOT_H = 150
LEFT = 64


@dataclass(frozen=True)
class Shape:
    kind: str  # "rect" or "text"
    x: int
    y: int
    w: int = 0
    h: int = 0
    color: Color = INK
    text: str = ""
    anchor: str = "start"  # text: start, middle, end


def short(test: str) -> str:
    """``LRANGE_100 (first 100 elements)`` -> ``LRANGE_100``; the LPUSH that only fills the list for LRANGE is
    ``LPUSH(LR)``, apart from the LPUSH test itself."""
    first = test.split(" ")[0]
    return f"{first}(LR)" if "needed to benchmark LRANGE" in test else first


def run_name(record: Record) -> str:
    return record.label or record.time.replace("T", " ")[:19]


def layout(records: Sequence[Record]) -> tuple[int, int, list[Shape]]:
    """Width, height and the shapes of the chart of ``records`` (oldest first, at most one color each)."""
    records = list(records)[-len(PALETTE):]
    tests = list(dict.fromkeys(r.test for record in reversed(records) for r in record.results))
    widths = [max(len(records) * BAR + 16, text_width(short(t), SCALE) + 10) for t in tests]
    width = max(LEFT + sum(widths) + 20, 480)
    shapes: list[Shape] = []
    top = 10
    metrics: list[tuple[str, Callable[[Record, str], float | None]]] = [
        ("REQUESTS PER SECOND (HIGHER IS BETTER)", lambda rec, t: _get(rec, t, "rps")),
        ("P99 LATENCY MS (LOWER IS BETTER)", lambda rec, t: _get(rec, t, "p99_ms"))]
    for title, value in metrics:
        shapes += _panel(title, records, tests, widths, value, top)
        top += PLOT_H + 60
    x = LEFT
    for index, record in enumerate(records):
        name = run_name(record)
        shapes.append(Shape("rect", x, top, 10, 10, PALETTE[index]))
        shapes.append(Shape("text", x + 16, top, text=name))
        x += 16 + text_width(name, SCALE) + 20
    return max(width, x), top + 24, shapes


def _get(record: Record, test: str, field: str) -> float | None:
    result = record.result(test)
    return None if result is None else float(getattr(result, field))


def _panel(title: str, records: Sequence[Record], tests: Sequence[str], widths: Sequence[int],
           value: Callable[[Record, str], float | None], top: int) -> list[Shape]:
    shapes = [Shape("text", LEFT, top, text=title)]
    base = top + 20 + PLOT_H  # the zero line
    peak = _nice(max((v for rec in records for t in tests if (v := value(rec, t)) is not None), default=1.0))
    for fraction in (0.0, 0.5, 1.0):
        y = base - round(PLOT_H * fraction)
        shapes.append(Shape("rect", LEFT, y, sum(widths), 1, GRID if fraction else INK))
        shapes.append(Shape("text", LEFT - 6, y - 5, text=_compact(peak * fraction), anchor="end"))
    x = LEFT
    for test, group in zip(tests, widths, strict=True):
        bars_x = x + (group - len(records) * BAR) // 2
        for index, record in enumerate(records):
            v = value(record, test)
            if v is not None:
                h = max(round(PLOT_H * v / peak), 1)
                shapes.append(Shape("rect", bars_x + index * BAR, base - h, BAR - 2, h, PALETTE[index]))
        shapes.append(Shape("text", x + group // 2, base + 6, text=short(test), anchor="middle"))
        x += group
    return shapes


def _nice(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 or 10 times a power of ten at or above ``value``: round axis labels."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 2.5, 5, 10) if value <= step * power * (1 + 1e-9))


def _compact(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:g}M"
    if value >= 1e3:
        return f"{value / 1e3:g}K"
    return f"{value:.3g}"


def render_png(records: Sequence[Record]) -> bytes:
    width, height, shapes = layout(records)
    canvas = Canvas(width, height)
    for shape in shapes:
        if shape.kind == "rect":
            canvas.rect(shape.x, shape.y, shape.w, shape.h, shape.color)
        else:
            span = text_width(shape.text, SCALE)
            x = shape.x - {"start": 0, "middle": span // 2, "end": span}[shape.anchor]
            canvas.text(x, shape.y, shape.text, shape.color, SCALE)
    return canvas.png()


def render_svg(records: Sequence[Record]) -> str:
    width, height, shapes = layout(records)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">']
    for s in shapes:
        fill = "rgb({},{},{})".format(*s.color)
        if s.kind == "rect":
            parts.append(f'<rect x="{s.x}" y="{s.y}" width="{s.w}" height="{s.h}" fill="{fill}"/>')
        else:
            parts.append(f'<text x="{s.x}" y="{s.y + 9}" text-anchor="{s.anchor}" fill="{fill}">'
                         f'{html.escape(s.text)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def render_html(records: Sequence[Record]) -> str:
    latest = records[-1]
    rows = "\n".join(
        f"<tr><td>{html.escape(r.test)}</td><td>{r.rps:,.0f}</td><td>{r.avg_ms:.3f}</td><td>{r.p50_ms:.3f}</td>"
        f"<td>{r.p95_ms:.3f}</td><td>{r.p99_ms:.3f}</td><td>{r.max_ms:.3f}</td></tr>" for r in latest.results)
    env = ", ".join(f"{k} {v}" for k, v in latest.environment.items())
    options = ", ".join(f"{k} {','.join(v) if isinstance(v, list) else v}"
                        for k, v in latest.options.to_dict().items())
    runs = "\n".join(f"<li>{html.escape(run_name(r))}: {html.escape(r.time)}, "
                     f"{html.escape(str(r.target.get('kind')))} {html.escape(str(r.target.get('name')))}</li>"
                     for r in records)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>redisops bench</title>
<style>body{{font-family:sans-serif;margin:1.5em;color:#282828}} table{{border-collapse:collapse}}
td,th{{padding:2px 10px;text-align:right}} td:first-child,th:first-child{{text-align:left}}
th{{border-bottom:1px solid #999}} .note{{color:#666;font-size:90%}}</style></head>
<body><h1>redis-benchmark history</h1>
{render_svg(records)}
<h2>Latest run: {html.escape(run_name(latest))}</h2>
<p class="note">{html.escape(str(latest.target.get('kind')))} {html.escape(str(latest.target.get('name')))} at
{html.escape(str(latest.target.get('address')))}; {html.escape(options)}</p>
<table><tr><th>test</th><th>requests/s</th><th>avg ms</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th>
<th>max ms</th></tr>
{rows}
</table>
<p class="note">{html.escape(env)}</p>
<h2>Runs</h2><ul>
{runs}
</ul></body></html>
"""


def same_target(records: Sequence[Record]) -> list[Record]:
    """The runs against the latest run's target (a group's numbers next to the cluster's compare nothing)."""
    if not records:
        return []
    where = (records[-1].target.get("kind"), records[-1].target.get("name"))
    return [r for r in records if (r.target.get("kind"), r.target.get("name")) == where]


def write_chart(records: Sequence[Record], directory: Path) -> tuple[Path, Path]:
    """``bench.html`` and ``bench.png`` in ``directory`` (created), of the runs given (oldest first)."""
    if not records:
        from redisops.bench.history import HistoryError

        raise HistoryError("the history holds no benchmark run to draw", hint="run `redisops bench run` first")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        page, picture = directory / "bench.html", directory / "bench.png"
        page.write_text(render_html(records), encoding="utf-8")
        picture.write_bytes(render_png(records))
    except OSError as exc:
        raise StateDirError(str(directory), exc.strerror or str(exc)) from exc
    return page, picture
