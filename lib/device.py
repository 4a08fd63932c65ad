"""Pick the torch device from a ``--device`` flag value."""
import torch

from lib.cli import UserError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def _mps_available():
    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()


def get_device(name="auto"):
    """Return a ``torch.device`` for ``name`` in DEVICE_CHOICES.

    ``auto`` prefers CUDA, then Apple's MPS, then the CPU. Asking for an accelerator that is not
    there raises :class:`UserError` rather than silently falling back, so timings are never mislabelled.
    """
    if name not in DEVICE_CHOICES:
        raise UserError("unknown device {!r}; choose one of {}".format(name, ", ".join(DEVICE_CHOICES)))
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but torch sees no CUDA GPU; use --device auto or cpu")
    if name == "mps" and not _mps_available():
        raise UserError("--device mps was asked for but this torch build has no MPS; use --device auto or cpu")
    return torch.device(name)
