"""28x28 grey images as whole tensors: MNIST, Fashion-MNIST, or scikit-learn's digits for offline work.

``mnist10k`` is the real MNIST test set alone (10,000 digits, split 8,000 / 2,000), for when only its two
idx files are at hand offline.

Every loader returns float images ``(N, 1, 28, 28)`` in [0, 1] and long labels ``(N,)``, the whole split
at once, so training can put it on the device once and slice batches from it.
"""
import contextlib
import gzip
import io
import os
import socket
import struct
from collections import namedtuple

import numpy as np
import torch
import torch.nn.functional as F

from lib.cli import UserError

DATASET_CHOICES = ("mnist", "digits", "fashion", "mnist10k")
DATASET_NAMES = {
    "mnist": "MNIST",
    "digits": "scikit-learn 8x8 digits scaled to 28x28 (not MNIST)",
    "fashion": "Fashion-MNIST",
    "mnist10k": "MNIST-10k (the 10,000 MNIST test digits only: 8,000 to train, 2,000 held out)",
}
# Where torchvision keeps each download below --data_dir, and the idx files of each split.
TORCHVISION_FOLDERS = {"mnist": "MNIST", "fashion": "FashionMNIST"}
IDX_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MNIST10K_TRAIN = 8000  # of the 10,000 test digits; the other 2,000 are the held-out test split
DOWNLOAD_TIMEOUT_S = 30  # torchvision sets none: a firewalled network would otherwise hang for ever

DigitData = namedtuple("DigitData", "train_images train_labels test_images test_labels")


