"""The DCGAN training loop around ``update_discriminator`` / ``update_generator``.

It adds what a long run needs: batches cut from an :class:`lib.data_flowers.ImageBank` on the
device, generator pictures on a fixed noise batch, a loss history, loss-collapse warnings, and
checkpoints from which ``--resume`` continues draw for draw where the run stopped.

Files of a run folder (names below): ``training_images.png``, ``fixed_noise.pt``,
``progress/iter_000000.png`` ... (fixed-noise pictures), ``generated_final.png``, ``loss_curves.png``,
``losses.json``, ``generator.pth`` / ``discriminator.pth`` (plain state_dicts, the course's format)
and ``checkpoint.pt`` (both networks, both optimizers, fixed noise, random states, history).
"""
import math
import os
import sys
import time

import torch
import torch.nn as nn
from tqdm import tqdm

from lib.cli import UserError
from lib.gan_checkpoint import DISCRIMINATOR_FILE, GENERATOR_FILE, RUN_CHECKPOINT
from lib.image_grid import save_image_grid
from lib.run_dir import read_json, torch_load, write_json
from lib.tensor_batches import iterate_minibatches, num_batches
from lib.train_gan import update_discriminator, update_generator

CHECKPOINT_FORMAT = "dcgan-run-1"
FIXED_NOISE_FILE = "fixed_noise.pt"
LOSSES_FILE = "losses.json"
LOSS_CURVES_FILE = "loss_curves.png"
TRAINING_IMAGES_FILE = "training_images.png"
FINAL_IMAGES_FILE = "generated_final.png"
PROGRESS_DIR = "progress"
NUM_FIXED_NOISE = 64

# The pictures change fastest at the start: every 10 iterations up to 100, then every 100.
EARLY_SNAPSHOT_EVERY, EARLY_SNAPSHOT_UNTIL, SNAPSHOT_EVERY = 10, 100, 100


def snapshot_due(iteration):
    """Whether to draw the fixed noise after ``iteration`` finished updates (0 = the initial weights)."""
    if iteration <= EARLY_SNAPSHOT_UNTIL:
        return iteration % EARLY_SNAPSHOT_EVERY == 0
    return iteration % SNAPSHOT_EVERY == 0


class AutocastNet(nn.Module):
    """Run a ``layers`` network under bfloat16 autocast, but its final activation in float32.

    The wrapper leaves ``update_discriminator`` / ``update_generator`` untouched: the loss then
    sees float32 probabilities (BCE is unsafe under autocast), and D's sigmoid near 0 and 1 keeps
    float32 resolution, where bfloat16's 8 bits would round the gradient ``p (1 - p)`` to zero.
    """

    def __init__(self, net, device_type):
        super().__init__()
        self.net = net
        self.device_type = device_type

    def forward(self, x):
        with torch.autocast(self.device_type, dtype=torch.bfloat16):
            for layer in self.net.layers[:-1]:
                x = layer(x)
        return self.net.layers[-1](x.float())


class LossWatch:
    """Warn once per episode when a loss collapses towards 0 or explodes.

    An episode is a run of consecutive iterations with the same problem (below ``low``, above
    ``high``, or not finite). It is reported once it lasts ``patience`` iterations (a non-finite
    loss at once), so a long collapse gives one line, not thousands; the loss coming back into
    range, or the problem changing, starts afresh.
    """

    def __init__(self, name, low=1e-3, high=15.0, patience=5):
        self.name, self.low, self.high, self.patience = name, low, high, patience
        self.kind, self.bad_run, self.warned = None, 0, False

    def update(self, value, iteration):
        """Feed one iteration's loss; returns a warning message when an episode is reported, else None."""
        if not math.isfinite(value):
            kind = "nonfinite"
        elif value < self.low:
            kind = "low"
        elif value > self.high:
            kind = "high"
        else:
            kind = None
        if kind != self.kind:
            self.kind, self.bad_run, self.warned = kind, 0, False
        if kind is None:
            return None
        self.bad_run += 1
        if self.warned or (kind != "nonfinite" and self.bad_run < self.patience):
            return None
        self.warned = True
        if kind == "nonfinite":
            what = "is {} (training has diverged; lower --lr or resume from an earlier checkpoint)".format(value)
        elif kind == "low":
            what = "collapsed towards 0 ({:.2g} for {} iterations): {}".format(
                value, self.bad_run, "D wins every time, G gets almost no gradient" if self.name == "loss_D"
                else "G fools D completely, D has stopped learning")
        else:
            what = "exploded ({:.3g} for {} iterations)".format(value, self.bad_run)
        return "iteration {}: {} {}".format(iteration, self.name, what)


