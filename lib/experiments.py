"""The whole exercise as steps in one output folder: three VAEs, their comparison, the GAN, the report.

Layout of ``out_dir`` (one subfolder per step)::

    vae_kl1.0/  vae_kl0.0/  vae_kl30.0/   a VAE run each (history.json, model.pth, latent_space.png, ...)
    comparison/latent_space_comparison.png
    gan/run_<settings>_<timestamp>/       a GAN run folder (see lib.gan_training)
    report.md  summary.json

A step whose final files exist is reused, not redone; ``redo`` names steps to run afresh. Before
anything runs, a plan says what each step will do, so bad data paths fail at once and not after an
hour of training. An interrupted VAE step is trained again (minutes), an interrupted GAN step
continues from its last checkpoint.
"""
import dataclasses
import os
import shutil
import sys
import time
from typing import Optional, Tuple

from lib.cli import UserError
from lib.data_digits import DATASET_CHOICES, load_dataset
from lib.data_flowers import find_images
from lib.explore_latent_space import LATENT_SPACE_FILE, LATENT_STATS_FILE, plot_run_latent_space
from lib.gan_checkpoint import RUN_CHECKPOINT
from lib.gan_run import DEFAULTS as GAN_DEFAULTS
from lib.gan_run import run_gan_training
from lib.gan_training import read_losses
from lib.report import COMPARISON_FILE, save_comparison, write_report
from lib.settings import settings_from
from lib.train_vae import train_vae
from lib.run_dir import read_json, torch_load, write_json
from lib.vae_run import HISTORY_FILE, MODEL_FILE

KL_WEIGHTS = (1.0, 0.0, 30.0)
COMPARISON_STEP, GAN_STEP = "comparison", "gan"
REPORT_FILE, SUMMARY_FILE = "report.md", "summary.json"
# What a plain run and a --quick run use where no flag says otherwise.
FULL = dict(out_dir="results_experiments", vae_dataset="mnist", epochs_vae=15, epochs_gan=500, gan_synthetic=False)
QUICK = dict(out_dir="results_experiments_quick", vae_dataset="digits", epochs_vae=15, epochs_gan=50,
             gan_synthetic=True)
# The VAE settings a reused run folder must have been trained with.
VAE_MATCH_KEYS = ("dataset", "epochs", "limit", "kl_loss_weight")


def vae_step(weight):
    """Step (and folder) name of the VAE with KL weight ``weight``: ``vae_kl1.0``."""
    return "vae_kl{}".format(float(weight))


VAE_STEPS = tuple(vae_step(w) for w in KL_WEIGHTS)
STEPS = VAE_STEPS + (COMPARISON_STEP, GAN_STEP)
REDO_CHOICES = STEPS + ("vae", "all")  # "vae": the three VAE steps


@dataclasses.dataclass
class ExperimentConfig:
    """Settings of one ``run_experiments`` call; None takes the :data:`FULL` or :data:`QUICK` preset."""
    quick: bool = False
    out_dir: Optional[str] = None
    redo: Tuple[str, ...] = ()
    vae_dataset: Optional[str] = None
    vae_data_dir: str = "data"
    gan_data_dir: Optional[str] = None  # ImageFolder of photos; default dataset_flowers_64px
    gan_synthetic: Optional[bool] = None
    epochs_vae: Optional[int] = None
    epochs_gan: Optional[int] = None
    limit: Optional[int] = None  # VAE train and test images, GAN images (tiny runs)
    device: str = "auto"
    progress: bool = True


def resolve_config(config=None, **overrides):
    """Fill the None settings of ``config`` (a config, dict or argparse namespace) from the preset; check them."""
    config = settings_from(ExperimentConfig, config, "experiment setting", **overrides)
    preset = QUICK if config.quick else FULL
    if config.gan_data_dir is not None and config.gan_synthetic:
        raise UserError("--gan_data_dir and --gan_synthetic exclude each other")
    if config.gan_data_dir is not None:
        config.gan_synthetic = False  # photos asked for, also with --quick
    for key, value in preset.items():
        if getattr(config, key) is None:
            setattr(config, key, value)
    if not config.gan_synthetic and config.gan_data_dir is None:
        config.gan_data_dir = GAN_DEFAULTS["data_dir"]
    for key in ("epochs_vae", "epochs_gan", "limit"):
        value = getattr(config, key)
        if value is not None and value < 1:
            raise UserError("--{} must be at least 1, got {}".format(key, value))
    if config.vae_dataset not in DATASET_CHOICES:
        raise UserError("unknown --vae_dataset {!r}; choose one of {}".format(
            config.vae_dataset, ", ".join(DATASET_CHOICES)))
    redo = set()
    for name in config.redo or ():
        if name not in REDO_CHOICES:
            raise UserError("unknown step {!r} for --redo; choose from {}".format(name, ", ".join(REDO_CHOICES)))
        redo.update({"all": STEPS, "vae": VAE_STEPS}.get(name, (name,)))
    config.redo = tuple(step for step in STEPS if step in redo)
    return config


