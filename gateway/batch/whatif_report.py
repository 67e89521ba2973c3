"""`callgate evaluate --dry-run --report DIR` (O1): the what-if as two CSV files and one
HTML page with a chart.

The chart is an inline SVG drawn here, so the page needs nothing but a browser and the
command nothing beyond a normal install (matplotlib stays a dev dependency). File names
carry the policy (name and version) and the month:
`whatif-<policy>-<version>-<YYYY-MM>-matrix.csv`, `…-population.csv`, `….html`.
"""

from __future__ import annotations

import csv
import io
import re
from html import escape
from pathlib import Path

from gateway.batch.evaluation import Level
from gateway.batch.whatif import LevelCount, Staffed, WhatIf

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
BEFORE_COLOUR, AFTER_COLOUR = "#6f8fc9", "#e8804f"


def report_stem(whatif: WhatIf) -> str:
    """`whatif-<policy>-<version>-<month>`, safe as a file name."""
    policy = whatif.candidate
    return "-".join(
        ["whatif", _UNSAFE.sub("_", policy.name), _UNSAFE.sub("_", policy.version), whatif.summary.month]
    )


def write_report(whatif: WhatIf, directory: Path) -> list[Path]:
    """Write the matrix and population CSVs and the HTML page into `directory`; their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = report_stem(whatif)
    files = {
        directory / f"{stem}-matrix.csv": matrix_csv(whatif),
        directory / f"{stem}-population.csv": population_csv(whatif),
        directory / f"{stem}.html": html_page(whatif),
    }
    for path, text in files.items():
        path.write_text(text, encoding="utf-8", newline="")
    return list(files)


def _qualified(level: Level) -> str:
    return f"{level[0]}:{level[1]}"


def matrix_csv(whatif: WhatIf) -> str:
    """Every level of both policies' schemes (zeros included): rows from, columns to, with totals."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["from \\ to", *(_qualified(c) for c in whatif.columns), "total"])
    for row in whatif.rows:
        writer.writerow(
            [_qualified(row), *(whatif.cells[(row, c)] for c in whatif.columns), whatif.before[row]]
        )
    writer.writerow(["total", *(whatif.after[c] for c in whatif.columns), whatif.summary.evaluated])
    return out.getvalue()