def new_history():
    """Empty loss history: per-iteration losses, per-epoch means, warnings, snapshot iterations."""
    return {"iteration_loss_D": [], "iteration_loss_G": [], "epochs": [], "warnings": [], "snapshots": []}


class TrainingState:
    """Everything that changes while training and goes into ``checkpoint.pt``.

    ``settings`` (a JSON-able dict) holds what the run was started with: ``ngf``, ``ndf``, ``nz``,
    ``batch_size``, ``lr``, ``beta1``, ``beta2``, ``seed``, ``data`` and so on. Two CPU generators
    seeded from ``settings["seed"]`` drive the batch order and augmentation (``data_rng``) and the
    training noise (``noise_rng``): drawn on the CPU, the run is the same on every device, and
    their saved states let a resumed run continue with the very numbers an unbroken run would use.
    """

    def __init__(self, generator, discriminator, optimizerG, optimizerD, fixed_noise, settings):
        self.generator, self.discriminator = generator, discriminator
        self.optimizerG, self.optimizerD = optimizerG, optimizerD
        self.fixed_noise = fixed_noise
        self.settings = dict(settings)
        self.iteration = 0
        self.epoch = 0
        self.saved_epoch = 0  # epoch of the newest checkpoint on disk
        self.history = new_history()
        self.data_rng = torch.Generator().manual_seed(int(settings["seed"]))
        self.noise_rng = torch.Generator().manual_seed(int(settings["seed"]) + 1)

    def state_dict(self):
        return {
            "format": CHECKPOINT_FORMAT,
            "settings": self.settings,
            "iteration": self.iteration,
            "epoch": self.epoch,
            "generator": cpu_state(self.generator),
            "discriminator": cpu_state(self.discriminator),
            "optimizerG": self.optimizerG.state_dict(),
            "optimizerD": self.optimizerD.state_dict(),
            "fixed_noise": self.fixed_noise.detach().cpu(),
            "data_rng": self.data_rng.get_state(),
            "noise_rng": self.noise_rng.get_state(),
            "history": self.history,
        }

    def load_state_dict(self, checkpoint):
        """Restore from :meth:`state_dict` output; tensors move to the networks' device."""
        self.generator.load_state_dict(checkpoint["generator"])
        self.discriminator.load_state_dict(checkpoint["discriminator"])
        self.optimizerG.load_state_dict(checkpoint["optimizerG"])
        self.optimizerD.load_state_dict(checkpoint["optimizerD"])
        self.fixed_noise = checkpoint["fixed_noise"].to(self.fixed_noise.device)
        self.data_rng.set_state(checkpoint["data_rng"])
        self.noise_rng.set_state(checkpoint["noise_rng"])
        self.iteration = int(checkpoint["iteration"])
        self.epoch = self.saved_epoch = int(checkpoint["epoch"])
        self.history = checkpoint["history"]


def cpu_state(net):
    """A module's state_dict as contiguous CPU tensors (channels-last weights saved in the usual layout)."""
    return {key: value.detach().cpu().contiguous() for key, value in net.state_dict().items()}


def make_optimizers(generator, discriminator, lr=2e-4, betas=(0.5, 0.999)):
    """Adam for each network, as in the DCGAN paper. Returns ``(optimizerG, optimizerD)``."""
    return (torch.optim.Adam(generator.parameters(), lr=lr, betas=betas),
            torch.optim.Adam(discriminator.parameters(), lr=lr, betas=betas))


def read_run_checkpoint(run_dir):
    """Load ``run_dir/checkpoint.pt`` (CPU tensors); a missing or foreign file is a :class:`UserError`."""
    path = os.path.join(run_dir, RUN_CHECKPOINT)
    if not os.path.isdir(run_dir):
        raise UserError("--resume {}: no such run folder".format(run_dir))
    if not os.path.isfile(path):
        raise UserError("--resume {}: the folder holds no {} (was it made by run_gan_training.py and did it "
                        "reach its first checkpoint?)".format(run_dir, RUN_CHECKPOINT))
    checkpoint = torch_load(path)
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise UserError("{} is not a GAN training checkpoint of this project".format(path))
    return checkpoint


def read_losses(run_dir):
    """The ``losses.json`` of a run folder as a dict."""
    return read_json(os.path.join(run_dir, LOSSES_FILE))


def atomic_torch_save(obj, path):
    """``torch.save`` through a temporary file, so a run killed while saving keeps the previous file."""
    tmp_path = path + ".tmp"
    torch.save(obj, tmp_path)
    os.replace(tmp_path, path)


