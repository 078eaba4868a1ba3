"""The figures for 1, 3, 20, 256 and 1,000 seeds: the form each takes, checked in its pixels."""

import functools
import logging

import numpy as np
import pytest

from lenet_batch.summary import figures as fig
from lenet_batch.summary import figures_seeds, plotting
from lenet_batch.summary.figures_images import MAX_GRID_IMAGES
from lenet_batch.summary.statistics import compute_statistics
from lenet_batch.summary.types import RunSummary
from tests import synthetic_runs as syn
from tests.pixels import CYCLE, blob_sizes, colour_mask, colour_pixels, dark_share, hex_rgb, markers, read_png

SEED_COUNTS = (1, 3, 20, 256, 1000)
BAR = hex_rgb("#9ecae1")  # the distribution's bars
PAIR_BAR = hex_rgb("#fdae6b")  # the pairwise-disagreement histogram's bars


@functools.cache
def run(n_seeds: int, epochs: int = 5) -> tuple[RunSummary, dict, np.ndarray]:
    """(summary, metrics, disagreement matrix) of a synthetic run; fewer images for many seeds."""
    images = 2000 if n_seeds <= 20 else 300
    seeds = range(n_seeds)
    metrics = syn.metrics("r", seeds, epochs)
    result = compute_statistics(syn.predictions_table("r", seeds, images), metrics, "r")
    return result.summary, metrics, result.disagreement_matrix


def seed_figure(n: int) -> tuple[object, np.ndarray]:
    """The seed-accuracy figure (to ask its axes) and its pixels."""
    doc, _, _ = run(n)
    args = (doc.per_seed, doc.across_seeds, doc.ensemble.accuracy)
    return figures_seeds.seed_accuracy_figure(*args), read_png(fig.seed_accuracy_png(*args))


def region(pixels: np.ndarray, figure: object, ax: object, side: str) -> np.ndarray:
    """The pixels left of or below an axes' frame (where its labels and tick labels are)."""
    box = ax.get_window_extent(figure.canvas.get_renderer())
    height = pixels.shape[0]
    top, bottom = height - int(box.y1), height - int(box.y0)
    if side == "left":
        return pixels[top:bottom, : max(int(box.x0) - 2, 0)]
    return pixels[bottom + 2 :, int(box.x0) : int(box.x1)]


@pytest.mark.parametrize("n", [1, 3, 20])
def test_up_to_20_seeds_each_seed_is_a_marker_with_its_label(n):
    figure, pixels = seed_figure(n)
    assert markers(pixels, CYCLE["C0"]) == n + 1  # and the legend's sample marker
    (ax,) = figure.axes
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == [str(s) for s in range(n)] and ax.get_xlabel() == "seed"
    renderer = figure.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels()]
    assert not any(a.overlaps(b) for a, b in zip(boxes, boxes[1:], strict=False)), "seed labels overlap"
    assert not [s for s in blob_sizes(colour_mask(pixels, BAR)) if s > 30], "no histogram bars"


@pytest.mark.parametrize("n", [256, 1000])
def test_many_seeds_show_a_distribution_with_labelled_axes_and_the_extremes(n):
    figure, pixels = seed_figure(n)
    ax, side = figure.axes
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("test accuracy", "number of seeds")
    assert dark_share(region(pixels, figure, ax, "left")) > 0.01  # the y label and tick labels are drawn
    assert dark_share(region(pixels, figure, ax, "below")) > 0.01
    bars = [s for s in blob_sizes(colour_mask(pixels, BAR)) if s > 30]
    assert len(bars) >= 8, "a histogram has bars"
    assert markers(pixels, CYCLE["C0"]) <= 2, "no marker per seed"  # the legend's patches only
    assert colour_pixels(pixels, CYCLE["C2"]) > 50  # the ensemble line
    worst, best = figures_seeds.extremes(run(n)[0].per_seed)
    text = side.texts[0].get_text()
    assert all(f"seed {r.seed:>5}" in text for r in worst + best) and len(worst) == len(best) == 5
    assert dark_share(pixels[:, int(0.82 * pixels.shape[1]) :]) > 0.005  # and the names are drawn


