"""The evaluation report as one self-contained HTML page: summary, inline SVG charts, failures.

No scripts, fonts or styles from elsewhere, so it opens offline from a mail attachment or a CI
artefact; every piece of text from questions, answers or articles goes through `html.escape`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from html import escape
from typing import Any

# One colour per outcome, chosen to stay apart for the common forms of colour blindness.
OUTCOME_STYLE: dict[str, tuple[str, str]] = {
    "correct": ("#1b7f3b", "correct"),
    "wrong": ("#d55e00", "wrong answer"),
    "not_retrieved": ("#8c564b", "not retrieved"),
    "refused": ("#e6a700", "refused (answerable)"),
    "answered_unanswerable": ("#7b3fa0", "answered (unanswerable)"),
    "bad_citation": ("#c0001a", "invalid citation"),
    "error": ("#555555", "LLM error"),
}
GROUP_COLOUR = {
    "retrieval": "#3465a4",
    "answer": "#1b7f3b",
    "citations": "#5c3566",
    "refusal": "#b35900",
    "judge": "#2e6f73",
    "updates": "#8f5902",
}
# Metrics where a smaller number is the better one; the chart marks them with an arrow.
LOWER_IS_BETTER = {"false_refusal_rate"}
METRIC_LABEL = {
    ("answer", "accuracy"): "answer accuracy",
    ("answer", "line_accuracy"): "answer line accuracy",
    ("answer", "token_f1"): "answer token F1",
    ("refusal", "false_refusal_rate"): "false refusals",
    ("judge", "correctness"): "judge: correct",
    ("judge", "faithfulness"): "judge: faithful",
}
CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d1d1f;
       margin: 0; background: #f6f7f9; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 10px; }
.meta { color: #555; margin: 0 0 18px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 12px; }
.card { background: #fff; border: 1px solid #dde1e6; border-radius: 8px; padding: 10px 14px; }
.card h3 { font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: #555;
           margin: 0 0 6px; }
.card table { width: 100%; border-collapse: collapse; }
.card td { padding: 1px 0; }
.card td.v { text-align: right; font-variant-numeric: tabular-nums; font-weight: 600; }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
.chart { background: #fff; border: 1px solid #dde1e6; border-radius: 8px; padding: 12px; }
.chart.wide { grid-column: 1 / -1; }
.chart h3 { font-size: 14px; margin: 0 0 6px; }
svg { display: block; max-width: 100%; height: auto; }
svg text { font: 12px system-ui, sans-serif; }
.chart svg { margin: 0 auto; }
table.failures { width: 100%; border-collapse: collapse; background: #fff; font-size: 13px;
                 table-layout: fixed; }
table.failures th, table.failures td { border: 1px solid #dde1e6; padding: 6px 8px;
                                       vertical-align: top; text-align: left;
                                       overflow-wrap: anywhere; }
table.failures th { background: #eef1f5; position: sticky; top: 0; }
.badge { display: inline-block; color: #fff; border-radius: 4px; padding: 0 6px; margin-top: 2px;
         font-size: 12px; line-height: 1.5; }
.id { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; color: #444; }
blockquote { margin: 0 0 4px; padding-left: 8px; border-left: 3px solid #ccd3dc; color: #333; }
.muted { color: #777; }
details { margin: 0 0 14px; }
summary { cursor: pointer; font-weight: 600; margin: 0 0 6px; }
.note { color: #555; font-size: 13px; }
@media (max-width: 800px) { .charts { grid-template-columns: 1fr; } }
"""


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _svg(width: int, height: int, body: list[str], label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(label)}">'
        f"<title>{escape(label)}</title>{''.join(body)}</svg>"
    )


