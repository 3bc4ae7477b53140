"""The handoff timeline as an inline SVG: provenance bundle in, SVG text out.

x = local tokens (seconds since the local call under each tick), y = what the
watched signal measures (rolling mean token probability for low_confidence, ...;
under a learned policy, its estimate of a right answer where the driver asked it),
the threshold (a learned policy's cut) as a dashed line, a marker where local generation stopped or
ended, and the cloud's span (TTFT, then streaming) after it. Hover a point for
the token's probability (an SVG <title>, so no JavaScript: it survives nbconvert
and GitHub). Colours are presentation attributes, overridden by the card
stylesheet (card.css) where it is loaded, so both themes stay readable.
labextension/src/timeline.ts draws the same picture from the same bundle.
"""
from __future__ import annotations

from html import escape
from typing import Any

WIDTH, HEIGHT = 540, 166
LEFT, RIGHT, TOP, BOTTOM = 46, 14, 32, 40
CLOUD_SHARE = 0.26  # of the plot width, when a cloud span is drawn
GAP = 12  # between the local plot and the cloud span
COLORS = {"series": "#1565c0", "token": "#e65100", "threshold": "#c62828", "stop": "#424242",
          "axis": "#757575", "grid": "#e0e0e0", "cloud": "#1565c0", "text": "#424242"}
STOP_LABELS = {"early_handoff": "stopped early", "stop": "end", "length": "max tokens", "interrupted": "interrupted"}


def _attrs(**attrs: Any) -> str:
    return "".join(f' {k.rstrip("_").replace("_", "-")}="{escape(str(v), quote=True)}"' for k, v in attrs.items())


def _el(tag: str, body: str = "", **attrs: Any) -> str:
    return f"<{tag}{_attrs(**attrs)}>{body}</{tag}>"


def _text(x: float, y: float, words: str, cls: str, anchor: str = "start", **attrs: Any) -> str:
    return _el("text", escape(words), x=f"{x:.1f}", y=f"{y:.1f}", class_=cls, text_anchor=anchor,
               font_size="10", fill=COLORS["text"], **attrs)


def probability_axis(watched: dict | None) -> bool:
    """Whether the y axis is a probability (token probabilities are drawn too); bundles written before the
    `probability` key had it for low_confidence only."""
    return watched is None or watched.get("probability", watched["signal"] == "low_confidence")


def y_range(watched: dict | None) -> tuple[float, float]:
    """0..1 for probabilities; 0..a little above the largest value or threshold otherwise."""
    if probability_axis(watched):
        return 0.0, 1.0
    values = [v for v in watched["series"] if v is not None] + [watched.get("threshold") or 0.0]
    return 0.0, max(values) * 1.15 or 1.0


def layout(bundle: dict) -> dict[str, float]:
    """Plot edges: the local tokens span [x0, xl]; the cloud span [xc, x1] when there is one."""
    x0, x1, y0, y1 = LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM
    xl = x1 - (x1 - x0) * CLOUD_SHARE - GAP if bundle.get("cloud") else x1
    return {"x0": x0, "x1": x1, "xl": xl, "xc": xl + GAP, "y0": y0, "y1": y1}


def _scales(box: dict, n: int, lo: float, hi: float):
    def x(i: int) -> float:
        return box["x0"] + (box["xl"] - box["x0"]) * (i / max(n - 1, 1))

    def y(v: float) -> float:
        return box["y1"] - (box["y1"] - box["y0"]) * ((min(max(v, lo), hi) - lo) / (hi - lo))

    return x, y


def _ticks(n: int, count: int = 5) -> list[int]:
    """About `count` token ticks, always the last one, none crowding it."""
    step = max(1, round(n / count))
    return [i for i in range(0, n, step) if n - 1 - i >= step * 0.6] + [n - 1]


