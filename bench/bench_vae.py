"""Time our VAE training loop against the tutorial-style loop on the same data and model, in one process.

    python bench/bench_vae.py            # one full 60,000-image epoch of each loop
    python bench/bench_vae.py --quick    # 10,000 images of each, extrapolated to an epoch

Tutorial style: a torchvision MNIST dataset object that turns every image into a PIL image and back
through ToTensor, batched by a DataLoader, one ``loss.item()`` per batch. Ours: the whole set as one
tensor on the device, batches sliced from it (lib/tensor_batches.py), losses read once per epoch.
Data: the real MNIST test digits from ../shared/data tiled to 60,000 images (an epoch of the full
training set), else scikit-learn's digits tiled likewise. Prints seconds per epoch, the speed-up
(target >= 3x) and an estimate of the full 15-epoch run (target < 1 minute on two CPU cores).
"""
import copy
import os
import sys
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)  # run as a plain script from anywhere

import torch  # noqa: E402
import torchvision  # noqa: E402
import torchvision.transforms as transforms  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402
from tqdm import tqdm  # noqa: E402

from lib.cli import ArgumentParser, UserError, run_main  # noqa: E402
from lib.data_digits import load_sklearn_digits, read_idx_split  # noqa: E402
from lib.device import DEVICE_CHOICES, get_device  # noqa: E402
from lib.loss_vae import VAELoss  # noqa: E402
from lib.model_vae import VAE  # noqa: E402
from lib.train_vae import evaluate, make_optimizer, train_epoch  # noqa: E402

EPOCH_IMAGES = 60000  # MNIST's training set
TEST_IMAGES = 10000  # MNIST's test set, evaluated after every epoch
DEFAULT_SHARED_DATA = os.environ.get("EXERCISE_SHARED_DATA",
                                     os.path.join(os.path.dirname(REPO_ROOT), "shared", "data"))


class InMemoryMNIST(torchvision.datasets.MNIST):
    """torchvision's MNIST, ``__getitem__`` and all, holding given uint8 images instead of downloaded ones."""

    def __init__(self, images, labels, transform=None):
        torchvision.datasets.VisionDataset.__init__(self, root="", transform=transform)
        self.train = True
        self.data = images  # (N, 28, 28) uint8, as MNIST keeps it
        self.targets = labels


def load_bench_images(shared_data):
    """``(images (N, 1, 28, 28) float in [0, 1], description)`` of the real MNIST test set or the sklearn digits."""
    folder = os.path.join(shared_data, "mnist_test")
    if os.path.isdir(folder):
        images, _ = read_idx_split(folder, "test")
        return images, "real MNIST test digits ({})".format(images.shape[0])
    images = load_sklearn_digits().train_images
    return images, "scikit-learn digits scaled to 28x28 ({}; real MNIST not found in {})".format(
        images.shape[0], shared_data)


