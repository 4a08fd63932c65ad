"""Procedural flowers: an offline stand-in for the flower photos, so training and tests need no download.

Each 64x64 picture shows one flower (petals around a coloured centre, on a stem sometimes) in front
of a blurred background of leaves and light. Class ``k`` (0-based) has ``k + 3`` petals; colours,
sizes, positions, petal shapes and backgrounds vary freely. Everything is drawn with numpy on whole
batches of images: 800 pictures take a fraction of a second. The same seed gives the same pictures.
"""
import numpy as np
import torch

from lib.data_flowers import SPLIT_SIZES, split_of, write_image_folder

MIN_PETALS = 3
BACKGROUND_BLOBS = 6
CHUNK = 200  # images rendered at once: keeps the float temporaries small


def petal_radius(theta, petals, phase, depth, sharpness, bump=None):
    """Outline of the petal ring in polar form: radius (relative to the flower's size) at angle ``theta``.

    ``|cos(petals * (theta - phase) / 2)|`` has ``petals`` bumps per turn; ``depth`` in (0, 1) is how far
    the gaps between petals reach towards the centre (0: down to it, 1: a plain disk) and
    ``sharpness`` > 0 narrows (large) or widens (small) the petals. All arguments broadcast;
    ``bump``, the ``|cos|`` term, may be passed in when the caller has it already.
    """
    if bump is None:
        bump = np.abs(np.cos(petals * (theta - phase) / 2.0))
    return depth + (1.0 - depth) * bump ** sharpness


def hsv_to_rgb(h, s, v):
    """Vectorised HSV -> RGB, all in [0, 1]; the result has a trailing axis of 3."""
    i = np.floor(h * 6.0).astype(np.int64) % 6
    f = h * 6.0 - np.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    table = np.stack([np.stack(c, -1) for c in ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))])
    return np.take_along_axis(table, i[None, ..., None].repeat(3, -1), 0)[0]


DRAWS_PER_IMAGE = 69  # uniform numbers one flower consumes (checked below)


def draw_parameters(rng, num_images, num_classes=10):
    """Every random choice for ``num_images`` flowers, one array per property (lengths in units of the image).

    All of them come from one ``(num_images, DRAWS_PER_IMAGE)`` uniform draw, a row per flower, so
    the first flowers are the same whether 10 or 800 are asked for.
    """
    n = num_images
    rows = rng.random((n, DRAWS_PER_IMAGE))
    used = [0]

    def u(low, high, count=None):
        """Uniform in [low, high): ``(n,)``, or ``(n, count)`` / ``(n, *count)``."""
        shape = () if count is None else ((count,) if np.isscalar(count) else tuple(count))
        width = int(np.prod(shape))
        columns = rows[:, used[0]:used[0] + width].reshape((n,) + shape)
        used[0] += width
        return low + (high - low) * columns

    labels = np.arange(n) % num_classes
    blobs = BACKGROUND_BLOBS
    params = {
        "label": labels,
        "petals": labels + MIN_PETALS,
        "sky": hsv_to_rgb(u(0.0, 1.0), u(0.1, 0.6), u(0.3, 0.95)),        # background, top
        "ground": hsv_to_rgb(u(0.17, 0.45), u(0.3, 0.9), u(0.1, 0.6)),    # background, bottom: foliage
        "blob_xy": u(-0.1, 1.1, (blobs, 2)),
        "blob_radius": u(0.05, 0.3, blobs),
        "blob_colour": hsv_to_rgb(u(0.15, 0.5, blobs), u(0.2, 1.0, blobs), u(0.05, 0.9, blobs)),
        "blob_strength": u(0.3, 0.9, blobs),
        "centre": u(0.3, 0.7, 2),                   # (x, y) of the flower's heart
        "size": u(0.2, 0.42),                       # petal tip radius
        "phase": u(0.0, 2 * np.pi),
        "depth": u(0.15, 0.65),
        "sharpness": u(0.4, 2.5),
        "petal_colour": hsv_to_rgb(u(0.0, 1.0), u(0.45, 1.0), u(0.65, 1.0)),
        "tip_light": u(-0.3, 0.4),                  # petals lighten (> 0) or darken towards the tips
        "inner_ring": u(0.0, 1.0) < 0.4,            # a second, smaller ring between the petals
        "inner_colour": hsv_to_rgb(u(0.0, 1.0), u(0.3, 1.0), u(0.6, 1.0)),
        "heart_size": u(0.12, 0.32),                # relative to the petal radius
        "heart_colour": hsv_to_rgb(u(0.02, 0.18), u(0.5, 1.0), u(0.2, 1.0)),
        "stem": u(0.0, 1.0) < 0.7,
        "stem_slope": u(-0.4, 0.4),
        "stem_width": u(0.02, 0.05),
    }
    assert used[0] == DRAWS_PER_IMAGE, "update DRAWS_PER_IMAGE to {}".format(used[0])
    return params


