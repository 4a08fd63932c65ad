"""The image bank: decoding like torchvision's Resize, and crop/flip augmentation on whole batches."""
import os

import numpy as np
import pytest
import torch
import torchvision.transforms as T
from PIL import Image
from torchvision.datasets import ImageFolder

from lib.cli import UserError
from lib.data_flowers import ImageBank, find_images, load_image_folder, stack_padded

# (width, height): portrait, landscape, square, odd spare pixels (53 - 32 = 21 rows: the centre
# corner 10.5 rounds to even, like CenterCrop), and an image already at the crop size.
MADE_UP_SIZES = [(48, 80), (100, 40), (64, 64), (45, 70), (32, 32), (70, 45)]
TO_MINUS_ONE_ONE = T.Compose([T.ToTensor(), T.Normalize((0.5,) * 3, (0.5,) * 3)])


def _noise_image(width, height, seed):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


@pytest.fixture
def made_up_folder(tmp_path):
    """ImageFolder layout with non-square JPEGs (and one PNG) spread over splits and classes."""
    root = tmp_path / "flowers"
    places = ["train/1", "train/1", "train/2", "val/1", "test/10", "test/10"]
    for i, ((width, height), place) in enumerate(zip(MADE_UP_SIZES, places)):
        os.makedirs(str(root / place), exist_ok=True)
        suffix = ".png" if i == 2 else ".jpg"
        _noise_image(width, height, i).save(str(root / place / "image_{:04d}{}".format(i, suffix)))
    (root / "train" / "notes.txt").write_text("not an image")
    return str(root)


def _square_bank(num_images=6, seed=0):
    """A bank of 32x32 images: every crop is the whole image, so only the flip varies."""
    g = torch.Generator().manual_seed(seed)
    tensors = [torch.randint(0, 256, (3, 32, 32), generator=g, dtype=torch.uint8) for _ in range(num_images)]
    return stack_padded(tensors, 32)


def _normalised(uint8_images):
    """uint8 -> [-1, 1] with ToTensor() + Normalize(0.5, 0.5)'s own float operations."""
    return uint8_images.float().div(255).sub(0.5).div(0.5)


def test_bank_equals_torchvision_resize_on_non_square_images(made_up_folder):
    bank = load_image_folder(made_up_folder, image_size=32, progress=False)
    reference = ImageFolder(made_up_folder, transform=T.Compose([T.Resize(32), T.PILToTensor()]))
    assert len(bank) == len(reference) == len(MADE_UP_SIZES)
    assert bank.paths == [path for path, _ in reference.samples]  # ImageFolder's order, notes.txt skipped
    assert bank.labels.tolist() == [target for _, target in reference.samples]
    for i in range(len(bank)):
        expected = reference[i][0]
        h, w = expected.shape[1:]
        assert min(h, w) == 32
        assert bank.sizes[i].tolist() == [h, w]
        assert torch.equal(bank.images[i, :, :h, :w], expected)
        assert int(bank.images[i, :, h:, :].sum()) == 0 and int(bank.images[i, :, :, w:].sum()) == 0  # padding
    assert bank.images.dtype == torch.uint8
    assert list(bank.images.shape[2:]) == bank.sizes.max(0).values.tolist()


def test_find_images_follows_image_folder_order(made_up_folder):
    paths, targets, classes = find_images(made_up_folder)
    reference = ImageFolder(made_up_folder)
    assert classes == reference.classes == ["test", "train", "val"]
    assert list(zip(paths, targets)) == [tuple(sample) for sample in reference.samples]


