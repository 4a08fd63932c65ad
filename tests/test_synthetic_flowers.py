"""The procedural flowers: deterministic by seed, varied, k + 3 petals in class k, usable like the photos."""
import os

import numpy as np
import pytest
import torch
import torchvision.transforms as T

from lib.data_flowers import load_image_folder, synthetic_image_bank, to_pil
from lib.synthetic_flowers import (MIN_PETALS, draw_parameters, hsv_to_rgb, petal_radius, render, synthetic_flowers,
                                   write_synthetic_folder)


def test_shapes_dtype_and_balanced_labels():
    images, labels = synthetic_flowers(30, seed=3)
    assert images.shape == (30, 3, 64, 64) and images.dtype == torch.uint8
    assert labels.dtype == torch.long and labels.tolist() == [i % 10 for i in range(30)]
    assert int(images.min()) < 40 and int(images.max()) > 215  # uses the value range, not a washed-out band


def test_same_seed_same_pictures_other_seed_other_pictures():
    a, _ = synthetic_flowers(12, seed=7)
    b, _ = synthetic_flowers(12, seed=7)
    c, _ = synthetic_flowers(12, seed=8)
    assert torch.equal(a, b)
    differs = (a.int() - c.int()).abs().float().mean((1, 2, 3))
    assert bool((differs > 10).all())
    # the pictures do not depend on how many are asked for (rendering goes in chunks)
    more, _ = synthetic_flowers(250, seed=7)
    assert torch.equal(more[:12], a)


def test_pictures_are_varied():
    images, _ = synthetic_flowers(200, seed=0)
    flat = images.flatten(1).float()
    distances = torch.cdist(flat, flat) / flat.shape[1] ** 0.5
    distances.fill_diagonal_(float("inf"))
    assert float(distances.min()) > 10  # no two alike (root mean square difference in grey levels)
    mean_colour = images.float().mean((2, 3))
    assert bool((mean_colour.std(0) > 8).all())  # backgrounds vary in every channel
    # the flower's heart sits in the middle 40 % of the picture, at varied places
    params = draw_parameters(np.random.default_rng(5), 200)
    assert params["centre"].min() >= 0.3 and params["centre"].max() <= 0.7
    assert params["centre"].std(0).min() > 0.08 and params["size"].std() > 0.04
    petal_hue_spread = hsv_to_rgb(np.linspace(0, 1, 7)[:-1], np.ones(6), np.ones(6))
    assert np.allclose(petal_hue_spread[[0, 2, 4]], np.eye(3))  # red, green, blue: the colour helper is right


@pytest.mark.parametrize("petals", range(MIN_PETALS, MIN_PETALS + 10))
def test_petal_outline_has_one_bump_per_petal(petals):
    rng = np.random.default_rng(petals)
    theta = np.linspace(-np.pi, np.pi, 7200, endpoint=False)
    for _ in range(5):
        r = petal_radius(theta, petals, rng.uniform(0, 2 * np.pi), rng.uniform(0.15, 0.65), rng.uniform(0.4, 2.5))
        peaks = (r > np.roll(r, 1)) & (r >= np.roll(r, -1))
        assert int(peaks.sum()) == petals
        assert r.max() == pytest.approx(1.0, abs=1e-4) and r.min() >= 0.15 - 1e-9


def test_rendered_flower_of_class_k_shows_k_plus_3_petals():
    num = 10
    params = draw_parameters(np.random.default_rng(1), num)
    # a white flower on black, nothing else, so the petals can be counted along a circle
    for key in ("sky", "ground", "blob_colour"):
        params[key] = np.zeros_like(params[key])
    params["petal_colour"] = np.ones_like(params["petal_colour"])
    params["tip_light"][:] = 0.25
    params["stem"][:] = False
    params["inner_ring"][:] = False
    params["heart_size"][:] = 0.05
    params["centre"][:] = 0.5
    params["size"][:] = 0.45
    params["depth"][:] = 0.2
    params["sharpness"][:] = 1.0
    pictures = render(params, 64)
    angles = np.linspace(0, 2 * np.pi, 720, endpoint=False)
    radius = 0.45 * 0.75 * 64  # three quarters of the way to the petal tips
    rows = np.clip(np.round(32 + radius * np.sin(angles)).astype(int), 0, 63)
    cols = np.clip(np.round(32 + radius * np.cos(angles)).astype(int), 0, 63)
    for k in range(num):
        on_petal = pictures[k].mean(0)[rows, cols] > 0.5
        # a majority over 9 neighbouring samples smooths the pixel steps at petal edges
        votes = sum(np.roll(on_petal, shift) for shift in range(-4, 5))
        on_petal = votes >= 5
        runs = int((on_petal & ~np.roll(on_petal, 1)).sum())
        assert runs == params["petals"][k] == k + MIN_PETALS


def test_800_flowers_have_the_course_shape():
    # Speed is not asserted here (timed tests flake on busy machines); the generator is vectorised.
    images, labels = synthetic_flowers(800, seed=0)
    assert images.shape == (800, 3, 64, 64) and images.dtype == torch.uint8
    assert labels.shape[0] == 800


def test_synthetic_bank_is_resized_like_the_photos():
    bank = synthetic_image_bank(num_images=24, image_size=32, seed=4)
    images, _ = synthetic_flowers(24, seed=4)
    assert len(bank) == 24 and bank.images.shape == (24, 3, 32, 32)
    assert bank.sizes.tolist() == [[32, 32]] * 24
    resize = T.Compose([T.Resize(32), T.PILToTensor()])
    for i in (0, 5, 23):
        assert torch.equal(bank.images[i], resize(to_pil(images[i])))
    batch = bank.augmented_batch(torch.arange(24), torch.Generator().manual_seed(0))
    assert batch.shape == (24, 3, 32, 32) and float(batch.min()) >= -1 and float(batch.max()) <= 1
    assert torch.equal(synthetic_image_bank(24, 32, seed=4).images, bank.images)


def test_written_folder_has_the_course_layout_and_reads_back(tmp_path):
    root = str(tmp_path / "flowers")
    counts = write_synthetic_folder(root, split_sizes=(2, 1, 1), num_classes=3, seed=2)
    assert counts == {"train": 6, "val": 3, "test": 3}
    for split, per_class in (("train", 2), ("val", 1), ("test", 1)):
        assert sorted(os.listdir(os.path.join(root, split))) == ["1", "2", "3"]
        for folder in ("1", "2", "3"):
            names = os.listdir(os.path.join(root, split, folder))
            assert len(names) == per_class and all(n.startswith("image_") and n.endswith(".jpg") for n in names)
    assert os.path.isfile(os.path.join(root, "SOURCE.txt"))
    bank = load_image_folder(root, image_size=64, progress=False)
    assert len(bank) == 12 and bank.sizes.tolist() == [[64, 64]] * 12
    # the JPEGs hold the same pictures, up to compression (which mostly drops the sensor noise)
    images, _ = synthetic_flowers(12, seed=2, num_classes=3)
    first = bank.images[bank.paths.index(os.path.join(root, "train", "1", "image_0001.jpg"))].float()
    errors = (images.float() - first).abs().mean((1, 2, 3))
    assert int(errors.argmin()) == 0 and float(errors[0]) < 8 and float(errors[1:].min()) > 20