def save_checkpoint(state, run_dir):
    """Write ``checkpoint.pt``, the two plain state_dicts, ``losses.json`` and the loss curves."""
    checkpoint = state.state_dict()
    atomic_torch_save(checkpoint, os.path.join(run_dir, RUN_CHECKPOINT))
    atomic_torch_save(checkpoint["generator"], os.path.join(run_dir, GENERATOR_FILE))
    atomic_torch_save(checkpoint["discriminator"], os.path.join(run_dir, DISCRIMINATOR_FILE))
    write_json(os.path.join(run_dir, LOSSES_FILE), {
        "settings": state.settings, "iteration": state.iteration, "epoch": state.epoch, **state.history})
    plot_losses(state.history, os.path.join(run_dir, LOSS_CURVES_FILE))
    state.saved_epoch = state.epoch


def plot_losses(history, path):
    """Loss of G and D per iteration (faint) and per epoch (mean), and D's mean outputs per epoch."""
    import matplotlib.pyplot as plt  # lib.image_grid has already selected the Agg backend

    epochs = history["epochs"]
    fig, (ax_loss, ax_d) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    if epochs:
        ends = [e["epoch"] for e in epochs]
        last_iteration = sum(e["iterations"] for e in epochs)
        per_iteration = len(history["iteration_loss_D"])
        # the x axis counts epochs; per-iteration points spread evenly inside their epoch
        x_iter = [(i + 1) * ends[-1] / float(last_iteration) for i in range(per_iteration)]
        ax_loss.plot(x_iter, history["iteration_loss_G"], color="tab:orange", alpha=0.25, lw=0.6)
        ax_loss.plot(x_iter, history["iteration_loss_D"], color="tab:blue", alpha=0.25, lw=0.6)
        ax_loss.plot(ends, [e["loss_G"] for e in epochs], color="tab:orange", label="G (epoch mean)")
        ax_loss.plot(ends, [e["loss_D"] for e in epochs], color="tab:blue", label="D = D_real + D_fake (epoch mean)")
        ax_d.plot(ends, [e["D_x"] for e in epochs], label="D(x) on real images")
        ax_d.plot(ends, [e["D_G_z1"] for e in epochs], label="D(G(z)) before D's step")
        ax_d.plot(ends, [e["D_G_z2"] for e in epochs], label="D(G(z)) after D's step")
        ax_loss.legend(loc="upper right")
        ax_d.legend(loc="upper right")
    ax_loss.set_ylabel("binary cross-entropy")
    ax_loss.set_title("Generator and discriminator loss during training")
    ax_d.set_ylabel("mean discriminator output")
    ax_d.set_ylim(0, 1)
    ax_d.set_xlabel("epoch")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


@torch.no_grad()
def save_fixed_noise_images(state, path, title):
    """Draw the fixed noise through G in eval mode (as sampling does) and save the grid.

    Eval mode leaves the batch-norm running statistics alone, so taking pictures never changes
    the training itself.
    """
    generator = state.generator
    was_training = generator.training
    generator.eval()
    try:
        images = generator(state.fixed_noise)
    finally:
        generator.train(was_training)
    save_image_grid(path, images, title=title)


def _snapshot(state, run_dir, iters_per_epoch):
    name = "iter_{:06d}.png".format(state.iteration)
    title = "fixed noise, iteration {} (epoch {:.1f})".format(state.iteration, state.iteration / float(iters_per_epoch))
    save_fixed_noise_images(state, os.path.join(run_dir, PROGRESS_DIR, name), title)
    if state.iteration not in state.history["snapshots"]:
        state.history["snapshots"].append(state.iteration)


def prepare_networks(state, device, amp=False, channels_last=False):
    """The networks as the update functions should see them: maybe autocast-wrapped.

    Returns ``(discriminator, generator)`` modules sharing parameters with ``state``'s networks.
    """
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # our shapes never change: let cuDNN pick its fastest kernels
    if channels_last:
        # done in place on the parameters, so the optimizers keep pointing at the same tensors
        state.generator.to(memory_format=torch.channels_last)
        state.discriminator.to(memory_format=torch.channels_last)
    if amp:
        if device.type not in ("cpu", "cuda"):
            raise UserError("--amp (bfloat16 autocast) is offered on cpu and cuda, not on {}".format(device.type))
        return AutocastNet(state.discriminator, device.type), AutocastNet(state.generator, device.type)
    return state.discriminator, state.generator


