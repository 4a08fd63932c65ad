"""The flower photos for the GAN: decoded once into one uint8 tensor, augmented a whole batch at a time.

The course's pipeline per image is ``Resize(32)`` (shorter side), then ``RandomCrop(32)`` or
``CenterCrop(32)`` with equal odds, ``RandomHorizontalFlip()``, ``ToTensor()`` and
``Normalize(0.5, 0.5)``. Here the resize happens once at load time (with PIL, exactly as
``transforms.Resize`` does it) and the rest runs on whole batches of tensors on the device, so an
epoch costs a few index gathers instead of hundreds of PIL calls in DataLoader workers.

The second half of the file writes the folder layout (``train/val/test/<class>/*.jpg``) that
``prepare_flowers.py`` builds from Oxford 102 Flowers or from the procedural flowers.
"""
import os
import shutil

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torchvision.transforms import InterpolationMode
from tqdm import tqdm

from lib.cli import UserError

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")  # ImageFolder's
SPLITS = ("train", "val", "test")
SPLIT_SIZES = (40, 20, 20)  # images per class in train/val/test, as in the course's folder (800 for 10 classes)
SOURCE_FILE = "SOURCE.txt"  # written beside the splits: where the images came from
FILL_HINT = ("fill it with `python prepare_flowers.py` (downloads Oxford 102 Flowers, needs a network) or use "
             "procedural flowers offline with `--synthetic` (`python prepare_flowers.py --synthetic` writes them "
             "there)")


def resize_shorter_side(image, size, interpolation=InterpolationMode.BILINEAR):
    """Resize a PIL image so its shorter side is ``size``, keeping the aspect ratio.

    This is ``transforms.Resize(size)`` itself (long side ``int(size * long / short)``, PIL's
    antialiased filter), so the bank matches the torchvision pipeline pixel for pixel.
    """
    return TF.resize(image, size, interpolation=interpolation)


class ImageBank:
    """A set of RGB images held as one padded uint8 tensor, ready for batched augmentation.

    ``images``: ``(N, 3, H, W)`` uint8 in [0, 255], each image in the top-left corner of its slot,
    zero padded to the largest height and width. ``sizes``: ``(N, 2)`` long, the true ``(h, w)``
    of each image, both at least ``image_size`` (the shorter side equals it after loading).
    ``labels``: ``(N,)`` long ImageFolder targets (index of the top-level subfolder) or None.
    """

    def __init__(self, images, sizes, image_size=32, labels=None, paths=None):
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError("images must be a (N, C, H, W) uint8 tensor, got {} {}".format(
                images.dtype, tuple(images.shape)))
        if sizes.shape != (images.shape[0], 2):
            raise ValueError("sizes must be (N, 2), got {}".format(tuple(sizes.shape)))
        if images.shape[0] and bool((sizes < image_size).any()):
            raise ValueError("every image must be at least {0}x{0} to crop it".format(image_size))
        self.images = images
        self.sizes = sizes.long()
        self.image_size = image_size
        self.labels = labels
        self.paths = paths

    def __len__(self):
        return self.images.shape[0]

    @property
    def device(self):
        return self.images.device

    def to(self, device):
        """Return a bank whose tensors live on ``device`` (the data set is small: keep all of it there)."""
        labels = None if self.labels is None else self.labels.to(device)
        return ImageBank(self.images.to(device), self.sizes.to(device), self.image_size, labels, self.paths)

    def centre_offsets(self, indices):
        """Top-left corners ``(B,)``, ``(B,)`` of ``CenterCrop(image_size)`` for the images at ``indices``."""
        corner = _centre_corner(self.sizes[self._as_index(indices)] - self.image_size)
        return corner[:, 0], corner[:, 1]

    def crop_batch(self, indices, top, left, flip):
        """Cut ``image_size`` squares at given corners, mirror where ``flip``, scale to [-1, 1].

        ``indices``, ``top``, ``left``: ``(B,)`` integer tensors; ``flip``: ``(B,)`` bool.
        Returns float32 ``(B, 3, image_size, image_size)`` in [-1, 1] on the bank's device.
        One gather over the whole bank: no per-image Python loop.
        """
        device = self.device
        idx = self._as_index(indices)
        top, left, flip = top.to(device).long(), left.to(device).long(), flip.to(device).bool()
        _, channels, height, width = self.images.shape
        span = torch.arange(self.image_size, device=device)
        rows = top[:, None] + span                                                 # (B, S)
        cols = left[:, None] + torch.where(flip[:, None], span.flip(0), span)      # (B, S), mirrored per image
        # flat positions in the bank: one torch.take is about twice as fast as four-way advanced indexing
        flat = ((idx * (channels * height * width))[:, None, None, None]
                + (torch.arange(channels, device=device) * (height * width))[None, :, None, None]
                + (rows * width)[:, None, :, None] + cols[:, None, None, :])      # (B, C, S, S)
        patches = torch.take(self.images, flat)
        # the same float operations as ToTensor() + Normalize(0.5, 0.5), so values agree bit for bit
        return patches.float().div_(255).sub_(0.5).div_(0.5)

    def augmented_batch(self, indices, generator=None):
        """The training augmentation for the images at ``indices`` (``(B,)`` tensor or list of ints).

        Per image: a uniformly placed random crop or the centre crop with equal odds, then a
        horizontal flip with probability 0.5. Returns float32 ``(B, 3, image_size, image_size)`` in
        [-1, 1] on the bank's device. The random numbers are one ``torch.rand(B, 4)`` draw from
        ``generator`` (on its device; the global CPU generator when None), so a seeded generator
        gives the same batch on every device.
        """
        idx = self._as_index(indices)
        draw_device = generator.device if generator is not None else torch.device("cpu")
        u = torch.rand(idx.shape[0], 4, generator=generator, device=draw_device).to(self.device)
        random_crop, flip = u[:, 0] < 0.5, u[:, 3] < 0.5
        room = self.sizes[idx] - self.image_size                                   # (B, 2): spare rows, columns
        # floor(u * (room + 1)) is uniform over 0..room like RandomCrop; the clamp guards rounding at u -> 1
        corner = torch.where(random_crop[:, None], torch.minimum((u[:, 1:3] * (room + 1)).long(), room),
                             _centre_corner(room))
        return self.crop_batch(idx, corner[:, 0], corner[:, 1], flip)

    def _as_index(self, indices):
        if not torch.is_tensor(indices):
            indices = torch.as_tensor(indices, dtype=torch.long)
        return indices.to(self.device).long().reshape(-1)


