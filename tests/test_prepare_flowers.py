"""prepare_flowers.py writes the course's folder layout; offline, with a fake Flowers102 where one is needed."""
import os
import urllib.error

import numpy as np
import pytest
import torchvision.datasets
from PIL import Image

import prepare_flowers
from lib.cli import UserError, run_main
from lib.data_flowers import SOURCE_FILE, SPLITS, choose_classes, find_images


def _layout(root):
    """{(split, class folder): sorted file names} of a written folder."""
    return {(split, folder): sorted(os.listdir(os.path.join(root, split, folder)))
            for split in SPLITS if os.path.isdir(os.path.join(root, split))
            for folder in os.listdir(os.path.join(root, split))}


def _sizes(root):
    paths, _, _ = find_images(root)
    sizes = set()
    for path in paths:
        with Image.open(path) as image:
            assert image.format == "JPEG" and image.mode == "RGB"
            sizes.add(image.size)
    return sizes


def test_synthetic_set_has_the_course_layout(tmp_path):
    out = str(tmp_path / "dataset_flowers_64px")
    counts = prepare_flowers.main(["--synthetic", "--out_dir", out, "--train", "2", "--val", "1", "--test", "1"])
    assert counts == {"train": 20, "val": 10, "test": 10}
    layout = _layout(out)
    assert set(layout) == {(split, str(k)) for split in SPLITS for k in range(1, 11)}
    for (split, _), names in layout.items():
        assert len(names) == (2 if split == "train" else 1)
    all_names = [name for names in layout.values() for name in names]
    assert len(set(all_names)) == 40  # unique file names across the whole set, like the course's
    assert _sizes(out) == {(64, 64)}
    with open(os.path.join(out, SOURCE_FILE)) as handle:
        assert "procedural" in handle.read()


def test_default_synthetic_set_is_the_course_size(tmp_path):
    out = str(tmp_path / "flowers")
    counts = prepare_flowers.main(["--synthetic", "--out_dir", out])
    assert counts == {"train": 400, "val": 200, "test": 200}
    layout = _layout(out)
    assert all(len(layout[("train", str(k))]) == 40 and len(layout[("test", str(k))]) == 20 for k in range(1, 11))


