"""The benchmark's figures as rows (ours, baseline, ratio, target, met) and as a printed table."""

from typing import Any

from tests.benchmarks.measure import INFER_MFLOP, TRAIN_MFLOP

BUSY_CORES = 0.25  # other processes used more than this many cores on average: the figure is noisy
PEAK_MEMORY_MIB = 2048


def _row(
    metric: str, ours: Any, baseline: Any = None, target: str = "", met: bool | None = None, **kw
) -> dict:
    ratio = ours / baseline if isinstance(ours, float | int) and isinstance(baseline, float | int) else None
    return {
        "metric": metric,
        "ours": ours,
        "baseline": baseline,
        "ratio": ratio,
        "target": target,
        "met": met,
        **kw,
    }


def _busy(*sections: dict) -> float:
    return max(s["procs"]["other_load_cores"] for s in sections)


def _first(section: dict) -> dict:
    return section["results"][0]


def train_rows(doc: dict) -> list[dict]:
    """Per-core and whole-machine throughput, roofline fraction, parallel efficiency, accuracy."""
    t, cores = doc["train"], doc["machine"]["cores"]
    o1, b1 = _first(t["ours_1core"]), _first(t["baseline_1core"])
    ray, bm = _first(t["ours_ray"]), _first(t["baseline_machine"])
    per_core, per_core_base = o1["samples"] / o1["loop_seconds"], b1["samples"] / b1["loop_seconds"]
    machine_ours, machine_base = ray["samples"] / ray["wall_seconds"], bm["samples"] / bm["wall_seconds"]
    procs = t["ours_processes"]["results"]
    machine_procs = sum(p["samples"] for p in procs) / max(p["wall_seconds"] for p in procs)
    rows = [
        _row(
            "train 1 seed, 1 core (samples/s, loop)",
            per_core,
            per_core_base,
            ">= 40,000",
            per_core >= 40_000,
            busy=_busy(t["ours_1core"], t["baseline_1core"]),
        ),
    ]
    if "roofline" in doc:
        gflops = _first(doc["roofline"])["gflops"]
        frac, frac_base = (r * TRAIN_MFLOP * 1e6 / (gflops * 1e9) for r in (per_core, per_core_base))
        rows.append(
            _row(
                f"  of 1-core matmul roofline ({gflops:.0f} GFLOP/s)",
                frac,
                frac_base,
                ">= 50%",
                frac >= 0.5,
                unit="%",
                busy=_busy(doc["roofline"]),
            )
        )
    eff_ray = o1["wall_seconds"] * ray["seeds"] / cores / ray["wall_seconds"]
    eff_procs = o1["wall_seconds"] * len(procs) / cores / max(p["wall_seconds"] for p in procs)
    rows += [
        _row(
            f"train whole machine, {ray['seeds']} Ray tasks (samples/s)",
            machine_ours,
            machine_base,
            "ratio >= 4x",
            machine_ours / machine_base >= 4,
            busy=_busy(t["ours_ray"], t["baseline_machine"]),
        ),
        _row(
            f"  {len(procs)} processes OMP=1, no Ray (samples/s)",
            machine_procs,
            machine_base,
            busy=_busy(t["ours_processes"]),
        ),
        _row(
            f"parallel efficiency {ray['seeds']} seeds / {cores} cores (Ray)",
            eff_ray,
            None,
            ">= 90%",
            eff_ray >= 0.9,
            unit="%",
            busy=_busy(t["ours_ray"]),
        ),
        _row(f"  {len(procs)} processes, no Ray", eff_procs, None, unit="%", busy=_busy(t["ours_processes"])),
        _row(
            f"test accuracy, 1 seed x {len(o1['epochs'])} epochs",
            o1["test_accuracy"],
            b1["test_accuracy"],
            unit="acc",
        ),
    ]
    return rows


def infer_rows(doc: dict) -> list[dict]:
    """Images per second per core from model to committed Parquet, and peak RSS."""
    rows = []
    for key, label in (("test_split", "test split"), ("npy_200k", "200k .npy")):
        r = _first(doc["infer"][key])
        rate = r["images_per_s"]
        rows.append(
            _row(
                f"infer {label}, 1 core (images/s)",
                rate,
                None,
                ">= 100,000",
                rate >= 100_000,
                busy=_busy(doc["infer"][key]),
            )
        )
        rows.append(
            _row(f"  peak RSS (MiB; {r['rss_before_mib']:.0f} before scoring)", r["max_rss_mib"], unit="MiB")
        )
    if "roofline" in doc:
        gflops = _first(doc["roofline"])["gflops"]
        rate = _first(doc["infer"]["npy_200k"])["images_per_s"]
        rows.append(
            _row("  200k .npy, of matmul roofline", rate * INFER_MFLOP * 1e6 / (gflops * 1e9), unit="%")
        )
    return rows


