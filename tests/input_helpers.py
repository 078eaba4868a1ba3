"""Helpers of the bad-input and named-input tests: the CLI in this process, real images, Parquet inputs."""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lenet_batch import cli
from lenet_batch.data.inputs import ImageSource
from lenet_batch.store.layout import RunRef
from tests.helpers import score_seed
from tests.prediction_helpers import fashion, install_run


def run_main(capsys, *argv: str) -> tuple[int, str]:
    """`lenet-batch ARGV` in this process, quiet: (exit code, stderr)."""
    code = cli.main([*argv, "-q"])
    return code, capsys.readouterr().err


def images(n: int) -> np.ndarray:
    return fashion().test_images[:n]


def parquet_input(path: Path, pixels: list[bytes], labels: list | None = None) -> str:
    columns = {"image": pa.array(pixels, pa.binary())}
    if labels is not None:
        columns["label"] = pa.array(labels, pa.int64())
    pq.write_table(pa.table(columns), path)
    return str(path)


def trained_run_at(out: str) -> str:
    """An output whose run r has a finished seed 0 (a tiny real model) and 500 scored test images."""
    install_run(out, "r", [0])
    split = {"test_images": fashion().test_images[:500], "test_labels": fashion().test_labels[:500]}
    score_seed(RunRef(out, "r"), 0, ImageSource(uri=None, batch_size=4096), test_split=split)
    return out
