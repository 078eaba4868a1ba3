"""Ray orchestration: the only package (besides entry points) that imports Ray."""