def test_centre_crop_equals_torchvision_center_crop(made_up_folder):
    bank = load_image_folder(made_up_folder, progress=False)
    reference = ImageFolder(made_up_folder, transform=T.Compose([T.Resize(32), T.CenterCrop(32), TO_MINUS_ONE_ONE]))
    indices = torch.arange(len(bank))
    top, left = bank.centre_offsets(indices)
    no_flip = torch.zeros(len(bank), dtype=torch.bool)
    centre = bank.crop_batch(indices, top, left, no_flip)
    mirrored = bank.crop_batch(indices, top, left, ~no_flip)
    for i in range(len(bank)):
        assert torch.equal(centre[i], reference[i][0])  # bit for bit, including the [-1, 1] scaling
        assert torch.equal(mirrored[i], torch.flip(reference[i][0], dims=[-1]))
    assert (top == 10).any()  # 53 rows: corner 10.5 rounds to even as CenterCrop's round() does


def test_augmented_batch_shape_dtype_and_range(made_up_folder):
    bank = load_image_folder(made_up_folder, progress=False)
    g = torch.Generator().manual_seed(1)
    batch = bank.augmented_batch(torch.randint(0, len(bank), (64,), generator=g), generator=g)
    assert batch.shape == (64, 3, 32, 32)
    assert batch.dtype == torch.float32
    assert batch.device == bank.device
    assert float(batch.min()) >= -1.0 and float(batch.max()) <= 1.0
    levels = (batch + 1.0) * 127.5  # every value is one of the 256 uint8 levels mapped to [-1, 1]
    assert torch.allclose(levels, levels.round(), atol=1e-3)
    assert float(batch.min()) < -0.9 and float(batch.max()) > 0.9  # noise images span the whole range
    assert bank.augmented_batch([0, 1, 2]).shape == (3, 3, 32, 32)  # plain lists work too


def test_flip_happens_half_of_the_time_and_is_a_mirror_image():
    bank = _square_bank()
    g = torch.Generator().manual_seed(0)
    indices = torch.arange(len(bank)).repeat(300)
    batch = bank.augmented_batch(indices, generator=g)
    plain = _normalised(bank.images[indices])
    mirrored = torch.flip(plain, dims=[-1])
    is_plain = (batch == plain).flatten(1).all(1)
    is_mirrored = (batch == mirrored).flatten(1).all(1)
    assert bool((is_plain ^ is_mirrored).all())  # each output is exactly one of the two
    assert 0.44 < float(is_mirrored.float().mean()) < 0.56  # 1800 draws: sd of the fraction is 0.012


def test_random_crops_cover_every_window_and_centre_crop_half_the_time(made_up_folder):
    bank = load_image_folder(made_up_folder, progress=False)
    g = torch.Generator().manual_seed(2)
    spare = bank.sizes[:, 0] - bank.sizes[:, 1]
    for i in (int(spare.argmax()), int(spare.argmin())):  # portrait (spare rows) and landscape (spare columns)
        h, w = bank.sizes[i].tolist()
        assert max(h, w) > 40
        tops, lefts = np.meshgrid(np.arange(h - 31), np.arange(w - 31), indexing="ij")
        tops, lefts = torch.from_numpy(tops.ravel()), torch.from_numpy(lefts.ravel())
        flips = torch.cat([torch.zeros_like(tops), torch.ones_like(tops)]).bool()
        tops, lefts = tops.repeat(2), lefts.repeat(2)
        windows = bank.crop_batch(torch.full_like(tops, i), tops, lefts, flips)        # every possible output
        batch = bank.augmented_batch(torch.full((2000,), i), generator=g)
        # match each output to its window by a random projection, then check the match exactly
        probe = torch.randn(3 * 32 * 32, dtype=torch.float64)
        found = torch.cdist((batch.flatten(1).double() @ probe)[:, None],
                            (windows.flatten(1).double() @ probe)[:, None]).argmin(1)
        assert torch.equal(batch, windows[found])
        centre_top, centre_left = bank.centre_offsets([i])
        at_centre = (tops[found] == centre_top) & (lefts[found] == centre_left)
        positions = tops.numel() // 2
        expected_centre = 0.5 + 0.5 / positions
        assert abs(float(at_centre.float().mean()) - expected_centre) < 0.05
        assert len(set(zip(tops[found].tolist(), lefts[found].tolist()))) == positions  # every offset occurs
        assert 0.44 < float(flips[found].float().mean()) < 0.56


