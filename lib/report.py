"""The written record of ``run_experiments.py``: the latent-space comparison figure and ``report.md``.

The report is plain Markdown that reads on its own: settings and data first, then the VAE (final test
loss split into reconstruction and KL, the three latent spaces side by side, class-mean positions
and spreads, per-epoch losses), then the GAN (loss summary, curves, fixed-noise pictures). Every
figure is linked relative to the report, so the output folder can be moved or zipped as a whole.
"""
import itertools
import math
import os
import time

import matplotlib
matplotlib.use("Agg")  # figures go to files
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from lib.data_digits import DATASET_NAMES  # noqa: E402
from lib.gan_training import FINAL_IMAGES_FILE, LOSS_CURVES_FILE, PROGRESS_DIR, TRAINING_IMAGES_FILE  # noqa: E402
from lib.train_vae import RECONSTRUCTIONS_FILE  # noqa: E402

COMPARISON_FILE = "latent_space_comparison.png"
GAN_TABLE_ROWS = 10  # the GAN's per-epoch losses are summarised in about this many windows


# ---------------------------------------------------------------------------------------------------
# The comparison figure
# ---------------------------------------------------------------------------------------------------

def comparison_figure(panels):
    """One figure with the saved latent-space pictures side by side, one panel per KL weight.

    ``panels``: list of ``(kl_loss_weight, png_path)``. Returns the matplotlib figure (the caller
    saves and closes it); panel ``i`` is ``fig.axes[i]``, titled with its weight.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 6.8), squeeze=False)
    for ax, (weight, path) in zip(axes[0], panels):
        ax.imshow(mpimg.imread(path))
        ax.set_title("KL weight {}".format(float(weight)), fontsize=16)
        ax.axis("off")
    fig.suptitle("VAE latent spaces: decoded grid and class means +- encoder std, by weight of the KL term",
                 fontsize=14)
    fig.tight_layout(rect=(0, 0, 1, 0.94))  # keep the top strip for the figure's own title
    return fig


def save_comparison(panels, path):
    """Save :func:`comparison_figure` of ``panels`` as a PNG; returns ``path``."""
    fig = comparison_figure(panels)
    try:
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------------------
# Markdown pieces
# ---------------------------------------------------------------------------------------------------

def markdown_table(headers, rows):
    """A GitHub Markdown table; numbers right-aligned, text left-aligned (judged by the first row)."""
    def cell(value):
        return str(value).replace("|", "\\|")

    first = rows[0] if rows else [""] * len(headers)
    align = ["---:" if isinstance(value, (int, float)) or _numeric(value) else ":---" for value in first]
    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _numeric(text):
    try:
        float(str(text).split()[0].rstrip("%"))
        return True
    except (ValueError, IndexError):
        return False


def fmt(value, digits=2):
    """A float with ``digits`` decimals (``-`` for a missing value)."""
    return "-" if value is None else "{:.{}f}".format(value, digits)


def link(report_dir, path):
    """``path`` relative to the report's folder, with forward slashes (Markdown links)."""
    return os.path.relpath(path, report_dir).replace(os.sep, "/")


def image(report_dir, path, alt):
    return "![{}]({})".format(alt, link(report_dir, path))


def minutes(seconds):
    return "{:.1f} min".format(seconds / 60.0) if seconds >= 60 else "{:.0f} s".format(seconds)


# ---------------------------------------------------------------------------------------------------
# Numbers derived for the report
# ---------------------------------------------------------------------------------------------------

def latent_summary(classes):
    """Scale and separation of the class clusters from ``latent_stats.json``'s ``classes`` dict.

    ``span``: per axis, highest minus lowest class mean; ``sigma``: the encoder's std averaged over
    classes and axes; ``spread``: the spread of the encoded means within a class, averaged likewise;
    ``distance``: mean Euclidean distance between two class means; ``separation``: distance / spread,
    a scale-free measure of how far apart the classes sit compared with their own width.
    """
    stats = list(classes.values())
    means = [s["mean"] for s in stats]
    span = [max(m[axis] for m in means) - min(m[axis] for m in means) for axis in (0, 1)]
    sigma = sum(sum(s["mean_std"]) for s in stats) / (2.0 * len(stats))
    spread = sum(sum(s["spread"]) for s in stats) / (2.0 * len(stats))
    pairs = list(itertools.combinations(means, 2))
    distance = sum(math.hypot(a[0] - b[0], a[1] - b[1]) for a, b in pairs) / max(len(pairs), 1)
    return {"span": span, "sigma": sigma, "spread": spread, "distance": distance,
            "separation": distance / spread if spread > 0 else float("inf")}


def epoch_windows(count, rows=GAN_TABLE_ROWS):
    """Split epochs ``1..count`` into at most about ``rows`` consecutive windows ``[(first, last), ...]``."""
    size = max(1, int(math.ceil(count / float(rows))))
    return [(first, min(first + size - 1, count)) for first in range(1, count + 1, size)]


