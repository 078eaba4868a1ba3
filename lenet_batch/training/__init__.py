"""LeNet-5 training with MXNet: the network, the training loop, one seed with its checkpoints."""
