"""The data a run recorded, as its later stages use it: `infer`, `predict` and `summary` of a run load the
test split run.json names unless --data is given; a --data (or a recorded folder since changed) whose test
split differs from the recorded one is refused for the run's evaluation; and what is scored has a digest,
which each partition's marker records and a rerun compares to skip the seed.
"""

import dataclasses
import hashlib
import logging
from dataclasses import dataclass, replace

from lenet_batch.config import DataRequest
from lenet_batch.data import fashion_mnist
from lenet_batch.data.fashion_mnist import FashionMNIST
from lenet_batch.data.inputs import ImageSource
from lenet_batch.data.limits import evaluation_limits, limited
from lenet_batch.errors import DataError, DataMismatch
from lenet_batch.records import DataInfo, digest_of_test_split
from lenet_batch.redaction import MASK
from lenet_batch.state.run_state import RunState
from lenet_batch.store import storage
from lenet_batch.store.backends import StorageOptions
from lenet_batch.store.layout import RunRef

log = logging.getLogger(__name__)

CHUNK = 1 << 20  # bytes read at a time while hashing an --input file


@dataclass(frozen=True)
class RunData:
    """The test split a stage of a run uses: how to load it, what the run recorded, if --data named it."""

    request: DataRequest
    recorded: DataInfo | None  # run.json's data (None: the run recorded none)
    given: bool  # --data (or $LENET_BATCH_DATA) named it; else the recorded folder, or the usual places

    def expected_digest(self) -> str | None:
        """The test split's digest known without loading it: the recorded one, unless --data was given."""
        return None if self.given else digest_of_test_split(self.recorded)


def data_for_run(state: RunState, request: DataRequest) -> RunData:
    """--data when given, else the folder run.json recorded (checked by its digests, not Fashion-MNIST's)."""
    run = state.run
    recorded = state.record.data if state.record is not None else None
    request = evaluation_limits(request, recorded, run.run_id)  # its test subset, or refused (exit 2)
    if recorded is not None and request.uri and request.uri == recorded.source:
        request = dataclasses.replace(request, uri="")  # the recorded folder, named: checked as recorded
    if request.uri or recorded is None or not recorded.source:
        return RunData(request, recorded, bool(request.uri))
    if MASK in recorded.source:
        raise DataError(
            f"run {run.run_id} recorded its data as {recorded.source}, without its credentials; pass --data "
            "with the full URI (its test split must have the recorded digests)"
        )
    # The recorded digests are the check: data the run read with --no-verify is read so again.
    verify = request.verify and not digest_of_test_split(recorded)
    return RunData(dataclasses.replace(request, uri=recorded.source, verify=verify), recorded, False)


def load_for_run(run: RunRef, data: RunData) -> FashionMNIST:
    """The dataset a stage of the run uses, its test split checked against the recorded one (exit 2)."""
    request = data.request
    dataset = fashion_mnist.load(request.uri or None, run.options, verify=request.verify)
    dataset = limited(dataset, request.train_limit, request.test_limit)
    check_test_split(run, data, dataset)
    return dataset


def test_split_differs(data: RunData, dataset: FashionMNIST) -> tuple[str, str] | None:
    """(recorded digest, the dataset's) when the run recorded another test split than the dataset's."""
    recorded, found = digest_of_test_split(data.recorded), digest_of_test_split(dataset.info())
    return None if recorded is None or found is None or recorded == found else (recorded, found)


def check_test_split(run: RunRef, data: RunData, dataset: FashionMNIST) -> None:
    """DataMismatch (exit 2, nothing written) when the dataset's test split is not the run's recorded one."""
    differs = test_split_differs(data, dataset)
    if differs is None:
        return
    recorded, found = differs
    where = f"recorded from {data.recorded.source}" if data.recorded and data.recorded.source else "recorded"
    if data.given:
        raise DataMismatch(
            f"--data {dataset.source}: its test split (digest {found}) is not the one run {run.run_id} was "
            f"evaluated on (digest {recorded}, {where}); its evaluation is refused. Score other images with "
            "`infer --input`, or train a new --run-id on this data. Nothing was written"
        )
    raise DataMismatch(
        f"run {run.run_id} recorded its test split from {dataset.source} with digest {recorded}, but the "
        f"files there now give {found}: they changed since. Pass --data with the recorded data. Nothing was "
        "written"
    )


def file_digest(uri: str, options: StorageOptions | None) -> str:
    """SHA-256 of a file's bytes, read in chunks (an --input's identity for the skip of a rerun)."""
    digest = hashlib.sha256()
    with storage.open_stream(uri, options) as f:  # a regular file only: never a wait on a FIFO or a device
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def input_digest(source: ImageSource, options: StorageOptions | None) -> str:
    """The digest of an --input (and its labels file): 12 hex digits, as the test split's."""
    parts = [file_digest(source.uri or "", options)]
    if source.labels_uri:
        parts.append(file_digest(source.labels_uri, options))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def sealed_source(
    state: RunState, source: ImageSource, request: DataRequest, dataset: FashionMNIST | None
) -> tuple[ImageSource, FashionMNIST | None]:
    """The source with the digest of what it scores, and the test split when it had to be loaded to know.

    The test split of a run is the one run.json recorded unless --data is given, which is then loaded and
    refused when its test split differs (exit 2, before anything is written); an --input file is hashed.
    """
    run = state.run
    if source.uri:
        source.batches(run.options)  # fail here, once, on a bad input file, rather than in every seed
        return replace(source, digest=input_digest(source, run.options)), dataset
    data = data_for_run(state, request)
    if dataset is not None:
        check_test_split(run, data, dataset)
    elif data.expected_digest() is None:  # --data given, or nothing recorded: its digest needs the files
        dataset = load_for_run(run, data)
    info = dataset.info() if dataset is not None else data.recorded
    digest = digest_of_test_split(info) if dataset is not None else data.expected_digest()
    return replace(
        source,
        data_uri=data.request.uri or None,
        verify=data.request.verify,
        digest=digest,
        data_source=info.source if info is not None else None,
    ), dataset


def pictures(state: RunState, request: DataRequest) -> dict | None:
    """The run's test split for the report's two pictures, or None (said why): the summary works without."""
    try:
        return load_for_run(state.run, data_for_run(state, request)).arrays()
    except DataError as exc:
        log.warning("report without the image pictures: %s", exc)
        return None