def population_csv(whatif: WhatIf) -> str:
    """Each level's queue and subscribers before and after; the last row is the VIP desk."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "scheme", "level", "name_zh", "name_en",
            "queue_before", "subscribers_before", "queue_after", "subscribers_after",
        ]
    )  # fmt: skip
    for p in whatif.populations():
        writer.writerow(
            [
                p.level[0], p.level[1], whatif.name(p.level, "zh"), whatif.name(p.level, "en"),
                p.queue_before, p.before, p.queue_after, p.after,
            ]
        )  # fmt: skip
    writer.writerow(
        ["", "vip_desk", "VIP专席", "VIP desk", "vip", whatif.vip_before, "vip", whatif.vip_after]
    )
    return out.getvalue()


def population_chart(whatif: WhatIf) -> str:
    """An SVG of every level anyone holds: subscribers before and after, VIP-desk levels in bold."""
    shown = [p for p in whatif.populations() if p.before or p.after]
    label_w, bar_w, row_h, top = 230, 440, 36, 34
    width = label_w + bar_w + 90
    height = top + row_h * max(len(shown), 1) + 10
    peak = max([1, *(max(p.before, p.after) for p in shown)])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="subscribers per level, before and after" '
        'font-family="sans-serif" font-size="12">',
        _legend(label_w),
    ]
    for i, p in enumerate(shown):
        y = top + i * row_h
        vip = p.queue_before == "vip" or p.queue_after == "vip"
        tag = f" [{p.queue_before} → {p.queue_after}]" if vip else ""
        weight = ' font-weight="bold"' if vip else ""
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end"{weight}>{escape(p.label + tag)}</text>'
        )
        for j, (count, colour) in enumerate(((p.before, BEFORE_COLOUR), (p.after, AFTER_COLOUR))):
            w = round(bar_w * count / peak, 1)
            by = y + 3 + j * 14
            parts.append(f'<rect x="{label_w}" y="{by}" width="{w}" height="12" fill="{colour}"/>')
            parts.append(f'<text x="{label_w + w + 4}" y="{by + 10}">{count:,}</text>')
    parts.append("</svg>")
    return "".join(parts)


def vip_chart(whatif: WhatIf) -> str:
    """An SVG of the VIP desk's population before and after."""
    width, height, bar_w = 580, 70, 380
    peak = max(whatif.vip_before, whatif.vip_after, 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="VIP desk population, before and after" '
        'font-family="sans-serif" font-size="12">'
    ]
    for j, (label, count, colour) in enumerate(
        (("before", whatif.vip_before, BEFORE_COLOUR), ("after", whatif.vip_after, AFTER_COLOUR))
    ):
        y = 8 + j * 30
        w = round(bar_w * count / peak, 1)
        parts.append(f'<text x="112" y="{y + 15}" text-anchor="end">VIP desk {label}</text>')
        parts.append(f'<rect x="120" y="{y}" width="{w}" height="20" fill="{colour}"/>')
        parts.append(f'<text x="{120 + w + 4}" y="{y + 15}">{count:,}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _legend(x: int) -> str:
    return (
        f'<rect x="{x}" y="6" width="12" height="12" fill="{BEFORE_COLOUR}"/>'
        f'<text x="{x + 16}" y="16">before (levels in force)</text>'
        f'<rect x="{x + 190}" y="6" width="12" height="12" fill="{AFTER_COLOUR}"/>'
        f'<text x="{x + 206}" y="16">after (this policy)</text>'
    )


def _matrix_table(whatif: WhatIf) -> str:
    rows, columns = whatif.occurring()
    # The moves stand out: off the diagonal, shaded by size; those who stay are grey.
    peak = max([1, *(whatif.cells[(r, c)] for r in rows for c in columns if r != c)])
    head = "".join(f"<th>{escape(whatif.label(c))}</th>" for c in columns)
    body = []
    for r in rows:
        cells = []
        for c in columns:
            n = whatif.cells[(r, c)]
            if not n:
                style = ""
            elif r == c:
                style = ' style="background: #eee"'
            else:
                style = f' style="background: rgba(232,128,79,{0.15 + 0.6 * n / peak:.2f})"'
            cells.append(f"<td{style}>{n:,}</td>")
        row_total = f"<td class=t>{whatif.before[r]:,}</td>"
        body.append(f"<tr><th>{escape(whatif.label(r))}</th>{''.join(cells)}{row_total}</tr>")
    totals = "".join(f"<td class=t>{whatif.after[c]:,}</td>" for c in columns)
    body.append(f"<tr><th>total</th>{totals}<td class=t>{whatif.summary.evaluated:,}</td></tr>")
    return f"<table><tr><th>from \\ to</th>{head}<th>total</th></tr>{''.join(body)}</table>"


def _staffed_cells(s: Staffed | None) -> str:
    if s is None:
        return "<td colspan=3>no VIP customer now to scale from</td>"
    return f"<td>{s.calls_per_hour:,.1f}</td><td>{s.agents}</td><td>{s.service_level:.1%}</td>"


def _staffing_table(whatif: WhatIf) -> str:
    if not whatif.staffing:
        return f"<p>{escape(whatif.rate_note or 'no calling rate')}</p>"
    rules = whatif.candidate.staffing
    rows = "".join(
        f"<tr><th>{escape(line.label)}</th>{_staffed_cells(line.now)}{_staffed_cells(line.after)}</tr>"
        for line in whatif.staffing
    )
    return (
        f"<p>Erlang C (Q6), target {rules.service_level:.0%} answered within {rules.answer_within_s} s (Q5), "
        f"{rules.handling_s} s average handling; after the change the calling rate is scaled by the desk's "
        "population (calls per VIP customer unchanged).</p>"
        "<table><tr><th>calling rate</th><th>calls/h now</th><th>agents now</th><th>service level</th>"
        "<th>calls/h after</th><th>agents after</th><th>service level</th></tr>"
        f"{rows}</table>"
    )


def _population_table(populations: list[LevelCount], whatif: WhatIf) -> str:
    rows = "".join(
        f"<tr><th>{escape(p.label)}</th><td class=n>{escape(whatif.name(p.level, 'zh'))}</td>"
        f"<td class=n>{p.queue_before}</td><td>{p.before:,}</td><td class=n>{p.queue_after}</td>"
        f"<td>{p.after:,}</td></tr>"
        for p in populations
        if p.before or p.after
    )
    return (
        "<table><tr><th>level</th><th>name</th><th>queue before</th><th>before</th><th>queue after</th>"
        f"<th>after</th></tr>{rows}<tr><th>VIP desk</th><td class=n>VIP专席</td><td class=n>vip</td>"
        f"<td>{whatif.vip_before:,}</td><td class=n>vip</td><td>{whatif.vip_after:,}</td></tr></table>"
    )


def html_page(whatif: WhatIf) -> str:
    """A self-contained page: the summary, the charts, the matrix, populations and staffing."""
    s = whatif.summary
    title = f"What-if: {whatif.policy_text(whatif.candidate)} for {s.month}"
    summary = "\n".join(whatif.lines()[:3])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }}
th {{ background: #f4f4f4; }} td.n {{ text-align: left; }} td.t {{ font-weight: bold; }}
pre {{ background: #f8f8f8; padding: 0.8em; white-space: pre-wrap; }}
</style></head><body>
<h1>{escape(title)}</h1>
<pre>{escape(summary)}</pre>
<h2>VIP desk</h2>
{vip_chart(whatif)}
{_staffing_table(whatif)}
<h2>Subscribers per level</h2>
{population_chart(whatif)}
{_population_table(whatif.populations(), whatif)}
<h2>From → to</h2>
<p>Rows: the level in force on the run date before the month's run
({escape(whatif.policy_text(whatif.baseline))}); columns: the level serving once this run's result
takes effect. Shaded: those who move; grey: those who stay. Nothing was written.</p>
{_matrix_table(whatif)}
</body></html>
"""