def _centre_corner(room):
    """Corner of the centre crop given the spare pixels ``room`` (any shape, integer)."""
    # torch.round rounds halves to even like Python's round(), which CenterCrop uses
    return torch.round(room.float() / 2.0).long()


def find_images(root):
    """Image paths and targets under ``root`` in ``torchvision.datasets.ImageFolder`` order.

    Every top-level subfolder is a class and is searched recursively (so ``train/val/test`` each
    count, with their class folders inside); loose files in ``root`` itself are ignored, as there.
    Returns ``(paths, targets, class_names)``.
    """
    class_names = sorted(entry.name for entry in os.scandir(root) if entry.is_dir())
    paths, targets = [], []
    for target, name in enumerate(class_names):
        for folder, _, file_names in sorted(os.walk(os.path.join(root, name), followlinks=True)):
            for file_name in sorted(file_names):
                if file_name.lower().endswith(IMG_EXTENSIONS):
                    paths.append(os.path.join(folder, file_name))
                    targets.append(target)
    return paths, targets, class_names


def _decode(path, image_size):
    """Decode one file as RGB, resize the shorter side to ``image_size``: ``(3, h, w)`` uint8."""
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise UserError("cannot read image {}: {}".format(path, err))
    return TF.pil_to_tensor(resize_shorter_side(image, image_size))


def stack_padded(tensors, image_size=32, labels=None, paths=None):
    """Put ``(C, h, w)`` uint8 tensors of different sizes into one zero-padded :class:`ImageBank`."""
    sizes = torch.tensor([t.shape[1:] for t in tensors], dtype=torch.long).reshape(-1, 2)
    channels = tensors[0].shape[0] if tensors else 3
    height, width = (sizes.max(0).values.tolist() if tensors else (image_size, image_size))
    images = torch.zeros(len(tensors), channels, height, width, dtype=torch.uint8)
    for i, t in enumerate(tensors):
        images[i, :, :t.shape[1], :t.shape[2]] = t
    return ImageBank(images, sizes, image_size, labels, paths)


def load_image_folder(root, image_size=32, progress=True):
    """Decode every image of an ImageFolder-style folder once into an :class:`ImageBank` (on the CPU).

    Each image is converted to RGB and resized (antialiased) so its shorter side is ``image_size``,
    exactly like ``transforms.Resize(image_size)``. A missing folder, a folder without images and an
    unreadable image raise :class:`UserError` with a one-line message.
    """
    if not os.path.isdir(root):
        raise UserError("image folder {} does not exist; {}".format(root, FILL_HINT))
    paths, targets, _ = find_images(root)
    if not paths:
        raise UserError("image folder {} holds no images (expected train/val/test/<class>/*.jpg); {}".format(
            root, FILL_HINT))
    tensors = [_decode(path, image_size)
               for path in tqdm(paths, desc="decoding images", unit="img", leave=False, disable=not progress)]
    return stack_padded(tensors, image_size, torch.tensor(targets, dtype=torch.long), paths)


