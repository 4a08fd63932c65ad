"""Plot the latent space of a trained VAE into its run folder.

    python plot_latent_space.py --kl_loss_weight 1.0                     # reads results_kl1.0/model.pth
    python plot_latent_space.py --kl_loss_weight 1.0 --dataset digits    # reads results_kl1.0_digits/

Writes latent_space.png (decoded 20x20 grid, class means with error bars) and latent_stats.json (per-class
mean position, mean standard deviation and spread in latent space) beside the model. Both are recomputed
from model.pth each time, so rerunning this script reproduces them rather than replacing results.
"""
from lib.cli import ArgumentParser, UserError, run_main
from lib.data_digits import DATASET_CHOICES
from lib.device import DEVICE_CHOICES
from lib.explore_latent_space import plot_run_latent_space


def parse_args(argv=None):
    parser = ArgumentParser(description="Plot a trained VAE's 2-d latent space on the test images.")
    parser.add_argument("--kl_loss_weight", type=float, default=1.0,
                        help="KL weight of the run to plot; selects results_kl{W}/ (default %(default)s)")
    parser.add_argument("--dataset", choices=DATASET_CHOICES, default=None,
                        help="data set of the run (default: mnist, or the one recorded in --out_dir)")
    parser.add_argument("--data_dir", default="data", help="download folder (default %(default)s)")
    parser.add_argument("--out_dir", default=None, help="run folder (default results_kl{W}[_{dataset}])")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="default %(default)s")
    parser.add_argument("--grid_size", type=int, default=20, help="decoded images per axis (default %(default)s)")
    parser.add_argument("--limit", type=int, default=None, help="encode only the first N test images")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.grid_size < 2:
        raise UserError("--grid_size must be at least 2, got {}".format(args.grid_size))
    if args.limit is not None and args.limit < 1:
        raise UserError("--limit must be at least 1, got {}".format(args.limit))
    return plot_run_latent_space(args.kl_loss_weight, args.dataset, args.data_dir, args.device, args.out_dir,
                                 args.grid_size, args.limit)


if __name__ == "__main__":
    run_main(main)
