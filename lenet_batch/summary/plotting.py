"""What every figure shares: pyplot on Agg, sizes, PNG bytes, integer epoch axes."""

import io
from collections.abc import Sequence
from typing import Any

DPI = 100
WIDE = (10.0, 4.0)  # inches: 1000 x 400 pixels at DPI
SQUARE = (7.0, 6.0)
EVERY_EPOCH_TICKS = 15  # up to this many epochs every epoch gets a tick


def pyplot() -> Any:
    """pyplot on the Agg backend: batch jobs have no display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png(fig: Any) -> bytes:
    """The figure as PNG bytes; the figure is closed so long runs do not accumulate them."""
    plt = pyplot()
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=DPI)
    finally:
        plt.close(fig)
    return buf.getvalue()


def epoch_axis(ax: Any, epochs: Sequence[int]) -> None:
    """Whole-number epoch ticks; a run of one epoch gets room either side of its single tick."""
    from matplotlib.ticker import MaxNLocator

    if len(epochs) <= EVERY_EPOCH_TICKS:  # MaxNLocator falls back to fractions when few integers fit
        ax.set_xticks(list(epochs))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(set(epochs)) == 1:
        (only,) = set(epochs)
        ax.set_xlim(only - 0.5, only + 0.5)
    ax.set_xlabel("epoch")
