"""Charts for the console, drawn on the server as inline SVG: no script, no library, and
they print. Each function answers Markup ready for a template; every label is escaped.

The shapes are deliberately few: columns over time (bookings per second), a line over
time (stock left, latency), and horizontal bars (answers by code, queues, messages).
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 12, 28


def binned(values: Sequence[float], most: int = 120) -> tuple[int, list[float]]:
    """At most ``most`` points: consecutive seconds averaged into bins. Answers the bin's
    width in seconds and the per-second average of each bin."""
    width = max(1, -(-len(values) // most))
    bins = [values[i:i + width] for i in range(0, len(values), width)]
    return width, [sum(b) / len(b) for b in bins]


def _nice(top: float) -> float:
    """A round axis maximum at or above ``top``."""
    if top <= 0:
        return 1
    step = 10 ** (len(str(int(top))) - 1)
    for factor in (1, 2, 2.5, 5, 10):
        if top <= factor * step:
            return factor * step
    return 10 * step


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 or value == int(value) else f"{value:.1f}"


def _frame(label: str, top: float, seconds: int, unit: str) -> list[str]:
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{escape(label)}</title>"]
    for share in (0, 0.5, 1):
        y = TOP + inner_h * (1 - share)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" '
                     f'y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
                     f"{escape(_number(top * share))}</text>")
    parts.append(f'<text class="axis" x="{LEFT}" y="{HEIGHT - 8}">0秒</text>')
    parts.append(f'<text class="axis" x="{LEFT + inner_w}" y="{HEIGHT - 8}" '
                 f'text-anchor="end">{escape(_clock(seconds))}</text>')
    parts.append(f'<text class="axis unit" x="{LEFT + inner_w / 2}" y="{HEIGHT - 8}" '
                 f'text-anchor="middle">{escape(unit)}</text>')
    return parts


def _clock(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds}秒"
    return f"{seconds // 60}分{seconds % 60:02d}秒"


def columns(values: Sequence[float], label: str, unit: str, css: str = "ok") -> Markup:
    """Columns over time, one per (binned) second from the window's opening."""
    seconds = len(values)
    width, points = binned(values)
    top = _nice(max(points, default=0))
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = inner_w / max(1, len(points))
    parts = _frame(label, top, seconds, unit)
    for i, value in enumerate(points):
        if value <= 0:
            continue
        h = inner_h * value / top
        parts.append(f'<rect class="{css}" x="{LEFT + i * step + step * 0.1:.1f}" '
                     f'y="{TOP + inner_h - h:.1f}" width="{max(step * 0.8, 0.8):.1f}" '
                     f'height="{h:.1f}"><title>第{i * width}秒起 {escape(_number(value))}'
                     f"</title></rect>")
    parts.append("</svg>")
    return Markup("".join(parts))


def line(values: Sequence[float | None], label: str, unit: str, css: str = "left",
         top: float | None = None) -> Markup:
    """A line over time; ``None`` marks a second with nothing to show (a gap)."""
    seconds = len(values)
    known = [v for v in values if v is not None]
    top = _nice(top if top is not None else max(known, default=0))
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = _frame(label, top, seconds, unit)
    width = max(1, -(-seconds // 240))
    runs, run = [], []
    for i in range(0, seconds, width):
        value = values[i]
        if value is None:
            if run:
                runs.append(run)
            run = []
            continue
        x = LEFT + inner_w * i / max(1, seconds - 1)
        run.append(f"{x:.1f},{TOP + inner_h * (1 - min(value, top) / top):.1f}")
    if run:
        runs.append(run)
    for run in runs:
        if len(run) == 1:
            x, y = run[0].split(",")
            parts.append(f'<circle class="{css}" cx="{x}" cy="{y}" r="2.5"/>')
        else:
            parts.append(f'<polyline class="{css}" points="{" ".join(run)}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def bars(items: Sequence[tuple[str, float, str]], label: str) -> Markup:
    """Horizontal bars, one per (name, value, css class), with the value at the end."""
    row, name_w = 30, 120
    height = max(1, len(items)) * row + 8
    top = max((value for _, value, _ in items), default=0) or 1
    room = WIDTH - name_w - 80
    parts = [f'<svg class="chart bars" viewBox="0 0 {WIDTH} {height}" role="img" '
             f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{escape(label)}</title>"]
    if not items:
        parts.append(f'<text class="axis" x="{name_w}" y="20">暂无记录</text>')
    for i, (name, value, css) in enumerate(items):
        y = 4 + i * row
        w = room * value / top
        parts.append(f'<text class="name" x="{name_w - 8}" y="{y + 19}" text-anchor="end">'
                     f"{escape(name)}</text>")
        parts.append(f'<rect class="{escape(css)}" x="{name_w}" y="{y + 4}" '
                     f'width="{max(w, 1.5 if value else 0):.1f}" height="{row - 10}"/>')
        parts.append(f'<text class="value" x="{name_w + w + 6:.1f}" y="{y + 19}">'
                     f"{escape(_number(value))}</text>")
    parts.append("</svg>")
    return Markup("".join(parts))