def test_augmented_batch_repeats_with_a_seeded_generator(made_up_folder):
    bank = load_image_folder(made_up_folder, progress=False)
    indices = torch.arange(len(bank)).repeat(8)

    def batch(seed):
        return bank.augmented_batch(indices, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(batch(5), batch(5))
    assert not torch.equal(batch(5), batch(6))
    torch.manual_seed(7)
    first = bank.augmented_batch(indices)  # no generator: the global one, seeded by set_seed
    torch.manual_seed(7)
    assert torch.equal(first, bank.augmented_batch(indices))


def test_to_returns_an_equal_bank_on_the_device(made_up_folder):
    bank = load_image_folder(made_up_folder, progress=False)
    moved = bank.to("cpu")
    assert isinstance(moved, ImageBank) and len(moved) == len(bank) and moved.device == torch.device("cpu")
    assert torch.equal(moved.images, bank.images) and torch.equal(moved.sizes, bank.sizes)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(moved.augmented_batch([0, 1, 5], g1), bank.augmented_batch([0, 1, 5], g2))


@pytest.mark.parametrize("case", ["missing", "empty", "empty_class_folders", "loose_files_only"])
def test_missing_or_empty_folder_names_both_ways_to_fill_it(tmp_path, case):
    root = tmp_path / "dataset_flowers_64px"
    if case != "missing":
        root.mkdir()
    if case == "empty_class_folders":
        (root / "train" / "1").mkdir(parents=True)
        (root / "README.md").write_text("readme")
    if case == "loose_files_only":
        _noise_image(40, 40, 0).save(str(root / "image_0001.jpg"))  # ImageFolder ignores files in the root
    with pytest.raises(UserError) as err:
        load_image_folder(str(root))
    message = str(err.value)
    assert "\n" not in message
    assert str(root) in message
    assert "python prepare_flowers.py" in message and "--synthetic" in message


def test_unreadable_image_is_a_user_error(tmp_path):
    folder = tmp_path / "flowers" / "train" / "1"
    folder.mkdir(parents=True)
    (folder / "broken.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(UserError, match="broken.jpg"):
        load_image_folder(str(tmp_path / "flowers"), progress=False)


def test_bank_refuses_images_smaller_than_the_crop():
    with pytest.raises(ValueError):
        ImageBank(torch.zeros(1, 3, 40, 40, dtype=torch.uint8), torch.tensor([[40, 20]]), image_size=32)


def test_real_photos_equal_torchvision_resize(shared_data):
    root = os.path.join(shared_data, "dataset_flowers_64px")
    if not os.path.isdir(root):
        pytest.skip("{} is absent".format(root))
    bank = load_image_folder(root, progress=False)
    reference = ImageFolder(root, transform=T.Compose([T.Resize(32), T.ToTensor()]))
    assert len(bank) == len(reference) == 800
    worst = 0.0
    for i in range(len(bank)):
        expected = reference[i][0]
        h, w = expected.shape[1:]
        assert bank.sizes[i].tolist() == [h, w]
        worst = max(worst, float((bank.images[i, :, :h, :w].float() / 255 - expected).abs().max()))
    assert worst <= 1.0 / 255 + 1e-6  # "within rounding": at most one grey level apart (in fact equal)
    # the course's photos are not all square: the crops matter on them too
    assert bool((bank.sizes.max(1).values > 32).any())
    centre_reference = ImageFolder(root, transform=T.Compose([T.Resize(32), T.CenterCrop(32), TO_MINUS_ONE_ONE]))
    picks = torch.arange(0, 800, 37)
    top, left = bank.centre_offsets(picks)
    centre = bank.crop_batch(picks, top, left, torch.zeros(len(picks), dtype=torch.bool))
    for row, i in enumerate(picks.tolist()):
        assert torch.equal(centre[row], centre_reference[i][0])
