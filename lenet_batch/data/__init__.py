"""Fashion-MNIST in: locate, verify and parse it; read image sets to score in bounded batches."""
