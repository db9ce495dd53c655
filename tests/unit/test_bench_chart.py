"""The chart of real history records: a PNG that decodes to the drawn bars, and a self-contained HTML page."""

from __future__ import annotations

import html
import re
import struct
import zlib
from pathlib import Path

from redisops.bench import read_history
from redisops.bench.chart import BAR, PALETTE, layout, render_png, same_target, write_chart
from redisops.bench.png import Canvas

RECORDED = Path(__file__).resolve().parents[1] / "recorded" / "bench" / "history.jsonl"


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and RGB rows of an 8-bit RGB PNG whose rows use filter 0 (what Canvas writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        chunks[kind] = chunks.get(kind, b"") + body
        pos += 12 + length
    width, height, depth, color, *_ = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, color) == (8, 2) and b"IEND" in chunks
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = width * 3 + 1
    rows = [raw[y * stride:(y + 1) * stride] for y in range(height)]
    assert all(row[0] == 0 for row in rows)
    return width, height, [row[1:] for row in rows]


def pixel(rows: list[bytes], x: int, y: int) -> tuple[int, int, int]:
    return (rows[y][x * 3], rows[y][x * 3 + 1], rows[y][x * 3 + 2])


def test_canvas_writes_a_png_with_the_pixels_it_was_given() -> None:
    canvas = Canvas(7, 5)
    canvas.rect(2, 1, 3, 2, (10, 20, 30))
    width, height, rows = decode_png(canvas.png())
    assert (width, height) == (7, 5)
    assert pixel(rows, 2, 1) == pixel(rows, 4, 2) == (10, 20, 30)
    assert pixel(rows, 1, 1) == pixel(rows, 2, 3) == (255, 255, 255)


def test_every_bar_of_the_layout_is_in_the_png_in_its_runs_color() -> None:
    records, _ = read_history(RECORDED)
    runs = records[:3]
    width, height, shapes = layout(runs)
    png_width, png_height, rows = decode_png(render_png(runs))
    assert (png_width, png_height) == (width, height)
    bars = [s for s in shapes if s.kind == "rect" and s.color in PALETTE[:3] and s.w == BAR - 2]
    tests = {r.test for run in runs for r in run.results}
    assert len(bars) == 2 * 3 * len(tests)  # two panels, three runs, every test
    for bar in bars:
        assert pixel(rows, bar.x + bar.w // 2, bar.y + bar.h - 1) == bar.color
    tallest = max((b for b in bars[:len(bars) // 2]), key=lambda b: b.h)
    fastest = max(runs, key=lambda run: max(r.rps for r in run.results))
    assert tallest.color == PALETTE[runs.index(fastest)]  # the pipelined run's PING bar tops the rps panel


def test_html_page_is_self_contained_and_names_every_test(tmp_path: Path) -> None:
    records, _ = read_history(RECORDED)
    page, picture = write_chart(same_target(records[:3]), tmp_path / "out")
    text = page.read_text()
    assert "<svg" in text and "<script" not in text
    assert not re.search(r'(src|href)="(https?:)?//', text)  # nothing fetched from elsewhere
    for result in records[2].results:
        assert html.escape(result.test) in text
    assert "pipelined" in text and picture.read_bytes().startswith(b"\x89PNG")


def test_chart_keeps_the_latest_runs_target_only() -> None:
    records, _ = read_history(RECORDED)
    assert [r.label for r in same_target(records)] == ["cluster"]
    assert [r.label for r in same_target(records[:3])] == ["base", None, "pipelined"]
