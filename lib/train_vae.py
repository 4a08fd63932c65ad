"""Training loop of the VAE: the whole data set sits on the device once, batches are slices of it.

``train_vae(config)`` runs a complete, seeded training run into its own folder and returns the
per-epoch history (loss, reconstruction term and KL term per image, for training and test data).
"""
import dataclasses
import os
import time
from typing import Optional

import torch
from tqdm import tqdm

from lib.cli import UserError
from lib.data_digits import DATASET_CHOICES, DATASET_NAMES, load_dataset
from lib.device import get_device
from lib.image_grid import save_image_grid, stack_rows
from lib.loss_vae import VAELoss
from lib.model_vae import VAE
from lib.run_dir import prepare_output_dir, write_json
from lib.seed import set_seed
from lib.settings import settings_from
from lib.tensor_batches import iterate_minibatches, num_batches
from lib.vae_run import HISTORY_FILE, MODEL_FILE, default_out_dir, save_model

TRAINING_IMAGES_FILE = "training_images.png"
RECONSTRUCTIONS_FILE = "reconstructions_epoch_{:02d}.png"
EVAL_BATCH_SIZE = 1000  # no gradients kept, so larger batches only save Python overhead


@dataclasses.dataclass
class VAETrainConfig:
    """Settings of one training run; the defaults are the exercise's (SPEC)."""
    kl_loss_weight: float = 1.0
    epochs: int = 15
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    device: str = "auto"
    data_dir: str = "data"
    dataset: str = "mnist"
    out_dir: Optional[str] = None  # None: default_out_dir(kl_loss_weight, dataset)
    overwrite: bool = False
    limit: Optional[int] = None  # train on the first N training images (and at most N test images)
    hidden_size: int = 100
    latent_size: int = 2
    num_shown: int = 8  # test images shown above their reconstructions after each epoch
    progress: bool = True  # tqdm bar over the batches of each epoch


def make_config(config=None, **overrides):
    """A :class:`VAETrainConfig` from a config, a dict or an argparse namespace, plus keyword overrides."""
    return settings_from(VAETrainConfig, config, "VAE training setting", **overrides)


def check_config(config):
    """Raise a one-line :class:`UserError` for settings that cannot work."""
    positive = {"epochs": config.epochs, "batch_size": config.batch_size, "hidden_size": config.hidden_size,
                "latent_size": config.latent_size}
    if config.limit is not None:
        positive["limit"] = config.limit
    for name, value in positive.items():
        if value < 1:
            raise UserError("--{} must be at least 1, got {}".format(name, value))
    if not config.lr > 0:
        raise UserError("--lr must be positive, got {}".format(config.lr))
    if not config.kl_loss_weight >= 0:
        raise UserError("--kl_loss_weight must be zero or positive, got {}".format(config.kl_loss_weight))
    if config.dataset not in DATASET_CHOICES:
        raise UserError("unknown dataset {!r}; choose one of {}".format(config.dataset, ", ".join(DATASET_CHOICES)))


def make_optimizer(model, lr):
    """Adam over ``model``'s parameters; the fused single-kernel update where this torch has it for the device.

    Fused Adam exists on CPU from torch 2.4 (CUDA earlier) and saves about a tenth of an epoch here;
    older versions reject ``fused=True`` and get the default implementation.
    """
    try:
        return torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(model.parameters(), lr=lr)


def train_epoch(model, loss_fn, optimizer, images, batch_size, generator=None, progress=None):
    """One pass over ``images`` ``(N, C, H, W)`` in shuffled mini-batches.

    Returns the summed ``(bce, kl)`` of the epoch as floats (divide by N for per-image values).
    ``progress`` is an optional tqdm bar, advanced once per batch.
    """
    model.train()
    # Summed on the device and read once per epoch: a .item() per batch would stall a GPU each step.
    totals = torch.zeros(2, device=images.device)
    for (x,) in iterate_minibatches((images,), batch_size, shuffle=True, generator=generator):
        x_reconstructed, mu, logvar = model(x)
        bce, kl = loss_fn.terms(x_reconstructed, x, mu, logvar)
        loss = bce + loss_fn.kl_loss_weight * kl
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        totals += torch.stack([bce.detach(), kl.detach()])
        if progress is not None:
            progress.update(1)
    bce_sum, kl_sum = totals.tolist()
    return bce_sum, kl_sum


@torch.no_grad()
def evaluate(model, loss_fn, images, batch_size=EVAL_BATCH_SIZE):
    """Summed ``(bce, kl)`` over ``images`` in eval mode (z = mu, so the result is deterministic)."""
    model.eval()
    totals = torch.zeros(2, device=images.device)
    for (x,) in iterate_minibatches((images,), batch_size, shuffle=False):
        x_reconstructed, mu, logvar = model(x)
        bce, kl = loss_fn.terms(x_reconstructed, x, mu, logvar)
        totals += torch.stack([bce, kl])
    bce_sum, kl_sum = totals.tolist()
    return bce_sum, kl_sum


def per_image_terms(bce_sum, kl_sum, count, kl_loss_weight):
    """``{"loss", "bce", "kl"}`` per image from summed terms; loss = bce + weight * kl."""
    bce, kl = bce_sum / count, kl_sum / count
    return {"loss": bce + kl_loss_weight * kl, "bce": bce, "kl": kl}


@torch.no_grad()
def save_reconstructions(path, model, images, title):
    """Save ``images`` ``(B, C, H, W)`` (top row) above the model's eval-mode reconstructions (bottom row)."""
    model.eval()
    reconstructed, _, _ = model(images)
    save_image_grid(path, stack_rows(images, reconstructed), title=title, max_images=2 * images.shape[0],
                    normalize=False, nrow=images.shape[0])


