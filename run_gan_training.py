"""Train the DCGAN on the flower photos (or offline procedural flowers) at 32x32.

    python run_gan_training.py                      # 500 epochs on dataset_flowers_64px/
    python run_gan_training.py --synthetic --epochs 50
    python run_gan_training.py --resume results_gan/run_..._20250101-120000 --epochs 1000

Every run writes into a new folder ``results_gan/run_<settings>_<timestamp>/``; ``--resume`` continues
a run in its own folder (iteration count, loss curves and fixed noise carry on) up to ``--epochs``.
"""
import argparse

from lib.cli import ArgumentParser, run_main
from lib.device import DEVICE_CHOICES
from lib.gan_run import SYNTHETIC_IMAGES, run_gan_training


def parse_args(argv=None):
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=500, help="total epochs, also when resuming (default 500)")
    parser.add_argument("--batch_size", type=int, help="images per batch (default 128)")
    parser.add_argument("--ngf", type=int, help="generator channel multiplier (default 32)")
    parser.add_argument("--ndf", type=int, help="discriminator channel multiplier (default 32)")
    parser.add_argument("--nz", type=int, help="latent size (default 64)")
    parser.add_argument("--lr", type=float, help="Adam learning rate for both networks (default 2e-4)")
    parser.add_argument("--seed", type=int, help="random seed (default 999)")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    parser.add_argument("--data_dir", help="ImageFolder-style image folder (default dataset_flowers_64px)")
    parser.add_argument("--synthetic", action="store_true", default=None,
                        help="train on {} procedural flowers made offline instead of photos".format(SYNTHETIC_IMAGES))
    parser.add_argument("--limit", type=int,
                        help="train on N images only: a seeded pick of the photos, or the first N procedural "
                             "flowers (quick checks; the run folder name says _n<N>)")
    parser.add_argument("--amp", action="store_true", help="bfloat16 autocast (helps on GPUs and AMX CPUs)")
    parser.add_argument("--channels_last", action="store_true",
                        help="channels-last memory layout (faster convolutions on most CPUs)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue this run folder up to --epochs")
    parser.add_argument("--out_root", default="results_gan", help="parent of the run folders (default results_gan)")
    parser.add_argument("--checkpoint_every", type=int, default=25, help="epochs between checkpoints (default 25)")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar (for logs)")
    return parser.parse_args(argv)


def main(argv=None):
    return run_gan_training(parse_args(argv))


if __name__ == "__main__":
    run_main(main)
