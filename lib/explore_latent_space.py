"""Look inside a trained VAE's 2-d latent space: where each class is encoded, and what each point decodes to."""
import os

import matplotlib
matplotlib.use("Agg")  # figures go to files
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from lib.cli import UserError  # noqa: E402
from lib.data_digits import DATASET_NAMES, load_dataset  # noqa: E402
from lib.device import get_device  # noqa: E402
from lib.tensor_batches import iterate_minibatches  # noqa: E402
from lib.run_dir import write_json  # noqa: E402
from lib.vae_run import default_out_dir, load_model, read_model_config, training_command  # noqa: E402

LATENT_SPACE_FILE = "latent_space.png"
LATENT_STATS_FILE = "latent_stats.json"


def get_mu_logvar(model, test_loader, device="cpu"):
    """Encode every batch of ``test_loader`` (items ``(images, labels)``, images ``(B, C, H, W)``).

    Returns ``(mus, logvars)``, each ``(N, latent)`` on the CPU, in the loader's order.
    """
    model.eval()
    mus, logvars = [], []
    with torch.no_grad():
        for images, _ in test_loader:
            images = images.to(device)
            # TODO: encode the batch and collect its means and log-variances (on the CPU) in the two lists.
            # START TODO ####
            mu, logvar = model.encode(images)
            mus.append(mu.cpu())
            logvars.append(logvar.cpu())
            # END TODO ####
    return torch.cat(mus), torch.cat(logvars)


@torch.no_grad()
def sample_on_grid(model, latent0_min, latent0_max, latent1_min, latent1_max, grid_size, device="cpu"):
    """Decode a ``grid_size x grid_size`` grid of evenly spaced latent points (both ends included).

    ``decoded[i, j]`` is the image of ``z = (latent0[i], latent1[j])`` with ``latent0 =
    torch.linspace(latent0_min, latent0_max, grid_size)`` and likewise ``latent1``. Returns ``(decoded,
    step_size)``: numpy arrays ``(grid_size, grid_size, C, H, W)`` in [0, 1] and ``(2,)`` holding
    ``(max - min) / grid_size`` per axis.
    """
    model.eval()
    # Latent 0 runs along the first grid axis; decode all grid_size**2 points in one batch on ``device``.
    # TODO: decode the linspace grid into a numpy array (grid_size, grid_size, C, H, W); compute step_size.
    # START TODO ####
    latent0 = torch.linspace(latent0_min, latent0_max, grid_size)
    latent1 = torch.linspace(latent1_min, latent1_max, grid_size)
    z = torch.stack(torch.meshgrid(latent0, latent1, indexing="ij"), dim=-1).reshape(-1, 2)
    images = model.decode(z.to(device))
    decoded = images.reshape(grid_size, grid_size, *images.shape[1:]).cpu().numpy()
    step_size = np.array([latent0_max - latent0_min, latent1_max - latent1_min]) / grid_size
    # END TODO ####
    return decoded, step_size


def class_latent_stats(mus, logvars, labels):
    """Per-class statistics of the encodings ``mus``, ``logvars`` ``(N, 2)`` with ``labels`` ``(N,)``.

    Returns ``{class: {"count", "mean", "mean_std", "spread"}}`` with 2-element lists: ``mean`` is the
    mean encoded position, ``mean_std`` the mean of the encoder's standard deviations exp(logvar / 2),
    ``spread`` the standard deviation of the encoded means across the class.
    """
    stats = {}
    for label in sorted(set(labels.tolist())):
        members = labels == label
        # TODO: the class's mean position (mean of mu) and mean standard deviation (mean of exp(logvar / 2)).
        # START TODO ####
        mean = mus[members].mean(dim=0)
        mean_std = torch.exp(0.5 * logvars[members]).mean(dim=0)
        # END TODO ####
        spread = mus[members].std(dim=0, unbiased=False)
        stats[int(label)] = {"count": int(members.sum()), "mean": mean.tolist(), "mean_std": mean_std.tolist(),
                             "spread": spread.tolist()}
    return stats


def latent_range(stats):
    """Plot range per axis: lowest class mean minus two of its std to highest plus two, as a ``(2, 2)`` list."""
    means = np.array([s["mean"] for s in stats.values()])
    stds = np.array([s["mean_std"] for s in stats.values()])
    low, high = (means - 2 * stds).min(axis=0), (means + 2 * stds).max(axis=0)
    degenerate = high - low < 1e-6  # e.g. a collapsed code: widen so the grid still spans something
    low, high = np.where(degenerate, low - 1.0, low), np.where(degenerate, high + 1.0, high)
    return [[float(low[0]), float(high[0])], [float(low[1]), float(high[1])]]