# ---------------------------------------------------------------------------------------------------
# The plan: what each step will do
# ---------------------------------------------------------------------------------------------------

def plan_vae(config, weight):
    """``"reuse"``, ``"plot"`` (trained, latent figure missing) or ``"train"`` for the VAE of ``weight``."""
    step = vae_step(weight)
    folder = os.path.join(config.out_dir, step)
    if step in config.redo:
        return "train"
    model, history_path = os.path.join(folder, MODEL_FILE), os.path.join(folder, HISTORY_FILE)
    if not (os.path.isfile(model) and os.path.isfile(history_path)):
        return "train"  # never started, or interrupted before its model was saved: minutes to redo
    trained = read_json(history_path)["config"]
    wanted = dict(dataset=config.vae_dataset, epochs=config.epochs_vae, limit=config.limit,
                  kl_loss_weight=float(weight))
    different = ["{} {} (now {})".format(key, trained.get(key), wanted[key]) for key in VAE_MATCH_KEYS
                 if trained.get(key) != wanted[key]]
    if different:
        raise UserError("{} holds a VAE trained with {}; pass --redo {} to replace it or choose another "
                        "--out_dir".format(folder, ", ".join(different), step))
    finished = all(os.path.isfile(os.path.join(folder, name)) for name in (LATENT_SPACE_FILE, LATENT_STATS_FILE))
    return "reuse" if finished else "plot"


def plan_comparison(config, vae_plans):
    """Redo the comparison when it is missing, asked for, or older than a latent-space figure."""
    path = os.path.join(config.out_dir, COMPARISON_STEP, COMPARISON_FILE)
    if COMPARISON_STEP in config.redo or not os.path.isfile(path) or any(p != "reuse" for p in vae_plans):
        return "draw"
    inputs = [os.path.join(config.out_dir, step, LATENT_SPACE_FILE) for step in VAE_STEPS]
    return "draw" if any(os.path.getmtime(p) > os.path.getmtime(path) for p in inputs) else "reuse"


def gan_settings(config):
    """The GAN settings this experiment asks for (a reused run must have been made with them)."""
    settings = dict(GAN_DEFAULTS, synthetic=bool(config.gan_synthetic), limit=config.limit)
    settings["data_dir"] = None if config.gan_synthetic else os.path.abspath(config.gan_data_dir)
    return settings


def matches(run_settings, wanted):
    """Whether a run's settings are the wanted ones (the photo folder compared as an absolute path)."""
    run_settings = dict(GAN_DEFAULTS, **run_settings)
    for key, value in wanted.items():
        if key == "data_dir":
            if not wanted["synthetic"] and os.path.abspath(run_settings[key]) != value:
                return False
        elif run_settings[key] != value:
            return False
    return True


def find_gan_run(config):
    """The newest run folder below ``out_dir/gan`` made with this experiment's settings, or None.

    Returns ``(run_dir, epoch)`` with the epoch of its last checkpoint.
    """
    root = os.path.join(config.out_dir, GAN_STEP)
    if not os.path.isdir(root):
        return None
    wanted = gan_settings(config)
    found = []
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name, RUN_CHECKPOINT)
        if os.path.isfile(path):
            checkpoint = torch_load(path)
            if isinstance(checkpoint, dict) and matches(checkpoint.get("settings", {}), wanted):
                found.append((os.path.getmtime(path), os.path.join(root, name), int(checkpoint["epoch"])))
    return max(found)[1:] if found else None


