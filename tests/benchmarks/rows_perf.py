"""Table rows of the sections on what a command costs beyond its work: Ray, scoring, placement, latency."""

from tests.benchmarks.table import busy, first, row

INFER_TARGET = 0.95
RAY_TARGETS = {"small": 0.90, "large": 0.95}


def ray_rows(doc: dict) -> list[dict]:
    """The Ray path against plain processes (OMP=1, one per core): end to end, and once Ray is up."""
    rows = []
    for key in ("small", "large"):
        if key not in doc["ray"]:
            continue
        r = doc["ray"][key]
        ray_wall, plain_wall = r["ray_cli"]["wall_seconds"], r["plain"]["procs"]["wall_seconds"]
        rows.append(
            row(
                f"Ray path vs plain processes, {r['seeds']} x {r['epochs']} (s)",
                ray_wall,
                plain_wall,
                (f">= {RAY_TARGETS[key]:.0%} of plain", lambda o, x, t=RAY_TARGETS[key]: 1 / x >= t),
                unit="s",
                busy=max(r["ray_cli"]["other_load_cores"], r["plain"]["procs"]["other_load_cores"]),
            )
        )
    small, session = doc["ray"]["small"], first(doc["ray"]["in_session"])
    plain_work = max(p["in_process_seconds"] for p in small["plain"]["results"])
    rows.append(
        row(
            f"  once Ray is up, {session['seeds']} x 1 (s; plain: after start-up)",
            session["wall_seconds"],
            plain_work,
            (">= 90% of plain", lambda o, x: 1 / x >= 0.9),
            unit="s",
            busy=busy(doc["ray"]["in_session"]),
        )
    )
    return rows


def infer_rows(doc: dict) -> list[dict]:
    """The forward pass by batch size and fusion, then the whole path to committed Parquet on one core."""
    inf = doc["infer"]
    rows = []
    for v in first(inf["forward"])["variants"]:
        label = f"forward pass, batch {v['batch']}{' MKLDNN-fused' if v['fused'] else ''} (images/CPU-s)"
        rows.append(row(label, v["images_per_cpu_s"], None, None, busy=busy(inf["forward"])))
        rows[-1]["ratio"] = v["vs_256"]  # measured in alternation with batch 256
    for key, label in (("test_split", "test split"), ("npy", ".npy")):
        r = first(inf[key])
        rows += [
            row(
                f"infer {label} {r['rows']:,} images, 1 core (images/s)",
                r["images_per_s"],
                busy=busy(inf[key]),
            ),
            row(
                f"  of the bare forward pass at batch {r['forward_batch']} (CPU time)",
                r["of_forward_batch"],
                None,
                (f">= {INFER_TARGET:.0%}", lambda o, x: o >= INFER_TARGET),
                unit="%",
            ),
            row("  of the bare forward pass at batch 256 (CPU time)", r["of_forward_256"], unit="%"),
            row(f"  peak RSS (MiB; {r['rss_before_mib']:.0f} before scoring)", r["max_rss_mib"], unit="MiB"),
        ]
    return rows


def _crossover(sizes: list[dict]) -> float | None:
    """Seeds x images where a local Ray starts to beat the driver, from a line through each path's times."""
    if len(sizes) < 2:
        return None
    (w1, h1, r1), (w2, h2, r2) = [(s["seeds"] * s["images"], *_walls(s)) for s in (sizes[0], sizes[-1])]
    here_slope, ray_slope = (h2 - h1) / (w2 - w1), (r2 - r1) / (w2 - w1)
    if here_slope <= ray_slope:
        return None  # Ray never catches up within this model
    return w1 + (r1 - h1) / (here_slope - ray_slope)


def _walls(size: dict) -> tuple[float, float]:
    return size["here"]["procs"]["wall_seconds"], size["ray"]["procs"]["wall_seconds"]


def paths_rows(doc: dict) -> list[dict]:
    """Scoring in the driver against a local Ray (whole process, as a user waits), and the crossover."""
    from lenet_batch.pipeline.placement import LOCAL_RAY_MIN_IMAGES

    sizes = doc["paths"]["sizes"]
    rows = [
        row(
            f"infer {s['seeds']} seeds x {s['images']:,} images: driver vs local Ray (s)",
            _walls(s)[0],
            _walls(s)[1],
            unit="s",
            busy=max(busy(s["here"]), busy(s["ray"])),
        )
        for s in sizes
    ]
    crossover = _crossover(sizes)
    label = f"  crossover, seeds x images (placement uses {LOCAL_RAY_MIN_IMAGES:,})"
    rows.append(row(label, crossover))
    return rows


LATENCY_TARGETS = {
    "query": ("<= 1 s", lambda wall, work, data: wall <= 1.0),
    "infer": ("<= 2x its work", lambda wall, work, data: wall <= 2 * work),
    "train": ("<= 1.2x data's", lambda wall, work, data: wall <= 1.2 * data),
}


def latency_rows(doc: dict) -> list[dict]:
    """Each command's wall time (from outside) against its work (timed inside, after its imports)."""
    lat = doc["latency"]
    data_wall = lat["data"]["procs"]["wall_seconds"]
    rows = []
    for name, found in lat.items():
        wall, work = found["procs"]["wall_seconds"], first(found["work"])["work_seconds"]
        text, check = LATENCY_TARGETS.get(name, ("", None))
        target = (text, lambda o, x, c=check, w=work: c(o, w, data_wall)) if check else None
        label = f"{found['command']}: wall vs work (s; {found['procs']['own_cpu_seconds']:.1f} CPU-s)"
        rows.append(row(label, wall, work, target, "s", busy(found)))
    return rows