def nightly_rows(doc: dict) -> list[dict]:
    """Nightly wall time, its train stage's parallel efficiency, peak memory, accuracy."""
    n, s = doc["nightly"], doc["settings"]
    ours, base = n["ours"], n["baseline"]
    wall, base_wall = ours["procs"]["wall_seconds"], base["wall_seconds"]
    label = f"{s['seeds']} seeds x {s['epochs']} epochs"
    stages = ", ".join(f"{k} {v:.0f}" for k, v in ours["stage_seconds"].items())
    rows = [
        _row(
            f"nightly {label} (s)",
            wall,
            base_wall,
            "ratio <= 0.35",
            wall / base_wall <= 0.35,
            unit="s",
            busy=max(ours["procs"]["other_load_cores"], base["other_load_cores"]),
        ),
        _row(f"  stages (s): {stages}", None),
    ]
    if "train" in doc:
        o1 = _first(doc["train"]["ours_1core"])
        seed_seconds = o1["wall_seconds"] / len(o1["epochs"]) * s["epochs"]
        eff = seed_seconds * s["seeds"] / doc["machine"]["cores"] / ours["stage_seconds"]["train"]
        rows.append(
            _row("  parallel efficiency of the train stage", eff, None, ">= 90%", eff >= 0.9, unit="%")
        )
    pss, by_role = ours["procs"]["peak_total_pss_mib"], ours["procs"]["peak_rss_mib_by_role"]
    rows += [
        _row(
            "  peak memory, all processes (PSS MiB)",
            pss,
            base["peak_rss_mib"],
            "<= 2048 (8 seeds)",
            pss <= PEAK_MEMORY_MIB,
            unit="MiB",
        ),
        _row(
            f"  peak RSS driver {by_role.get('driver', 0):.0f}, Ray worker max "
            f"{max(ours['procs']['ray_worker_peak_rss_mib'] or [0]):.0f} MiB",
            None,
        ),
    ]
    acc, base_acc = _mean(ours["test_accuracy"]), _mean(base["test_accuracy"])
    rows.append(
        _row(
            f"  mean test accuracy, {label}",
            acc,
            base_acc,
            "within 0.5 points",
            abs(acc - base_acc) <= 0.005,
            unit="acc",
        )
    )
    return rows


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def rows(doc: dict) -> list[dict]:
    """Every row the sections that ran can give."""
    out = []
    for section, make in (("train", train_rows), ("infer", infer_rows), ("nightly", nightly_rows)):
        if section in doc:
            out += make(doc)
    if "roofline" in doc and "train" not in doc:
        out.append(_row("1-core fp32 matmul (GFLOP/s)", _first(doc["roofline"])["gflops"]))
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
    lines = [
        f"lenet-batch benchmark, {doc['started_at']} .. {doc['finished_at']}",
        f"machine: {m['cpu_model']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}",
        f"versions: {versions}",
        f"settings: --seeds {s['seeds']} --epochs {s['epochs']} --train-epochs {s['train_epochs']}"
        f"{' --quick' if s['quick'] else ''}; sections {', '.join(s['only'])}",
        "",
        f"{'metric':<50} {'ours':>10} {'baseline':>10} {'ratio':>7}  {'target':<18} met",
    ]
    for r in doc["rows"]:
        unit = r.get("unit", "")
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None and unit not in ("acc", "%") else ""
        met = {True: "yes", False: "NO", None: ""}.get(r["met"], "")
        busy = " *" if r.get("busy", 0) > BUSY_CORES else ""
        lines.append(
            f"{r['metric']:<50} {_fmt(r['ours'], unit):>10} {_fmt(r['baseline'], unit):>10} {ratio:>7}"
            f"  {r['target']:<18} {met}{busy}"
        )
    lines.append(f"\n* other processes used > {BUSY_CORES} cores on average meanwhile: a noisy figure")
    return "\n".join(lines)