def synthetic_image_bank(num_images=800, image_size=32, seed=0):
    """The procedural flowers (64x64, see :mod:`lib.synthetic_flowers`) as a bank, resized like the photos."""
    from lib.synthetic_flowers import synthetic_flowers  # imported here: that module uses this one's writer
    images, labels = synthetic_flowers(num_images, seed=seed)
    tensors = [TF.pil_to_tensor(resize_shorter_side(to_pil(image), image_size)) for image in images]
    return stack_padded(tensors, image_size, labels)


# ---------------------------------------------------------------------------------------------------
# Writing the folder: train/val/test/<class>/*.jpg, used by prepare_flowers.py
# ---------------------------------------------------------------------------------------------------

def to_pil(image):
    """``(3, H, W)`` uint8 tensor or PIL image -> RGB PIL image."""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    return Image.fromarray(np.ascontiguousarray(image.permute(1, 2, 0).cpu().numpy()), "RGB")


def folder_content(root):
    """Entries of ``root`` other than its README and hidden files ([] when ``root`` does not exist)."""
    if not os.path.isdir(root):
        return []
    return sorted(name for name in os.listdir(root) if name != "README.md" and not name.startswith("."))


def check_target_folder(root, overwrite=False):
    """Refuse to write into a folder that already holds something, unless ``overwrite``.

    Call it before any long download, so a refusal comes at once.
    """
    if os.path.exists(root) and not os.path.isdir(root):
        raise UserError("{} exists and is not a folder".format(root))
    content = folder_content(root)
    if content and not overwrite:
        raise UserError("{} already holds {}; pass --overwrite to replace the images or choose another "
                        "--out_dir".format(root, ", ".join(content[:4]) + (", ..." if len(content) > 4 else "")))


def clear_target_folder(root):
    """Remove the splits and the source note that an earlier run wrote (the README stays)."""
    for name in SPLITS:
        shutil.rmtree(os.path.join(root, name), ignore_errors=True)
    if os.path.isfile(os.path.join(root, SOURCE_FILE)):
        os.remove(os.path.join(root, SOURCE_FILE))


def split_of(rank, split_sizes=SPLIT_SIZES):
    """Which split the ``rank``-th image of a class goes to: the first ``train`` ones, then val, then test."""
    for name, end in zip(SPLITS, np.cumsum(split_sizes)):
        if rank < end:
            return name
    raise ValueError("rank {} is beyond the {} images a class holds".format(rank, sum(split_sizes)))


def write_image_folder(root, entries, source_lines=(), quality=95, total=None):
    """Save ``entries`` as ``root/<split>/<class>/<file name>`` JPEGs and a ``SOURCE.txt`` note.

    ``entries``: iterable of ``(split, class_name, file_name, image)`` with ``image`` a PIL image or a
    ``(3, H, W)`` uint8 tensor. Returns the number of images per split as a dict.
    """
    counts = {name: 0 for name in SPLITS}
    for split, class_name, file_name, image in tqdm(entries, desc="writing " + root, unit="img", total=total):
        folder = os.path.join(root, split, str(class_name))
        os.makedirs(folder, exist_ok=True)
        to_pil(image).save(os.path.join(folder, file_name), "JPEG", quality=quality)
        counts[split] += 1
    with open(os.path.join(root, SOURCE_FILE), "w") as handle:
        handle.write("\n".join(list(source_lines) + ["images: " + ", ".join(
            "{} {}".format(name, counts[name]) for name in SPLITS)]) + "\n")
    return counts


# ---------------------------------------------------------------------------------------------------
# Oxford 102 Flowers -> the course's layout
# ---------------------------------------------------------------------------------------------------

# The course's folder holds 10 of the Oxford 17 Flowers types (daffodil, snowdrop, bluebell, iris, tulip,
# sunflower, daisy, buttercup, windflower, pansy). Prefer the Flowers102 classes of those types, then the
# other Oxford 17 types, then the largest classes; any class with too few photos for the splits is skipped.
PREFERRED_FLOWERS102_CLASSES = (
    42,  # daffodil
    68,  # bearded iris
    54,  # sunflower
    49,  # oxeye daisy
    48,  # buttercup
    69,  # windflower
    52,  # wild pansy
    15,  # yellow iris
    67,  # spring crocus
    23,  # fritillary
    12,  # colt's foot
    50,  # common dandelion
    6,   # tiger lily
)


