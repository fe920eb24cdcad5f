"""The events page's plot: recognitions (and unknown faces, spoofs) per day, as an inline SVG made
on the server (no JavaScript, nothing fetched)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

COLOURS = {"match": "#2e7d32", "unknown": "#9e9e9e", "spoof": "#c62828"}


def daily_bars(events: Sequence[tuple[float, str]], now_unix: float, days: int = 14, width: int = 640, height: int = 160) -> str:
    """Stacked bars of ``(unix time, event type)`` per local day, the last ``days`` days up to today."""
    today = datetime.fromtimestamp(now_unix).date()
    first = today - timedelta(days=days - 1)
    counts = [{k: 0 for k in COLOURS} for _ in range(days)]
    for t, kind in events:
        i = (datetime.fromtimestamp(t).date() - first).days
        if 0 <= i < days and kind in COLOURS:
            counts[i][kind] += 1
    top = max([sum(c.values()) for c in counts] + [1])
    left, bottom = 28, 20
    bar_w = (width - left) / days
    scale = (height - bottom - 8) / top
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="events per day, last {days} days">',
             f'<text x="2" y="14" font-size="11">{top}</text><text x="2" y="{height - bottom}" font-size="11">0</text>']
    for i, c in enumerate(counts):
        x, y = left + i * bar_w, float(height - bottom)
        for kind, colour in COLOURS.items():
            h = c[kind] * scale
            if h:
                y -= h
                parts.append(f'<rect x="{x + 2:.1f}" y="{y:.1f}" width="{bar_w - 4:.1f}" height="{h:.1f}" fill="{colour}">'
                             f'<title>{(first + timedelta(days=i)).isoformat()}: {c[kind]} {kind}</title></rect>')
        if i % 2 == 0 or days <= 7:
            label = (first + timedelta(days=i)).strftime("%d %b")
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{height - 5}" font-size="10" text-anchor="middle">{label}</text>')
    parts.append("</svg>")
    return "".join(parts)
