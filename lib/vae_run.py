"""The files of one VAE run folder: where it lives, and the model it holds.

A run folder holds ``model.pth`` (the state_dict) beside ``model_config.json`` (the constructor
arguments, the data set and the KL weight), so a model can be rebuilt without guessing its shape.
"""
import os

import torch

from lib.cli import UserError
from lib.model_vae import VAE
from lib.run_dir import read_json, torch_load, write_json

MODEL_FILE = "model.pth"
MODEL_CONFIG_FILE = "model_config.json"
HISTORY_FILE = "history.json"
DEFAULT_MODEL_CONFIG = {"in_channels": 1, "in_height": 28, "in_width": 28, "hidden_size": 100, "latent_size": 2}


def default_out_dir(kl_loss_weight, dataset="mnist"):
    """``results_kl1.0`` for MNIST; other data sets are named in the folder: ``results_kl1.0_digits``."""
    name = "results_kl{}".format(float(kl_loss_weight))
    return name if dataset == "mnist" else "{}_{}".format(name, dataset)


def training_command(kl_loss_weight, dataset="mnist", out_dir=None):
    """The command line that trains the model a run folder is expected to hold."""
    command = "python run_vae_training.py --kl_loss_weight {}".format(float(kl_loss_weight))
    if dataset != "mnist":
        command += " --dataset {}".format(dataset)
    if out_dir is not None:
        command += " --out_dir {}".format(out_dir)
    return command


def save_model(run_dir, model, extra=None):
    """Write ``model.pth`` (state_dict) and ``model_config.json`` (constructor args plus ``extra``)."""
    channels, height, width = model.image_shape
    config = {"in_channels": channels, "in_height": height, "in_width": width,
              "hidden_size": model.hidden_size, "latent_size": model.latent_size}
    config.update(extra or {})
    write_json(os.path.join(run_dir, MODEL_CONFIG_FILE), config)
    torch.save(model.state_dict(), os.path.join(run_dir, MODEL_FILE))


def read_model_config(run_dir):
    """The run's ``model_config.json`` merged over the default VAE's arguments (the file is optional)."""
    config = dict(DEFAULT_MODEL_CONFIG)
    path = os.path.join(run_dir, MODEL_CONFIG_FILE)
    if os.path.isfile(path):
        config.update(read_json(path))
    return config


def load_model(run_dir, device="cpu", missing_hint=None):
    """Rebuild the VAE of ``run_dir`` in eval mode on ``device``; returns ``(model, model_config)``.

    A missing ``model.pth`` or one that is not a state_dict of this architecture raises a one-line
    :class:`UserError`; ``missing_hint`` (e.g. the training command) is appended to the first.
    """
    path = os.path.join(run_dir, MODEL_FILE)
    if not os.path.isfile(path):
        hint = "; train it first: {}".format(missing_hint) if missing_hint else ""
        raise UserError("no trained model at {}{}".format(path, hint))
    config = read_model_config(run_dir)
    state_dict = torch_load(path)
    try:
        model = VAE(**{key: config[key] for key in DEFAULT_MODEL_CONFIG})
        model.load_state_dict(state_dict)
    except (RuntimeError, TypeError, AttributeError, KeyError, ValueError) as err:
        raise UserError("{} does not hold a VAE of the architecture in {} ({})".format(
            path, MODEL_CONFIG_FILE, _first_line(err)))
    return model.to(device).eval(), config


def _first_line(err):
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return " ".join(lines[:2])[:300] if lines else type(err).__name__