def plan_gan(config):
    """``("reuse" | "resume" | "train", run_dir or None)`` for the GAN step."""
    if GAN_STEP in config.redo:
        return "train", None  # a new run folder: earlier GAN runs are too costly to delete
    found = find_gan_run(config)
    if found is None:
        return "train", None
    run_dir, epoch = found
    if epoch > config.epochs_gan:
        raise UserError("{} has trained {} epochs, more than the {} asked for; ask for --epochs_gan {} or pass "
                        "--redo gan for a new run".format(run_dir, epoch, config.epochs_gan, epoch))
    if epoch == config.epochs_gan:
        return "reuse", run_dir
    return "resume", run_dir


def make_plan(config):
    """What every step will do, as ``{step: action}`` (GAN: ``(action, run_dir)``); checks the inputs."""
    plan = {vae_step(w): plan_vae(config, w) for w in KL_WEIGHTS}
    plan[COMPARISON_STEP] = plan_comparison(config, [plan[s] for s in VAE_STEPS])
    plan[GAN_STEP] = plan_gan(config)
    if plan[GAN_STEP][0] != "reuse" and not config.gan_synthetic:
        # checked now, not after the VAEs have trained for an hour
        folder = config.gan_data_dir
        problem = "does not exist" if not os.path.isdir(folder) else None
        if problem is None and not find_images(folder)[0]:
            problem = "holds no images"
        if problem:
            raise UserError("GAN photo folder {} {}; fill it with `python prepare_flowers.py`, point --gan_data_dir "
                            "at the photos, or train on procedural flowers with --gan_synthetic".format(
                                folder, problem))
    return plan


# ---------------------------------------------------------------------------------------------------
# Running the steps
# ---------------------------------------------------------------------------------------------------

def say(index, step, message):
    print("[{}/{}] {}: {}".format(index, len(STEPS), step, message), flush=True)


def run_vae_step(config, weight, action, data):
    """Train (if asked) and plot the VAE of ``weight``; returns ``{"dir", "history", "stats"}``."""
    folder = os.path.join(config.out_dir, vae_step(weight))
    if action == "train":
        if os.path.isdir(folder):
            shutil.rmtree(folder)  # asked for with --redo, or an interrupted run: start clean
        train_vae(dict(kl_loss_weight=weight, epochs=config.epochs_vae, dataset=config.vae_dataset,
                       data_dir=config.vae_data_dir, device=config.device, out_dir=folder, limit=config.limit,
                       progress=config.progress), data=data)
    if action in ("train", "plot"):
        plot_run_latent_space(weight, config.vae_dataset, config.vae_data_dir, config.device, folder,
                              limit=config.limit, data=data)
    return {"step": vae_step(weight), "weight": float(weight), "dir": folder,
            "history": read_json(os.path.join(folder, HISTORY_FILE)),
            "stats": read_json(os.path.join(folder, LATENT_STATS_FILE))}


def run_gan_step(config, action, run_dir):
    """Train, resume or reuse the GAN; returns ``{"dir", "losses"}``."""
    if action != "reuse":
        options = dict(epochs=config.epochs_gan, device=config.device, no_progress=not config.progress)
        if action == "resume":
            options.update(resume=run_dir)
        else:
            options.update(out_root=os.path.join(config.out_dir, GAN_STEP), synthetic=config.gan_synthetic,
                           limit=config.limit)
        if not config.gan_synthetic:
            options.update(data_dir=os.path.abspath(config.gan_data_dir))
        try:
            run_dir = run_gan_training(options)
        except KeyboardInterrupt:
            print("(or run the same run_experiments.py command again: it continues the GAN where it stopped)",
                  file=sys.stderr)
            raise
    return {"step": GAN_STEP, "dir": run_dir, "losses": read_losses(run_dir)}


def command_line(config):
    """The ``run_experiments.py`` call with these settings (preset values left out)."""
    preset = QUICK if config.quick else FULL
    parts = ["python run_experiments.py"] + (["--quick"] if config.quick else [])
    for key in ("out_dir", "vae_dataset", "epochs_vae", "epochs_gan"):
        if getattr(config, key) != preset[key]:
            parts.append("--{} {}".format(key, getattr(config, key)))
    if config.vae_data_dir != ExperimentConfig.vae_data_dir:
        parts.append("--vae_data_dir {}".format(config.vae_data_dir))
    if config.gan_synthetic != preset["gan_synthetic"]:
        parts.append("--gan_synthetic" if config.gan_synthetic else "--gan_data_dir {}".format(config.gan_data_dir))
    elif not config.gan_synthetic and config.gan_data_dir != GAN_DEFAULTS["data_dir"]:
        parts.append("--gan_data_dir {}".format(config.gan_data_dir))
    if config.limit is not None:
        parts.append("--limit {}".format(config.limit))
    if config.device != ExperimentConfig.device:
        parts.append("--device {}".format(config.device))
    return " ".join(parts)


