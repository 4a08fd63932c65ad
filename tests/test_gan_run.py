"""lib.gan_run without training: options, settings of resumed runs, run names and --limit's image pick."""
import pytest
import torch

import lib.gan_run as gan_run
from lib.cli import UserError
from lib.data_flowers import stack_padded


def make_bank(count=40, classes=4):
    """A bank of ``count`` 32x32 images, sorted by class like an image folder; pixel (0, 0) holds the index."""
    tensors = []
    for i in range(count):
        image = torch.zeros(3, 32, 32, dtype=torch.uint8)
        image[0, 0, 0] = i
        tensors.append(image)
    labels = torch.arange(count) * classes // count
    return stack_padded(tensors, 32, labels, ["img{:02d}.jpg".format(i) for i in range(count)])


def test_subset_is_a_seeded_pick_across_the_folder():
    bank = make_bank()
    picked = gan_run.subset(bank, 10)
    index = picked.images[:, 0, 0, 0].tolist()
    assert len(picked) == 10 and len(set(index)) == 10 and index == sorted(index)
    assert picked.labels.tolist() == [bank.labels[i].item() for i in index]
    assert picked.paths == ["img{:02d}.jpg".format(i) for i in index]
    assert len(set(picked.labels.tolist())) > 1  # not just the first class of a sorted folder
    assert gan_run.subset(bank, 10).images.equal(picked.images)  # the same pick every time
    assert gan_run.subset(bank, 100) is bank


def test_limit_of_the_procedural_set_takes_its_first_flowers(monkeypatch):
    monkeypatch.setattr(gan_run, "SYNTHETIC_IMAGES", 30)
    settings = dict(gan_run.DEFAULTS, synthetic=True, limit=12)
    assert len(gan_run.load_bank(settings, torch.device("cpu"))) == 12
    settings["limit"] = 50
    assert len(gan_run.load_bank(settings, torch.device("cpu"))) == 30


def test_run_name_tells_a_limited_run():
    settings = dict(gan_run.DEFAULTS, synthetic=True)
    assert gan_run.run_name(settings, amp=False).startswith("run_synthetic_ngf32_ndf32_nz64_bs128_lr0.0002_seed999_2")
    name = gan_run.run_name(dict(settings, limit=80), amp=True)
    assert "_seed999_n80_amp_" in name


def test_resumed_settings_of_a_run_from_before_limit_existed():
    old = {k: v for k, v in gan_run.DEFAULTS.items() if k != "limit"}
    options = gan_run.make_options(epochs=10)
    settings = gan_run.resolve_settings(options, {"settings": old, "epoch": 5})
    assert settings["limit"] is None and settings["ngf"] == 32
    with pytest.raises(UserError, match="--limit 8 differs"):
        gan_run.resolve_settings(gan_run.make_options(epochs=10, limit=8), {"settings": old, "epoch": 5})
    with pytest.raises(UserError, match="--limit must be at least 1"):
        gan_run.resolve_settings(gan_run.make_options(limit=0))


def test_options_from_dicts_and_namespaces():
    import argparse
    options = gan_run.make_options(argparse.Namespace(epochs=3, ngf=8), no_progress=True)
    assert options.epochs == 3 and options.ngf == 8 and options.no_progress and options.ndf is None
    with pytest.raises(UserError, match="unknown GAN training option"):
        gan_run.make_options({"epochs": 1, "ngf_typo": 3})
