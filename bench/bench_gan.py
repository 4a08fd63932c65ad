"""Time our DCGAN training pipeline against the tutorial-style one on the flower photos, in one process.

    python bench/bench_gan.py               # 3 timed epochs per pipeline
    python bench/bench_gan.py --quick       # 1 timed epoch per pipeline

Tutorial style: ``ImageFolder`` + PIL transforms (Resize(32), random or centre crop, flip, ToTensor,
Normalize) in a ``DataLoader`` with 2 workers that start afresh every epoch. Ours: the photos decoded
once into one uint8 tensor on the device, crop/flip done on whole batches (lib/data_flowers.py), the
loop of lib/gan_training.py, in float32, channels-last, bfloat16 autocast (``--amp``) and both.
Every pipeline trains the same seeded Generator/Discriminator with the SPEC's update functions.
Prints seconds per epoch (median and best of the timed epochs, taken in turns so a busy machine
hurts all alike), speed-ups over the tutorial, the projected 500-epoch time, and achieved GFLOP/s
(FLOPs of one epoch counted by torch.utils.flop_counter) beside a matrix product timed in this run.
"""
import copy
import os
import statistics
import sys
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)  # run as a plain script from anywhere

import torch  # noqa: E402
import torchvision.datasets as dset  # noqa: E402
import torchvision.transforms as transforms  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from lib.cli import ArgumentParser, UserError, run_main  # noqa: E402
from lib.data_flowers import load_image_folder  # noqa: E402
from lib.device import DEVICE_CHOICES, get_device  # noqa: E402
from lib.gan_training import TrainingState, make_optimizers, prepare_networks, train_epoch  # noqa: E402
from lib.model_gan import Discriminator, Generator, weights_init  # noqa: E402
from lib.tensor_batches import num_batches  # noqa: E402
from lib.train_gan import update_discriminator, update_generator  # noqa: E402

SHARED_DATA = os.environ.get("EXERCISE_SHARED_DATA", os.path.join(os.path.dirname(REPO_ROOT), "shared", "data"))
DEFAULT_DATA = os.path.join(SHARED_DATA, "dataset_flowers_64px")
FULL_RUN_EPOCHS = 500
TARGET_MINUTES = {"ours fp32": 12.0, "ours --amp": 8.0}
OUR_VARIANTS = (  # (name, amp, channels_last)
    ("ours fp32", False, False),
    ("ours fp32 --channels_last", False, True),
    ("ours --amp", True, False),
    ("ours --amp --channels_last", True, True),
)


def tutorial_loader(root, batch_size, workers, image_size=32):
    """The DCGAN tutorial's data pipeline with the course's augmentation."""
    transform = transforms.Compose([
        transforms.Resize(image_size),
        transforms.RandomChoice([transforms.RandomCrop(image_size), transforms.CenterCrop(image_size)]),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    ])
    return DataLoader(dset.ImageFolder(root=root, transform=transform), batch_size=batch_size, shuffle=True,
                      num_workers=workers)


def tutorial_epoch(netD, netG, optimizerD, optimizerG, loader, device, nz):
    """The tutorial's loop: move each batch, draw noise on the device, record both losses per iteration."""
    G_losses, D_losses = [], []
    for data in loader:
        real = data[0].to(device)
        label = torch.full((real.size(0),), 1.0, device=device)
        noise = torch.randn(real.size(0), nz, 1, 1, device=device)
        errD_real, _, errD_fake, _, fake = update_discriminator(netD, netG, real, noise, label, optimizerD)
        errG, _ = update_generator(netD, netG, fake, label, optimizerG)
        G_losses.append(errG.item())
        D_losses.append((errD_real + errD_fake).item())
    return D_losses, G_losses


