"""The whole exercise in one command: VAEs with KL weights 1, 0 and 30, their latent spaces, the GAN, a report.

    python run_experiments.py --quick     # offline: scikit-learn digits, procedural flowers; a few minutes
    python run_experiments.py             # the exercise: MNIST 15 epochs per weight, GAN 500 epochs on photos
    python run_experiments.py --vae_dataset mnist10k --vae_data_dir ../shared/data/mnist_test

Writes results_experiments[_quick]/ with one folder per step (vae_kl1.0, vae_kl0.0, vae_kl30.0, comparison,
gan) and report.md. A step finished by an earlier call is reused; --redo STEP runs it again (a VAE step's
folder is replaced, the GAN gets a new run folder beside the old one). A stopped GAN step continues from
its last checkpoint.
"""
import argparse

from lib.cli import ArgumentParser, run_main
from lib.data_digits import DATASET_CHOICES
from lib.device import DEVICE_CHOICES
from lib.experiments import FULL, QUICK, REDO_CHOICES, run_experiments


def parse_args(argv=None):
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="offline sets and a short GAN: VAE on {vae_dataset}, GAN {epochs_gan} epochs on "
                             "procedural flowers, into {out_dir}/".format(**QUICK))
    parser.add_argument("--out_dir", help="output folder (default {} or, with --quick, {})".format(
        FULL["out_dir"], QUICK["out_dir"]))
    parser.add_argument("--redo", nargs="+", metavar="STEP", default=(),
                        help="run these steps again even if finished: {}".format(", ".join(REDO_CHOICES)))
    parser.add_argument("--vae_dataset", choices=DATASET_CHOICES,
                        help="VAE data (default {}, with --quick {})".format(FULL["vae_dataset"], QUICK["vae_dataset"]))
    parser.add_argument("--vae_data_dir", default="data",
                        help="MNIST download folder, or the folder holding the idx files (default %(default)s)")
    photos = parser.add_mutually_exclusive_group()
    photos.add_argument("--gan_data_dir",
                        help="GAN photo folder (default dataset_flowers_64px); given with --quick, the GAN trains on "
                             "these photos too")
    photos.add_argument("--gan_synthetic", action="store_true", default=None,
                        help="train the GAN on procedural flowers (offline; the --quick default)")
    parser.add_argument("--epochs_vae", type=int, help="epochs per VAE (default {})".format(FULL["epochs_vae"]))
    parser.add_argument("--epochs_gan", type=int,
                        help="GAN epochs (default {}, with --quick {})".format(FULL["epochs_gan"], QUICK["epochs_gan"]))
    parser.add_argument("--limit", type=int,
                        help="use only N images: VAE training and test images, GAN images (tiny trial runs)")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="default %(default)s")
    parser.add_argument("--no_progress", dest="progress", action="store_false", help="no progress bars (for logs)")
    return parser.parse_args(argv)


def main(argv=None):
    return run_experiments(parse_args(argv))


if __name__ == "__main__":
    run_main(main)
