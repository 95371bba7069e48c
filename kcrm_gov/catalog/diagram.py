"""Lineage diagrams as inline SVG, laid out at build time.

Mermaid needs a script from a CDN in the reader's browser, and when that script cannot load
(offline, or a firewall) mkdocs-material's page script stops too, taking search down with it.
A two-hop lineage graph is simple to lay out: one column per hop (upstream on the left, the
table in the middle, downstream on the right), one row per table, curved edges between them.
The SVG is static, themed by mkdocs-material's CSS variables, and every node links to its page.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape

NODE_H, V_GAP, H_GAP, PAD = 30, 14, 56, 8
CHAR_W = 7.4  # width of one character at the 12px monospace font used for labels
MIN_W = 120


def lineage_svg(current: str, edges: list[tuple[str, str]], href: Callable[[str], str | None]) -> str:
    """An SVG of ``edges`` (``(upstream, downstream)`` pairs) around ``current``.

    ``href(table)`` gives the link of a table's page (None for no link). Columns are hops from
    ``current``: negative upstream, positive downstream.
    """
    level: dict[str, int] = {current: 0}
    changed = True
    while changed:  # shortest hop distance, upstream negative and downstream positive
        changed = False
        for up, down in edges:
            if down in level and level[down] <= 0 and up not in level:
                level[up] = level[down] - 1
                changed = True
            if up in level and level[up] >= 0 and down not in level:
                level[down] = level[up] + 1
                changed = True
    columns = sorted(set(level.values()))
    by_column = {c: sorted(n for n, lv in level.items() if lv == c) for c in columns}
    width = max(MIN_W, int(max(len(n) for n in level) * CHAR_W) + 2 * PAD)
    tallest = max(len(v) for v in by_column.values())
    height = tallest * NODE_H + (tallest - 1) * V_GAP
    pos: dict[str, tuple[float, float]] = {}
    for i, column in enumerate(columns):
        nodes = by_column[column]
        column_h = len(nodes) * NODE_H + (len(nodes) - 1) * V_GAP
        top = (height - column_h) / 2
        for j, node in enumerate(nodes):
            pos[node] = (i * (width + H_GAP), top + j * (NODE_H + V_GAP))
    total_w = len(columns) * width + (len(columns) - 1) * H_GAP
    parts = [f'<svg class="kg-graph" xmlns="http://www.w3.org/2000/svg" role="img" '
             f'viewBox="-2 -2 {total_w + 4} {height + 4}" width="{total_w + 4}" '
             f'aria-label="Lineage of {escape(current)}: {len(edges)} edges">',
             '<defs><marker id="kg-arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" '
             'orient="auto-start-reverse"><path d="M0,0 L8,4 L0,8 z" class="kg-graph-arrow"/></marker></defs>']
    for up, down in edges:
        if up not in pos or down not in pos:
            continue
        x1, y1 = pos[up][0] + width, pos[up][1] + NODE_H / 2
        x2, y2 = pos[down][0], pos[down][1] + NODE_H / 2
        mid = (x1 + x2) / 2
        parts.append(f'<path class="kg-graph-edge" d="M{x1:.1f},{y1:.1f} C{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f} '
                     f'{x2 - 1:.1f},{y2:.1f}" marker-end="url(#kg-arrow)"/>')
    for node, (x, y) in pos.items():
        klass = "kg-graph-node kg-graph-current" if node == current else "kg-graph-node"
        box = (f'<g class="{klass}"><rect x="{x:.1f}" y="{y:.1f}" width="{width}" height="{NODE_H}" rx="5"/>'
               f'<text x="{x + width / 2:.1f}" y="{y + NODE_H / 2 + 4:.1f}" text-anchor="middle">{escape(node)}</text>'
               "</g>")
        link = None if node == current else href(node)
        parts.append(f'<a href="{escape(link)}">{box}</a>' if link else box)
    parts.append("</svg>")
    return '<div class="kg-lineage-graph">' + "".join(parts) + "</div>\n"


STYLES = """\
.md-typeset .kg-lineage-graph { overflow-x: auto; margin: 1em 0; }
.kg-graph { max-width: 100%; height: auto; }
.kg-graph text { font-family: var(--md-code-font-family, monospace); font-size: 12px;
  fill: var(--md-default-fg-color); }
.kg-graph-node rect { fill: var(--md-code-bg-color); stroke: var(--md-default-fg-color--lighter); }
.kg-graph a:hover rect { stroke: var(--md-accent-fg-color); stroke-width: 2; }
.kg-graph-current rect { fill: var(--md-primary-fg-color); stroke: var(--md-primary-fg-color); }
.kg-graph .kg-graph-current text { fill: var(--md-primary-bg-color); font-weight: 700; }
.kg-graph-edge { fill: none; stroke: var(--md-default-fg-color--light); stroke-width: 1.4; }
.kg-graph-arrow { fill: var(--md-default-fg-color--light); }
"""
