"""Read saved generators: the course's plain state_dict, ours, or a whole run folder.

A generator state_dict carries its own sizes: ``layers.0.weight`` is ``(latent, 8m, 4, 4)`` and
``layers.12.weight`` is ``(channels, m, 3, 3)``. Reading them from there lets the sampling script
load any of our runs (or the course's weights) without being told ngf / nz.
"""
import os

from lib.cli import UserError
from lib.model_gan import Generator
from lib.run_dir import torch_load

RUN_CHECKPOINT = "checkpoint.pt"   # everything a resumed run needs
GENERATOR_FILE = "generator.pth"    # plain state_dict, same format as the course's published weights
DISCRIMINATOR_FILE = "discriminator.pth"


def generator_sizes(state_dict, source="checkpoint"):
    """Return ``dict(channels_multiplier, num_input_channels, latent_size)`` for a Generator state_dict.

    Raises :class:`UserError` naming what is wrong when the keys or shapes are not those of
    :class:`lib.model_gan.Generator` (for instance a discriminator or a VAE checkpoint).
    """
    if not isinstance(state_dict, dict):
        raise UserError("{} holds a {}, not a generator state_dict".format(source, type(state_dict).__name__))
    first, last = state_dict.get("layers.0.weight"), state_dict.get("layers.12.weight")
    if first is None or last is None or first.dim() != 4 or last.dim() != 4:
        raise UserError("{} does not match a Generator: expected keys layers.0.weight (latent, 8m, 4, 4) and "
                        "layers.12.weight (channels, m, 3, 3); found keys {}".format(
                            source, ", ".join(sorted(state_dict)[:6]) + (", ..." if len(state_dict) > 6 else "")))
    if first.shape[1] % 8 != 0:
        raise UserError("{} does not match a Generator: layers.0.weight has {} output channels, "
                        "not a multiple of 8".format(source, first.shape[1]))
    sizes = dict(channels_multiplier=first.shape[1] // 8, num_input_channels=last.shape[0],
                 latent_size=first.shape[0])
    expected = Generator(**sizes).state_dict()
    wrong = [key for key in expected
             if key not in state_dict or tuple(state_dict[key].shape) != tuple(expected[key].shape)]
    extra = [key for key in state_dict if key not in expected]
    if wrong or extra:
        raise UserError("{} does not match Generator(channels_multiplier={channels_multiplier}, "
                        "num_input_channels={num_input_channels}, latent_size={latent_size}): "
                        "{n} missing or mis-shaped keys (first: {first}), {e} unexpected keys".format(
                            source, n=len(wrong), first=(wrong + extra)[0], e=len(extra), **sizes))
    return sizes


def find_generator_state(path):
    """Locate and read a generator state_dict.

    ``path`` may be a run folder (uses ``generator.pth``, else ``checkpoint.pt``), a plain state_dict
    file, or a run checkpoint (a dict with a ``"generator"`` entry). Returns ``(state_dict, source)``.
    """
    if os.path.isdir(path):
        candidates = [os.path.join(path, GENERATOR_FILE), os.path.join(path, RUN_CHECKPOINT)]
        existing = [c for c in candidates if os.path.isfile(c)]
        if not existing:
            raise UserError("folder {} holds neither {} nor {}; point --checkpoint at a training run folder "
                            "or a generator .pth file".format(path, GENERATOR_FILE, RUN_CHECKPOINT))
        path = existing[0]
    loaded = torch_load(path)
    if isinstance(loaded, dict) and isinstance(loaded.get("generator"), dict):
        loaded = loaded["generator"]
    return loaded, path


def load_generator(path, device="cpu"):
    """Build a :class:`Generator` sized from the saved weights at ``path`` and load them (eval mode).

    Returns ``(generator, sizes, source_file)``.
    """
    state_dict, source = find_generator_state(path)
    sizes = generator_sizes(state_dict, source)
    generator = Generator(**sizes)
    generator.load_state_dict(state_dict)
    return generator.to(device).eval(), sizes, source