def _coverage(signed_distance, pixel):
    """Antialiased coverage in [0, 1] from a signed distance (positive inside), ``pixel`` = one pixel's length."""
    return np.clip(signed_distance * (1.0 / pixel) + 0.5, 0.0, 1.0)


def _paint(image, colour, coverage):
    """Blend ``colour`` over ``image`` (``(N, 3, H, W)``, in place) where ``coverage`` (``(N, 1, H, W)``) says."""
    change = colour - image
    change *= coverage
    image += change


def render(params, size=64):
    """Draw the flowers in ``params`` (a slice of :func:`draw_parameters`): ``(N, 3, size, size)`` float32 in [0, 1].

    Channels first and float32 throughout: the blends then run over contiguous rows.
    """
    n = len(params["label"])
    params = {key: value.astype(np.float32) if value.dtype.kind == "f" else value for key, value in params.items()}
    pixel = 1.0 / size
    coords = ((np.arange(size) + 0.5) * pixel).astype(np.float32)
    y, x = coords[None, None, :, None], coords[None, None, None, :]       # (1, 1, H, 1), (1, 1, 1, W)

    def per_image(key):
        """``(n, ...)`` parameter -> ``(n, 1, 1, 1)`` (scalars) or ``(n, 3, 1, 1)`` (colours)."""
        return params[key].reshape((n, -1, 1, 1))

    # background: vertical gradient, then soft blobs like out-of-focus leaves and light
    sky, ground = per_image("sky"), per_image("ground")
    image = np.broadcast_to(sky + (ground - sky) * y, (n, 3, size, size)).copy()
    for b in range(BACKGROUND_BLOBS):
        bx, by = params["blob_xy"][:, b, 0].reshape(n, 1, 1, 1), params["blob_xy"][:, b, 1].reshape(n, 1, 1, 1)
        r2 = 2 * params["blob_radius"][:, b].reshape(n, 1, 1, 1) ** 2
        # a Gaussian is separable: two 1-D profiles instead of one exp per pixel
        weight = np.exp(-(x - bx) ** 2 / r2) * np.exp(-(y - by) ** 2 / r2)
        weight *= params["blob_strength"][:, b].reshape(n, 1, 1, 1)
        _paint(image, params["blob_colour"][:, b].reshape(n, 3, 1, 1), weight)

    centre = per_image("centre")
    dx, dy = x - centre[:, :1], y - centre[:, 1:]
    rho, theta = np.sqrt(dx * dx + dy * dy), np.arctan2(dy, dx)          # (n, 1, H, W)
    radius = per_image("size")

    # stem: a slanted band from the heart down to the bottom edge, behind the petals
    slope = per_image("stem_slope")
    off_axis = np.abs(dx - slope * dy) / np.sqrt(1 + slope * slope)
    stem = _coverage(per_image("stem_width") / 2 - off_axis, pixel) * ((dy > 0) & per_image("stem"))
    _paint(image, np.array([0.2, 0.45, 0.15], np.float32).reshape(1, 3, 1, 1), stem)

    # petals: shaded from the heart to the tips, a brighter line along each petal's middle
    petals, phase = per_image("petals"), per_image("phase")
    bump = np.abs(np.cos(petals * (theta - phase) / 2.0))   # 1 on each petal's middle line, 0 between petals
    outline = radius * petal_radius(theta, petals, phase, per_image("depth"), per_image("sharpness"), bump)
    along = np.clip(rho / outline, 0.0, 1.0)
    shade = 0.75 + per_image("tip_light") * along + 0.15 * (bump * bump) ** 4
    _paint(image, np.clip(per_image("petal_colour") * shade, 0, 1), _coverage(outline - rho, pixel))

    # optional inner ring: shorter petals turned half a petal (|sin| where the outer ring has |cos|)
    inner = 0.6 * radius * (0.3 + 0.7 * np.sqrt(np.maximum(1.0 - bump * bump, 0.0)))
    ring = _coverage(inner - rho, pixel) * per_image("inner_ring")
    _paint(image, per_image("inner_colour") * (0.7 + 0.3 * along), ring)

    # heart: a disk with a ring texture
    texture = 0.85 + 0.15 * np.cos(rho * (2.0 * size))
    _paint(image, np.clip(per_image("heart_colour") * texture, 0, 1),
           _coverage(radius * per_image("heart_size") - rho, pixel))
    return image


