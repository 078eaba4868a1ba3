"""LeNet-5 (Gluon), MXNet context selection, and safe saving/loading of parameters."""

import contextlib
import os
import tempfile
from collections.abc import Iterator

import mxnet as mx
import numpy as np
from mxnet.gluon import nn

from lenet_batch.data.classes import NUM_CLASSES
from lenet_batch.errors import ModelFileError

INPUT_SHAPE = (1, 28, 28)
# An MXNet NDArray-list file starts with this little-endian uint64 magic (kMXAPINDArrayListMagic).
PARAMS_MAGIC = (0x112).to_bytes(8, "little")


def build_lenet(container: type[nn.Sequential | nn.HybridSequential] = nn.HybridSequential):
    """LeNet-5 as in the seed article: conv 6@5x5, pool, conv 16@3x3, pool, dense 120, 84, 10.

    The default container is hybridizable; the benchmark's baseline passes nn.Sequential, as the article.
    """
    net = container()
    net.add(
        nn.Conv2D(channels=6, kernel_size=5, activation="relu"),
        nn.MaxPool2D(pool_size=2, strides=2),
        nn.Conv2D(channels=16, kernel_size=3, activation="relu"),
        nn.MaxPool2D(pool_size=2, strides=2),
        nn.Flatten(),
        nn.Dense(120, activation="relu"),
        nn.Dense(84, activation="relu"),
        nn.Dense(NUM_CLASSES),
    )
    return net


def create_lenet(ctx: mx.Context, hybridize: bool = True) -> nn.HybridSequential:
    """A LeNet-5 with Xavier-initialised parameters on ctx, shapes inferred, optionally hybridized."""
    net = build_lenet()
    net.initialize(mx.init.Xavier(), ctx=ctx)
    net(mx.nd.zeros((1, *INPUT_SHAPE), ctx=ctx))  # infer shapes now so parameters exist
    if hybridize:
        net.hybridize(static_alloc=True, static_shape=True)
    return net


def parameter_count(net: nn.Block) -> int:
    """Number of scalar parameters."""
    return sum(int(np.prod(p.shape)) for p in net.collect_params().values())


def mx_context(kind: str, index: int) -> mx.Context:
    """The MXNet context for ("cpu"|"gpu", index)."""
    return mx.gpu(index) if kind == "gpu" else mx.cpu()


def mxnet_has_cuda() -> bool:
    """True when the installed MXNet was built with CUDA."""
    return mx.runtime.Features().is_enabled("CUDA")


@contextlib.contextmanager
def _scratch_path() -> Iterator[str]:
    """A path for one parameter file, removed afterwards: Gluon saves and loads parameters by file name."""
    with tempfile.TemporaryDirectory(prefix="lenet-params-") as folder:
        yield os.path.join(folder, "model.params")


def params_to_bytes(net: nn.Block) -> bytes:
    """The parameters as Gluon's save_parameters writes them: MXNet's own (non-pickle) format."""
    with _scratch_path() as path:
        net.save_parameters(path)
        with open(path, "rb") as f:
            return f.read()


def saved_arrays(net: nn.Block) -> dict[str, mx.nd.NDArray]:
    """The parameters under the names save_parameters gives them ("0.weight", ...: structural)."""
    return mx.nd.load_frombuffer(params_to_bytes(net))


def _parsed(data: bytes, name: str) -> dict[str, mx.nd.NDArray]:
    """The named arrays of a parameter file, read without unpickling anything."""
    if not data.startswith(PARAMS_MAGIC):
        raise ModelFileError(f"{name}: not an MXNet parameter file (bad magic); refusing to load it")
    try:
        loaded = mx.nd.load_frombuffer(data)
    except mx.base.MXNetError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        reason = lines[-1][:160] if lines else "unreadable"
        raise ModelFileError(f"{name}: damaged or truncated parameter file ({reason})") from None
    if not isinstance(loaded, dict):
        raise ModelFileError(f"{name}: parameter file has no parameter names")
    return loaded


def _check(loaded: dict[str, mx.nd.NDArray], expected: dict[str, mx.nd.NDArray], name: str) -> None:
    """Our own checks (Gluon's are asserts): every name, shape and dtype, and finite values."""
    missing, extra = sorted(set(expected) - set(loaded)), sorted(set(loaded) - set(expected))
    if missing or extra:
        raise ModelFileError(
            f"{name}: parameters do not match LeNet-5 (missing {missing}, unexpected {extra})"
        )
    for key, want in expected.items():
        got = loaded[key]
        if tuple(got.shape) != tuple(want.shape):
            raise ModelFileError(f"{name}: {key} has shape {got.shape}, LeNet-5 needs {want.shape}")
        if np.dtype(got.dtype) != np.dtype(want.dtype):
            dtypes = np.dtype(got.dtype).name, np.dtype(want.dtype).name
            raise ModelFileError(f"{name}: {key} has dtype {dtypes[0]}, expected {dtypes[1]}")
    diverged = [key for key in expected if not np.isfinite(loaded[key].asnumpy()).all()]
    if diverged:
        raise ModelFileError(
            f"{name}: {', '.join(diverged)} hold NaN or infinite values (its training diverged); "
            "refusing to score with it: retrain the seed with a lower --lr"
        )


def params_from_bytes(net: nn.Block, data: bytes, name: str, ctx: mx.Context) -> None:
    """Load a parameter file's bytes into net through load_parameters, after checking them ourselves."""
    _check(_parsed(data, name), saved_arrays(net), name)
    with _scratch_path() as path:
        with open(path, "wb") as f:
            f.write(data)
        net.load_parameters(path, ctx=ctx)


def non_finite_parameters(net: nn.Block) -> list[str]:
    """Names of the parameters holding NaN or infinity (a diverged network); [] when all are finite."""
    return [key for key, array in saved_arrays(net).items() if not np.isfinite(array.asnumpy()).all()]


def load_lenet(data: bytes, name: str, ctx: mx.Context, hybridize: bool = True) -> nn.HybridSequential:
    """A LeNet-5 on ctx with the parameters from a saved file's bytes."""
    net = create_lenet(ctx, hybridize=False)
    params_from_bytes(net, data, name, ctx)
    if hybridize:
        net.hybridize(static_alloc=True, static_shape=True)
    return net
