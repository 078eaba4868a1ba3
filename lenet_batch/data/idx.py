"""Parse IDX files (the MNIST container format), raw or gzip-compressed, with full validation."""

import gzip
import hashlib
import io
import zlib

import numpy as np

from lenet_batch.data.classes import check_label_range
from lenet_batch.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"
# IDX type codes; Fashion-MNIST uses only 0x08 (unsigned byte).
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
MAX_DIMS = 4
DECOMPRESSED_LIMIT = 1 << 30  # bytes; Fashion-MNIST's largest file unpacks to 47 MB


def decompress(raw: bytes, name: str, limit: int = DECOMPRESSED_LIMIT) -> bytes:
    """Return the IDX bytes of a file that may be gzip-compressed, at most `limit` of them; a damaged gzip,
    or one that unpacks to more (a small file may hold gigabytes of zeros), is a DataError."""
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
            data = stream.read(limit + 1)
    except (EOFError, OSError, zlib.error) as exc:
        raise DataError(f"{name}: damaged or truncated gzip data ({exc})") from None
    if len(data) > limit:
        raise DataError(f"{name}: unpacks to more than {limit} bytes; not an image set this job reads")
    return data


def sha256_hex(data: bytes) -> str:
    """SHA-256 of bytes, as lowercase hex."""
    return hashlib.sha256(data).hexdigest()


def header_size(first4: bytes) -> int:
    """Bytes in the header that starts with these four (magic and type code, then 4 bytes per dimension)."""
    return 4 + 4 * first4[3] if len(first4) >= 4 else 4


def parse_header(data: bytes, name: str) -> tuple[np.dtype, tuple[int, ...], int]:
    """(dtype, shape, header length) of IDX bytes that start with a whole header; checks magic, type, dims."""
    if len(data) < 4:
        raise DataError(f"{name}: too short to be an IDX file ({len(data)} bytes)")
    if data[0] != 0 or data[1] != 0:
        raise DataError(f"{name}: bad IDX magic {data[:4].hex()} (expected 0000<type><ndim>)")
    type_code, ndim = data[2], data[3]
    if type_code not in IDX_DTYPES:
        raise DataError(f"{name}: unknown IDX type code 0x{type_code:02x}")
    if not 1 <= ndim <= MAX_DIMS:
        raise DataError(f"{name}: unsupported IDX dimension count {ndim}")
    size = header_size(data)
    if len(data) < size:
        raise DataError(f"{name}: truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    return np.dtype(IDX_DTYPES[type_code]), shape, size


def parse_idx(data: bytes, name: str) -> np.ndarray:
    """Parse decompressed IDX bytes into an array, checking the header and that the length matches it."""
    dtype, shape, header = parse_header(data, name)
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        kind = "truncated" if len(data) < expected else "has trailing bytes"
        raise DataError(f"{name}: {kind}: {len(data)} bytes, header {shape} implies {expected}")
    return np.frombuffer(data, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def parse_images(data: bytes, name: str, height: int = 28, width: int = 28) -> np.ndarray:
    """Parse an IDX image file: uint8, shape (N, height, width)."""
    images = parse_idx(data, name)
    if images.dtype != np.uint8:
        raise DataError(f"{name}: images must be unsigned bytes (IDX type 0x08), got {images.dtype}")
    if images.ndim != 3 or images.shape[1:] != (height, width):
        raise DataError(f"{name}: images must have shape (N, {height}, {width}), got {images.shape}")
    return images


def parse_labels(data: bytes, name: str) -> np.ndarray:
    """Parse an IDX label file: uint8, shape (N,), every value a class 0-9."""
    labels = parse_idx(data, name)
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(
            f"{name}: labels must be a 1-D IDX file of unsigned bytes, got {labels.dtype} {labels.shape}"
        )
    check_label_range(labels, name)
    return labels


def check_counts(images: np.ndarray, labels: np.ndarray, images_name: str, labels_name: str) -> None:
    """Images and labels of one split must have the same count."""
    if len(images) != len(labels):
        raise DataError(f"{images_name} has {len(images)} images but {labels_name} has {len(labels)} labels")


def encode_idx(array: np.ndarray) -> bytes:
    """Encode a uint8 array as IDX bytes (used for tests and for exporting image sets)."""
    if array.dtype != np.uint8:
        raise ValueError("encode_idx writes uint8 arrays only")
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    return header + np.ascontiguousarray(array).tobytes()
