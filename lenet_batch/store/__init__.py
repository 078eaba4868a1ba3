"""Storage: fsspec I/O with atomic writes, the output layout, run and seed records, the run lock."""
