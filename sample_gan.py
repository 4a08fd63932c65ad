"""Draw new flowers from a saved generator, with a temperature on the latent distribution.

    python sample_gan.py --checkpoint results_gan/run_..._20250101-120000
    python sample_gan.py --checkpoint ../shared/data/course_reference/gan_model_g_2500_epochs.pth --temperature 0.5

Latents come from N(0, T) (standard deviation sqrt(T)); the network sizes are read from the saved
weights. The grid goes to ``--out`` (a .png file or a folder); nothing is overwritten without ``--overwrite``.
"""
import argparse
import math
import os

import torch

from lib.cli import ArgumentParser, UserError, run_main
from lib.device import DEVICE_CHOICES, get_device
from lib.gan_checkpoint import load_generator
from lib.image_grid import save_image_grid, single_image_to_numpy
from lib.sample_gan import generate, sample_latents

DEFAULT_OUT_ROOT = os.path.join("results_gan", "samples")


def parse_args(argv=None):
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True,
                        help="generator state_dict (.pth, ours or the course's) or a run folder of run_gan_training.py")
    parser.add_argument("--temperature", type=float, default=1.0, help="latent variance T (default 1)")
    parser.add_argument("--num_images", type=int, default=64, help="images to draw (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latent draw (default 0: same pictures)")
    parser.add_argument("--out", help="output .png file or folder (default: the run folder's samples/, "
                                      "else results_gan/samples/)")
    parser.add_argument("--single_images", action="store_true", help="also save every image as its own PNG")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.add_argument("--device", default="cpu", choices=DEVICE_CHOICES)
    return parser.parse_args(argv)


def output_paths(args):
    """``(grid_png, single_images_folder)`` for the flags; refuses existing files unless ``--overwrite``."""
    name = "samples_T{:g}_seed{}_n{}".format(args.temperature, args.seed, args.num_images)
    out = args.out
    if out is None:
        out = os.path.join(args.checkpoint, "samples") if os.path.isdir(args.checkpoint) else DEFAULT_OUT_ROOT
    if out.lower().endswith(".png"):
        grid_path = out
    else:
        grid_path = os.path.join(out, name + ".png")
    singles_dir = os.path.splitext(grid_path)[0]
    taken = [p for p in (grid_path, singles_dir if args.single_images else None) if p and os.path.exists(p)]
    if taken and not args.overwrite:
        raise UserError("{} already exists; pass --overwrite to replace it or choose another --out".format(taken[0]))
    return grid_path, singles_dir


def save_single_images(folder, images):
    """Save each ``(C, H, W)`` image in [-1, 1] as ``folder/000.png``, ``001.png``, ..."""
    import matplotlib.image

    os.makedirs(folder, exist_ok=True)
    digits = max(3, len(str(len(images) - 1)))
    for i, image in enumerate(images):
        picture = single_image_to_numpy((image.clamp(-1, 1) + 1) / 2)
        matplotlib.image.imsave(os.path.join(folder, "{:0{}d}.png".format(i, digits)), picture)


def main(argv=None):
    args = parse_args(argv)
    if args.num_images < 1:
        raise UserError("--num_images must be at least 1, got {}".format(args.num_images))
    device = get_device(args.device)
    generator_net, sizes, source = load_generator(args.checkpoint, device)
    grid_path, singles_dir = output_paths(args)
    latents = sample_latents(args.num_images, sizes["latent_size"], args.temperature,
                             generator=torch.Generator().manual_seed(args.seed))
    images = generate(generator_net, latents)

    os.makedirs(os.path.dirname(grid_path) or ".", exist_ok=True)
    title = "Generator({channels_multiplier}, {num_input_channels}, {latent_size}), T={T:g}, seed {seed}".format(
        T=args.temperature, seed=args.seed, **sizes)
    save_image_grid(grid_path, images, title=title, max_images=args.num_images,
                    nrow=min(8, int(math.ceil(math.sqrt(args.num_images)))))
    print("loaded {} as Generator(channels_multiplier={channels_multiplier}, num_input_channels="
          "{num_input_channels}, latent_size={latent_size})".format(source, **sizes))
    print("latents ~ N(0, {:g}): empirical variance {:.4f} over {} values".format(
        args.temperature, latents.var(unbiased=False).item(), latents.numel()))
    print("wrote {}".format(grid_path))
    if args.single_images:
        save_single_images(singles_dir, images)
        print("wrote {} single images into {}".format(len(images), singles_dir))
    return grid_path


if __name__ == "__main__":
    run_main(main)