# ---------------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------------

def intro_section(summary):
    vae = summary["vae"][0]["history"]
    preset = "the --quick preset (offline data, short GAN)" if summary["config"]["quick"] else "the exercise's (SPEC)"
    lines = ["# VAE and DCGAN experiments", "",
             "Written by `{}` on {}. Settings: {}, except where these flags change them.".format(
                 summary["command"], time.strftime("%Y-%m-%d %H:%M"), preset),
             "", "- **VAE data**: {}, {} training and {} test images; {} epochs per KL weight, Adam lr {}, "
                 "batch {}, seed {}, on {}.".format(
                     DATASET_NAMES[vae["dataset"]], vae["num_train"], vae["num_test"], vae["config"]["epochs"],
                     vae["config"]["lr"], vae["config"]["batch_size"], vae["config"]["seed"], vae["device"])]
    if vae["dataset"] != "mnist":
        lines.append("  **Not the full MNIST training set**: numbers and figures here are for the data named above.")
    if summary["gan"] is not None:
        settings = summary["gan"]["losses"]["settings"]
        data = "procedural flowers (`--synthetic`, offline; not photos)" if settings["synthetic"] else \
            "the photos in `{}`".format(os.path.basename(os.path.normpath(settings["data_dir"])))
        if settings.get("limit") is not None:
            data += ", limited to {} images".format(settings["limit"])
        lines.append("- **GAN data**: {}; see the GAN section for its settings.".format(data))
    steps = ", ".join("{} {}".format(step, action) for step, action in summary["actions"].items())
    lines += ["- **Steps this time**: {} (reuse: finished by an earlier call).".format(steps), ""]
    return lines


def vae_sections(summary, report_dir):
    runs = summary["vae"]
    lines = ["## VAE: what the weight of the KL term does", "",
             "Loss per image = reconstruction term (binary cross-entropy summed over the 784 pixels) + w x KL "
             "(KL divergence of the encoder's N(mu, sigma^2) from the prior N(0, I), summed over the 2 latent "
             "dimensions). Test values are measured in eval mode (z = mu) after the last epoch.", "",
             "### Final test loss, split into its parts", ""]
    rows = []
    for run in runs:
        h, w = run["history"], run["weight"]
        rows.append([fmt(w, 1), fmt(h["test_loss"][-1]), fmt(h["test_bce"][-1]), fmt(h["test_kl"][-1]),
                     fmt(w * h["test_kl"][-1]), fmt(h["train_loss"][-1]), fmt(h["train_bce"][-1]),
                     fmt(h["train_kl"][-1]), minutes(h.get("total_seconds", sum(h["epoch_seconds"])))])
    lines += [markdown_table(["KL weight w", "test loss", "test reconstruction (BCE)", "test KL", "w x KL",
                              "train loss", "train BCE", "train KL", "training time"], rows), ""]

    lines += ["### Latent spaces side by side", "",
              image(report_dir, summary["comparison"], "latent spaces for KL weights " + ", ".join(
                  str(run["weight"]) for run in runs)), "",
              "Each panel decodes a 20x20 grid spanning the class means +- 2 encoder standard deviations; dots "
              "mark each digit's mean encoded position, bars its mean encoder standard deviation. Single "
              "figures: " + ", ".join("[KL weight {}]({})".format(run["weight"], link(
                  report_dir, os.path.join(run["dir"], "latent_space.png"))) for run in runs) + ".", ""]

    lines += ["### Class clusters in latent space", "",
              "Per weight, over the {} test images: the span of the class means per axis, the encoder's "
              "standard deviation sigma (mean over classes and axes), the spread of the encoded means within "
              "a class (standard deviation, mean over classes and axes), the mean distance between two "
              "class means, and separation = distance / spread (scale-free: larger means better separated "
              "classes).".format(runs[0]["stats"]["num_images"]), ""]
    rows = []
    for run in runs:
        s = latent_summary(run["stats"]["classes"])
        rows.append([fmt(run["weight"], 1), fmt(s["span"][0]), fmt(s["span"][1]), fmt(s["sigma"], 3),
                     fmt(s["spread"], 3), fmt(s["distance"], 3), fmt(s["separation"])])
    lines += [markdown_table(["KL weight w", "span of means z0", "span z1", "encoder sigma", "spread of means",
                              "distance between class means", "separation"], rows), ""]
    for run in runs:
        rows = []
        for label, s in sorted(run["stats"]["classes"].items(), key=lambda item: int(item[0])):
            rows.append([label, s["count"], fmt(s["mean"][0], 3), fmt(s["mean"][1], 3), fmt(s["mean_std"][0], 3),
                         fmt(s["mean_std"][1], 3), fmt(s["spread"][0], 3), fmt(s["spread"][1], 3)])
        lines += ["KL weight {}: class means, encoder sigma and spread per latent axis".format(run["weight"]), "",
                  markdown_table(["digit", "images", "mean z0", "mean z1", "sigma z0", "sigma z1", "spread z0",
                                  "spread z1"], rows), ""]

    lines += ["### Per-epoch losses (per image)", ""]
    for run in runs:
        h = run["history"]
        rows = [[epoch, fmt(h["train_loss"][i]), fmt(h["train_bce"][i]), fmt(h["train_kl"][i]),
                 fmt(h["test_loss"][i]), fmt(h["test_bce"][i]), fmt(h["test_kl"][i]), fmt(h["epoch_seconds"][i], 1)]
                for i, epoch in enumerate(h["epoch"])]
        last = os.path.join(run["dir"], RECONSTRUCTIONS_FILE.format(h["epoch"][-1]))
        lines += ["#### KL weight {}".format(run["weight"]), "",
                  markdown_table(["epoch", "train loss", "train BCE", "train KL", "test loss", "test BCE", "test KL",
                                  "seconds"], rows), "",
                  "Test images (top) and their reconstructions (bottom) after epoch {}:".format(h["epoch"][-1]), "",
                  image(report_dir, last, "reconstructions, KL weight {}".format(run["weight"])), ""]
    return lines


