"""Reproducibility as it is: same seed, recipe, thread count and ISA class give the same bits; the CPU, the
instruction-set level oneDNN uses and the thread counts are recorded (provenance.machine)."""

import json
import os
import platform
import re
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest

from lenet_batch import provenance
from lenet_batch.config import Recipe
from lenet_batch.records import DataInfo
from lenet_batch.state.run_state import read_state
from lenet_batch.store.layout import RunRef
from lenet_batch.training import loop
from lenet_batch.training.seed import run_seed

AVX512 = "avx512f avx512bw avx512vl avx512dq"
AMX = "avx512_vnni avx512_bf16 amx_tile amx_int8 amx_bf16"
CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse4_1 avx avx2 {flags}

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: ignored: the first processor speaks for all
"""
# What oneDNN 2.4 (MXNet 1.9.1's) prints as `dnnl_verbose,info,cpu,isa:<text>` for each level.
ONEDNN_WORDS = {
    "Intel SSE4.1": "sse41",
    "Intel AVX": "avx",
    "Intel AVX2": "avx2",
    "Intel AVX-512 with AVX512BW, AVX512VL, and AVX512DQ extensions": "avx512_core",
    "Intel AVX-512 with Intel DL Boost": "avx512_core_vnni",
    "Intel AVX-512 with Intel DL Boost and bfloat16 support": "avx512_core_bf16",
}


@pytest.mark.parametrize(
    ("flags", "cap", "isa", "isa_class"),
    [
        ("", None, "avx2", "avx2"),
        (AVX512, None, "avx512_core", "avx512_core"),
        (f"{AVX512} avx512_vnni", None, "avx512_core_vnni", "avx512_core"),
        (f"{AVX512} avx512_vnni avx512_bf16", None, "avx512_core_bf16", "avx512_core"),
        (f"{AVX512} {AMX}", None, "avx512_core_amx", "avx512_core"),
        ("avx512f avx512bw", None, "avx2", "avx2"),  # not all of AVX-512 core: oneDNN stays at AVX2
        (f"{AVX512} avx512_vnni avx512_bf16", "AVX2", "avx2", "avx2"),  # DNNL_MAX_CPU_ISA caps it
        (f"{AVX512} avx512_vnni avx512_bf16", "avx512_core", "avx512_core", "avx512_core"),
        ("", "AVX512_CORE_AMX", "avx2", "avx2"),  # a cap above the CPU changes nothing
        ("", "ALL", "avx2", "avx2"),
    ],
)
def test_the_onednn_isa_of_a_cpu_from_its_flags_and_the_cap(flags, cap, isa, isa_class):
    env = {"DNNL_MAX_CPU_ISA": cap} if cap else {}
    found = provenance.machine(CPUINFO.format(flags=flags), {**env, "OMP_NUM_THREADS": "1"})
    assert (found.isa, found.isa_class, found.isa_cap) == (isa, isa_class, cap)
    assert found.cpu_model == "Intel(R) Xeon(R) Platinum 8480+" and found.cpu_vendor == "GenuineIntel"
    assert found.omp_num_threads == "1" and found.mxnet_cpu_worker_nthreads is None


def test_no_x86_flags_no_isa():
    aarch64 = "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\nCPU implementer\t: 0x41\n"
    found = provenance.machine(aarch64, {})
    assert found.isa is None and found.isa_class is None


@pytest.mark.skipif(platform.machine() != "x86_64", reason="oneDNN's x86 levels")
def test_this_machine_is_recorded_with_its_isa_in_metrics_json(tmp_path, fashion_mnist):
    arrays = {k: v[:512] for k, v in fashion_mnist.arrays().items()}
    run = RunRef(str(tmp_path), "r")
    run_seed(arrays, data_info=DataInfo(), recipe=Recipe(epochs=1), seed=0, run=run)
    recorded = json.loads((tmp_path / "runs" / "r" / "seeds" / "seed=0" / "metrics.json").read_text())
    assert recorded["machine"] == provenance.machine().to_json()
    assert recorded["machine"]["isa"] in dict(provenance.ONEDNN_ISAS)
    assert recorded["machine"]["omp_num_threads"] == os.environ["OMP_NUM_THREADS"] == "1"
    assert read_state(run).seed(0).metrics.machine == provenance.machine()  # and reads back as the record


def test_the_same_seed_trained_twice_here_gives_identical_bits(fashion_mnist):
    assert os.environ["OMP_NUM_THREADS"] == "1" and "mxnet" in sys.modules  # MXNet started with 1 thread
    arrays = {k: v[:2048] for k, v in fashion_mnist.arrays().items()}
    first, history_a = loop.train_seed(arrays, Recipe(epochs=1), 11, mx.cpu())
    again, history_b = loop.train_seed(arrays, Recipe(epochs=1), 11, mx.cpu())
    where = provenance.machine()
    assert first == again, f"not bit-identical on {where}"
    assert [m.train_loss for m in history_a] == [m.train_loss for m in history_b]


TRAIN_IN_A_PROCESS = """
import hashlib, json, sys
import numpy as np
import mxnet as mx
from lenet_batch import provenance
from lenet_batch.config import Recipe
from lenet_batch.records import DataInfo
from lenet_batch.training import loop
arrays = dict(np.load(sys.argv[1]))
params, _ = loop.train_seed(arrays, Recipe(epochs=1), 11, mx.cpu())
print(json.dumps({"sha256": hashlib.sha256(params).hexdigest(), "machine": provenance.machine().to_json()}))
"""


@pytest.mark.slow
@pytest.mark.skipif(platform.machine() != "x86_64", reason="oneDNN's x86 levels")
def test_onednn_runs_the_recorded_isa_and_the_bits_follow_its_class(tmp_path, fashion_mnist):
    data = tmp_path / "tiny.npz"
    np.savez(data, **{k: v[:2048] for k, v in fashion_mnist.arrays().items()})
    here = provenance.machine().isa
    caps = {
        "default": {},
        "avx2": {"DNNL_MAX_CPU_ISA": "AVX2"},
        "sse41": {"DNNL_MAX_CPU_ISA": "SSE41"},
        "old name": {"MKLDNN_MAX_CPU_ISA": "AVX2"},  # ignored by oneDNN 2.4, and so by provenance
    }
    if here != "avx512_core" and here.startswith("avx512_core"):
        caps["avx512_core"] = {"DNNL_MAX_CPU_ISA": "AVX512_CORE"}  # another level of the same class
    runs = {
        name: subprocess.Popen(
            [sys.executable, "-c", TRAIN_IN_A_PROCESS, str(data)],
            env={**os.environ, **cap, "OMP_NUM_THREADS": "1", "DNNL_VERBOSE": "1"},
            stdout=subprocess.PIPE,
            text=True,
        )
        for name, cap in caps.items()
    }
    seen = {}
    for name, process in runs.items():
        out, _ = process.communicate(timeout=300)
        assert process.returncode == 0, out[-2000:]
        words = re.search(r"^dnnl_verbose,info,cpu,isa:(.*)$", out, re.M).group(1)
        result = json.loads(out.strip().splitlines()[-1])
        assert result["machine"]["isa"] == ONEDNN_WORDS[words], name  # what oneDNN itself says it runs
        seen[name] = (result["machine"]["isa_class"], result["sha256"])
    assert seen["default"][0] == provenance.isa_class(here)
    by_class = {}
    for isa_class, sha in seen.values():
        by_class.setdefault(isa_class, set()).add(sha)
    assert all(len(shas) == 1 for shas in by_class.values()), seen  # one class, one set of bits
    assert len({shas.pop() for shas in by_class.values()}) == len(by_class), seen  # classes differ
