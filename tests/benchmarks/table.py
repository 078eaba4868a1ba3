"""The benchmark's figures as rows (ours, baseline, ratio, target, met) and as a printed table."""

from typing import Any

from tests.benchmarks.measure import TRAIN_MFLOP

BUSY_CORES = 0.25  # other processes used more than this many cores on average: the figure is noisy
PEAK_MEMORY_MIB = 2048


def row(
    metric: str,
    ours: Any,
    baseline: Any = None,
    target: tuple | None = None,
    unit: str = "",
    busy: float = 0.0,
) -> dict:
    """One line of the table; target is (text, predicate of ours and ratio)."""
    ratio = ours / baseline if isinstance(ours, float | int) and isinstance(baseline, float | int) else None
    text, met = (target[0], bool(target[1](ours, ratio))) if target else ("", None)
    return {
        "metric": metric,
        "ours": ours,
        "baseline": baseline,
        "ratio": ratio,
        "target": text,
        "met": met,
        "unit": unit,
        "busy": busy,
    }


def busy(*sections: dict) -> float:
    """The most cores other processes used during any of the sections' measurements."""
    return max(s["procs"]["other_load_cores"] for s in sections)


def first(section: dict) -> dict:
    """The first process's result of a measurement."""
    return section["results"][0]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def per_core_rows(doc: dict) -> list[dict]:
    """One seed on one core: samples/s of the training loop, per CPU-second, roofline fraction."""
    t = doc["train"]
    o1, b1 = first(t["ours_1core"]), first(t["baseline_1core"])
    rate, rate_base = o1["samples"] / o1["loop_seconds"], b1["samples"] / b1["loop_seconds"]
    noise = busy(t["ours_1core"], t["baseline_1core"])
    rows = [
        row(
            "train 1 seed, 1 core (samples/s, loop)",
            rate,
            rate_base,
            (">= 40,000", lambda o, r: o >= 40_000),
            busy=noise,
        ),
        row(
            "  per CPU-second incl. eval",
            o1["samples"] / o1["cpu_seconds"],
            b1["samples"] / b1["cpu_seconds"],
        ),
    ]
    if "roofline" in doc:
        gflops = first(doc["roofline"])["gflops"]
        frac, frac_base = (r * TRAIN_MFLOP * 1e6 / (gflops * 1e9) for r in (rate, rate_base))
        rows.append(
            row(
                f"  of 1-core matmul roofline ({gflops:.0f} GFLOP/s)",
                frac,
                frac_base,
                (">= 50%", lambda o, r: o >= 0.5),
                unit="%",
                busy=noise,
            )
        )
    return rows


def machine_rows(doc: dict) -> list[dict]:
    """One seed per core (Ray tasks, plain processes) against the baseline using the whole machine."""
    t, cores = doc["train"], doc["machine"]["cores"]
    o1, ray, bm = first(t["ours_1core"]), first(t["ours_ray"]), first(t["baseline_machine"])
    procs = t["ours_processes"]["results"]
    procs_wall = max(p["wall_seconds"] for p in procs)
    base_rate = bm["samples"] / bm["wall_seconds"]
    return [
        row(
            f"train whole machine, {ray['seeds']} Ray tasks (samples/s)",
            ray["samples"] / ray["wall_seconds"],
            base_rate,
            ("ratio >= 4x", lambda o, r: r >= 4),
            busy=busy(t["ours_ray"], t["baseline_machine"]),
        ),
        row(
            f"  {len(procs)} processes OMP=1, no Ray (samples/s)",
            sum(p["samples"] for p in procs) / procs_wall,
            base_rate,
            busy=busy(t["ours_processes"]),
        ),
        row(
            f"parallel efficiency {ray['seeds']} seeds / {cores} cores (Ray)",
            o1["wall_seconds"] * ray["seeds"] / cores / ray["wall_seconds"],
            None,
            (">= 90%", lambda o, r: o >= 0.9),
            unit="%",
            busy=busy(t["ours_ray"]),
        ),
        row(
            f"  {len(procs)} processes, no Ray",
            o1["wall_seconds"] * len(procs) / cores / procs_wall,
            unit="%",
            busy=busy(t["ours_processes"]),
        ),
        row(
            f"test accuracy, 1 seed x {len(o1['epochs'])} epochs",
            o1["test_accuracy"],
            first(t["baseline_1core"])["test_accuracy"],
            unit="acc",
        ),
    ]


