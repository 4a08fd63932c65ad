"""Turn image tensors into numpy pictures and PNG files (used by both the VAE and the GAN half)."""
import matplotlib
matplotlib.use("Agg")  # no screen needed: every figure goes to a file
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torchvision.utils as vutils  # noqa: E402


def batch_images_to_numpy(image_batch, max_images=64, padding=2, normalize=True):
    """Lay out up to ``max_images`` of a ``(B, C, H, W)`` batch as one grid image.

    With ``normalize`` the grid is min-max scaled to [0, 1] (GAN outputs live in [-1, 1]).
    Returns a float numpy array ``(H_grid, W_grid, C)``; grey images come back with C == 3 because
    ``make_grid`` repeats a single channel.
    """
    grid = vutils.make_grid(image_batch[:max_images].detach().float().cpu(), padding=padding,
                            normalize=normalize)
    return np.transpose(grid.numpy(), (1, 2, 0))


def single_image_to_numpy(image):
    """``(C, H, W)`` tensor -> ``(H, W, C)`` numpy array, values unchanged."""
    return image.detach().float().cpu().permute(1, 2, 0).numpy()


def save_image_grid(path, image_batch, title=None, max_images=64, padding=2, normalize=True, nrow=8):
    """Save a ``(B, C, H, W)`` batch as a PNG grid with an optional title. Returns ``path``."""
    batch = image_batch[:max_images].detach().float().cpu()
    grid = vutils.make_grid(batch, nrow=nrow, padding=padding, normalize=normalize)
    picture = np.transpose(grid.numpy(), (1, 2, 0))
    height, width = picture.shape[:2]
    fig = plt.figure(figsize=(max(2.0, width / 50.0), max(2.0, height / 50.0 + (0.4 if title else 0.0))))
    ax = fig.add_axes([0, 0, 1, 0.92 if title else 1.0])
    ax.imshow(np.clip(picture, 0.0, 1.0), interpolation="nearest")
    ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def stack_rows(*batches):
    """Concatenate equally sized ``(B, C, H, W)`` batches so a grid with ``nrow=B`` shows one per row."""
    return torch.cat([b.detach().cpu() for b in batches], dim=0)
