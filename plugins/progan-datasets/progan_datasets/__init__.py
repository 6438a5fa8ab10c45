"""progan-datasets: MNIST, Fashion-MNIST, EMNIST (idx files) and CIFAR-10/100 (binary version) readers."""
from __future__ import annotations

from progan.hookspecs import Register, hookimpl
from progan_datasets.cifar import cifar10, cifar100
from progan_datasets.mnist import emnist, fashion_mnist, mnist


@hookimpl
def progan_register_datasets(register: Register) -> None:
    """Register the dataset names this package reads."""
    register("mnist", mnist)
    register("fashion-mnist", fashion_mnist)
    register("emnist", emnist)
    register("cifar10", cifar10)
    register("cifar100", cifar100)