def metric_bars(summary: dict[str, Any]) -> str:
    """Every 0–1 figure of the summary as a horizontal bar, coloured by group."""
    rows: list[tuple[str, str, float | None]] = []
    for group in ("retrieval", "answer", "citations", "refusal", "updates", "judge"):
        for name, value in (summary.get(group) or {}).items():
            if name in ("words", "model", "unparsed", "n"):
                continue
            rows.append((group, name, value))
    label_w, bar_w, row_h, top = 200, 260, 24, 22
    width, height = label_w + bar_w + 52, top + row_h * len(rows) + 10
    body: list[str] = []
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        x = label_w + tick * bar_w
        body.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 8}" '
                    'stroke="#e3e6ea"/>')
        body.append(f'<text x="{x:.1f}" y="{top - 10}" text-anchor="middle" '
                    f'fill="#666">{tick:g}</text>')
    for i, (group, name, value) in enumerate(rows):
        y = top + i * row_h
        label = METRIC_LABEL.get((group, name), f"{group} {name}".replace("_", " "))
        if name in LOWER_IS_BETTER:
            label += " ↓"
        body.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">'
                    f"{escape(label)}</text>")
        if value is None:
            body.append(f'<text x="{label_w + 4}" y="{y + 15}" fill="#777">n/a</text>')
            continue
        w = max(0.0, min(1.0, float(value))) * bar_w
        colour = GROUP_COLOUR.get(group, "#555")
        body.append(f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" '
                    f'rx="2" fill="{colour}"><title>{escape(label)}: {value:.3f}</title></rect>')
        body.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 15}">{value:.3f}</text>')
    return _svg(width, height, body, "Summary metrics, 0 to 1")


