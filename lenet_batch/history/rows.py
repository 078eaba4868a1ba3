"""The nights of an output as the history shows them (pure): one NightStatus each (state/night.py), and the
per-class accuracy of every night for the trend figure."""

import numpy as np

from lenet_batch.state.night import NightStatus, night_status
from lenet_batch.state.run_state import RunState


def night_rows(states: list[RunState]) -> list[NightStatus]:
    """Every night's status, in the order given (state/listing.py gives night order, newest first)."""
    return [night_status(state) for state in states]


def per_class_matrix(states: list[RunState]) -> tuple[list[str], np.ndarray]:
    """Class names and the mean per-class accuracy, classes × nights in the order given (NaN: no summary)."""
    names: list[str] = next((list(s.summary.class_names) for s in states if s.summary), [])
    matrix = np.full((len(names), len(states)), np.nan)
    for j, state in enumerate(states):
        for row in state.summary.per_class if state.summary else ():
            if row.class_name in names:
                matrix[names.index(row.class_name), j] = row.mean
    return names, matrix