def synthetic_flowers(num_images=800, seed=0, size=64, num_classes=10):
    """``num_images`` procedural flowers: ``(images, labels)``.

    ``images``: ``(N, 3, size, size)`` uint8 tensor in [0, 255]; ``labels``: ``(N,)`` long in
    ``[0, num_classes)``, cycling through the classes; class ``k`` has ``k + 3`` petals.
    """
    shape_seed, noise_seed = np.random.SeedSequence(seed).spawn(2)
    params = draw_parameters(np.random.default_rng(shape_seed), num_images, num_classes)
    noise = np.random.default_rng(noise_seed)
    images = np.empty((num_images, 3, size, size), np.uint8)
    for start in range(0, num_images, CHUNK):
        part = {key: value[start:start + CHUNK] for key, value in params.items()}
        picture = render(part, size)
        # a little sensor noise (uniform, std 0.02), drawn image after image from a stream of its own
        picture += (noise.random(picture.shape, dtype=np.float32) - 0.5) * 0.07
        images[start:start + CHUNK] = np.round(np.clip(picture, 0.0, 1.0) * 255.0)
    return torch.from_numpy(images), torch.from_numpy(params["label"]).long()


def synthetic_entries(split_sizes=SPLIT_SIZES, num_classes=10, seed=0, size=64):
    """The procedural set dealt out like the course's folder: ``(entries, source_lines, total)``.

    Class folder ``k + 1`` holds the flowers with ``k + 3`` petals; per class the first
    ``split_sizes[0]`` go to train, the next to val, the rest to test. Files are numbered
    ``image_0001.jpg``, ... across the whole set, like the course's.
    """
    total = num_classes * sum(split_sizes)
    images, labels = synthetic_flowers(total, seed=seed, size=size, num_classes=num_classes)
    seen = [0] * num_classes
    entries = []
    for i, (image, label) in enumerate(zip(images, labels.tolist())):
        entries.append((split_of(seen[label], split_sizes), label + 1, "image_{:04d}.jpg".format(i + 1), image))
        seen[label] += 1
    source = ["procedural flowers (lib/synthetic_flowers.py), {0}x{0} px, seed {1}; folder k holds flowers with "
              "k + 2 petals".format(size, seed),
              "per class: " + ", ".join("{} {}".format(n, k) for n, k in zip(("train", "val", "test"), split_sizes))]
    return entries, source, total


def write_synthetic_folder(root, split_sizes=SPLIT_SIZES, num_classes=10, seed=0, size=64, quality=95):
    """Write the procedural set as ``root/{train,val,test}/{1..num_classes}/*.jpg``; returns counts per split."""
    entries, source, total = synthetic_entries(split_sizes, num_classes, seed, size)
    return write_image_folder(root, entries, source, quality=quality, total=total)