def describe(action, step):
    return {"reuse": "finished earlier, reused (--redo {} runs it again)".format(step),
            "plot": "trained earlier; plotting its latent space", "train": "training",
            "resume": "continuing from its last checkpoint", "draw": "drawing"}[action]


def run_experiments(config=None, **overrides):
    """Run (or reuse) every step into ``config.out_dir`` and write the report; returns the summary dict.

    The summary holds the config, ``"vae"`` (one entry per KL weight: folder, history, latent
    statistics), ``"comparison"`` (the figure's path), ``"gan"`` (run folder and losses) and
    ``"actions"`` (what each step did: train, plot, resume, draw or reuse).
    """
    config = resolve_config(config, **overrides)
    plan = make_plan(config)
    start = time.time()
    vae_data = None
    if any(plan[s] != "reuse" for s in VAE_STEPS):
        # loaded once for all three runs; a missing data set fails here, before any training
        try:
            vae_data = load_dataset(config.vae_dataset, config.vae_data_dir)
        except UserError as err:  # the loader speaks of the training script's flag
            raise UserError(str(err).replace("--dataset ", "--vae_dataset "))
    os.makedirs(config.out_dir, exist_ok=True)
    summary = {"config": dataclasses.asdict(config), "command": command_line(config), "vae": [],
               "comparison": None, "gan": None,
               "actions": {step: plan[step] if step != GAN_STEP else plan[step][0] for step in STEPS}}

    for index, weight in enumerate(KL_WEIGHTS, 1):
        step = vae_step(weight)
        say(index, step, describe(plan[step], step))
        summary["vae"].append(run_vae_step(config, weight, plan[step], vae_data))

    index = len(VAE_STEPS) + 1
    path = os.path.join(config.out_dir, COMPARISON_STEP, COMPARISON_FILE)
    say(index, COMPARISON_STEP, describe(plan[COMPARISON_STEP], COMPARISON_STEP))
    if plan[COMPARISON_STEP] == "draw":
        os.makedirs(os.path.dirname(path), exist_ok=True)
        save_comparison([(v["weight"], os.path.join(v["dir"], LATENT_SPACE_FILE)) for v in summary["vae"]], path)
    summary["comparison"] = path
    finish(config, summary)  # a report of the VAE part already, in case the long GAN run is stopped

    action, run_dir = plan[GAN_STEP]
    say(index + 1, GAN_STEP, describe(action, GAN_STEP) + ("" if run_dir is None else " ({})".format(run_dir)))
    summary["gan"] = run_gan_step(config, action, run_dir)
    summary["seconds"] = time.time() - start
    report = finish(config, summary)
    print("report: {}".format(report))
    return summary


def finish(config, summary):
    """Write ``report.md`` and ``summary.json``; returns the report's path."""
    write_json(os.path.join(config.out_dir, SUMMARY_FILE), compact_summary(summary))
    return write_report(os.path.join(config.out_dir, REPORT_FILE), summary)


def compact_summary(summary):
    """The numbers of the report as JSON: final test terms and class statistics per weight, GAN's last epoch."""
    vae = []
    for run in summary["vae"]:
        history = run["history"]
        vae.append({"kl_loss_weight": run["weight"], "dir": run["dir"],
                    "final_test": {term: history["test_" + term][-1] for term in ("loss", "bce", "kl")},
                    "final_train": {term: history["train_" + term][-1] for term in ("loss", "bce", "kl")},
                    "latent_classes": run["stats"]["classes"]})
    gan = None
    if summary["gan"] is not None:
        losses = summary["gan"]["losses"]
        gan = {"dir": summary["gan"]["dir"], "settings": losses["settings"],
               "last_epoch": losses["epochs"][-1] if losses["epochs"] else None,
               "warnings": len(losses.get("warnings", []))}
    return {"config": summary["config"], "actions": summary["actions"], "vae": vae, "gan": gan}