def read_idx(path):
    """Read an idx file of unsigned bytes (optionally gzipped) into a uint8 numpy array of its shape."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:
        raise UserError("cannot read {}: {}".format(path, err))
    # Header: two zero bytes, type code 0x08 (unsigned byte), number of dimensions, then big-endian sizes.
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise UserError("{} is not an idx file of unsigned bytes".format(path))
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise UserError("{} is truncated".format(path))
    dims = struct.unpack(">" + "I" * ndim, data[4:header])
    values = np.frombuffer(data, dtype=np.uint8, offset=header)
    if values.size != int(np.prod(dims)):
        raise UserError("{} holds {} values, its header promises {}".format(path, values.size, dims))
    return values.reshape(dims)


def read_idx_images(path):
    """idx image file -> float tensor ``(N, 1, H, W)`` in [0, 1]."""
    pixels = read_idx(path)
    if pixels.ndim != 3:
        raise UserError("{} holds an array of shape {}, expected (N, H, W) images".format(path, pixels.shape))
    return torch.from_numpy(pixels.copy()).unsqueeze(1).float().div_(255.0)


def read_idx_labels(path):
    """idx label file -> long tensor ``(N,)``."""
    labels = read_idx(path)
    if labels.ndim != 1:
        raise UserError("{} holds an array of shape {}, expected (N,) labels".format(path, labels.shape))
    return torch.from_numpy(labels.astype(np.int64))


def find_idx_file(folder, stem):
    """Path of ``stem`` or ``stem.gz`` in ``folder``, or None."""
    for name in (stem, stem + ".gz"):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    return None


def read_idx_split(folder, split):
    """Images and labels of ``split`` ("train" or "test") from the idx files in ``folder``."""
    image_stem, label_stem = IDX_STEMS[split]
    paths = [find_idx_file(folder, image_stem), find_idx_file(folder, label_stem)]
    if None in paths:
        raise UserError("{} lacks {}(.gz) or {}(.gz)".format(folder, image_stem, label_stem))
    images, labels = read_idx_images(paths[0]), read_idx_labels(paths[1])
    if images.shape[0] != labels.shape[0]:
        raise UserError("{}: {} images but {} labels".format(folder, images.shape[0], labels.shape[0]))
    return images, labels


def _has_all_idx_files(folder):
    return all(find_idx_file(folder, stem) for pair in IDX_STEMS.values() for stem in pair)


def _missing_message(name, data_dir, reason):
    raw = os.path.join(data_dir, TORCHVISION_FOLDERS[name], "raw")
    files = ", ".join(stem + ".gz" for pair in IDX_STEMS.values() for stem in pair)
    return ("{} is not in {} and could not be downloaded ({}); put {} into {}{} or train offline with "
            "--dataset digits".format(DATASET_NAMES[name], raw, reason, files, raw, os.sep))


def _download(name, data_dir):
    """Let torchvision fetch the idx files into ``data_dir/<Folder>/raw``; one-line UserError on failure."""
    import torchvision.datasets as tv_datasets
    dataset_class = {"mnist": tv_datasets.MNIST, "fashion": tv_datasets.FashionMNIST}[name]
    chatter = io.StringIO()  # torchvision prints every failed mirror; keep that for a successful download only
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        with contextlib.redirect_stdout(chatter):
            dataset_class(root=data_dir, train=True, download=True)
    except Exception as err:  # network errors come in many types (URLError, RuntimeError, OSError, ...)
        # torchvision's message lists every mirror; its last line is the underlying network error.
        reason = (str(err).strip().splitlines() or [type(err).__name__])[-1][:200]
        raise UserError(_missing_message(name, data_dir, reason))
    finally:
        socket.setdefaulttimeout(old_timeout)
    print(chatter.getvalue(), end="")


def load_torchvision_idx(name, data_dir="data", download=True):
    """MNIST or Fashion-MNIST from ``data_dir/<MNIST|FashionMNIST>/raw``, downloading it there if absent.

    Files placed there by hand (``*-ubyte`` or ``*-ubyte.gz``) are read directly, no network needed.
    """
    raw = os.path.join(data_dir, TORCHVISION_FOLDERS[name], "raw")
    if not _has_all_idx_files(raw):
        if not download:
            raise UserError(_missing_message(name, data_dir, "downloads are switched off"))
        _download(name, data_dir)
    train_images, train_labels = read_idx_split(raw, "train")
    test_images, test_labels = read_idx_split(raw, "test")
    return DigitData(train_images, train_labels, test_images, test_labels)


def load_sklearn_digits(test_fraction=0.2, split_seed=0):
    """scikit-learn's 1,797 bundled 8x8 digits, scaled to 28x28 like MNIST, split deterministically.

    As in MNIST, each digit fills the central 20x20 pixels (bilinear upscaling) with a 4 pixel margin.
    The split is a fixed permutation (``split_seed``), so every run sees the same test digits.
    """
    from sklearn.datasets import load_digits
    bunch = load_digits()
    images = torch.from_numpy(bunch.images).float().div(16.0).unsqueeze(1)  # pixel values are 0..16
    images = F.interpolate(images, size=(20, 20), mode="bilinear", align_corners=False)
    images = F.pad(images, (4, 4, 4, 4)).clamp_(0.0, 1.0)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(split_seed))
    num_test = int(round(images.shape[0] * test_fraction))
    test, train = order[:num_test], order[num_test:]
    return DigitData(images[train], labels[train], images[test], labels[test])


def load_mnist10k(data_dir="data", split_seed=0):
    """The 10,000 MNIST test digits from ``data_dir`` or ``data_dir/MNIST/raw``, split 8,000 / 2,000.

    The split is a fixed permutation (``split_seed``) rather than a cut by position: the test set's first
    5,000 digits are cleaner and easier than its last 5,000 (different writers), so the last 2,000 alone
    would be a harder test set than the training digits.
    """
    folders = [data_dir, os.path.join(data_dir, TORCHVISION_FOLDERS["mnist"], "raw")]
    image_stem, label_stem = IDX_STEMS["test"]
    for folder in folders:
        if find_idx_file(folder, image_stem) and find_idx_file(folder, label_stem):
            images, labels = read_idx_split(folder, "test")
            break
    else:
        raise UserError("--dataset mnist10k needs the MNIST test set files {0}.gz and {1}.gz (or unzipped) in {2} "
                        "or {3}; found in neither".format(image_stem, label_stem, *folders))
    if images.shape[0] <= MNIST10K_TRAIN:
        raise UserError("{} holds {} digits; mnist10k needs more than {} (the MNIST test set has 10,000)".format(
            folder, images.shape[0], MNIST10K_TRAIN))
    order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(split_seed))
    train, test = order[:MNIST10K_TRAIN], order[MNIST10K_TRAIN:]
    return DigitData(images[train], labels[train], images[test], labels[test])


def load_dataset(name, data_dir="data", download=True):
    """Load ``name`` (one of DATASET_CHOICES) as a :class:`DigitData` of four tensors on the CPU."""
    if name == "digits":
        return load_sklearn_digits()
    if name == "mnist10k":
        return load_mnist10k(data_dir)
    if name in TORCHVISION_FOLDERS:
        return load_torchvision_idx(name, data_dir, download)
    raise UserError("unknown dataset {!r}; choose one of {}".format(name, ", ".join(DATASET_CHOICES)))
