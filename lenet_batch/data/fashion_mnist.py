"""Fashion-MNIST: locate, read, verify and (when allowed) download it; normalise batches."""

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lenet_batch.data import idx
from lenet_batch.data.classes import CLASS_NAMES
from lenet_batch.errors import DataError, StorageError
from lenet_batch.records import DataInfo
from lenet_batch.redaction import redact_uri
from lenet_batch.store import storage
from lenet_batch.store.backends import StorageOptions

log = logging.getLogger(__name__)

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# SHA-256 of the *decompressed* files: recompressed copies (Debian's package) pass, altered bytes do not.
SHA256 = {
    "train_images": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train_labels": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "test_images": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "test_labels": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"  # Debian/Ubuntu package dataset-fashion-mnist
CANONICAL_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com"  # the dataset's own README
ENV_VAR = "LENET_BATCH_DATA"


@dataclass
class FashionMNIST:
    """The four arrays (uint8), where they came from, and their verified digests."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str
    digests: dict[str, str] = field(default_factory=dict)
    train_limit: int | None = None  # the class-balanced subset taken of each split (data/limits.py)
    test_limit: int | None = None

    def info(self) -> DataInfo:
        """Where the data came from, its digests and subset limits, as run.json and metrics.json record."""
        return DataInfo(
            source=self.source,
            sha256=dict(self.digests),
            train_limit=self.train_limit,
            test_limit=self.test_limit,
        )

    def describe(self) -> dict[str, Any]:
        """Source, counts, shapes, dtypes and class balance of each split, and the digests."""
        splits = {}
        for split in ("train", "test"):
            images, labels = getattr(self, f"{split}_images"), getattr(self, f"{split}_labels")
            splits[split] = {
                "images": {"shape": list(images.shape), "dtype": str(images.dtype)},
                "labels": {"shape": list(labels.shape), "dtype": str(labels.dtype)},
                "class_balance": class_balance(labels),
            }
        limits = {"train_limit": self.train_limit, "test_limit": self.test_limit}
        return {"source": self.source, "splits": splits, "sha256": self.digests, **limits}

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays by name (what goes into Ray's object store)."""
        return {k: getattr(self, k) for k in FILES}


def cache_dir() -> Path:
    """Where downloads are cached: $XDG_CACHE_HOME/lenet-batch/fashion-mnist."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lenet-batch" / "fashion-mnist"


def _file_uri(folder: str, stem: str, options: StorageOptions | None) -> str:
    """The .gz file in a folder if present, else the raw one (remote folders: always .gz)."""
    gz = storage.join(folder, stem + ".gz")
    if folder.startswith(("http://", "https://")):
        return gz
    raw = storage.join(folder, stem)
    try:
        if storage.exists(gz, options) or not storage.exists(raw, options):
            return gz
    except StorageError:
        return gz
    return raw


def read_split_file(
    uri: str, key: str, options: StorageOptions | None, verify: bool
) -> tuple[np.ndarray, str]:
    """Read, decompress, verify and parse one of the four files; returns the array and its digest."""
    try:
        raw = storage.read_bytes(uri, options)
    except StorageError as exc:
        raise DataError(f"cannot read Fashion-MNIST file: {exc}") from None
    data = idx.decompress(raw, uri)
    digest = idx.sha256_hex(data)
    if verify and digest != SHA256[key]:
        raise DataError(
            f"{uri}: SHA-256 of the decompressed bytes is {digest[:12]}…, expected "
            f"{SHA256[key][:12]}… (corrupted or not Fashion-MNIST; pass --no-verify for other data)"
        )
    parse = idx.parse_images if key.endswith("images") else idx.parse_labels
    return parse(data, uri), digest


def read_folder(folder: str, options: StorageOptions | None = None, verify: bool = True) -> FashionMNIST:
    """Read the four files from a folder URI (local, s3://, https://)."""
    arrays, digests = {}, {}
    for key, stem in FILES.items():
        uri = _file_uri(folder, stem, options)
        arrays[key], digests[key] = read_split_file(uri, key, options, verify)
    for split in ("train", "test"):
        idx.check_counts(
            arrays[f"{split}_images"],
            arrays[f"{split}_labels"],
            FILES[f"{split}_images"],
            FILES[f"{split}_labels"],
        )
    return FashionMNIST(**arrays, source=redact_uri(folder), digests=digests)  # recorded and printed


def download(base_url: str = CANONICAL_URL, target: Path | None = None) -> Path:
    """Download the four files into the cache (verified before they are kept); returns the folder."""
    target = target or cache_dir()
    target.mkdir(parents=True, exist_ok=True)
    for key, stem in FILES.items():
        path = target / (stem + ".gz")
        if path.exists():
            continue
        url = f"{base_url.rstrip('/')}/{stem}.gz"
        log.info("downloading %s", url)
        try:
            raw = storage.read_bytes(url)
        except (StorageError, OSError) as exc:
            raise DataError(f"cannot download Fashion-MNIST from {url}: {exc}") from None
        if idx.sha256_hex(idx.decompress(raw, url)) != SHA256[key]:
            raise DataError(f"{url}: downloaded file fails its SHA-256 check; not kept")
        storage.write_bytes_atomic(str(path), raw)
    return target


def locate(data: str | None = None) -> str:
    """Where to read from: --data, else $LENET_BATCH_DATA, else the system package, else the cache."""
    if data:
        return data
    if os.environ.get(ENV_VAR):
        return os.environ[ENV_VAR]
    if os.path.isdir(SYSTEM_DIR):
        return SYSTEM_DIR
    return str(cache_dir())


def load(
    data: str | None = None,
    options: StorageOptions | None = None,
    verify: bool = True,
    allow_download: bool = True,
) -> FashionMNIST:
    """Load Fashion-MNIST from the first available source (see `locate`), downloading if needed."""
    folder = locate(data)
    is_cache = folder == str(cache_dir())
    if is_cache and allow_download and not all((cache_dir() / (s + ".gz")).exists() for s in FILES.values()):
        log.info(
            "Fashion-MNIST not found in --data, $%s or %s; downloading to %s", ENV_VAR, SYSTEM_DIR, folder
        )
        download()
    elif is_cache and not (cache_dir() / (FILES["train_images"] + ".gz")).exists():
        raise DataError(
            f"Fashion-MNIST not found: pass --data, set ${ENV_VAR}, or install the package "
            "dataset-fashion-mnist"
        )
    dataset = read_folder(folder, options, verify)
    log.info(
        "Fashion-MNIST from %s: %d train, %d test images",
        folder,
        len(dataset.train_images),
        len(dataset.test_images),
    )
    return dataset


def normalize(images: np.ndarray, mean: float, std: float) -> np.ndarray:
    """ToTensor then Normalize, vectorised: uint8 (N, 28, 28) -> float32 (N, 1, 28, 28)."""
    x = images.astype(np.float32)[:, None, :, :]
    x /= np.float32(255.0)
    x -= np.float32(mean)
    x /= np.float32(std)
    return x


def class_balance(labels: np.ndarray) -> dict[str, int]:
    """Count of each class name."""
    counts = np.bincount(labels, minlength=len(CLASS_NAMES))
    return {name: int(c) for name, c in zip(CLASS_NAMES, counts, strict=True)}