def test_refuses_to_overwrite_without_the_flag(tmp_path, capsys):
    out = str(tmp_path / "flowers")
    prepare_flowers.main(["--synthetic", "--out_dir", out, "--train", "1", "--val", "0", "--test", "0"])
    before = _layout(out)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        run_main(prepare_flowers.main, ["--synthetic", "--out_dir", out, "--seed", "1"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and "\n" not in error and "--overwrite" in error
    assert _layout(out) == before
    # with --overwrite the earlier images are replaced and the README stays
    with open(os.path.join(out, "README.md"), "w") as handle:
        handle.write("keep me")
    old_picture = np.asarray(Image.open(os.path.join(out, "train", "1", "image_0001.jpg")))
    prepare_flowers.main(["--synthetic", "--out_dir", out, "--seed", "1", "--overwrite",
                          "--train", "1", "--val", "1", "--test", "0"])
    assert set(_layout(out)) == {(split, str(k)) for split in ("train", "val") for k in range(1, 11)}
    new_picture = np.asarray(Image.open(os.path.join(out, "train", "1", "image_0001.jpg")))
    assert np.abs(new_picture.astype(int) - old_picture).mean() > 10
    assert open(os.path.join(out, "README.md")).read() == "keep me"


def test_a_folder_with_only_its_readme_counts_as_empty(tmp_path):
    out = tmp_path / "flowers"
    out.mkdir()
    (out / "README.md").write_text("what belongs here")
    counts = prepare_flowers.main(["--synthetic", "--out_dir", str(out), "--train", "1", "--val", "0", "--test", "0",
                                   "--num_classes", "2"])
    assert counts["train"] == 2


class FakeFlowers102:
    """Stands in for ``torchvision.datasets.Flowers102``: photos of random sizes, 0-based labels."""

    classes = ["flower {}".format(k) for k in range(1, 103)]

    def __init__(self, labels, first_id, private=True):
        self.items = [(label - 1, first_id + i) for i, label in enumerate(labels)]
        if private:  # what torchvision has, so nothing needs decoding just to count
            self._labels = [label for label, _ in self.items]
            self._image_files = ["jpg/image_{:05d}.jpg".format(image_id) for _, image_id in self.items]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        label, image_id = self.items[index]
        rng = np.random.default_rng(image_id)
        width, height = int(rng.integers(90, 160)), int(rng.integers(90, 160))
        picture = np.full((height, width, 3), label * 2, np.uint8)  # grey level = 2 x label, even in mode L
        return Image.fromarray(picture, "RGB").convert("L" if index % 7 == 0 else "RGB"), label


def _fake_splits(private=True):
    # class 42 (daffodil, preferred) has 5 photos, 68 (bearded iris, preferred) only 3, classes 1 and 2 have
    # 6 and 4, class 3 has 7: with 4 needed per class, 42 comes first, then the largest: 3, 1, 2
    labels = [42] * 5 + [68] * 3 + [1] * 6 + [2] * 4 + [3] * 7
    order = np.random.default_rng(0).permutation(len(labels))
    labels = [labels[i] for i in order]
    return [FakeFlowers102(labels[:8], 1, private), FakeFlowers102(labels[8:16], 101, private),
            FakeFlowers102(labels[16:], 201, private)]


@pytest.mark.parametrize("private", [True, False])
def test_flowers102_layout_with_a_fake_dataset(tmp_path, monkeypatch, private):
    monkeypatch.setattr(prepare_flowers, "load_flowers102", lambda data_dir: _fake_splits(private))
    out = str(tmp_path / "flowers")
    counts = prepare_flowers.main(["--out_dir", out, "--num_classes", "3", "--train", "2", "--val", "1",
                                   "--test", "1"])
    assert counts == {"train": 6, "val": 3, "test": 3}
    layout = _layout(out)
    assert set(layout) == {(split, str(k)) for split in SPLITS for k in (1, 2, 3)}
    names = [name for files in layout.values() for name in files]
    assert len(names) == len(set(names)) == 12  # no photo in two places
    with open(os.path.join(out, SOURCE_FILE)) as handle:
        source = handle.read()
    assert "folder 1: Flowers102 class 42 (flower 42)" in source
    assert "folder 2: Flowers102 class 3" in source and "folder 3: Flowers102 class 1" in source
    # every photo in a folder comes from that folder's class (the fake's colour encodes the label)
    for (split, folder), files in layout.items():
        label = {"1": 42, "2": 3, "3": 1}[folder] - 1
        for name in files:
            with Image.open(os.path.join(out, split, folder, name)) as image:
                red = np.asarray(image.convert("RGB"))[..., 0].astype(int)
            assert abs(int(np.median(red)) - label * 2) <= 3
    # shorter side 64, aspect ratio kept
    assert all(min(size) == 64 for size in _sizes(out)) and len(_sizes(out)) > 1
    if private:
        assert all(name.startswith("image_") and len(name) == len("image_00001.jpg") for name in names)


def test_square_flag_and_seed(tmp_path, monkeypatch):
    monkeypatch.setattr(prepare_flowers, "load_flowers102", lambda data_dir: _fake_splits())
    args = ["--num_classes", "2", "--train", "1", "--val", "1", "--test", "1"]
    prepare_flowers.main(args + ["--out_dir", str(tmp_path / "a"), "--square", "--seed", "0"])
    prepare_flowers.main(args + ["--out_dir", str(tmp_path / "b"), "--seed", "0"])
    prepare_flowers.main(args + ["--out_dir", str(tmp_path / "c"), "--seed", "1"])
    assert _sizes(str(tmp_path / "a")) == {(64, 64)}
    assert _layout(str(tmp_path / "a")) == _layout(str(tmp_path / "b"))  # the seed decides the split
    assert _layout(str(tmp_path / "b")) != _layout(str(tmp_path / "c"))


def test_explicit_classes_and_too_few_photos(tmp_path, monkeypatch):
    monkeypatch.setattr(prepare_flowers, "load_flowers102", lambda data_dir: _fake_splits())
    base = ["--train", "2", "--val", "1", "--test", "1"]
    prepare_flowers.main(base + ["--out_dir", str(tmp_path / "ok"), "--classes", "2,1"])
    with open(os.path.join(str(tmp_path / "ok"), SOURCE_FILE)) as handle:
        source = handle.read()
    assert "folder 1: Flowers102 class 2 " in source and "folder 2: Flowers102 class 1 " in source
    with pytest.raises(UserError, match="class 68 has 3 images"):
        prepare_flowers.main(base + ["--out_dir", str(tmp_path / "few"), "--classes", "42,68"])
    with pytest.raises(UserError, match="only 4 classes"):
        prepare_flowers.main(base + ["--out_dir", str(tmp_path / "many"), "--num_classes", "5"])


def test_choose_classes_prefers_the_course_types_then_the_largest():
    counts = {42: 80, 68: 79, 54: 100, 1: 200, 2: 150, 3: 150, 4: 10}
    assert choose_classes(counts, 80, 4) == [42, 54, 1, 2]
    assert choose_classes(counts, 80, 5) == [42, 54, 1, 2, 3]  # ties: lower label first
    with pytest.raises(UserError):
        choose_classes(counts, 80, 6)


def test_offline_download_fails_with_one_clear_line(tmp_path, monkeypatch, capsys):
    class Offline:
        def __init__(self, *args, **kwargs):
            raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets, "Flowers102", Offline)
    out = str(tmp_path / "flowers")
    with pytest.raises(SystemExit) as exit_info:
        run_main(prepare_flowers.main, ["--out_dir", out, "--data_dir", str(tmp_path / "data")])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: could not download Oxford 102 Flowers") and "\n" not in error
    assert "--synthetic" in error and "name resolution" in error
    assert not os.path.exists(out)  # nothing half-written


def test_a_full_target_is_refused_before_any_download(tmp_path, monkeypatch):
    def no_download(data_dir):
        raise AssertionError("must not download into a folder that would be refused")

    monkeypatch.setattr(prepare_flowers, "load_flowers102", no_download)
    out = tmp_path / "flowers"
    (out / "train" / "1").mkdir(parents=True)
    with pytest.raises(UserError, match="--overwrite"):
        prepare_flowers.main(["--out_dir", str(out)])


@pytest.mark.parametrize("flags, message", [
    (["--classes", "a,b"], "comma-separated"),
    (["--classes", "0,5"], "between 1 and 102"),
    (["--classes", "5,5"], "distinct"),
    (["--train", "-1"], ">= 0"),
    (["--train", "0", "--val", "0", "--test", "0"], "not all 0"),
    (["--synthetic", "--num_classes", "30"], "--num_classes"),
    (["--synthetic", "--classes", "1,2"], "does not apply"),
    (["--size", "4"], "--size"),
])
def test_bad_flags_are_user_errors(tmp_path, flags, message):
    with pytest.raises(UserError, match=message):
        prepare_flowers.main(flags + ["--out_dir", str(tmp_path / "flowers")])