def train_epoch(state, bank, discriminator, generator, watches=None, on_iteration=None, channels_last=False):
    """One pass over ``bank`` in shuffled mini-batches; returns the epoch's mean losses and D outputs.

    ``discriminator`` / ``generator`` are the modules the update functions call (maybe autocast
    wrappers of ``state``'s networks). ``on_iteration(state, stats)`` runs after each update.
    """
    settings = state.settings
    device = bank.device
    indices = torch.arange(len(bank))
    sums = dict(loss_D=0.0, loss_G=0.0, D_x=0.0, D_G_z1=0.0, D_G_z2=0.0)
    count = 0
    for (batch_indices,) in iterate_minibatches((indices,), settings["batch_size"], shuffle=True,
                                                generator=state.data_rng):
        real_images = bank.augmented_batch(batch_indices, generator=state.data_rng)
        if channels_last:
            real_images = real_images.contiguous(memory_format=torch.channels_last)
        batch_size = real_images.shape[0]
        label = torch.ones(batch_size, device=device)
        noise = torch.randn(batch_size, settings["nz"], 1, 1, generator=state.noise_rng).to(device)

        errD_real, D_x, errD_fake, D_G_z1, fake_images = update_discriminator(
            discriminator, generator, real_images, noise, label, state.optimizerD)
        errG, D_G_z2 = update_generator(discriminator, generator, fake_images, label, state.optimizerG)

        stats = dict(loss_D=errD_real.item() + errD_fake.item(), loss_G=errG.item(), D_x=D_x, D_G_z1=D_G_z1,
                     D_G_z2=D_G_z2)
        state.history["iteration_loss_D"].append(stats["loss_D"])
        state.history["iteration_loss_G"].append(stats["loss_G"])
        state.iteration += 1
        for key in sums:
            sums[key] += stats[key]
        count += 1
        for watch in watches or ():
            message = watch.update(stats[watch.name], state.iteration)
            if message:
                tqdm.write("warning: " + message, file=sys.stderr)
                state.history["warnings"].append({"iteration": state.iteration, "message": message})
        if on_iteration is not None:
            on_iteration(state, stats)
    return {key: value / max(count, 1) for key, value in sums.items()}, count


def _finish(state, run_dir, iters_per_epoch):
    """The end-of-training pictures: the final grid, and a progress snapshot if this iteration had none."""
    title = "fixed noise after {} epochs ({} iterations)".format(state.epoch, state.iteration)
    save_fixed_noise_images(state, os.path.join(run_dir, FINAL_IMAGES_FILE), title)
    if not snapshot_due(state.iteration):
        _snapshot(state, run_dir, iters_per_epoch)


def train_gan(state, bank, epochs, run_dir, amp=False, channels_last=False, checkpoint_every=25, progress=True):
    """Train until ``state.epoch == epochs`` (continuing a resumed state), writing into ``run_dir``.

    ``bank``: an :class:`lib.data_flowers.ImageBank` on the networks' device. Saves the fixed-noise
    pictures on :func:`snapshot_due` iterations and at the end, and a checkpoint every
    ``checkpoint_every`` epochs and at the end. Returns ``state.history``.
    """
    if epochs <= state.epoch:
        raise UserError("the run already has {} epochs; ask for more with --epochs (the total, e.g. --epochs {})"
                        .format(state.epoch, state.epoch + 100))
    if len(bank) == 0:
        raise UserError("the training set is empty")
    device = bank.device
    os.makedirs(os.path.join(run_dir, PROGRESS_DIR), exist_ok=True)
    discriminator, generator = prepare_networks(state, device, amp, channels_last)
    state.generator.train()
    state.discriminator.train()
    iters_per_epoch = num_batches(len(bank), state.settings["batch_size"])
    watches = [LossWatch("loss_D"), LossWatch("loss_G")]
    bar = tqdm(total=epochs * iters_per_epoch, initial=state.iteration, unit="it", dynamic_ncols=True,
               disable=not progress, desc="training")

    def on_iteration(state, stats):
        bar.update(1)
        if state.iteration % 5 == 0 or state.iteration == 1:
            bar.set_postfix(epoch=state.epoch + 1, loss_D="{:.3f}".format(stats["loss_D"]),
                            loss_G="{:.3f}".format(stats["loss_G"]), D_x="{:.2f}".format(stats["D_x"]),
                            D_G_z="{:.2f}".format(stats["D_G_z2"]), refresh=False)
        if snapshot_due(state.iteration):
            _snapshot(state, run_dir, iters_per_epoch)

    if state.iteration == 0:
        _snapshot(state, run_dir, iters_per_epoch)
    try:
        while state.epoch < epochs:
            start = time.perf_counter()
            means, count = train_epoch(state, bank, discriminator, generator, watches, on_iteration, channels_last)
            state.epoch += 1
            means.update(epoch=state.epoch, iterations=count, seconds=round(time.perf_counter() - start, 4))
            state.history["epochs"].append(means)
            if state.epoch == epochs:
                _finish(state, run_dir, iters_per_epoch)
            if state.epoch % checkpoint_every == 0 or state.epoch == epochs:
                save_checkpoint(state, run_dir)
    finally:
        bar.close()
    return state.history
