"""Batch inference: a seed's model over images into committed Parquet partitions, and SQL over them."""