def gan_section(summary, report_dir):
    lines = ["## DCGAN on flowers (32x32)", ""]
    gan = summary["gan"]
    if gan is None:
        return lines + ["The GAN step has not finished yet; run `run_experiments.py` again to train or continue "
                        "it.", ""]
    losses, run_dir = gan["losses"], gan["dir"]
    settings, epochs = losses["settings"], losses["epochs"]
    seconds = sum(e["seconds"] for e in epochs)
    lines += ["Run folder `{}`: {} epochs, {} iterations ({} per epoch, batch {}), ngf {}, ndf {}, latent {}, "
              "Adam lr {} betas ({}, {}), seed {}; {} of training.".format(
                  link(report_dir, run_dir), losses["epoch"], losses["iteration"], epochs[-1]["iterations"],
                  settings["batch_size"], settings["ngf"], settings["ndf"], settings["nz"], settings["lr"],
                  settings["beta1"], settings["beta2"], settings["seed"], minutes(seconds)), "",
              "Losses are binary cross-entropies (D: real plus fake part; G: against the 'real' label), averaged "
              "over the iterations of each epoch and then over the epochs of each row. D(x) is D's mean output "
              "on real images, D(G(z)) on fakes before and after D's update.", ""]
    rows = []
    for first, last in epoch_windows(len(epochs)):
        window = epochs[first - 1:last]
        means = [sum(e[key] for e in window) / len(window) for key in ("loss_D", "loss_G", "D_x", "D_G_z1", "D_G_z2")]
        rows.append([str(first) if first == last else "{}-{}".format(first, last)] + [fmt(m, 3) for m in means])
    lines += [markdown_table(["epochs", "loss D", "loss G", "D(x)", "D(G(z)) before", "D(G(z)) after"], rows), ""]
    warnings = losses.get("warnings", [])
    if warnings:
        lines += ["Loss warnings during training ({}):".format(len(warnings)), ""]
        lines += ["- {}".format(w["message"]) for w in warnings[:10]]
        lines += ["- ... and {} more".format(len(warnings) - 10)] if len(warnings) > 10 else []
        lines.append("")
    else:
        lines += ["No loss collapsed towards 0 or exploded during training.", ""]
    lines += [image(report_dir, os.path.join(run_dir, LOSS_CURVES_FILE), "GAN loss curves"), "",
              "The generator's output on the fixed noise batch after the last epoch:", "",
              image(report_dir, os.path.join(run_dir, FINAL_IMAGES_FILE), "fixed-noise images after training"), ""]
    snapshots = [s for s in losses.get("snapshots", [])
                 if os.path.isfile(os.path.join(run_dir, PROGRESS_DIR, "iter_{:06d}.png".format(s)))]
    if snapshots:
        chosen = sorted({snapshots[int(round(f * (len(snapshots) - 1)))] for f in (0.0, 0.1, 0.33, 0.67)})
        lines += ["The same noise during training (iterations {}):".format(", ".join(str(s) for s in chosen)), "",
                  " ".join(image(report_dir, os.path.join(run_dir, PROGRESS_DIR, "iter_{:06d}.png".format(s)),
                                 "iteration {}".format(s)) for s in chosen), ""]
    lines += ["A sample of the (augmented) training images:", "",
              image(report_dir, os.path.join(run_dir, TRAINING_IMAGES_FILE), "training images"), ""]
    return lines


def write_report(path, summary):
    """Write the Markdown report of ``summary`` (see :func:`lib.experiments.run_experiments`) to ``path``."""
    report_dir = os.path.dirname(os.path.abspath(path))
    lines = intro_section(summary) + vae_sections(summary, report_dir) + gan_section(summary, report_dir)
    with open(path + ".tmp", "w") as handle:
        handle.write("\n".join(lines).rstrip("\n") + "\n")
    os.replace(path + ".tmp", path)
    return path
