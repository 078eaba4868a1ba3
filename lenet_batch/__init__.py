"""lenet-batch: LeNet-5 on Fashion-MNIST over many seeds with MXNet Gluon and Ray."""

__version__ = "0.1.0"
