"""Table rows of the summary and history sections (see table.py for the rest)."""

from tests.benchmarks.table import busy, first, row


def history_rows(doc: dict) -> list[dict]:
    """`lenet-batch runs` and `history` over N nights x 8 seeds (local, target 10 s); reads on moto S3."""
    h = doc["history"]
    size = f"{h['runs']:,} runs x {h['seeds']} seeds"  # the names fit the table's 50-character column
    s3 = h["s3"]["result"]
    one, many = s3["read_batch_1"], s3[f"read_batch_{s3['batch']}"]
    rows = [
        row(
            f"{name}: {size}, local (s)",
            h[key]["procs"]["wall_seconds"],
            target=("<= 10 s", lambda o, r: o <= 10),
            unit="s",
            busy=busy(h[key]),
        )
        for name, key in (("runs", "runs_cmd"), ("history", "history_cmd"))
    ]
    rows += [
        row(
            f"  CPU seconds: runs {h['runs_cmd']['procs']['own_cpu_seconds']:.1f}, history "
            f"{h['history_cmd']['procs']['own_cpu_seconds']:.1f}",
            None,
        ),
        row(
            f"S3 (moto) read {s3['runs']:,} runs, {s3['batch']} at a time vs 1 (s)",
            many["wall_seconds"],
            one["wall_seconds"],
            unit="s",
            busy=busy(h["s3"]),
        ),
        row(
            f"  CPU s client/server: {many['cpu_seconds']:.1f}/{many['server_cpu_seconds']:.1f} "
            f"({s3['batch']}), {one['cpu_seconds']:.1f}/{one['server_cpu_seconds']:.1f} (1)",
            None,
        ),
        row("  history on S3 (moto) (s)", s3["history"]["wall_seconds"], unit="s"),
    ]
    return rows


def _timed(metric: str, section: dict, cpu_note: str = "") -> list[dict]:
    """A measured step's wall seconds (flagged when the machine was busy) and its CPU seconds."""
    r = first(section)
    return [
        row(metric, r["wall_seconds"], unit="s", busy=busy(section)),
        row(f"  CPU seconds (all threads){cpu_note}", r["cpu_seconds"], unit="s"),
    ]


def summary_rows(doc: dict) -> list[dict]:
    """The summary stage per run size: seconds, CPU seconds per seed, peak RSS; the disagreement alone."""
    out = []
    for section in doc["summary"]["runs"]:
        r = first(section)
        out += _timed(f"summary {r['seeds']:,} seeds x {r['images']:,} images (s)", section)
        out += [
            row("  CPU milliseconds per seed", 1000 * r["cpu_seconds"] / r["seeds"]),
            row(
                f"  peak RSS (MiB; {r['rss_after_imports_mib']:.0f} after imports)",
                r["max_rss_mib"],
                unit="MiB",
            ),
            row(
                f"  summary.json {r['summary_json_kib']:,.0f} KiB, "
                f"report.html {r['report_html_kib']:,.0f} KiB",
                None,
            ),
        ]
    d = first(doc["summary"]["disagreement"])
    label = f"disagreement alone, {d['seeds']:,} seeds x {d['images']:,} images (s)"
    return out + _timed(label, doc["summary"]["disagreement"], f"; {d['pairs']:,} pairs")
