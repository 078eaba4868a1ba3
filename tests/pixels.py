"""Reading the report's PNGs back as pixels: colours, blobs (markers, bars, tiles) and regions of a figure."""

import io

import numpy as np
from matplotlib import image as mpimg
from scipy import ndimage

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# matplotlib's default cycle: seed k of a per-seed figure is drawn in colour Ck.
CYCLE = {
    "C0": (0x1F, 0x77, 0xB4),
    "C1": (0xFF, 0x7F, 0x0E),
    "C2": (0x2C, 0xA0, 0x2C),
    "C3": (0xD6, 0x27, 0x28),
    "C4": (0x94, 0x67, 0xBD),
}


def read_png(png: bytes) -> np.ndarray:
    """(height, width, channels) floats in 0..1."""
    assert png.startswith(PNG_SIGNATURE)
    return mpimg.imread(io.BytesIO(png), format="png")


def hex_rgb(colour: str) -> tuple[int, int, int]:
    """'#9ecae1' -> (158, 202, 225)."""
    return tuple(int(colour[k : k + 2], 16) for k in (1, 3, 5))


def colour_mask(pixels: np.ndarray, rgb: tuple[int, int, int], tolerance: float = 0.06) -> np.ndarray:
    """Where the pixels are within tolerance of a colour (anti-aliased edges aside)."""
    return (np.abs(pixels[..., :3] - np.array(rgb) / 255.0) < tolerance).all(axis=-1)


def colour_pixels(pixels: np.ndarray, rgb: tuple[int, int, int], tolerance: float = 0.06) -> int:
    """How many pixels are within tolerance of a colour."""
    return int(colour_mask(pixels, rgb, tolerance).sum())


def blob_sizes(mask: np.ndarray, opening: int = 0) -> list[int]:
    """Sizes of the connected regions of a mask, after removing lines thinner than 2 * opening pixels."""
    if opening:
        mask = ndimage.binary_opening(mask, iterations=opening)
    labels, count = ndimage.label(mask)
    return np.bincount(labels.ravel())[1:].tolist() if count else []


def markers(pixels: np.ndarray, rgb: tuple[int, int, int], smallest: int = 20, largest: int = 400) -> int:
    """Solid marker-sized blobs of a colour (lines and bands removed by an opening)."""
    return len([s for s in blob_sizes(colour_mask(pixels, rgb), opening=2) if smallest < s < largest])


def dark_share(pixels: np.ndarray) -> float:
    """The share of near-black pixels: text, spines, ticks."""
    return float((pixels[..., :3].mean(axis=-1) < 0.35).mean()) if pixels.size else 0.0