def _axes(box, x, y, lo, hi, tl: dict) -> str:
    n, parts = len(tl["elapsed_s"]), []
    for v in (lo, (lo + hi) / 2, hi):
        parts.append(_el("line", x1=box["x0"], x2=box["xl"], y1=f"{y(v):.1f}", y2=f"{y(v):.1f}",
                         class_="hm-tl-grid", stroke=COLORS["grid"]))
        parts.append(_text(box["x0"] - 4, y(v) + 3, f"{v:.2g}", "hm-tl-label", "end"))
    for i in _ticks(n):
        parts.append(_text(x(i), box["y1"] + 12, str(i + 1), "hm-tl-label", "middle"))
        parts.append(_text(x(i), box["y1"] + 23, f"{tl['elapsed_s'][i]:.2f}s", "hm-tl-muted", "middle"))
    parts.append(_text(box["x0"], box["y1"] + 35, axis_label(tl), "hm-tl-muted"))
    return "".join(parts)


def axis_label(tl: dict) -> str:
    """Says when the seconds are estimated (TTFT and the mean decode rate) rather than measured."""
    estimated = str(tl.get("elapsed", "")).startswith("estimated")
    return f"local tokens (seconds since the local call{', estimated' if estimated else ''})"


def _title(tl: dict, watched: dict | None, i: int) -> str:
    p = tl["probabilities"][i]
    words = [f"token {i + 1}", f"{tl['elapsed_s'][i]:.2f} s", "p n/a" if p is None else f"p = {p:.3f}"]
    if watched is not None and watched["series"][i] is not None:
        unit = f" {watched['unit']}" if watched["unit"] else ""
        words.append(f"{watched['quantity']} {watched['series'][i]:.3g}{unit}")
    return " · ".join(words)


def _series(x, y, tl: dict, watched: dict | None) -> str:
    """The watched series as a path, each token a point with its hover title."""
    parts, points = [], []
    on_probabilities = probability_axis(watched)
    for i, p in enumerate(tl["probabilities"]):
        value = watched["series"][i] if watched is not None else p
        title = _el("title", escape(_title(tl, watched, i)))
        if on_probabilities and p is not None and watched is not None:
            parts.append(_el("circle", title, cx=f"{x(i):.1f}", cy=f"{y(p):.1f}", r="2.2",
                             class_="hm-tl-token", fill=COLORS["token"], fill_opacity="0.55"))
        if value is not None:
            points.append((x(i), y(value)))
            parts.append(_el("circle", title, cx=f"{x(i):.1f}", cy=f"{y(value):.1f}", r="2.6",
                             class_="hm-tl-point", fill=COLORS["series"]))
    if not points:
        return ""
    d = "M" + " L".join(f"{px:.1f},{py:.1f}" for px, py in points)
    line = _el("path", d=d, class_="hm-tl-series", fill="none", stroke=COLORS["series"], stroke_width="1.6")
    return line + "".join(parts)


def _threshold(box, y, watched: dict | None) -> str:
    """The cut (dashed) and, for a learned policy with an early margin, its lower mid-answer bar (dotted): an
    estimate before the answer is complete stops it only below that."""
    if watched is None or watched.get("threshold") is None:
        return ""
    t, e = watched["threshold"], watched.get("early_threshold")
    cut = _level(box, y, t, "hm-tl-threshold", f"threshold {t:.2f}", box["x0"] + 3, "start",
                 stroke_width="1.2", stroke_dasharray="5 3")
    return cut if e is None else cut + _level(box, y, e, "hm-tl-earlyThreshold", f"mid-answer stop below {e:.2f}",
                                              box["xl"] - 3, "end", stroke_width="1", stroke_dasharray="2 3",
                                              opacity="0.7")


def _level(box, y, value: float, cls: str, words: str, label_x: float, anchor: str, **style: str) -> str:
    """A horizontal line across the local tokens at `value`, labelled just below it (above at the bottom edge)."""
    line = _el("line", x1=box["x0"], x2=box["xl"], y1=f"{y(value):.1f}", y2=f"{y(value):.1f}", class_=cls,
               stroke=COLORS["threshold"], **style)
    below = y(value) + 11 if y(value) + 11 < box["y1"] - 2 else y(value) - 4
    return line + _text(label_x, below, words, cls + "Label", anchor)


def _stop(box, x, tl: dict, handed_off: bool) -> str:
    stop = tl["stop"]
    at = x(stop["index"])
    words = "handoff" if handed_off else STOP_LABELS.get(stop["reason"], stop["reason"])
    if stop["early"] and handed_off:
        words = "stopped early → handoff"
    line = _el("line", x1=f"{at:.1f}", x2=f"{at:.1f}", y1=box["y0"] - 6, y2=box["y1"], class_="hm-tl-stop",
               stroke=COLORS["stop"], stroke_width="1.2")
    anchor = "end" if at > (box["x0"] + box["xl"]) / 2 else "start"
    return line + _text(at + (-3 if anchor == "end" else 3), box["y0"] - 9, words, "hm-tl-stopLabel", anchor)


