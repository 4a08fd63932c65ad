"""Train the VAE on MNIST (or an offline stand-in) and write results_kl{W}/.

    python run_vae_training.py --kl_loss_weight 1.0              # MNIST, downloaded into data/
    python run_vae_training.py --kl_loss_weight 1.0 --dataset digits   # offline, no download
"""
from lib.cli import ArgumentParser, run_main
from lib.data_digits import DATASET_CHOICES
from lib.device import DEVICE_CHOICES
from lib.train_vae import VAETrainConfig, train_vae

DEFAULTS = VAETrainConfig()


def parse_args(argv=None):
    parser = ArgumentParser(description="Train the VAE; writes sample images, per-epoch reconstructions, "
                                        "model.pth and history.json into results_kl{W}[_{dataset}]/.")
    parser.add_argument("--kl_loss_weight", type=float, default=DEFAULTS.kl_loss_weight,
                        help="weight of the KL term in the loss (default %(default)s)")
    parser.add_argument("--epochs", type=int, default=DEFAULTS.epochs, help="default %(default)s")
    parser.add_argument("--batch_size", type=int, default=DEFAULTS.batch_size, help="default %(default)s")
    parser.add_argument("--lr", type=float, default=DEFAULTS.lr, help="Adam learning rate (default %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed, help="default %(default)s")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default=DEFAULTS.device, help="default %(default)s")
    parser.add_argument("--dataset", choices=DATASET_CHOICES, default=DEFAULTS.dataset,
                        help="mnist and fashion are downloaded into --data_dir on first use; digits "
                             "(scikit-learn's 8x8 digits scaled to 28x28) works offline (default %(default)s)")
    parser.add_argument("--data_dir", default=DEFAULTS.data_dir, help="download folder (default %(default)s)")
    parser.add_argument("--out_dir", default=None,
                        help="output folder (default results_kl{W}, plus _{dataset} for non-MNIST data)")
    parser.add_argument("--overwrite", action="store_true", help="replace a finished run in the output folder")
    parser.add_argument("--limit", type=int, default=None,
                        help="use only the first N training images and at most N test images (quick checks)")
    return parser.parse_args(argv)


def main(argv=None):
    return train_vae(VAETrainConfig(**vars(parse_args(argv))))


if __name__ == "__main__":
    run_main(main)
