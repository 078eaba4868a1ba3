"""Entry point: score images with every seed's model into Parquet. Same flags as `lenet-batch infer`.

ray job submit --working-dir . -- python -m jobs.batch_infer --output s3://bucket/lenet
"""

import sys

from lenet_batch.cli import main

if __name__ == "__main__":
    sys.exit(main(["infer", *sys.argv[1:]]))