def epoch_flops(generator, discriminator, num_images, batch_size, nz, device):
    """FLOPs of one epoch (forward and backward of both updates), counted on copies; None if unsupported."""
    try:
        from torch.utils.flop_counter import FlopCounterMode
    except ImportError:  # torch < 2.1
        return None
    total = 0
    sizes = [batch_size] * (num_images // batch_size) + ([num_images % batch_size] if num_images % batch_size else [])
    for size in set(sizes):
        g, d = copy.deepcopy(generator), copy.deepcopy(discriminator)
        opt_g, opt_d = make_optimizers(g, d)
        real = torch.rand(size, 3, 32, 32, device=device) * 2 - 1
        label = torch.ones(size, device=device)
        counter = FlopCounterMode(display=False)
        with counter:
            fake = update_discriminator(d, g, real, torch.randn(size, nz, 1, 1, device=device), label, opt_d)[4]
            update_generator(d, g, fake, label, opt_g)
        total += counter.get_total_flops() * sizes.count(size)
    return total


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_gflops(device, dtype, n=2048, repeats=5):
    """Best-of-``repeats`` GFLOP/s of an ``n x n`` matrix product: what this machine can do right now."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        a @ b
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2.0 * n ** 3 / best / 1e9


def parse_args(argv=None):
    parser = ArgumentParser(description="Benchmark our DCGAN pipeline against the tutorial-style one.")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per pipeline (default %(default)s)")
    parser.add_argument("--quick", action="store_true", help="one timed epoch per pipeline")
    parser.add_argument("--data_dir", default=DEFAULT_DATA, help="flower photos (default %(default)s)")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="cpu", help="default %(default)s")
    parser.add_argument("--batch_size", type=int, default=128, help="default %(default)s")
    parser.add_argument("--workers", type=int, default=2, help="tutorial DataLoader workers (default %(default)s)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--ngf", type=int, default=32, help="default %(default)s")
    parser.add_argument("--ndf", type=int, default=32, help="default %(default)s")
    parser.add_argument("--nz", type=int, default=64, help="default %(default)s")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    epochs = 1 if args.quick else args.epochs
    if min(epochs, args.batch_size, args.ngf, args.ndf, args.nz, args.threads or 1) < 1 or args.workers < 0:
        raise UserError("--epochs, --batch_size, --ngf, --ndf, --nz and --threads must be at least 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = get_device(args.device)
    bank = load_image_folder(args.data_dir, image_size=32, progress=False).to(device)
    loader = tutorial_loader(args.data_dir, args.batch_size, args.workers)
    iterations = num_batches(len(bank), args.batch_size)
    print("data: {} photos in {}; batch {} ({} iterations per epoch); Generator({}, 3, {}) + Discriminator({}, 3); "
          "device {}, {} torch threads".format(len(bank), args.data_dir, args.batch_size, iterations, args.ngf, args.nz,
                                               args.ndf, device, torch.get_num_threads()))

    torch.manual_seed(999)
    start_g, start_d = Generator(args.ngf, 3, args.nz), Discriminator(args.ndf, 3)
    start_g.apply(weights_init)
    start_d.apply(weights_init)
    start_g.to(device)
    start_d.to(device)
    flops = epoch_flops(start_g, start_d, len(bank), args.batch_size, args.nz, device)
    fp32_peak = matmul_gflops(device, torch.float32)
    bf16_peak = matmul_gflops(device, torch.bfloat16)
    print("one epoch: {}; matrix product 2048x2048: {:.0f} GFLOP/s float32, {:.0f} GFLOP/s bfloat16".format(
        "{:.1f} GFLOP".format(flops / 1e9) if flops else "FLOPs not counted (torch < 2.1)", fp32_peak, bf16_peak))

    # every pipeline gets its own copy of the same seeded networks and fresh optimizers
    runners = {}
    g, d = copy.deepcopy(start_g), copy.deepcopy(start_d)
    opt_g, opt_d = make_optimizers(g, d)
    runners["tutorial (ImageFolder, {} workers)".format(args.workers)] = \
        lambda g=g, d=d, opt_g=opt_g, opt_d=opt_d: tutorial_epoch(d, g, opt_d, opt_g, loader, device, args.nz)
    for name, amp, channels_last in OUR_VARIANTS:
        g, d = copy.deepcopy(start_g), copy.deepcopy(start_d)
        opt_g, opt_d = make_optimizers(g, d)
        settings = dict(batch_size=args.batch_size, nz=args.nz, seed=999)
        state = TrainingState(g, d, opt_g, opt_d, torch.zeros(1), settings)
        net_d, net_g = prepare_networks(state, device, amp=amp, channels_last=channels_last)
        runners[name] = (lambda state=state, net_d=net_d, net_g=net_g, cl=channels_last:
                         train_epoch(state, bank, net_d, net_g, channels_last=cl))

    # one untimed epoch each (oneDNN/cuDNN pick kernels), then the timed epochs in turns
    seconds = {name: [] for name in runners}
    for round_ in range(epochs + 1):
        for name, run_epoch in runners.items():
            synchronize(device)
            start = time.perf_counter()
            run_epoch()
            synchronize(device)
            if round_ > 0:
                seconds[name].append(time.perf_counter() - start)
        print("  round {}/{} done".format(round_, epochs) if round_ else "  warm-up epoch done", flush=True)

    tutorial = statistics.median(next(iter(seconds.values())))
    header = ("pipeline", "s/epoch", "best", "speed-up", "500 epochs", "GFLOP/s")
    print("\n{:<36} {:>9} {:>8} {:>10} {:>13} {:>9}".format(*header))
    for name, times in seconds.items():
        median = statistics.median(times)
        minutes = median * FULL_RUN_EPOCHS / 60.0
        target = TARGET_MINUTES.get(name)
        print("{:<36} {:>9.3f} {:>8.3f} {:>9.2f}x {:>9.1f} min {:>9}{}".format(
            name, median, min(times), tutorial / median, minutes,
            "{:.0f}".format(flops / median / 1e9) if flops else "n/a",
            "   (target < {:g} min: {})".format(target, "met" if minutes < target else "missed") if target else ""))
    print("\nspeed-up = tutorial s/epoch / pipeline s/epoch (medians); GFLOP/s of the training beside the matrix "
          "product's {:.0f} (float32) / {:.0f} (bfloat16)".format(fp32_peak, bf16_peak))


if __name__ == "__main__":
    run_main(main)
