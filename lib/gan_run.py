"""One GAN training run from its options: a new run folder, or ``resume`` of an old one, up to ``epochs``.

``run_gan_training(options)`` is what ``run_gan_training.py`` and ``run_experiments.py`` both call.
The options are those of the script's flags (see :class:`GANRunOptions`); settings left at None take
the defaults below for a new run, or the resumed run's own settings (a conflicting value is refused).
"""
import dataclasses
import os
import re
import sys
from typing import Optional

import torch

from lib.cli import UserError
from lib.data_flowers import ImageBank, load_image_folder, synthetic_image_bank
from lib.device import get_device
from lib.gan_training import (FIXED_NOISE_FILE, NUM_FIXED_NOISE, TRAINING_IMAGES_FILE, TrainingState,
                              make_optimizers, read_run_checkpoint, train_gan)
from lib.image_grid import save_image_grid
from lib.model_gan import Discriminator, Generator, weights_init
from lib.run_dir import timestamp, unique_run_dir
from lib.seed import set_seed
from lib.settings import settings_from

# Settings that define a run; on resume they come from the run's checkpoint.
DEFAULTS = dict(batch_size=128, nz=64, ngf=32, ndf=32, lr=2e-4, beta1=0.5, beta2=0.999, seed=999,
                data_dir="dataset_flowers_64px", synthetic=False, limit=None)
SYNTHETIC_IMAGES, SYNTHETIC_SEED = 800, 0  # the procedural set: as many images as the course's folder
LIMIT_SEED = 0  # which photos a --limit keeps


@dataclasses.dataclass
class GANRunOptions:
    """What one call of :func:`run_gan_training` does; None means "the default, or the resumed run's"."""
    epochs: int = 500  # the total, also when resuming
    batch_size: Optional[int] = None
    ngf: Optional[int] = None
    ndf: Optional[int] = None
    nz: Optional[int] = None
    lr: Optional[float] = None
    seed: Optional[int] = None
    data_dir: Optional[str] = None
    synthetic: Optional[bool] = None
    limit: Optional[int] = None  # train on N images only (quick checks)
    device: str = "auto"
    amp: bool = False
    channels_last: bool = False
    resume: Optional[str] = None  # a run folder to continue
    out_root: str = "results_gan"
    checkpoint_every: int = 25
    no_progress: bool = False


def make_options(options=None, **overrides):
    """A :class:`GANRunOptions` from options, a dict or an argparse namespace, plus keyword overrides."""
    return settings_from(GANRunOptions, options, "GAN training option", **overrides)


def resolve_settings(args, checkpoint=None):
    """Settings of this run: flags over defaults, or the resumed run's with conflicting flags refused."""
    given = {key: getattr(args, key) for key in DEFAULTS if getattr(args, key, None) is not None}
    if checkpoint is None:
        settings = dict(DEFAULTS, **given)
    else:
        # runs from before an option existed ran with its default
        settings = dict(DEFAULTS, **checkpoint["settings"])
        for key, value in given.items():
            if key == "data_dir" and not settings["synthetic"]:
                settings[key] = value  # the same photos may have moved
            elif settings.get(key) != value:
                raise UserError("--{} {} differs from the resumed run's {}; drop the flag to continue that run".format(
                    key, value, settings.get(key)))
    for key in ("batch_size", "nz", "ngf", "ndf"):
        if settings[key] < 1:
            raise UserError("--{} must be at least 1, got {}".format(key, settings[key]))
    if settings["limit"] is not None and settings["limit"] < 1:
        raise UserError("--limit must be at least 1, got {}".format(settings["limit"]))
    if not settings["lr"] > 0:
        raise UserError("--lr must be positive, got {}".format(settings["lr"]))
    if args.epochs < 1 or args.checkpoint_every < 1:
        raise UserError("--epochs and --checkpoint_every must be at least 1")
    return settings


def run_name(settings, amp):
    """``run_<data>_ngf32_ndf32_nz64_bs128_lr0.0002_seed999[_n<limit>][_amp]_<timestamp>``."""
    data = "synthetic" if settings["synthetic"] else os.path.basename(os.path.normpath(settings["data_dir"]))
    data = re.sub(r"[^A-Za-z0-9._-]+", "-", data)[:40] or "images"
    name = "run_{}_ngf{ngf}_ndf{ndf}_nz{nz}_bs{batch_size}_lr{lr:g}_seed{seed}".format(data, **settings)
    if settings.get("limit") is not None:
        name += "_n{}".format(settings["limit"])
    return name + ("_amp" if amp else "") + "_" + timestamp()


