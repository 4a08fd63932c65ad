"""Output folders: every run writes into a folder of its own and never overwrites earlier results."""
import json
import os
import time

import torch

from lib.cli import UserError


def timestamp():
    """Local time as ``YYYYmmdd-HHMMSS``, for run folder names that sort by date."""
    return time.strftime("%Y%m%d-%H%M%S")


def prepare_output_dir(path, overwrite=False, marker_files=()):
    """Create ``path`` and return it, refusing to clobber an earlier run.

    If any of ``marker_files`` (names relative to ``path``, e.g. ``"model.pth"``) already exists and
    ``overwrite`` is false, raise :class:`UserError` naming the flag that allows it.
    """
    existing = [name for name in marker_files if os.path.exists(os.path.join(path, name))]
    if existing and not overwrite:
        raise UserError("{} already holds a finished run ({}); pass --overwrite to replace it or choose "
                        "another --out_dir".format(path, ", ".join(existing)))
    os.makedirs(path, exist_ok=True)
    return path


def unique_run_dir(parent, name):
    """Create and return ``parent/name``, adding ``_2``, ``_3``, ... if that folder already exists."""
    os.makedirs(parent, exist_ok=True)
    candidate = os.path.join(parent, name)
    suffix = 2
    while True:
        try:
            os.makedirs(candidate)
            return candidate
        except FileExistsError:
            candidate = os.path.join(parent, "{}_{}".format(name, suffix))
            suffix += 1


def write_json(path, payload):
    """Write ``payload`` as indented JSON through a temporary file, so a kill never leaves half a file."""
    tmp_path = path + ".tmp"
    with open(tmp_path, "w") as handle:
        json.dump(payload, handle, indent=1)
        handle.write("\n")
    os.replace(tmp_path, path)


def read_json(path):
    """Parse a JSON file of a run folder; a missing or broken file is a one-line :class:`UserError`."""
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError) as err:
        raise UserError("cannot read {}: {}".format(path, err))


def torch_load(path):
    """``torch.load`` on the CPU, tensors and plain containers only; unreadable files become UserError."""
    if not os.path.isfile(path):
        raise UserError("checkpoint {} does not exist".format(path))
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for truncated or foreign files
        raise UserError("cannot read {} as a torch checkpoint ({})".format(path, str(err).splitlines()[0]))
