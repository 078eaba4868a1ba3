"""Entry point: aggregate a run's accuracy across seeds. Same flags as `lenet-batch summary`.

ray job submit --working-dir . -- python -m jobs.summarize --output s3://bucket/lenet
"""

import sys

from lenet_batch.cli import main

if __name__ == "__main__":
    sys.exit(main(["summary", *sys.argv[1:]]))