def grid_picture(decoded):
    """``(G0, G1, C, H, W)`` from :func:`sample_on_grid` -> one ``(G1*H, G0*W)`` picture (or ``(.., .., C)``).

    Columns run along latent 0 (left to right), rows along latent 1 (bottom to top), like a plot's axes.
    """
    g0, g1, channels, height, width = decoded.shape
    upward = decoded[:, ::-1]  # picture rows are drawn top-down, latent 1 grows upwards
    picture = upward.transpose(1, 3, 0, 4, 2).reshape(g1 * height, g0 * width, channels)
    return picture[:, :, 0] if channels == 1 else picture


def plot_latent_space(model, images, labels, path, grid_size=20, device="cpu", title=None, batch_size=1000):
    """Save the latent-space figure of ``model`` for ``images`` ``(N, C, H, W)`` / ``labels`` ``(N,)``.

    A ``grid_size x grid_size`` grid of decoded images spans each axis from the lowest class mean minus
    two class standard deviations to the highest plus two; every class's mean position is marked with
    its mean standard deviation as error bars and its label beside it. Returns the class statistics
    (see :func:`class_latent_stats`) plus the plotted ``range``.
    """
    if model.latent_size != 2:
        raise UserError("the latent-space plot needs a 2-d latent space, this model has {}".format(
            model.latent_size))
    loader = iterate_minibatches((images, labels), batch_size, shuffle=False)
    mus, logvars = get_mu_logvar(model, loader, device)
    stats = class_latent_stats(mus, logvars, labels.cpu())
    (low0, high0), (low1, high1) = latent_range(stats)
    decoded, _ = sample_on_grid(model, low0, high0, low1, high1, grid_size, device)
    # Each decoded image is centred on its grid point, so the picture reaches half a spacing beyond.
    half0, half1 = (high0 - low0) / (grid_size - 1) / 2, (high1 - low1) / (grid_size - 1) / 2
    extent = (low0 - half0, high0 + half0, low1 - half1, high1 + half1)

    fig, ax = plt.subplots(figsize=(9, 9))
    # aspect "auto" on a square box keeps every decoded image square whatever the two ranges are.
    ax.imshow(grid_picture(decoded), cmap="gray", vmin=0.0, vmax=1.0, extent=extent, interpolation="nearest",
              aspect="auto")
    ax.set_box_aspect(1)
    colors = plt.get_cmap("tab10")
    for index, (label, s) in enumerate(sorted(stats.items())):
        color = colors(index % 10)
        ax.errorbar(s["mean"][0], s["mean"][1], xerr=s["mean_std"][0], yerr=s["mean_std"][1], fmt="o",
                    color=color, markersize=6, capsize=4, elinewidth=2)
        ax.annotate(str(label), (s["mean"][0], s["mean"][1]), xytext=(7, 7), textcoords="offset points",
                    color=color, fontsize=16, fontweight="bold",
                    bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "alpha": 0.7, "linewidth": 0})
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_xlabel("latent dimension 0")
    ax.set_ylabel("latent dimension 1")
    ax.set_title(title or "latent space: decoded grid, class means +- mean std")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return {"range": [[low0, high0], [low1, high1]], "classes": stats}


def plot_run_latent_space(kl_loss_weight=1.0, dataset=None, data_dir="data", device="auto", out_dir=None,
                          grid_size=20, limit=None, data=None):
    """Load the model of a training run, plot its latent space on the test images, save the statistics.

    The run folder is ``out_dir`` or ``default_out_dir(kl_loss_weight, dataset or "mnist")``; the data set
    defaults to the one the run was trained on. Writes ``latent_space.png`` and ``latent_stats.json`` there
    and returns the statistics dict. ``data``: an already loaded :class:`lib.data_digits.DigitData`.
    """
    run_dir = out_dir or default_out_dir(kl_loss_weight, dataset or "mnist")
    device = get_device(device)
    hint = training_command(kl_loss_weight, dataset or "mnist", out_dir)
    model, config = load_model(run_dir, device, missing_hint=hint)
    dataset = dataset or read_model_config(run_dir).get("dataset", "mnist")
    if data is None:
        data = load_dataset(dataset, data_dir)
    images, labels = data.test_images[:limit], data.test_labels[:limit]
    weight = config.get("kl_loss_weight", kl_loss_weight)
    title = "VAE latent space, KL weight {}, {} test set ({} images)".format(
        float(weight), DATASET_NAMES[dataset].split(" (")[0], images.shape[0])
    summary = plot_latent_space(model, images.to(device), labels, os.path.join(run_dir, LATENT_SPACE_FILE),
                                grid_size, device, title)
    summary = dict(summary, dataset=dataset, kl_loss_weight=float(weight), num_images=int(images.shape[0]),
                   classes={str(k): v for k, v in summary["classes"].items()})
    write_json(os.path.join(run_dir, LATENT_STATS_FILE), summary)
    print("wrote {} and {}".format(os.path.join(run_dir, LATENT_SPACE_FILE), LATENT_STATS_FILE))
    return summary
