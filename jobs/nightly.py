"""Entry point: train, infer and summarise one run (the main job). Same flags as `lenet-batch nightly`.

ray job submit --working-dir . -- python -m jobs.nightly --output s3://bucket/lenet
"""

import sys

from lenet_batch.cli import main

if __name__ == "__main__":
    sys.exit(main(["nightly", *sys.argv[1:]]))