def subset(bank, count, seed=LIMIT_SEED):
    """``count`` images of ``bank`` picked by a seeded draw (a folder is sorted by class: not the first ones)."""
    if count >= len(bank):
        return bank
    keep = torch.randperm(len(bank), generator=torch.Generator().manual_seed(seed))[:count].sort().values
    labels = None if bank.labels is None else bank.labels[keep]
    paths = None if bank.paths is None else [bank.paths[i] for i in keep.tolist()]
    return ImageBank(bank.images[keep], bank.sizes[keep], bank.image_size, labels, paths)


def load_bank(settings, device, progress=True):
    """The training images of ``settings`` as an :class:`ImageBank` on ``device``."""
    limit = settings.get("limit")
    if settings["synthetic"]:
        # the first N procedural flowers are the same whatever N, and cycle through the classes
        count = SYNTHETIC_IMAGES if limit is None else min(limit, SYNTHETIC_IMAGES)
        bank = synthetic_image_bank(count, image_size=32, seed=SYNTHETIC_SEED)
    else:
        bank = load_image_folder(settings["data_dir"], image_size=32, progress=progress)
        if limit is not None:
            bank = subset(bank, limit)
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


def start_run_dir(options, settings, state, bank):
    """Create the new run's folder with its fixed noise and a preview of the (augmented) training images."""
    run_dir = unique_run_dir(options.out_root, run_name(settings, options.amp))
    torch.save(state.fixed_noise.cpu(), os.path.join(run_dir, FIXED_NOISE_FILE))
    # a seeded sample across the whole set (the folder is sorted by class), augmented as in training
    rng = torch.Generator().manual_seed(0)
    preview = bank.augmented_batch(torch.randperm(len(bank), generator=rng)[:64], generator=rng)
    save_image_grid(os.path.join(run_dir, TRAINING_IMAGES_FILE), preview, title="training images (augmented)")
    return run_dir


def run_gan_training(options=None, **overrides):
    """Train a new run, or continue ``options.resume``, up to ``options.epochs``; returns the run folder.

    ``options``: a :class:`GANRunOptions`, dict or argparse namespace (keyword overrides win). Bad
    options, missing data and foreign checkpoints raise a one-line :class:`UserError`.
    """
    options = make_options(options, **overrides)
    device = get_device(options.device)
    checkpoint = read_run_checkpoint(options.resume) if options.resume else None
    settings = resolve_settings(options, checkpoint)
    if checkpoint is not None and options.epochs <= checkpoint["epoch"]:
        raise UserError("{} already has {} epochs; --epochs is the total, e.g. --epochs {}".format(
            options.resume, checkpoint["epoch"], checkpoint["epoch"] + 100))
    progress = not options.no_progress
    bank = load_bank(settings, device, progress=progress)
    state = build_state(settings, device)
    if checkpoint is not None:
        state.load_state_dict(checkpoint)
        run_dir = options.resume
        print("resuming {} at epoch {} (iteration {}) on {}".format(run_dir, state.epoch, state.iteration, device))
    else:
        run_dir = start_run_dir(options, settings, state, bank)
        print("training on {} images on {}; writing {}".format(len(bank), device, run_dir))
    try:
        history = train_gan(state, bank, options.epochs, run_dir, amp=options.amp,
                            channels_last=options.channels_last, checkpoint_every=options.checkpoint_every,
                            progress=progress)
    except KeyboardInterrupt:
        print("\nstopped in epoch {}; the last checkpoint holds epoch {}; continue with: python run_gan_training.py "
              "--resume {} --epochs {}".format(state.epoch + 1, state.saved_epoch, run_dir, options.epochs),
              file=sys.stderr)
        raise
    last = history["epochs"][-1]
    print("epoch {}: loss_D {:.3f}  loss_G {:.3f}  D(x) {:.3f}  D(G(z)) {:.3f}; results in {}".format(
        last["epoch"], last["loss_D"], last["loss_G"], last["D_x"], last["D_G_z2"], run_dir))
    return run_dir
