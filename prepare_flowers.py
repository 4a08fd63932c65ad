"""Build dataset_flowers_64px/: flower JPEGs in train/val/test splits with class folders 1..10.

    python prepare_flowers.py              # Oxford 102 Flowers via torchvision (downloads ~330 MB into data/)
    python prepare_flowers.py --synthetic  # procedural flowers, offline

Like the course's folder: 10 classes with 40 train, 20 val and 20 test images each (800 in all),
every photo resized so its shorter side is 64 px (aspect kept, as in the course's files; --square
crops them to 64x64). Which Flowers102 classes are used and why is written to SOURCE.txt beside
the splits. An existing folder is never overwritten without --overwrite.
"""
import argparse

from lib.cli import UserError, run_main
from lib.data_flowers import (SPLIT_SIZES, check_target_folder, clear_target_folder, flowers102_entries,
                              load_flowers102, write_image_folder)
from lib.synthetic_flowers import synthetic_entries

MAX_SYNTHETIC_CLASSES = 20  # class k has k + 2 petals: beyond ~22 petals they no longer fit in 64 px


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out_dir", default="dataset_flowers_64px", help="folder to fill (default: %(default)s)")
    parser.add_argument("--data_dir", default="data", help="where Flowers102 is downloaded (default: %(default)s)")
    parser.add_argument("--synthetic", action="store_true", help="write procedural flowers instead (no network)")
    parser.add_argument("--num_classes", type=int, default=10, help="class folders 1..N (default: %(default)s)")
    parser.add_argument("--classes", default=None,
                        help="comma-separated Flowers102 class numbers (1..102) to use instead of the default "
                             "choice, e.g. 42,54,52")
    for name, default in zip(("train", "val", "test"), SPLIT_SIZES):
        parser.add_argument("--" + name, type=int, default=default,
                            help="{} images per class (default: %(default)s)".format(name))
    parser.add_argument("--size", type=int, default=64, help="shorter side in pixels (default: %(default)s)")
    parser.add_argument("--square", action="store_true", help="centre-crop the photos to size x size")
    parser.add_argument("--seed", type=int, default=0, help="which images go to which split / which flowers "
                                                            "are drawn (default: %(default)s)")
    parser.add_argument("--quality", type=int, default=95, help="JPEG quality 1..95 (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace the images of an earlier run")
    return parser.parse_args(argv)


def parse_classes(text):
    """``"42, 54,52"`` -> ``[42, 54, 52]``, each a Flowers102 class number, no repeats."""
    try:
        classes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError("--classes takes comma-separated numbers like 42,54,52, got {!r}".format(text))
    if not classes or any(c < 1 or c > 102 for c in classes) or len(set(classes)) != len(classes):
        raise UserError("--classes needs distinct Flowers102 class numbers between 1 and 102, got {!r}".format(text))
    return classes


def check_args(args):
    split_sizes = (args.train, args.val, args.test)
    if min(split_sizes) < 0 or sum(split_sizes) == 0:
        raise UserError("--train/--val/--test must be >= 0 and not all 0, got {}".format(split_sizes))
    if not 8 <= args.size <= 1024:
        raise UserError("--size must be between 8 and 1024, got {}".format(args.size))
    if not 1 <= args.quality <= 95:
        raise UserError("--quality must be between 1 and 95, got {}".format(args.quality))
    limit = MAX_SYNTHETIC_CLASSES if args.synthetic else 102
    if not 1 <= args.num_classes <= limit:
        raise UserError("--num_classes must be between 1 and {}, got {}".format(limit, args.num_classes))
    if args.classes is not None and args.synthetic:
        raise UserError("--classes picks Flowers102 classes; it does not apply to --synthetic")
    return split_sizes


def main(argv=None):
    args = parse_args(argv)
    split_sizes = check_args(args)
    classes = parse_classes(args.classes) if args.classes is not None else None
    check_target_folder(args.out_dir, args.overwrite)  # before any download, so a refusal comes at once
    if args.synthetic:
        entries, source, total = synthetic_entries(split_sizes, args.num_classes, args.seed, args.size)
    else:
        datasets = load_flowers102(args.data_dir)
        num_classes = len(classes) if classes is not None else args.num_classes
        entries, source = flowers102_entries(datasets, classes, num_classes, split_sizes, args.size, args.square,
                                             args.seed)
        total = num_classes * sum(split_sizes)
    clear_target_folder(args.out_dir)
    counts = write_image_folder(args.out_dir, entries, source, quality=args.quality, total=total)
    print("wrote {} images to {} ({}); see {}/SOURCE.txt".format(
        sum(counts.values()), args.out_dir, ", ".join("{} {}".format(k, v) for k, v in counts.items()),
        args.out_dir))
    return counts


if __name__ == "__main__":
    run_main(main)
