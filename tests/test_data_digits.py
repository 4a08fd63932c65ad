"""Data loading: the idx reader, the offline digits, and the one-line error when MNIST is missing."""
import gzip
import os
import struct

import numpy as np
import pytest
import torch

import lib.data_digits as data_digits
from lib.cli import UserError
from lib.data_digits import load_dataset, load_sklearn_digits, read_idx_images, read_idx_labels


def write_idx(path, array):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def fake_mnist_raw(folder, n_train=6, n_test=4):
    """Tiny idx files under the names torchvision uses, some gzipped and some not."""
    os.makedirs(folder)
    rng = np.random.RandomState(0)
    write_idx(os.path.join(folder, "train-images-idx3-ubyte.gz"), rng.randint(0, 256, (n_train, 28, 28)))
    write_idx(os.path.join(folder, "train-labels-idx1-ubyte.gz"), rng.randint(0, 10, n_train))
    write_idx(os.path.join(folder, "t10k-images-idx3-ubyte"), rng.randint(0, 256, (n_test, 28, 28)))
    write_idx(os.path.join(folder, "t10k-labels-idx1-ubyte.gz"), rng.randint(0, 10, n_test))


def test_idx_round_trip(tmp_path):
    pixels = np.arange(2 * 3 * 4).reshape(2, 3, 4) * 10
    write_idx(str(tmp_path / "images.gz"), pixels)
    write_idx(str(tmp_path / "labels"), np.array([3, 1]))
    images = read_idx_images(str(tmp_path / "images.gz"))
    assert images.shape == (2, 1, 3, 4) and images.dtype == torch.float32
    assert torch.allclose(images[:, 0], torch.from_numpy(pixels).float() / 255)
    labels = read_idx_labels(str(tmp_path / "labels"))
    assert labels.dtype == torch.int64 and labels.tolist() == [3, 1]


def test_idx_reader_rejects_other_files(tmp_path):
    path = tmp_path / "not_idx"
    path.write_bytes(b"hello world")
    with pytest.raises(UserError, match="not an idx file"):
        read_idx_images(str(path))
    write_idx(str(tmp_path / "short"), np.zeros((2, 2, 2)))
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-1])
    with pytest.raises(UserError, match="header promises"):
        read_idx_images(str(tmp_path / "short"))
    write_idx(str(tmp_path / "cube"), np.zeros((2, 2, 2)))
    with pytest.raises(UserError, match="expected"):
        read_idx_labels(str(tmp_path / "cube"))


def test_sklearn_digits_look_like_mnist():
    data = load_sklearn_digits()
    assert data.train_images.shape == (1438, 1, 28, 28) and data.test_images.shape == (359, 1, 28, 28)
    assert data.train_images.dtype == torch.float32 and data.train_labels.dtype == torch.int64
    assert data.train_images.min() >= 0 and data.train_images.max() <= 1
    # MNIST-style framing: the digit fills the centre 20x20, the 4-pixel margin stays black
    assert data.train_images[:, :, :4].max() == 0 and data.train_images[:, :, :, -4:].max() == 0
    assert sorted(set(data.test_labels.tolist())) == list(range(10))


def test_sklearn_digits_split_is_fixed_and_disjoint():
    first, second = load_sklearn_digits(), load_sklearn_digits()
    assert torch.equal(first.test_images, second.test_images)
    train = {tuple(row) for row in first.train_images.reshape(len(first.train_images), -1)[:, ::7].tolist()}
    test = {tuple(row) for row in first.test_images.reshape(len(first.test_images), -1)[:, ::7].tolist()}
    assert len(train & test) <= 2  # sklearn's set has a couple of exact duplicate digits


