"""Pairwise disagreement between seeds: how often two models of the same recipe predict differently (pure)."""

from collections.abc import Sequence

import numpy as np
import pandas as pd

from lenet_batch.summary.types import Disagreement, SeedPair

# summary.json keeps the full matrix up to this many seeds (2,500 cells, about 50 KB of JSON): the size the
# report still shows as a heatmap. Beyond, the matrix grows as seeds squared (1,000 seeds: 20 MB of JSON) and
# tells a reader less than its statistics; every pair stays in disagreement.parquet.
MATRIX_MAX_SEEDS = 50
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
# Samples per block of the one-hot products: float32 sums of at most this many ones are exact, and a block of
# 1,000 seeds takes 16 MB.
BLOCK = 4096


def pairwise(votes: np.ndarray, n_classes: int) -> np.ndarray:
    """(seeds x seeds) share of samples on which two seeds predict different classes.

    Two seeds agree on a sample when both predict class c for some c, so the count of agreements is the sum
    over classes of one-hot Gram matrices: BLAS products instead of a Python loop over pairs.
    """
    n_seeds, n_samples = votes.shape
    agree = np.zeros((n_seeds, n_seeds), dtype=np.float64)
    for start in range(0, n_samples, BLOCK):
        block = votes[:, start : start + BLOCK]
        for c in range(n_classes):
            onehot = (block == c).astype(np.float32)
            agree += onehot @ onehot.T
    return (n_samples - agree) / max(n_samples, 1)  # counts of differences, then one division: exact shares


def _upper(matrix: np.ndarray) -> np.ndarray:
    """The values above the diagonal: one per pair of seeds."""
    return matrix[np.triu_indices(len(matrix), k=1)]


def describe_pairs(matrix: np.ndarray, seeds: Sequence[int]) -> Disagreement:
    """summary.json's disagreement: statistics over pairs always, the matrix up to MATRIX_MAX_SEEDS seeds."""
    pairs = _upper(matrix)
    kept = tuple(tuple(float(v) for v in row) for row in matrix) if len(seeds) <= MATRIX_MAX_SEEDS else None
    shared = {"seeds": tuple(int(s) for s in seeds), "matrix": kept, "matrix_max_seeds": MATRIX_MAX_SEEDS}
    if pairs.size == 0:
        return Disagreement(n_pairs=0, **shared)
    i, j = np.unravel_index(np.argmax(np.triu(matrix, k=1)), matrix.shape)
    return Disagreement(
        n_pairs=int(pairs.size),
        mean=float(pairs.mean()),
        median=float(np.median(pairs)),
        min=float(pairs.min()),
        max=float(pairs.max()),
        quantiles={
            f"p{round(q * 100)}": float(v)
            for q, v in zip(QUANTILES, np.quantile(pairs, QUANTILES), strict=True)
        },
        most_different_pair=SeedPair((int(seeds[i]), int(seeds[j])), float(matrix[i, j])),
        **shared,
    )


def per_seed_mean(matrix: np.ndarray) -> np.ndarray:
    """Each seed's mean disagreement with every other seed (NaN with one seed)."""
    n = len(matrix)
    return matrix.sum(axis=1) / (n - 1) if n > 1 else np.full(n, np.nan)


def pairs_frame(matrix: np.ndarray, seeds: Sequence[int]) -> pd.DataFrame:
    """One row per pair of seeds (seed_a < seed_b in the run's order) with their disagreement."""
    i, j = np.triu_indices(len(matrix), k=1)
    ids = np.asarray(seeds, dtype=np.int64)
    return pd.DataFrame({"seed_a": ids[i], "seed_b": ids[j], "disagreement": matrix[i, j]})
