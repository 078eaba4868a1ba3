"""Table rows of where a Ray train stage's time goes: seeds that fit the CPUs, the driver's steps, one
seed's task phase by phase against a plain process, and the CPU Ray's own processes took."""

from tests.benchmarks.table import busy, first, row

FIT_TARGET = 1.05  # 2x the seeds on the same CPUs: at most 5 % beyond twice the time
TASK_PHASES = (  # (label, the task's phases, the plain process's phases)
    (
        "worker start + arrays / interpreter + data",
        ("waited_for_worker", "imports"),
        ("imports", "data_load"),
    ),
    ("set-up: seeding, model, trainer", ("setup",), ("setup",)),
    ("first epoch, with the hybridized graph", ("first_epoch",), ("first_epoch",)),
    ("a later epoch", ("later_epochs",), ("later_epochs",)),
    ("evaluation", ("evaluation",), ("evaluation",)),
    ("checkpoints and writes", ("checkpoints", "writes"), ("checkpoints", "writes")),
)
DRIVER_STEPS = ("ray_import", "ray_start", "warm_submit", "data_wait", "put", "tasks", "ray_stop")


def fit_rows(doc: dict) -> list[dict]:
    """2c seeds on c CPUs against twice c seeds on c CPUs, once Ray is up."""
    if "fit" not in doc["ray"]:
        return []
    half, full = (first(doc["ray"]["fit"][k]) for k in ("half", "full"))
    noise = busy(doc["ray"]["fit"]["half"], doc["ray"]["fit"]["full"])
    c = half["seeds"]
    return [
        row(
            f"{full['seeds']} seeds on {c} CPUs vs 2x {c} on {c} (s)",
            full["wall_seconds"],
            2 * half["wall_seconds"],
            (f"ratio <= {FIT_TARGET}", lambda o, r: r <= FIT_TARGET),
            unit="s",
            busy=noise,
        ),
        # Fixed costs count twice on the right above; a seed sharing a core with a third trains slower.
        row(
            f"  a seed's training, {full['seeds']} on {c} vs {c} on {c} (s)",
            _mean_of(full["train_seconds"]),
            _mean_of(half["train_seconds"]),
            (f"ratio <= {FIT_TARGET}", lambda o, r: r <= FIT_TARGET),
            unit="s",
            busy=noise,
        ),
    ]


def _mean_of(values: list[float | None]) -> float:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else 0.0


def _mean(tasks: list[dict], keys: tuple[str, ...]) -> float:
    return sum(sum(t.get(k, 0.0) for k in keys) for t in tasks) / len(tasks)


def phase_rows(doc: dict) -> list[dict]:
    """The driver's steps, then one seed's task against a plain process, phase by phase (means)."""
    if "phases" not in doc["ray"]:
        return []
    ray, plain = first(doc["ray"]["phases"]), doc["ray"]["plain_phases"]["results"]
    noise = busy(doc["ray"]["phases"], doc["ray"]["plain_phases"])
    driver = ray["driver"]
    steps = ", ".join(f"{k.replace('_', ' ')} {driver[k]:.1f}" for k in DRIVER_STEPS if k in driver)
    rows = [
        row(
            f"train stage on a fresh local Ray, {len(ray['tasks'])} seeds (s)",
            driver["whole"],
            unit="s",
            busy=noise,
        ),
        row(f"  driver (s): {steps}; data load {driver.get('data_load', 0):.1f} meanwhile", None),
        row("  one seed's task / a plain process (s):", None),
    ]
    for label, ours, theirs in TASK_PHASES:
        rows.append(
            row(f"    {label}", _mean(ray["tasks"], ours), _mean(plain, theirs), unit="s", busy=noise)
        )
    return rows + ray_cpu_rows(doc)


def ray_cpu_rows(doc: dict) -> list[dict]:
    """CPU seconds Ray's own processes (and our LineSink actor) took during that stage, as a share of it."""
    procs = doc["ray"]["phases"]["procs"]
    cpu = procs.get("ray_cpu_seconds", {})
    if not cpu:
        return []
    total, wall = sum(cpu.values()), procs["wall_seconds"]
    top = ", ".join(
        f"{name} {seconds:.1f}" for name, seconds in sorted(cpu.items(), key=lambda kv: -kv[1])[:6]
    )
    return [
        row("  Ray's own processes: CPU-s / share of a core", total, None, unit="s"),
        row(f"    {100 * total / wall:.0f}% of a core over {wall:.0f} s: {top}", None),
    ]