def _limited(data, limit):
    if limit is None:
        return data
    return type(data)(data.train_images[:limit], data.train_labels[:limit],
                      data.test_images[:limit], data.test_labels[:limit])


def _new_history(config, out_dir, device, data):
    history = {"dataset": config.dataset, "dataset_name": DATASET_NAMES[config.dataset], "out_dir": out_dir,
               "device": str(device), "num_train": int(data.train_images.shape[0]),
               "num_test": int(data.test_images.shape[0]), "config": dataclasses.asdict(config), "epoch": []}
    for split in ("train", "test"):
        for term in ("loss", "bce", "kl"):
            history["{}_{}".format(split, term)] = []
    history["epoch_seconds"] = []
    return history


def _record(history, epoch, train_terms, test_terms, seconds):
    history["epoch"].append(epoch)
    for split, terms in (("train", train_terms), ("test", test_terms)):
        for term, value in terms.items():
            history["{}_{}".format(split, term)].append(value)
    history["epoch_seconds"].append(seconds)


def print_banner(config, out_dir, device, data):
    """Say what is trained on what; a non-MNIST run says so loudly, so it is never taken for MNIST."""
    print("VAE, KL weight {}: {} ({} training / {} test images), {} epochs on {}, writing {}".format(
        float(config.kl_loss_weight), DATASET_NAMES[config.dataset], data.train_images.shape[0],
        data.test_images.shape[0], config.epochs, device, out_dir))
    if config.dataset != "mnist":
        what = "not the standard MNIST split" if config.dataset == "mnist10k" else "NOT MNIST"
        print("NOTE: --dataset {} is {}; its folder and figures are labelled '{}'".format(
            config.dataset, what, config.dataset))


def train_vae(config=None, data=None, **overrides):
    """Train a VAE as ``config`` says and write its run folder; returns the history dict.

    ``config``: a :class:`VAETrainConfig`, dict or argparse namespace (keyword overrides win).
    ``data``: an already loaded :class:`lib.data_digits.DigitData` (else ``config.dataset`` is loaded).
    Writes ``training_images.png``, ``reconstructions_epoch_NN.png`` after every epoch, ``history.json``
    (rewritten after every epoch) and, at the end, ``model.pth`` with ``model_config.json``. Refuses a
    folder that already holds a ``model.pth`` unless ``overwrite``.
    """
    config = make_config(config, **overrides)
    check_config(config)
    out_dir = config.out_dir or default_out_dir(config.kl_loss_weight, config.dataset)
    device = get_device(config.device)
    data = _limited(data if data is not None else load_dataset(config.dataset, config.data_dir), config.limit)
    prepare_output_dir(out_dir, config.overwrite, marker_files=(MODEL_FILE,))
    print_banner(config, out_dir, device, data)

    set_seed(config.seed)
    channels, height, width = data.train_images.shape[1:]
    model = VAE(channels, height, width, config.hidden_size, config.latent_size).to(device)
    loss_fn = VAELoss(config.kl_loss_weight)
    optimizer = make_optimizer(model, config.lr)
    shuffle_generator = torch.Generator().manual_seed(config.seed)
    train_images = data.train_images.to(device)
    test_images = data.test_images.to(device)
    shown = test_images[:config.num_shown]
    label = "" if config.dataset == "mnist" else " [{}]".format(config.dataset)

    save_image_grid(os.path.join(out_dir, TRAINING_IMAGES_FILE), train_images[:64],
                    title="training images{}".format(label), normalize=False)
    history = _new_history(config, out_dir, device, data)
    start = time.time()
    for epoch in range(1, config.epochs + 1):
        epoch_start = time.time()
        with tqdm(total=num_batches(len(train_images), config.batch_size), desc="epoch {}/{}".format(
                epoch, config.epochs), leave=False, disable=not config.progress, unit="batch") as bar:
            train_sums = train_epoch(model, loss_fn, optimizer, train_images, config.batch_size,
                                     shuffle_generator, bar)
        train_terms = per_image_terms(*train_sums, len(train_images), config.kl_loss_weight)
        test_terms = per_image_terms(*evaluate(model, loss_fn, test_images), len(test_images),
                                     config.kl_loss_weight)
        _record(history, epoch, train_terms, test_terms, time.time() - epoch_start)
        print("epoch {:2d}/{}  train loss {:8.2f} (bce {:.2f} + kl {:.2f})  test loss {:8.2f} (bce {:.2f} + "
              "kl {:.2f}) per image  {:.1f}s".format(
                  epoch, config.epochs, train_terms["loss"], train_terms["bce"], train_terms["kl"],
                  test_terms["loss"], test_terms["bce"], test_terms["kl"], time.time() - epoch_start))
        save_reconstructions(os.path.join(out_dir, RECONSTRUCTIONS_FILE.format(epoch)), model, shown,
                             "epoch {}: test images (top), reconstructions (bottom){}".format(epoch, label))
        write_json(os.path.join(out_dir, HISTORY_FILE), history)
    history["total_seconds"] = time.time() - start
    write_json(os.path.join(out_dir, HISTORY_FILE), history)
    save_model(out_dir, model, {"dataset": config.dataset, "kl_loss_weight": float(config.kl_loss_weight),
                                "seed": config.seed, "epochs": config.epochs})
    print("wrote {} after {:.1f}s".format(os.path.join(out_dir, MODEL_FILE), history["total_seconds"]))
    return history