def choose_classes(class_counts, needed, num_classes=10, preferred=PREFERRED_FLOWERS102_CLASSES):
    """Pick ``num_classes`` labels that have at least ``needed`` images each.

    ``class_counts``: dict label -> number of images. Labels from ``preferred`` come first (in that
    order), then the remaining ones from the largest down (ties: lower label first).
    """
    eligible = [c for c in class_counts if class_counts[c] >= needed]
    first = [c for c in preferred if c in eligible]
    rest = sorted((c for c in eligible if c not in first), key=lambda c: (-class_counts[c], c))
    chosen = (first + rest)[:num_classes]
    if len(chosen) < num_classes:
        raise UserError("only {} classes have the {} images per class asked for; lower --train/--val/--test or "
                        "--num_classes".format(len(chosen), needed))
    return chosen


def _labels_and_names(dataset):
    """Labels (1-based, as Oxford numbers the classes) and file names of a Flowers102-like data set.

    Uses torchvision's ``_labels``/``_image_files`` when present so no image is decoded just to count.
    """
    labels = getattr(dataset, "_labels", None)
    if labels is None:
        labels = [dataset[i][1] for i in range(len(dataset))]
    files = getattr(dataset, "_image_files", None)
    names = [os.path.basename(str(f)) for f in files] if files is not None else [None] * len(labels)
    return [int(label) + 1 for label in labels], names


def flowers102_entries(datasets, classes=None, num_classes=10, split_sizes=SPLIT_SIZES, size=64, square=False,
                       seed=0):
    """Plan the course-style folder from Flowers102-like data sets; returns ``(entries, source_lines)``.

    ``datasets``: data sets whose items are ``(PIL image, 0-based label)`` (torchvision's three
    splits, pooled: their own split sizes, 10 images per class for training, do not suit a GAN).
    ``classes``: 1-based Oxford labels to use, or None to :func:`choose_classes`. Per class the
    images are ordered by file name, shuffled with ``seed`` and dealt out to train/val/test.
    ``entries`` is a generator for :func:`write_image_folder`; images are resized so the shorter
    side is ``size`` (and centre-cropped to ``size x size`` with ``square``).
    """
    needed = sum(split_sizes)
    pool = {}
    for d, dataset in enumerate(datasets):
        labels, names = _labels_and_names(dataset)
        for i, (label, name) in enumerate(zip(labels, names)):
            pool.setdefault(label, []).append((name or "image_d{}_{:05d}.jpg".format(d, i), d, i))
    if classes is None:
        classes = choose_classes({c: len(items) for c, items in pool.items()}, needed, num_classes)
    for label in classes:
        if len(pool.get(label, [])) < needed:
            raise UserError("Flowers102 class {} has {} images, fewer than the {} asked for per class".format(
                label, len(pool.get(label, [])), needed))
    class_names = getattr(type(datasets[0]), "classes", None) if datasets else None
    source = ["Oxford 102 Flowers (torchvision.datasets.Flowers102, train+val+test pooled), shorter side {} px{}, "
              "seed {}".format(size, ", centre-cropped square" if square else "", seed),
              "per class: " + ", ".join("{} {}".format(n, k) for n, k in zip(SPLITS, split_sizes))]
    source += ["folder {}: Flowers102 class {}{}".format(
        folder, label, " ({})".format(class_names[label - 1]) if class_names and label <= len(class_names) else "")
        for folder, label in enumerate(classes, 1)]

    def entries():
        rng = np.random.default_rng(seed)
        for folder, label in enumerate(classes, 1):
            items = sorted(pool[label])
            for rank, k in enumerate(rng.permutation(len(items))[:needed]):
                name, d, i = items[k]
                image = resize_shorter_side(datasets[d][i][0].convert("RGB"), size, InterpolationMode.LANCZOS)
                if square:
                    image = TF.center_crop(image, size)
                yield split_of(rank, split_sizes), folder, name, image

    return entries(), source


def load_flowers102(data_dir):
    """torchvision's three Flowers102 splits, downloaded into ``data_dir`` if needed (about 330 MB)."""
    import torchvision.datasets
    try:
        return [torchvision.datasets.Flowers102(data_dir, split=split, download=True) for split in SPLITS]
    except ImportError as err:  # the labels come as .mat files, read with scipy
        raise UserError("reading Oxford 102 Flowers needs scipy ({}); pip install scipy".format(err))
    except (OSError, RuntimeError, ValueError) as err:  # URLError is an OSError
        reason = " ".join(str(err).split()) or type(err).__name__
        raise UserError("could not download Oxford 102 Flowers into {} ({}); without a network use --synthetic "
                        "for procedural flowers".format(data_dir, reason))
