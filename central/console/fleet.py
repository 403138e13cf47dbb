"""The fleet page's figures, pure: each device's state from its latest heartbeat, samples per site per
hour, and the chart of them as server-rendered SVG (nothing loaded from the internet)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from html import escape as html_escape

from samplepoint.wire import CONTROL_CHARS

OK, LAGGING, SILENT = "ok", "lagging", "silent"
CLOCK_OK, CLOCK_OFF, CLOCK_UNKNOWN = "ok", "off", "unknown"
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#7f7f7f", "#bcbd22"]


@dataclass(frozen=True)
class FleetRules:
    silent_after_s: float = 300.0        # no contact for this long: silent (red)
    lag_after_s: float = 900.0           # a record waiting this long on the device: lagging (amber)
    lag_queue: int = 50                  # or this many waiting
    clock_tolerance_s: float = 120.0     # device clock this far from ours: clock off


def _aware(text) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def device_rows(overview, quarantined_here: dict[str, int], site_names: dict[str, str],
                now: datetime, rules: FleetRules = FleetRules()) -> list[dict]:
    """One dict per device for the fleet table, with its state (ok, lagging, silent) and clock."""
    rows = []
    for device in overview:
        try:
            beat = json.loads(device["heartbeat"]) if device["heartbeat"] else {}
        except ValueError:
            beat = {}
        last_seen = _aware(device["last_seen"])
        age = (now - last_seen).total_seconds() if last_seen else None
        oldest = _aware(beat.get("oldest_pending_at"))
        waiting_s = (now - oldest).total_seconds() if oldest else None
        queue = beat.get("queue_depth")
        if age is None or age > rules.silent_after_s:
            state = SILENT
        elif (waiting_s or 0) > rules.lag_after_s or (queue or 0) >= rules.lag_queue:
            state = LAGGING
        else:
            state = OK
        sent, received = _aware(beat.get("sent_at")), _aware(device["heartbeat_at"])
        offset = (received - sent).total_seconds() if sent and received else None
        clock = CLOCK_UNKNOWN if offset is None else \
            CLOCK_OK if abs(offset) <= rules.clock_tolerance_s else CLOCK_OFF
        rows.append({
            "device_id": device["device_id"], "site_id": device["site_id"],
            "site_name": site_names.get(device["site_id"], ""), "state": state,
            "last_seen": last_seen, "age_s": age, "queue_depth": queue,
            "oldest_pending_at": oldest, "quarantined": beat.get("quarantined"),
            "conflicts": quarantined_here.get(device["device_id"], 0),
            "clock": clock, "clock_offset_s": offset, "version": beat.get("version"),
            "last_scan_at": _aware(beat.get("last_scan_at")),
        })
    order = {SILENT: 0, LAGGING: 1, OK: 2}
    return sorted(rows, key=lambda r: (order[r["state"]], r["site_id"], r["device_id"]))


def day_bounds(day: date, tz: tzinfo) -> tuple[str, str]:
    """The day in the report zone as [start, end) UTC texts the database compares against."""
    start = datetime.combine(day, time(0), tz)
    return tuple(m.astimezone(timezone.utc).isoformat(timespec="milliseconds")
                 for m in (start, start + timedelta(days=1)))


def hourly_counts(rows, tz: tzinfo) -> dict[str, list[int]]:
    """site_id → 24 counts (hour of the day in the report zone) from (site_id, sampled_at) rows."""
    counts: dict[str, list[int]] = {}
    for site_id, sampled in rows:
        moment = _aware(sampled)
        if moment is None:
            continue
        counts.setdefault(site_id, [0] * 24)[moment.astimezone(tz).hour] += 1
    return dict(sorted(counts.items()))


def chart_svg(counts: dict[str, list[int]], names: dict[str, str], title: str,
              width: int = 900, height: int = 260) -> str:
    """Samples per site per hour as an SVG line chart with a legend; accessible by its title."""
    left, right, top, bottom = 44, 240, 14, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([1] + [n for series in counts.values() for n in series])
    step = _nice_step(peak)
    ceiling = step * -(-peak // step)
    x = lambda hour: left + plot_w * hour / 23           # noqa: E731
    y = lambda n: top + plot_h * (1 - n / ceiling)       # noqa: E731
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'role="img" aria-labelledby="chart-title" class="chart">',
             f'<title id="chart-title">{escape(title)}</title>']
    for n in range(0, ceiling + 1, step):
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(n):.1f}" y2="{y(n):.1f}" '
                     f'class="grid"/><text x="{left - 6}" y="{y(n) + 4:.1f}" text-anchor="end">{n}</text>')
    for hour in range(0, 24, 2):
        parts.append(f'<text x="{x(hour):.1f}" y="{height - 8}" text-anchor="middle">{hour}h</text>')
    for index, (site, series) in enumerate(counts.items()):
        colour = PALETTE[index % len(PALETTE)]
        points = " ".join(f"{x(h):.1f},{y(n):.1f}" for h, n in enumerate(series))
        raw = names.get(site) or site
        label = escape(raw)
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2" '
                     f'data-site="{escape(site)}"><title>{label}: {sum(series)}</title></polyline>')
        ly = top + 16 * index + 8
        parts.append(f'<rect x="{left + plot_w + 14}" y="{ly - 8}" width="12" height="12" '
                     f'fill="{colour}"/><text x="{left + plot_w + 30}" y="{ly + 2}">'
                     f'{escape(_short(raw))} ({sum(series)})</text>')
    parts.append("</svg>")
    return "".join(parts)


def escape(text: str) -> str:
    """Text safe inside SVG: XML-escaped, without the control characters XML forbids."""
    return html_escape(CONTROL_CHARS.sub("", text))


def _short(label: str, size: int = 26) -> str:
    return label if len(label) <= size else label[:size - 1].rstrip(" ,") + "…"


def _nice_step(peak: int) -> int:
    for step in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000):
        if peak / step <= 5:
            return step
    return 10_000