def tile(images, count):
    """Repeat ``images`` along the first axis until there are exactly ``count``."""
    repeats = -(-count // images.shape[0])
    return images.repeat(repeats, 1, 1, 1)[:count]


def tutorial_epoch(model, loss_fn, optimizer, loader, device):
    """The pytorch/examples loop: move each DataLoader batch to the device, one ``.item()`` per batch."""
    model.train()
    train_loss = 0.0
    for data, _ in loader:
        data = data.to(device)
        optimizer.zero_grad()
        recon_batch, mu, logvar = model(data)
        loss = loss_fn(recon_batch, data, mu, logvar)
        loss.backward()
        train_loss += loss.item()
        optimizer.step()
    return train_loss


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_call(device, fn, *args):
    synchronize(device)
    start = time.perf_counter()
    fn(*args)
    synchronize(device)
    return time.perf_counter() - start


def parse_args(argv=None):
    parser = ArgumentParser(description="Benchmark our VAE training loop against the tutorial-style loop.")
    parser.add_argument("--quick", action="store_true", help="time 10,000 images per loop instead of 60,000")
    parser.add_argument("--repeats", type=int, default=3,
                        help="time each loop this often, alternating, and keep the best (default %(default)s)")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="cpu", help="default %(default)s")
    parser.add_argument("--batch_size", type=int, default=128, help="default %(default)s")
    parser.add_argument("--workers", type=int, default=0,
                        help="DataLoader workers of the tutorial loop (default %(default)s: the cores train)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--shared_data", default=DEFAULT_SHARED_DATA, help="default %(default)s")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if min(args.batch_size, args.repeats, args.threads or 1) < 1 or args.workers < 0:
        raise UserError("--batch_size, --repeats and --threads must be at least 1, --workers at least 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = get_device(args.device)
    base_images, description = load_bench_images(args.shared_data)
    timed = 10000 if args.quick else EPOCH_IMAGES
    images = tile(base_images, timed)
    test_images = tile(base_images, TEST_IMAGES).to(device)
    print("data: {} tiled to {} images; batch {}; device {}; {} torch threads".format(
        description, timed, args.batch_size, device, torch.get_num_threads()))

    torch.manual_seed(0)
    start_model = VAE().to(device)
    loss_fn = VAELoss(1.0)

    def fresh(ours):
        model = copy.deepcopy(start_model)
        return model, make_optimizer(model, 1e-3) if ours else torch.optim.Adam(model.parameters(), lr=1e-3)

    # Tutorial: uint8 images behind PIL + ToTensor, exactly what torchvision.datasets.MNIST hands out.
    pixels = images[:, 0].mul(255).round().to(torch.uint8)
    dataset = InMemoryMNIST(pixels, torch.zeros(timed, dtype=torch.long), transform=transforms.ToTensor())
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, num_workers=args.workers,
                        pin_memory=device.type == "cuda")
    device_images = images.to(device)
    generator = torch.Generator().manual_seed(0)
    tutorial_model, tutorial_optimizer = fresh(ours=False)
    our_model, our_optimizer = fresh(ours=True)
    warm_up = DataLoader(torch.utils.data.Subset(dataset, range(512)), batch_size=args.batch_size)
    tutorial_epoch(tutorial_model, loss_fn, tutorial_optimizer, warm_up, device)
    train_epoch(our_model, loss_fn, our_optimizer, device_images[:512], args.batch_size, generator)

    # Alternate the two loops and keep each one's best time: other load on a shared machine only adds time.
    tutorial_s, ours_s, eval_s = [], [], []
    for _ in tqdm(range(args.repeats), desc="timing", leave=False):
        tutorial_s.append(time_call(device, tutorial_epoch, tutorial_model, loss_fn, tutorial_optimizer, loader,
                                    device))
        ours_s.append(time_call(device, train_epoch, our_model, loss_fn, our_optimizer, device_images,
                                args.batch_size, generator))
        eval_s.append(time_call(device, evaluate, our_model, loss_fn, test_images))
    tutorial_s, ours_s, eval_s = min(tutorial_s), min(ours_s), min(eval_s)

    scale = EPOCH_IMAGES / float(timed)
    tutorial_epoch_s, ours_epoch_s = tutorial_s * scale, ours_s * scale
    ratio = tutorial_epoch_s / ours_epoch_s
    full_run_s = 15 * (ours_epoch_s + eval_s)
    print("tutorial loop (MNIST dataset + DataLoader + ToTensor, {} workers): {:7.2f} s/epoch".format(
        args.workers, tutorial_epoch_s))
    print("our loop (device tensor, sliced batches):                       {:7.2f} s/epoch".format(ours_epoch_s))
    print("speed-up: {:.1f}x (target >= 3x: {})".format(ratio, "met" if ratio >= 3 else "MISSED"))
    print("estimate, 15 epochs of 60,000 images plus a 10,000-image test pass each: {:.1f} s "
          "(target < 60 s: {})".format(full_run_s, "met" if full_run_s < 60 else "MISSED"))
    if args.quick:
        print("(--quick: timed {} images per loop and scaled to an epoch)".format(timed))
    print("(best of {} alternating repeats per loop)".format(args.repeats))
    return {"tutorial_s_per_epoch": tutorial_epoch_s, "ours_s_per_epoch": ours_epoch_s, "ratio": ratio,
            "estimate_15_epochs_s": full_run_s}


if __name__ == "__main__":
    run_main(main)