def test_placed_idx_files_are_read_without_network(tmp_path, monkeypatch):
    fake_mnist_raw(str(tmp_path / "MNIST" / "raw"))
    monkeypatch.setattr(data_digits, "_download", lambda *args: pytest.fail("must not download"))
    data = load_dataset("mnist", str(tmp_path))
    assert data.train_images.shape == (6, 1, 28, 28) and data.test_images.shape == (4, 1, 28, 28)
    assert data.train_labels.shape == (6,) and data.test_labels.dtype == torch.int64


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion", "FashionMNIST")])
def test_missing_data_without_network_is_one_clear_line(tmp_path, monkeypatch, capsys, name, folder):
    import torchvision.datasets as tv_datasets

    def offline(*args, **kwargs):
        print("Failed to download (trying next):")  # torchvision's chatter must not reach the user
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\n<urlopen error no network>")

    monkeypatch.setattr(tv_datasets, "MNIST", offline)
    monkeypatch.setattr(tv_datasets, "FashionMNIST", offline)
    with pytest.raises(UserError) as excinfo:
        load_dataset(name, str(tmp_path))
    message = str(excinfo.value)
    assert "\n" not in message
    assert os.path.join(str(tmp_path), folder, "raw") in message
    assert "t10k-images-idx3-ubyte.gz" in message and "--dataset digits" in message
    assert "no network" in message
    assert capsys.readouterr().out == ""


def test_unknown_dataset():
    with pytest.raises(UserError, match="unknown dataset"):
        load_dataset("cifar")


def test_real_mnist_test_set(shared_data):
    folder = os.path.join(shared_data, "mnist_test")
    images = read_idx_images(os.path.join(folder, "t10k-images-idx3-ubyte.gz"))
    labels = read_idx_labels(os.path.join(folder, "t10k-labels-idx1-ubyte.gz"))
    assert images.shape == (10000, 1, 28, 28) and labels.shape == (10000,)
    assert labels[:8].tolist() == [7, 2, 1, 0, 4, 1, 4, 9]  # the well-known first test digits
    assert np.bincount(labels.numpy()).tolist()[:2] == [980, 1135]
    assert 0.12 < images.mean().item() < 0.14  # MNIST's mean intensity is 0.1307 (train) / 0.1325 (test)


def test_mnist10k_from_placed_files_is_a_fixed_disjoint_split(tmp_path, monkeypatch):
    count = 8010
    index = np.arange(count)
    pixels = np.zeros((count, 28, 28), dtype=np.int64)
    pixels[:, 0, 0], pixels[:, 0, 1] = index // 256, index % 256  # each digit carries its position
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    write_idx(str(raw / "t10k-images-idx3-ubyte.gz"), pixels)
    write_idx(str(raw / "t10k-labels-idx1-ubyte"), index % 10)  # unzipped works too
    monkeypatch.setattr(data_digits, "_download", lambda *args: pytest.fail("must not download"))
    data = load_dataset("mnist10k", str(tmp_path))  # found below data_dir/MNIST/raw

    def positions(images):
        codes = (images[:, 0, 0, :2] * 255).round().long()
        return (codes[:, 0] * 256 + codes[:, 1]).tolist()

    train, test = positions(data.train_images), positions(data.test_images)
    assert len(train) == 8000 and len(test) == 10
    assert sorted(train + test) == list(range(count))  # disjoint, nothing lost
    assert data.train_labels.tolist() == [i % 10 for i in train] and data.test_labels.tolist() == [i % 10 for i in test]
    assert test != list(range(8000, count))  # a seeded shuffle, not a cut by position
    assert positions(load_dataset("mnist10k", str(tmp_path)).test_images) == test  # the same every time


def test_mnist10k_missing_files_is_one_clear_line(tmp_path):
    with pytest.raises(UserError) as excinfo:
        load_dataset("mnist10k", str(tmp_path))
    message = str(excinfo.value)
    assert "\n" not in message and "t10k-images-idx3-ubyte.gz" in message
    assert str(tmp_path) in message and os.path.join(str(tmp_path), "MNIST", "raw") in message


def test_mnist10k_real_digits(shared_data):
    data = load_dataset("mnist10k", os.path.join(shared_data, "mnist_test"))
    assert data.train_images.shape == (8000, 1, 28, 28) and data.test_images.shape == (2000, 1, 28, 28)
    assert data.train_labels.sum() + data.test_labels.sum() == sum(d * n for d, n in enumerate(
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]))  # MNIST's test-set class counts
    assert sorted(set(data.test_labels.tolist())) == list(range(10))
    assert min(np.bincount(data.test_labels.numpy())) > 150  # every class held out, roughly in proportion
