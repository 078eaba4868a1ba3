"""The look shared by report.html and history.html: one stylesheet and one <head>, so that both pages have
the same type, margins and tables (self-contained: no fonts or scripts fetched)."""

import html

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1040px;margin:1.5em auto;
  padding:0 1.5em;color:#222;line-height:1.4}
h1{font-size:1.5em;margin-bottom:.2em;overflow-wrap:anywhere}
h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd}
nav{font-size:.9em;color:#555}nav a{margin-right:.8em;white-space:nowrap}
.lead{font-size:1.25em;font-weight:600;margin:.6em 0}
.verdict{display:inline-block;padding:.3em .7em;border-radius:4px;font-weight:600}
.passed{background:#e3f4e1;color:#1d5e1a}.regressed{background:#fbe3e1;color:#8a1c12}.na{background:#eee;color:#444}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em;max-width:100%}
td,th{border:1px solid #ddd;padding:2px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.nowrap,th.nowrap,span.nowrap{white-space:nowrap}td.small{font-size:.85em}
span.note{display:block;font-size:.8em;color:#555;white-space:normal;min-width:10em}
tbody tr:nth-child(even){background:#fafafa}
table.folded{width:100%;table-layout:fixed}table.folded td{overflow-wrap:anywhere}
caption{text-align:left;font-weight:600;padding:.3em 0}
details{margin:.3em 0 .8em}summary{cursor:pointer;color:#0b5394}
figure{margin:1em 0}img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9em;color:#444;margin-top:.3em}.links{font-size:.9em}
tr.regressed td{background:#fde0dc}tr.failed td,tr.incomplete td,tr.damaged td{background:#fff0c2}
"""


def page_head(title: str) -> str:
    """The <head> both pages use: UTF-8, a viewport, no favicon fetch, the title and the stylesheet."""
    return (
        '<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="icon" href="data:,"><title>{html.escape(title)}</title><style>{STYLE}</style>'
    )
