"""Train the DCGAN on the flower photos (or offline procedural flowers) at 32x32.

    python run_gan_training.py                      # 500 epochs on dataset_flowers_64px/
    python run_gan_training.py --synthetic --epochs 50
    python run_gan_training.py --resume results_gan/run_..._20250101-120000 --epochs 1000

Every run writes into a new folder ``results_gan/run_<settings>_<timestamp>/``; ``--resume`` continues
a run in its own folder (iteration count, loss curves and fixed noise carry on) up to ``--epochs``.
"""
import argparse
import os
import re
import sys

import torch

from lib.cli import ArgumentParser, UserError, run_main
from lib.data_flowers import load_image_folder, synthetic_image_bank
from lib.device import DEVICE_CHOICES, get_device
from lib.gan_training import (FIXED_NOISE_FILE, NUM_FIXED_NOISE, TRAINING_IMAGES_FILE, TrainingState,
                              make_optimizers, read_run_checkpoint, train_gan)
from lib.image_grid import save_image_grid
from lib.model_gan import Discriminator, Generator, weights_init
from lib.run_dir import timestamp, unique_run_dir
from lib.seed import set_seed

# Settings that define a run; on --resume they come from the run's checkpoint.
DEFAULTS = dict(batch_size=128, nz=64, ngf=32, ndf=32, lr=2e-4, beta1=0.5, beta2=0.999, seed=999,
                data_dir="dataset_flowers_64px", synthetic=False)
SYNTHETIC_IMAGES, SYNTHETIC_SEED = 800, 0  # the procedural set: as many images as the course's folder


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
    parser.add_argument("--amp", action="store_true", help="bfloat16 autocast (helps on GPUs and AMX CPUs)")
    parser.add_argument("--channels_last", action="store_true",
                        help="channels-last memory layout (faster convolutions on most CPUs)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue this run folder up to --epochs")
    parser.add_argument("--out_root", default="results_gan", help="parent of the run folders (default results_gan)")
    parser.add_argument("--checkpoint_every", type=int, default=25, help="epochs between checkpoints (default 25)")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar (for logs)")
    return parser.parse_args(argv)


def resolve_settings(args, checkpoint=None):
    """Settings of this run: flags over defaults, or the resumed run's with conflicting flags refused."""
    given = {key: getattr(args, key) for key in DEFAULTS if getattr(args, key, None) is not None}
    if checkpoint is None:
        settings = dict(DEFAULTS, **given)
    else:
        settings = dict(checkpoint["settings"])
        for key, value in given.items():
            if key == "data_dir" and not settings["synthetic"]:
                settings[key] = value  # the same photos may have moved
            elif settings.get(key) != value:
                raise UserError("--{} {} differs from the resumed run's {}; drop the flag to continue that run".format(
                    key, value, settings.get(key)))
    for key in ("batch_size", "nz", "ngf", "ndf"):
        if settings[key] < 1:
            raise UserError("--{} must be at least 1, got {}".format(key, settings[key]))
    if not settings["lr"] > 0:
        raise UserError("--lr must be positive, got {}".format(settings["lr"]))
    if args.epochs < 1 or args.checkpoint_every < 1:
        raise UserError("--epochs and --checkpoint_every must be at least 1")
    return settings


def run_name(settings, amp):
    """``run_<data>_ngf32_ndf32_nz64_bs128_lr0.0002_seed999[_amp]_<timestamp>``."""
    data = "synthetic" if settings["synthetic"] else os.path.basename(os.path.normpath(settings["data_dir"]))
    data = re.sub(r"[^A-Za-z0-9._-]+", "-", data)[:40] or "images"
    name = "run_{}_ngf{ngf}_ndf{ndf}_nz{nz}_bs{batch_size}_lr{lr:g}_seed{seed}".format(data, **settings)
    return name + ("_amp" if amp else "") + "_" + timestamp()


def load_bank(settings, device, progress=True):
    if settings["synthetic"]:
        bank = synthetic_image_bank(SYNTHETIC_IMAGES, image_size=32, seed=SYNTHETIC_SEED)
    else:
        bank = load_image_folder(settings["data_dir"], image_size=32, progress=progress)
    return bank.to(device)


def build_state(settings, device):
    """Seeded networks (DCGAN init), fixed noise and optimizers, in the tutorial's order of random draws."""
    set_seed(settings["seed"])
    generator = Generator(settings["ngf"], 3, settings["nz"])
    generator.apply(weights_init)
    discriminator = Discriminator(settings["ndf"], 3)
    discriminator.apply(weights_init)
    fixed_noise = torch.randn(NUM_FIXED_NOISE, settings["nz"], 1, 1)
    generator.to(device)
    discriminator.to(device)
    optimizerG, optimizerD = make_optimizers(generator, discriminator, settings["lr"],
                                             (settings["beta1"], settings["beta2"]))
    return TrainingState(generator, discriminator, optimizerG, optimizerD, fixed_noise.to(device), settings)


def main(argv=None):
    args = parse_args(argv)
    device = get_device(args.device)
    checkpoint = read_run_checkpoint(args.resume) if args.resume else None
    settings = resolve_settings(args, checkpoint)
    if checkpoint is not None and args.epochs <= checkpoint["epoch"]:
        raise UserError("{} already has {} epochs; --epochs is the total, e.g. --epochs {}".format(
            args.resume, checkpoint["epoch"], checkpoint["epoch"] + 100))
    bank = load_bank(settings, device, progress=not args.no_progress)
    state = build_state(settings, device)
    if checkpoint is not None:
        state.load_state_dict(checkpoint)
        run_dir = args.resume
        print("resuming {} at epoch {} (iteration {}) on {}".format(run_dir, state.epoch, state.iteration, device))
    else:
        run_dir = unique_run_dir(args.out_root, run_name(settings, args.amp))
        torch.save(state.fixed_noise.cpu(), os.path.join(run_dir, FIXED_NOISE_FILE))
        # a seeded sample across the whole set (the folder is sorted by class), augmented as in training
        rng = torch.Generator().manual_seed(0)
        preview = bank.augmented_batch(torch.randperm(len(bank), generator=rng)[:64], generator=rng)
        save_image_grid(os.path.join(run_dir, TRAINING_IMAGES_FILE), preview, title="training images (augmented)")
        print("training on {} images on {}; writing {}".format(len(bank), device, run_dir))
    try:
        history = train_gan(state, bank, args.epochs, run_dir, amp=args.amp, channels_last=args.channels_last,
                            checkpoint_every=args.checkpoint_every, progress=not args.no_progress)
    except KeyboardInterrupt:
        print("\nstopped in epoch {}; the last checkpoint holds epoch {}; continue with: python run_gan_training.py "
              "--resume {} --epochs {}".format(state.epoch + 1, state.saved_epoch, run_dir, args.epochs),
              file=sys.stderr)
        raise
    last = history["epochs"][-1]
    print("epoch {}: loss_D {:.3f}  loss_G {:.3f}  D(x) {:.3f}  D(G(z)) {:.3f}; results in {}".format(
        last["epoch"], last["loss_D"], last["loss_G"], last["D_x"], last["D_G_z2"], run_dir))
    return run_dir


if __name__ == "__main__":
    run_main(main)