def _cloud(box, bundle: dict) -> str:
    """The cloud's span, to scale within its own box: waiting (TTFT), then streaming."""
    cloud = bundle.get("cloud")
    if not cloud:
        return ""
    total = cloud.get("seconds") or 0.0
    ttft = min(cloud.get("ttft_s") or 0.0, total)
    width = box["x1"] - box["xc"]
    mid = (box["y0"] + box["y1"]) / 2
    wait_w = width * (ttft / total) if total > 0 else 0.0
    heading = "cloud (in parallel)" if bundle.get("magic") == "compare" else "cloud"
    return "".join([
        _el("rect", x=f"{box['xc']:.1f}", y=box["y0"], width=f"{width:.1f}", height=box["y1"] - box["y0"],
            class_="hm-tl-cloudZone", fill=COLORS["cloud"], fill_opacity="0.06"),
        _el("rect", _el("title", escape(f"waiting for the first cloud token: {ttft:.2f} s")),
            x=f"{box['xc']:.1f}", y=f"{mid - 5:.1f}", width=f"{wait_w:.1f}", height="10",
            class_="hm-tl-cloudWait", fill=COLORS["cloud"], fill_opacity="0.3"),
        _el("rect", _el("title", escape(f"cloud streaming: {total - ttft:.2f} s")),
            x=f"{box['xc'] + wait_w:.1f}", y=f"{mid - 5:.1f}", width=f"{width - wait_w:.1f}", height="10",
            class_="hm-tl-cloudSpan", fill=COLORS["cloud"]),
        _text(box["xc"], box["y0"] - 9, heading, "hm-tl-stopLabel"),
        _text(box["xc"], mid - 10, f"TTFT {ttft:.2f} s", "hm-tl-muted"),
        _text(box["xc"], mid + 17, f"{total:.2f} s total", "hm-tl-muted"),
        _text(box["xc"], box["y1"] + 12, f"{cloud.get('completion_tokens') or 0} tokens", "hm-tl-label"),
    ])


def _heading(watched: dict | None) -> str:
    if watched is None:
        return "token probability (no watched signal)"
    unit = f", {watched['unit']}" if watched["unit"] else ""
    window = f" over {watched['window']} tokens" if watched["signal"] != "repetition" and watched.get("window") else ""
    named = f"{watched['signal']}: " if watched.get("threshold") is not None else ""  # nothing decided a local run
    return f"{named}{watched['quantity']}{window}{unit}"


def timeline_svg(bundle: dict) -> str:
    """The picture for one provenance bundle; "" when the run has no local tokens."""
    tl = bundle.get("timeline")
    if not tl or not tl.get("elapsed_s"):
        return ""
    watched = tl.get("watched")
    lo, hi = y_range(watched)
    box = layout(bundle)
    x, y = _scales(box, len(tl["elapsed_s"]), lo, hi)
    handed_off = bool(bundle.get("handoff", {}).get("performed")) and bundle.get("magic") != "compare"
    body = "".join([
        _text(4, 12, _heading(watched), "hm-tl-heading", font_weight="600"),
        _axes(box, x, y, lo, hi, tl),
        _threshold(box, y, watched),
        _series(x, y, tl, watched),
        _stop(box, x, tl, handed_off),
        _cloud(box, bundle),
    ])
    if watched is None and all(p is None for p in tl["probabilities"]):
        body += _text(box["x0"] + 8, (box["y0"] + box["y1"]) / 2, "no token probabilities from this backend",
                      "hm-tl-muted")
    summary = f"Timeline of {len(tl['elapsed_s'])} local tokens. {_heading(watched)}"
    return _el("svg", _el("title", escape(summary)) + body, xmlns="http://www.w3.org/2000/svg",
               class_="hm-timeline", viewBox=f"0 0 {WIDTH} {HEIGHT}", width=WIDTH, height=HEIGHT, role="img",
               font_family="sans-serif")
