"""Encoding a data set, decoding a latent grid, and the latent-space figure."""
import numpy as np
import pytest
import torch

from lib.explore_latent_space import (class_latent_stats, get_mu_logvar, grid_picture, latent_range,
                                      plot_latent_space, sample_on_grid)
from lib.model_vae import VAE
from lib.tensor_batches import iterate_minibatches


@pytest.fixture
def model():
    torch.manual_seed(0)
    return VAE()


def test_get_mu_logvar_concatenates_every_batch_in_order(model):
    images = torch.rand(53, 1, 28, 28)
    labels = torch.arange(53)
    loader = list(iterate_minibatches((images, labels), 10, shuffle=False))  # 6 batches, the last one short
    model.train()  # must not matter: encoding does not sample
    mus, logvars = get_mu_logvar(model, loader)
    expected_mu, expected_logvar = model.encode(images)
    assert mus.shape == logvars.shape == (53, 2)
    assert torch.allclose(mus, expected_mu, atol=1e-6)
    assert torch.allclose(logvars, expected_logvar, atol=1e-6)
    assert not mus.requires_grad


def test_get_mu_logvar_accepts_a_dataloader(model):
    dataset = torch.utils.data.TensorDataset(torch.rand(20, 1, 28, 28), torch.zeros(20, dtype=torch.long))
    mus, logvars = get_mu_logvar(model, torch.utils.data.DataLoader(dataset, batch_size=7))
    assert mus.shape == logvars.shape == (20, 2)


def test_sample_on_grid_shapes_and_step_size(model):
    decoded, step_size = sample_on_grid(model, -2.0, 3.0, -1.0, 1.0, 5)
    assert isinstance(decoded, np.ndarray) and decoded.shape == (5, 5, 1, 28, 28)
    assert isinstance(step_size, np.ndarray) and step_size.shape == (2,)
    np.testing.assert_allclose(step_size, [5.0 / 5, 2.0 / 5])
    assert decoded.min() >= 0 and decoded.max() <= 1


def test_sample_on_grid_corners_and_axes_decode_the_right_latents(model):
    grid_size = 4
    decoded, _ = sample_on_grid(model, -2.0, 3.0, -1.0, 1.0, grid_size)
    latent0, latent1 = torch.linspace(-2.0, 3.0, grid_size), torch.linspace(-1.0, 1.0, grid_size)
    with torch.no_grad():
        for i, j in [(0, 0), (0, 3), (3, 0), (3, 3), (1, 2)]:
            expected = model.decode(torch.tensor([[latent0[i], latent1[j]]]))[0].numpy()
            np.testing.assert_allclose(decoded[i, j], expected, atol=1e-6)
        corner = model.decode(torch.tensor([[3.0, -1.0]]))[0].numpy()  # max of latent 0, min of latent 1
    np.testing.assert_allclose(decoded[-1, 0], corner, atol=1e-6)


def test_sample_on_grid_runs_in_eval_mode_without_gradients(model):
    model.train()
    decoded, _ = sample_on_grid(model, 0.0, 1.0, 0.0, 1.0, 2)
    assert not model.training
    assert decoded.dtype == np.float32


def test_class_stats_and_range():
    mus = torch.tensor([[0.0, 0.0], [2.0, 0.0], [10.0, -4.0], [10.0, -2.0]])
    logvars = torch.log(torch.tensor([[1.0, 1.0], [1.0, 1.0], [4.0, 0.25], [4.0, 0.25]]))
    labels = torch.tensor([3, 3, 7, 7])
    stats = class_latent_stats(mus, logvars, labels)
    assert sorted(stats) == [3, 7]
    assert stats[3]["mean"] == pytest.approx([1.0, 0.0]) and stats[3]["mean_std"] == pytest.approx([1.0, 1.0])
    assert stats[7]["mean"] == pytest.approx([10.0, -3.0]) and stats[7]["mean_std"] == pytest.approx([2.0, 0.5])
    assert stats[7]["spread"] == pytest.approx([0.0, 1.0]) and stats[3]["count"] == 2
    # latent 0: from 1 - 2 * 1 to 10 + 2 * 2; latent 1: from min(0 - 2, -3 - 1) to max(0 + 2, -3 + 1)
    assert latent_range(stats) == [pytest.approx([-1.0, 14.0]), pytest.approx([-4.0, 2.0])]


def test_grid_picture_puts_latent0_on_columns_and_latent1_upwards():
    decoded = np.zeros((3, 2, 1, 2, 2), dtype=np.float32)
    decoded[2, 0] = 1.0  # largest latent 0, smallest latent 1: bottom right
    picture = grid_picture(decoded)
    assert picture.shape == (4, 6)
    assert picture[2:, 4:].min() == 1.0 and picture.sum() == 4.0


def test_plot_latent_space_writes_a_png(model, tmp_path):
    images = torch.rand(30, 1, 28, 28)
    labels = torch.arange(30) % 3
    path = str(tmp_path / "latent.png")
    summary = plot_latent_space(model, images, labels, path, grid_size=4)
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert sorted(summary["classes"]) == [0, 1, 2]
    (low0, high0), (low1, high1) = summary["range"]
    assert low0 < high0 and low1 < high1