@pytest.mark.parametrize("n", SEED_COUNTS)
def test_training_curves_are_lines_up_to_10_seeds_then_median_and_bands(n):
    _, metrics, _ = run(n)
    pixels = read_png(fig.training_curves_png(metrics))
    if n <= figures_seeds.CURVE_LINES_MAX:
        for k in range(n):
            assert colour_pixels(pixels, CYCLE[f"C{k}"]) > 20, f"seed {k} has no line"
        assert colour_pixels(pixels, CYCLE["C4"]) < 5
    else:
        band = hex_rgb("#a5c8e1")  # C0 at 30% and 12% over white, the 10-90% band within min-max
        assert colour_pixels(pixels, band, tolerance=0.05) > 2000
        assert colour_pixels(pixels, CYCLE["C1"]) > 20  # the train-accuracy median
        for other in ("C2", "C3", "C4"):  # no per-seed colours
            assert colour_pixels(pixels, CYCLE[other]) < 5


@pytest.mark.parametrize("n", [1, 256])
def test_one_epoch_shows_points_on_a_single_integer_tick(n):
    _, metrics, _ = run(n, epochs=1)
    figure = figures_seeds.training_curves_figure(metrics)
    for ax in figure.axes:
        assert list(ax.get_xticks()) == [1] and ax.get_xlim() == (0.5, 1.5)
    pixels = read_png(fig.training_curves_png(metrics))
    right = pixels[:, pixels.shape[1] // 2 :]
    assert markers(right, CYCLE["C0"]) == 1 + (n > 1)  # the test-accuracy point (and the legend's)
    assert colour_pixels(right, CYCLE["C1"] if n > 1 else CYCLE["C0"]) > 20  # the train point


@pytest.mark.parametrize("epochs, ticks", [(5, [1, 2, 3, 4, 5]), (15, list(range(1, 16)))])
def test_epoch_ticks_are_whole_numbers(epochs, ticks):
    _, metrics, _ = run(3, epochs=epochs)
    for ax in figures_seeds.training_curves_figure(metrics).axes:
        assert list(ax.get_xticks()) == ticks


def test_long_runs_get_integer_ticks_too():
    figure, ax = plotting.pyplot().subplots()
    plotting.epoch_axis(ax, list(range(1, 41)))
    ax.plot(range(1, 41), range(40))
    figure.canvas.draw()
    assert all(float(t).is_integer() for t in ax.get_xticks())


@pytest.mark.parametrize("n", [3, 20, 256, 1000])
def test_disagreement_is_a_heatmap_up_to_50_seeds_then_a_histogram(n):
    doc, _, matrix = run(n)
    args = (matrix, doc.seeds, doc.ensemble.n_samples)
    figure, pixels = figures_seeds.disagreement_figure(*args), read_png(fig.disagreement_png(*args))
    ax = figure.axes[0]
    if n <= figures_seeds.HEATMAP_MAX:
        assert pixels.shape[:2] == (600, 700) and len(figure.axes) == 2  # the matrix and its colour bar
        assert ax.images[0].get_array().shape == (n, n) and ax.images[0].get_array().mask.diagonal().all()
        # one colour scale for every night, 0 to 1 (a share), whatever the pairs' range tonight: each cell
        # is drawn in the colour of its own value on that scale
        assert ax.images[0].get_clim() == (0.0, 1.0)
        figure.canvas.draw()
        drawn = np.asarray(figure.canvas.buffer_rgba())[..., :3] / 255
        cmap = ax.images[0].get_cmap()
        for i, j in [(0, 1), (1, 0), (n - 1, 0), (0, n - 1), (n // 2, n - 1)]:
            x, y = ax.transData.transform((j + 0.3, i + 0.3))  # off the centre, where a number may be
            got = drawn[drawn.shape[0] - int(round(y)), int(round(x))]
            assert np.abs(got - cmap(matrix[i, j])[:3]).max() < 0.03, (i, j, matrix[i, j], got)
    else:
        assert pixels.shape[:2] == (400, 1000) and not ax.images
        assert (ax.get_xlabel(), ax.get_ylabel()) == (
            "share of samples two seeds predict differently",
            "pairs of seeds",
        )
        assert len([s for s in blob_sizes(colour_mask(pixels, PAIR_BAR)) if s > 30]) >= 8


def test_the_report_draws_no_disagreement_for_one_seed():
    doc, metrics, matrix = run(1)
    assert "disagreement.png" not in fig.draw_run_figures(doc, metrics, matrix)
    assert set(fig.draw_run_figures(run(3)[0], run(3)[1], run(3)[2])) >= {"disagreement.png"}


@pytest.mark.parametrize("n", SEED_COUNTS)
def test_every_figure_has_a_caption_saying_what_to_look_at(n):
    doc, metrics, matrix = run(n)
    for name, figure in fig.draw_run_figures(doc, metrics, matrix).items():
        read_png(figure.png)
        assert len(figure.caption) > 40, name
        if n > 1 or name != "seed_accuracy.png":
            assert "Look" in figure.caption, name
        if name == "disagreement.png" and n <= figures_seeds.HEATMAP_MAX:
            assert "fixed scale from 0" in figure.caption and "to 1" in figure.caption


@pytest.mark.parametrize(
    "n, shape",
    [
        (0, (1, 1)),
        (1, (1, 1)),
        (6, (1, 6)),
        (9, (1, 9)),
        (10, (2, 5)),
        (18, (2, 9)),
        (20, (3, 7)),
        (90, (10, 9)),
    ],
)
def test_image_grid_fits_the_number_of_images(n, shape):
    assert fig.grid_shape(n) == shape


def tiles(png: bytes) -> int:
    """The black image tiles of a picture (the images are black with a bright bar)."""
    return len([s for s in blob_sizes(read_png(png)[..., :3].mean(axis=-1) < 0.05) if s > 200])


@pytest.mark.parametrize("n", [1, 6, 18, 20])
def test_image_grid_draws_every_image_and_no_empty_row(n):
    images = np.zeros((n, 28, 28), np.uint8)
    images[:, 10:14, 4:24] = 255
    labels = np.arange(n) % 10
    png = fig.test_predictions_png(images, labels, labels)
    rows, _ = fig.grid_shape(n)
    assert tiles(png) == n
    assert read_png(png).shape[0] <= rows * 160 + 60  # 1.6 inches a row and the heading: no empty row


def test_image_grid_caps_at_its_maximum_and_says_so(caplog):
    n = MAX_GRID_IMAGES + 10
    images = np.zeros((n, 28, 28), np.uint8)
    with caplog.at_level(logging.WARNING, logger="lenet_batch"):
        png = fig.train_images_png(images, np.arange(n) % 10)
    assert tiles(png) == MAX_GRID_IMAGES
    assert f"the first {MAX_GRID_IMAGES} of the {n} training images" in caplog.text


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, fashion_mnist):
    """A seed trained for one epoch on 2,048 real images (a model for `predict`)."""
    from lenet_batch.config import Recipe
    from lenet_batch.records import DataInfo
    from lenet_batch.store.layout import RunRef
    from lenet_batch.training.seed import run_seed

    output = tmp_path_factory.mktemp("predict")
    arrays = {k: v[:2048] for k, v in fashion_mnist.arrays().items()}
    run_seed(arrays, data_info=DataInfo(), recipe=Recipe(epochs=1), seed=0, run=RunRef(str(output), "r1"))
    return output


@pytest.mark.parametrize(
    "first, rows, capped", [(6, 1, False), (20, 3, False), (MAX_GRID_IMAGES + 5, 10, True)]
)
def test_predict_plot_fits_its_images_and_says_when_it_caps(
    trained_run, tmp_path, capsys, caplog, first, rows, capped
):
    from lenet_batch import cli

    plot = tmp_path / "pred.png"
    argv = ["predict", "--output", str(trained_run), "--run", "r1", "--seed", "0", "--first", str(first)]
    with caplog.at_level(logging.WARNING, logger="lenet_batch"):
        assert cli.main([*argv, "--plot", str(plot)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len([line for line in out if "\ttrue " in line]) == first  # every asked-for prediction is printed
    height = read_png(plot.read_bytes()).shape[0]
    assert rows * 160 < height < rows * 160 + 100  # as many rows as the images need, none empty
    warning = f"the picture shows the first {MAX_GRID_IMAGES} of the {first} test images"
    assert (warning in caplog.text) is capped