def latency_histogram(latencies: Sequence[float], p50: float | None, p95: float | None) -> str:
    """Answer latency per question, with the median and 95th percentile marked."""
    width, height, left, bottom, top, right = 512, 260, 44, 40, 34, 16
    plot_w, plot_h = width - left - right, height - top - bottom
    body: list[str] = []
    if not latencies:
        body.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no data</text>')
        return _svg(width, height, body, "Latency histogram")
    # A few slow outliers (a cold cache, a busy machine) would squeeze everything else into one
    # bar, so the axis stops at three times the p95 and the last bar collects the rest.
    hi = max(latencies) or 1.0
    if p95:
        hi = min(hi, 3 * p95)
    bins = max(5, min(30, int(math.sqrt(len(latencies))) + 1))
    step = _nice_step(hi / bins)
    bins = max(1, math.ceil(hi / step + 1e-9))
    if hi >= bins * step:
        bins += 1
    counts = Counter(min(int(v // step), bins - 1) for v in latencies)
    overflow = sum(v >= bins * step for v in latencies)
    peak = max(counts.values())
    bar_w = plot_w / bins
    x0, y0 = left, top + plot_h
    for j in range(bins):
        c = counts.get(j, 0)
        h = plot_h * c / peak
        body.append(
            f'<rect x="{x0 + j * bar_w + 1:.1f}" y="{y0 - h:.1f}" width="{bar_w - 2:.1f}" '
            f'height="{h:.1f}" fill="#3465a4"><title>{j * step:g}–{(j + 1) * step:g} ms: '
            f"{c} question(s)</title></rect>"
        )
    body.append(f'<line x1="{x0}" y1="{y0}" x2="{x0 + plot_w}" y2="{y0}" stroke="#888"/>')
    body.append(f'<line x1="{x0}" y1="{top}" x2="{x0}" y2="{y0}" stroke="#888"/>')
    for frac in (0, 0.5, 1):
        y = y0 - plot_h * frac
        body.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#666">'
                    f"{round(peak * frac)}</text>")
    label_every = max(1, math.ceil(bins / 8))
    for j in range(0, bins + 1, label_every):
        x = x0 + j * bar_w
        body.append(f'<text x="{x:.1f}" y="{y0 + 16}" text-anchor="middle" fill="#666">'
                    f"{j * step:g}</text>")
    axis_label = "milliseconds per question"
    if overflow:
        axis_label += f" (last bar includes {overflow} slower than {bins * step:g} ms)"
    body.append(f'<text x="{x0 + plot_w / 2}" y="{height - 6}" text-anchor="middle" '
                f'fill="#444">{escape(axis_label)}</text>')
    scale = plot_w / (bins * step)
    for name, value, colour, anchor in (("p50", p50, "#1b7f3b", "end"),
                                        ("p95", p95, "#c0001a", "start")):
        if value is None:
            continue
        x = x0 + value * scale
        dx = -4 if anchor == "end" else 4
        body.append(f'<line x1="{x:.1f}" y1="{top - 14}" x2="{x:.1f}" y2="{y0}" '
                    f'stroke="{colour}" stroke-width="2" stroke-dasharray="5 3"/>')
        # Above the bars, p50 to the left of its line and p95 to the right, so they never meet.
        body.append(f'<text x="{x + dx:.1f}" y="{top - 18}" text-anchor="{anchor}" '
                    f'style="fill:{colour};font-weight:600">{name} {value:.0f} ms</text>')
    return _svg(width, height, body, "Latency histogram")


CURVE_STYLE = (("precision", "#1b7f3b", "refusal precision"),
               ("recall", "#b35900", "refusal recall"),
               ("false_refusal_rate", "#c0001a", "false refusals"))


def refusal_curve_chart(points: Sequence[dict[str, Any]], threshold: float | None) -> str:
    """Refusal precision, recall and false refusals against the confidence threshold, with the
    answerer's operating point marked."""
    width, height, left, bottom, top, right = 512, 280, 44, 60, 16, 16
    plot_w, plot_h = width - left - right, height - top - bottom
    x0, y0 = left, top + plot_h
    body: list[str] = []
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        y = y0 - tick * plot_h
        x = x0 + tick * plot_w
        body.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + plot_w}" y2="{y:.1f}" '
                    'stroke="#e3e6ea"/>')
        body.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#666">'
                    f"{tick:g}</text>")
        body.append(f'<text x="{x:.1f}" y="{y0 + 16}" text-anchor="middle" fill="#666">'
                    f"{tick:g}</text>")
    body.append(f'<text x="{x0 + plot_w / 2}" y="{y0 + 32}" text-anchor="middle" fill="#444">'
                "refuse when confidence is below</text>")
    for key, colour, label in CURVE_STYLE:
        coords = [(x0 + float(p["threshold"]) * plot_w, y0 - float(p[key]) * plot_h)
                  for p in points if p.get(key) is not None]
        if coords:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            body.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                        f'stroke-width="2"><title>{escape(label)}</title></polyline>')
    if threshold is not None:
        x = x0 + threshold * plot_w
        body.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{y0}" stroke="#333" '
                    'stroke-dasharray="4 3"/>')
        body.append(f'<text x="{x + 4:.1f}" y="{top + 12}" fill="#333">operating point '
                    f"{threshold:.2f}</text>")
    lx = float(x0)
    for _, colour, label in CURVE_STYLE:
        body.append(f'<rect x="{lx:.1f}" y="{height - 14}" width="11" height="11" '
                    f'fill="{colour}"/>')
        body.append(f'<text x="{lx + 15:.1f}" y="{height - 4}">{escape(label)}</text>')
        lx += 30 + 7.0 * len(label)
    return _svg(width, height, body, "Refusal precision and recall by confidence threshold")


