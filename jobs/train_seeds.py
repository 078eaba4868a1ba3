"""Entry point: train seeds as Ray tasks. Same flags as `lenet-batch train`.

ray job submit --working-dir . -- python -m jobs.train_seeds --output s3://bucket/lenet
"""

import sys

from lenet_batch.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
