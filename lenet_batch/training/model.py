"""LeNet-5 (Gluon), MXNet context selection, and safe saving/loading of parameters."""

import os
import tempfile

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


def _named_params(net: nn.Block) -> dict:
    # The names save_parameters writes ("0.weight", ...): structural, independent of the block prefix.
    return net._collect_params_with_prefix()


def params_to_bytes(net: nn.Block) -> bytes:
    """Serialise the parameters in MXNet's own (non-pickle) format."""
    arrays = {name: p._reduce() for name, p in _named_params(net).items()}
    fd, tmp = tempfile.mkstemp(suffix=".params")
    os.close(fd)
    try:
        mx.nd.save(tmp, arrays)
        with open(tmp, "rb") as f:
            return f.read()
    finally:
        os.unlink(tmp)


def params_from_bytes(net: nn.Block, data: bytes, name: str, ctx: mx.Context) -> None:
    """Load parameters into net after checking the format, every name and every shape ourselves."""
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
    expected = _named_params(net)
    missing, extra = sorted(set(expected) - set(loaded)), sorted(set(loaded) - set(expected))
    if missing or extra:
        raise ModelFileError(
            f"{name}: parameters do not match LeNet-5 (missing {missing}, unexpected {extra})"
        )
    for key, param in expected.items():
        if tuple(loaded[key].shape) != tuple(param.shape):
            raise ModelFileError(f"{name}: {key} has shape {loaded[key].shape}, LeNet-5 needs {param.shape}")
        if loaded[key].dtype != np.float32:
            raise ModelFileError(f"{name}: {key} has dtype {loaded[key].dtype}, expected float32")
    diverged = [key for key in expected if not np.isfinite(loaded[key].asnumpy()).all()]
    if diverged:
        raise ModelFileError(
            f"{name}: {', '.join(diverged)} hold NaN or infinite values (its training diverged); "
            "refusing to score with it: retrain the seed with a lower --lr"
        )
    for key, param in expected.items():
        param.set_data(loaded[key].as_in_context(ctx))


def non_finite_parameters(net: nn.Block) -> list[str]:
    """Names of the parameters holding NaN or infinity (a diverged network); [] when all are finite."""
    return [name for name, p in _named_params(net).items() if not np.isfinite(p.data().asnumpy()).all()]


def load_lenet(data: bytes, name: str, ctx: mx.Context, hybridize: bool = True) -> nn.HybridSequential:
    """A LeNet-5 on ctx with the parameters from a saved file's bytes."""
    net = create_lenet(ctx, hybridize=False)
    params_from_bytes(net, data, name, ctx)
    if hybridize:
        net.hybridize(static_alloc=True, static_shape=True)
    return net