def nightly_rows(doc: dict) -> list[dict]:
    """Nightly wall time and stages; with the train section, the train stage's throughput and efficiency."""
    s, ours, base = doc["settings"], doc["nightly"]["ours"], doc["nightly"]["baseline"]
    stages = ", ".join(f"{k} {v:.0f}" for k, v in ours["stage_seconds"].items())
    rows = [
        row(
            f"nightly {s['seeds']} seeds x {s['epochs']} epochs (s)",
            ours["procs"]["wall_seconds"],
            base["wall_seconds"],
            ("ratio <= 0.35", lambda o, r: r <= 0.35),
            unit="s",
            busy=max(ours["procs"]["other_load_cores"], base["other_load_cores"]),
        ),
        row(f"  stages (s): {stages}", None),
    ]
    if "train" in doc:
        o1, bm = first(doc["train"]["ours_1core"]), first(doc["train"]["baseline_machine"])
        stage = ours["stage_seconds"]["train"]
        seed_seconds = o1["wall_seconds"] / len(o1["epochs"]) * s["epochs"]
        rate = o1["samples"] / len(o1["epochs"]) * s["epochs"] * s["seeds"] / stage
        rows += [
            row("  train stage (samples/s, vs baseline machine)", rate, bm["samples"] / bm["wall_seconds"]),
            row(
                "  parallel efficiency of the train stage",
                seed_seconds * s["seeds"] / doc["machine"]["cores"] / stage,
                None,
                (">= 90%", lambda o, r: o >= 0.9),
                unit="%",
            ),
        ]
    return rows + nightly_memory_rows(doc)


def nightly_memory_rows(doc: dict) -> list[dict]:
    """Peak memory of the nightly (all processes, driver, Ray workers) and accuracy against the baseline."""
    s, ours, base = doc["settings"], doc["nightly"]["ours"], doc["nightly"]["baseline"]
    procs = ours["procs"]
    acc, base_acc = _mean(ours["test_accuracy"]), _mean(base["test_accuracy"])
    return [
        row(
            "  peak memory, all processes (PSS MiB)",
            procs["peak_total_pss_mib"],
            base["peak_total_pss_mib"],
            ("<= 2048 (8 seeds)", lambda o, r: o <= PEAK_MEMORY_MIB),
            unit="MiB",
        ),
        row(
            f"  peak RSS driver {procs['peak_rss_mib_by_role'].get('driver', 0):.0f}, Ray worker max "
            f"{max(procs['ray_worker_peak_rss_mib'] or [0]):.0f} MiB",
            None,
        ),
        row(
            f"  mean test accuracy, {s['seeds']} seeds x {s['epochs']} epochs",
            acc,
            base_acc,
            ("within 0.5 points", lambda o, r: abs(acc - base_acc) <= 0.005),
            unit="acc",
        ),
    ]


def rows(doc: dict) -> list[dict]:
    """Every row the sections that ran can give."""
    out = []
    if "roofline" in doc:
        gflops = first(doc["roofline"])["gflops"]
        out.append(
            row("1-core fp32 matmul, best of NumPy/MXNet (GFLOP/s)", gflops, busy=busy(doc["roofline"]))
        )
    from tests.benchmarks import rows_perf, rows_ray, rows_summary, signal_loop

    makers = {
        "train": (per_core_rows, machine_rows),
        "ray": (rows_perf.ray_rows, rows_ray.fit_rows, rows_ray.phase_rows),
        "infer": (rows_perf.infer_rows,),
        "paths": (rows_perf.paths_rows,),
        "latency": (rows_perf.latency_rows,),
        "nightly": (nightly_rows,),
        "summary": (rows_summary.summary_rows,),
        "history": (rows_summary.history_rows,),
        "signals": (signal_loop.rows,),
    }
    for section, makes in makers.items():
        if section in doc:
            out += [row for make in makes for row in make(doc)]
    return out


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return ""
    if unit == "%":
        return f"{100 * value:.0f}%"
    if unit == "acc":
        return f"{value:.4f}"
    if unit in ("s", "MiB"):
        return f"{value:,.1f}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def render(doc: dict) -> str:
    """The table with a description of the machine and the settings."""
    m, s = doc["machine"], doc["settings"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    history = f" --history-runs {s['history_runs']}" if s.get("history_runs") else ""
    lines = [
        f"lenet-batch benchmark, {doc['started_at']} .. {doc.get('finished_at', '(unfinished)')}",
        f"machine: {m['cpu_model']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}",
        f"versions: {versions}",
        f"settings: --seeds {s['seeds']} --epochs {s['epochs']} --train-epochs {s['train_epochs']}"
        f"{' --quick' if s['quick'] else ''}{history}; sections {', '.join(s['only'])}",
        "",
        f"{'metric':<50} {'ours':>10} {'baseline':>10} {'ratio':>7}  {'target':<18} met",
    ]
    for r in doc["rows"]:
        unit = r["unit"]
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None and unit not in ("acc", "%") else ""
        met = {True: "yes", False: "NO", None: ""}.get(r["met"], "")
        busy = " *" if r["busy"] > BUSY_CORES else ""
        lines.append(
            f"{r['metric']:<50} {_fmt(r['ours'], unit):>10} {_fmt(r['baseline'], unit):>10} {ratio:>7}"
            f"  {r['target']:<18} {met}{busy}"
        )
    lines.append(f"\n* other processes used > {BUSY_CORES} cores on average meanwhile: a noisy figure")
    return "\n".join(lines)
