"""SVG images drawn on the server: the funding bar (for newsletters and pages without
JavaScript) and the chart of monthly totals (for reports). No external service, no fonts
to fetch; every number shown is also in the image's title and description."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from kibitz.services.funding import Bar

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
INK, MUTED, TRACK, FILL, OVER = "#1b1b1b", "#555555", "#e3e3e3", "#b3261e", "#7a1a14"


def _pct(x: float) -> str:
    return f"{x * 100:.2f}%"


def funding_bar(bar: Bar, width: int = 640) -> str:
    """The bar as on the reference page: tick amounts above, the bar, the raised amount and
    the period below; the goal is marked, and an exceeded goal is said in words."""
    height = 96
    pad = 12
    inner = width - 2 * pad
    ticks = []
    for i, tick in enumerate(bar.ticks):
        x = pad + tick.position * inner
        anchor = "start" if i == 0 and tick.position < 0.05 else "middle"
        if tick.position > 0.95:
            anchor = "end"
        ticks.append(
            f'<text x="{x:.1f}" y="22" text-anchor="{anchor}" font-size="13" fill="{MUTED}">'
            f"{escape(tick.label)}</text>"
            f'<line x1="{x:.1f}" y1="28" x2="{x:.1f}" y2="34" stroke="{MUTED}" stroke-width="1"/>'
        )
    fill_w = bar.fill * inner
    goal_x = pad + bar.goal_position * inner
    over = ""
    if bar.exceeded:
        over = (
            f'<rect x="{goal_x:.1f}" y="36" width="{pad + fill_w - goal_x:.1f}" height="14" '
            f'fill="{OVER}"/>'
        )
    status = "Goal exceeded" if bar.exceeded else ("Goal reached" if bar.reached else "")
    title = f"{bar.campaign.name}: {bar.sentence}"
    raised = f"{bar.raised_label} raised" + (f" · {status}" if status else "")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="t d" '
        f'font-family="{escape(FONT)}">'
        f'<title id="t">{escape(title)}</title><desc id="d">{escape(bar.sentence)}</desc>'
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>'
        f"{''.join(ticks)}"
        f'<rect x="{pad}" y="36" width="{inner}" height="14" rx="2" fill="{TRACK}"/>'
        f'<rect x="{pad}" y="36" width="{fill_w:.1f}" height="14" rx="2" fill="{FILL}"/>'
        f"{over}"
        f'<line x1="{goal_x:.1f}" y1="32" x2="{goal_x:.1f}" y2="54" stroke="{INK}" '
        'stroke-width="2"/>'
        f'<text x="{pad}" y="76" font-size="18" font-weight="700" fill="{INK}">'
        f"{escape(raised)}</text>"
        f'<text x="{width - pad}" y="76" text-anchor="end" font-size="14" font-weight="600" '
        f'letter-spacing="1" fill="{MUTED}">{escape(bar.period_label.upper())}</text>'
        "</svg>"
    )


@dataclass(frozen=True)
class Column:
    label: str  # the month, short
    net: int
    goal: int | None
    net_label: str


def monthly_chart(title: str, columns: Sequence[Column], width: int = 720) -> str:
    """Net total per month as columns, each month's goal as a dashed line."""
    height, top, bottom, left = 260, 36, 40, 16
    plot_h = height - top - bottom
    top_value = max([1] + [max(c.net, c.goal or 0) for c in columns])
    n = max(len(columns), 1)
    slot = (width - 2 * left) / n
    # a label every few columns when they would overlap (about 56 px a label); the newest
    # column always has one
    every = max(1, -(-56 // int(slot)) if slot >= 1 else n)
    parts = []
    for i, c in enumerate(columns):
        x = left + i * slot
        h = max(c.net, 0) / top_value * plot_h
        parts.append(
            f'<rect x="{x + slot * 0.15:.1f}" y="{top + plot_h - h:.1f}" '
            f'width="{slot * 0.7:.1f}" height="{h:.1f}" fill="{FILL}">'
            f"<title>{escape(c.label)}: {escape(c.net_label)}</title></rect>"
        )
        if (n - 1 - i) % every == 0:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{height - 18}" text-anchor="middle" '
                f'font-size="11" fill="{MUTED}">{escape(c.label)}</text>'
            )
        if c.goal:
            gy = top + plot_h - c.goal / top_value * plot_h
            parts.append(
                f'<line x1="{x + 2:.1f}" y1="{gy:.1f}" x2="{x + slot - 2:.1f}" y2="{gy:.1f}" '
                f'stroke="{INK}" stroke-dasharray="4 3"/>'
            )
    summary = "; ".join(f"{c.label}: {c.net_label}" for c in columns) or "no months yet"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="t d" '
        f'font-family="{escape(FONT)}">'
        f'<title id="t">{escape(title)}</title><desc id="d">{escape(summary)}</desc>'
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>'
        f'<text x="{left}" y="22" font-size="15" font-weight="700" fill="{INK}">'
        f"{escape(title)}</text>"
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - left}" y2="{top + plot_h}" '
        f'stroke="{MUTED}"/>'
        f"{''.join(parts)}</svg>"
    )