def _nice_step(raw: float) -> float:
    """A round bin width (1, 2 or 5 times a power of ten) at least `raw`."""
    if raw <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def outcome_chart(rows: Sequence[dict[str, Any]]) -> str:
    """Outcome counts as one stacked bar, then one square per question in fixture order."""
    counts = Counter(r["outcome"] for r in rows)
    width, left = 1096, 10
    per_row = 60
    cell = (width - 2 * left) / per_row
    grid_rows = math.ceil(len(rows) / per_row)
    bar_y, bar_h = 8, 26
    legend_y = bar_y + bar_h + 22
    grid_y = legend_y + 18
    height = int(grid_y + grid_rows * cell + 8)
    body: list[str] = []
    total = max(len(rows), 1)
    x = float(left)
    for outcome, (colour, label) in OUTCOME_STYLE.items():
        c = counts.get(outcome, 0)
        if not c:
            continue
        w = (width - 2 * left) * c / total
        body.append(f'<rect x="{x:.1f}" y="{bar_y}" width="{w:.1f}" height="{bar_h}" '
                    f'fill="{colour}"><title>{escape(label)}: {c}</title></rect>')
        if w > 34:
            body.append(f'<text x="{x + w / 2:.1f}" y="{bar_y + 17}" text-anchor="middle" '
                        f'style="fill:#fff;font-weight:600">{c}</text>')
        x += w
    lx = float(left)
    for outcome, (colour, label) in OUTCOME_STYLE.items():
        c = counts.get(outcome, 0)
        text = f"{label} ({c})"
        body.append(f'<rect x="{lx:.1f}" y="{legend_y - 10}" width="11" height="11" '
                    f'fill="{colour}"/>')
        body.append(f'<text x="{lx + 15:.1f}" y="{legend_y}">{escape(text)}</text>')
        lx += 30 + 7.0 * len(text)
    for i, r in enumerate(rows):
        colour = OUTCOME_STYLE.get(r["outcome"], ("#999", ""))[0]
        cx = left + (i % per_row) * cell
        cy = grid_y + (i // per_row) * cell
        label = OUTCOME_STYLE.get(r["outcome"], ("", r["outcome"]))[1]
        tip = f"{r['id']}: {label} — {r['question']}"
        body.append(f'<rect x="{cx:.1f}" y="{cy:.1f}" width="{cell - 2:.1f}" '
                    f'height="{cell - 2:.1f}" rx="2" fill="{colour}">'
                    f"<title>{escape(tip)}</title></rect>")
    return _svg(width, height, body, "Outcome of each question")


def _summary_cards(summary: dict[str, Any]) -> str:
    cards = []
    counts = [("questions", summary.get("n")), ("answerable", summary.get("n_answerable")),
              ("unanswerable", summary.get("n_unanswerable")), ("answerer", summary.get("mode"))]
    groups: list[tuple[str, list[tuple[str, Any]]]] = [("set", counts)]
    for group in ("retrieval", "answer", "citations", "refusal", "updates", "latency_ms",
                  "judge"):
        values = summary.get(group)
        if isinstance(values, dict):
            groups.append((group, list(values.items())))
    for group, items in groups:
        if group == "refusal" and summary.get("refusal_threshold") is not None:
            items.append(("confidence threshold", summary["refusal_threshold"]))
    for group, items in groups:
        cells = "".join(
            f"<tr><td>{escape(str(name))}</td>"
            f'<td class="v">{escape(_fmt(v, 1 if group == "latency_ms" or name == "words" else 3))}'
            "</td></tr>"
            for name, v in items
        )
        title = "latency (ms)" if group == "latency_ms" else group
        cards.append(f'<div class="card"><h3>{escape(title)}</h3><table>{cells}</table></div>')
    return f'<div class="cards">{"".join(cards)}</div>'


def _failure_row(r: dict[str, Any]) -> str:
    expected = "; ".join(r["answers"]) or "(not in the articles)"
    quotes = "".join(
        f"<blockquote>[{c['n']}] {escape(' '.join(c['quote'].split()))}"
        f' <span class="id">{escape(c["article_id"])}</span></blockquote>'
        for c in r["citations"]
    ) or '<span class="muted">none</span>'
    return (
        "<tr>"
        f'<td><span class="id">{escape(r["id"])}</span></td>'
        f"<td>{escape(r['question'])}</td>"
        f"<td>{escape(expected)}<br>"
        f'<span class="id">{escape(", ".join(r["article_ids"]) or "–")}</span></td>'
        f"<td>{escape(r['answer'])}</td>"
        f"<td>{quotes}</td>"
        f"<td>{escape(r['failure'] or '')}</td>"
        "</tr>"
    )


def _update_table(rows: Sequence[dict[str, Any]]) -> str:
    """Update questions: whether the current value was given and an earlier one flagged."""
    updates = [r for r in rows if r["type"] == "update"]
    if not updates:
        return ""
    head = ("<tr><th style='width:10%'>question id</th><th style='width:22%'>question</th>"
            "<th style='width:10%'>current</th><th style='width:10%'>earlier</th>"
            "<th style='width:36%'>given answer</th><th style='width:6%'>current given</th>"
            "<th style='width:6%'>earlier flagged</th></tr>")
    body = "".join(
        "<tr>"
        f'<td><span class="id">{escape(r["id"])}</span></td>'
        f"<td>{escape(r['question'])}<br><span class='muted'>asked "
        f"{escape(str(r.get('question_date') or 'today'))}</span></td>"
        f"<td>{escape('; '.join(r['answers']))}</td>"
        f"<td>{escape('; '.join(r.get('earlier', [])))}</td>"
        f"<td>{escape(r['answer'])}</td>"
        f"<td>{_fmt(bool(r['scores']['correct']))}</td>"
        f"<td>{_fmt(bool(r['scores'].get('earlier_flagged')))}</td>"
        "</tr>" for r in updates)
    return (f"<h2>Updates ({len(updates)} questions)</h2>"
            '<p class="note">A story\'s later report changed the fact. Right: the answer gives the '
            "value current on the question's date; flagged: it also mentions an earlier value.</p>"
            f'<table class="failures"><thead>{head}</thead><tbody>{body}</tbody></table>')


def _failure_tables(rows: Sequence[dict[str, Any]]) -> str:
    """One collapsible table per kind of failure, so a long run stays easy to skim."""
    head = ("<tr><th style='width:12%'>question id</th><th style='width:17%'>question</th>"
            "<th style='width:13%'>expected</th><th style='width:22%'>given answer</th>"
            "<th style='width:23%'>cited quotes</th><th style='width:13%'>why it failed</th></tr>")
    sections = []
    for outcome, (colour, label) in OUTCOME_STYLE.items():
        failed = [r for r in rows if r["outcome"] == outcome and outcome != "correct"]
        if not failed:
            continue
        body = "".join(_failure_row(r) for r in sorted(failed, key=lambda r: r["id"]))
        sections.append(
            f'<details open><summary><span class="badge" style="background:{colour}">'
            f"{escape(label)}</span> {len(failed)}</summary>"
            f'<table class="failures"><thead>{head}</thead><tbody>{body}</tbody></table>'
            "</details>"
        )
    return "".join(sections) or '<p class="muted">No failures.</p>'


def render_html(summary: dict[str, Any], rows: Sequence[dict[str, Any]], *, source: str = "",
                k: int | None = None, created: str = "") -> str:
    """The whole report page; `rows` are `QuestionResult.to_dict()`s."""
    latencies = [float(r["scores"]["latency_ms"]) for r in rows]
    lat = summary.get("latency_ms") or {}
    n_failed = sum(r["outcome"] != "correct" for r in rows)
    curve = ""
    if summary.get("refusal_curve"):
        curve = ('<div class="chart"><h3>Refusal by confidence</h3>'
                 f'{refusal_curve_chart(summary["refusal_curve"], summary.get("refusal_threshold"))}'
                 "</div>")
    meta = " · ".join(x for x in (
        escape(source) if source else "",
        f"answerer: {escape(str(summary.get('mode')))}",
        f"k = {k}" if k is not None else "",
        f"{summary.get('n')} questions",
        escape(created) if created else "",
    ) if x)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Evaluation report{' – ' + escape(source) if source else ''}</title>
<style>{CSS}</style>
</head>
<body>
<main>
<h1>Evaluation report</h1>
<p class="meta">{meta}</p>
<h2>Summary</h2>
{_summary_cards(summary)}
<p class="note">Retrieval is article-level over answerable questions (top 10 passages).
Accuracy: the answer contains an expected answer after normalisation. Citation precision:
citations from a supporting article or quoting an evidence sentence. A dash means there was
nothing to count.</p>
<h2>Charts</h2>
<div class="charts">
<div class="chart"><h3>Metrics</h3>{metric_bars(summary)}</div>
<div class="chart"><h3>Latency</h3>{latency_histogram(latencies, lat.get("p50"), lat.get("p95"))}
</div>
{curve}<div class="chart wide"><h3>Outcome per question</h3>{outcome_chart(rows)}</div>
</div>
{_update_table(rows)}
<h2>Failures ({n_failed} of {len(rows)})</h2>
{_failure_tables(rows)}
</main>
</body>
</html>
"""
