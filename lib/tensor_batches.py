"""Mini-batches sliced from tensors that already sit on the device.

A whole data set as one tensor on the device beats a DataLoader for small images: no per-image
PIL conversion, no worker start-up each epoch, one index gather per batch.
"""
import torch


def iterate_minibatches(tensors, batch_size, shuffle=True, generator=None, drop_last=False):
    """Yield tuples of aligned mini-batches from ``tensors`` (all with the same first dimension N).

    ``generator`` (a CPU ``torch.Generator``) makes the shuffling order repeatable. The last short
    batch is kept unless ``drop_last``.
    """
    n = tensors[0].shape[0]
    if shuffle:
        order = torch.randperm(n, generator=generator).to(tensors[0].device)
    else:
        order = None
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        if order is None:
            yield tuple(t[start:start + batch_size] for t in tensors)
        else:
            idx = order[start:start + batch_size]
            yield tuple(t.index_select(0, idx) for t in tensors)


def num_batches(n, batch_size, drop_last=False):
    """Number of batches :func:`iterate_minibatches` yields for ``n`` items."""
    return n // batch_size if drop_last else (n + batch_size - 1) // batch_size
