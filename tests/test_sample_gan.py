"""Sampling: latent temperature, sizes read from checkpoints, clear refusals, no silent overwrites."""
import os
import re

import pytest
import torch

import sample_gan
from lib.cli import UserError
from lib.gan_checkpoint import generator_sizes, load_generator
from lib.model_gan import Discriminator, Generator, weights_init
from lib.sample_gan import generate, sample_latents


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks: one thread is fastest and does not stall when other jobs share the cores."""
    torch.set_num_threads(1)  # conftest restores the count afterwards


@pytest.mark.parametrize("temperature", [0.25, 1.0, 4.0])
def test_latent_variance_is_the_temperature(temperature):
    latents = sample_latents(4000, 64, temperature, generator=torch.Generator().manual_seed(1))
    assert latents.shape == (4000, 64, 1, 1)
    # 256,000 draws: the sample variance is within about 0.3 % of T
    assert latents.var().item() == pytest.approx(temperature, rel=0.01)
    assert abs(latents.mean().item()) < 0.01 * temperature ** 0.5


def test_temperature_scales_the_same_draw():
    base = sample_latents(8, 16, 1.0, generator=torch.Generator().manual_seed(3))
    hot = sample_latents(8, 16, 9.0, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(hot, 3.0 * base)
    assert not sample_latents(8, 16, 0.0).any()
    with pytest.raises(UserError):
        sample_latents(8, 16, -1.0)


def test_generate_uses_eval_mode_so_temperature_matters():
    torch.manual_seed(0)
    g = Generator(4, 3, 16)
    g.apply(weights_init)
    latents = sample_latents(6, 16, 1.0, generator=torch.Generator().manual_seed(0))
    cold, warm = generate(g, latents * 0.1), generate(g, latents)
    assert g.training, "generate must restore the mode it found"
    assert cold.shape == (6, 3, 32, 32) and cold.abs().max() <= 1
    assert (warm - cold).abs().max() > 0.5 * warm.abs().max()
    # in train mode batch norm normalises the latent scale away: the temperature would do nothing
    # (up to batch norm's eps)
    with torch.no_grad():
        train_cold, train_warm = g(latents * 0.1), g(latents)
    assert (train_warm - train_cold).abs().max() < 0.05 * train_warm.abs().max()
    identical = generate(g, torch.zeros(3, 16, 1, 1))
    assert torch.allclose(identical[0], identical[2])


def test_sizes_come_from_the_state_dict():
    state = Generator(8, 1, 12).state_dict()
    assert generator_sizes(state) == dict(channels_multiplier=8, num_input_channels=1, latent_size=12)


def test_mismatched_state_dicts_are_refused_clearly():
    with pytest.raises(UserError, match="does not match a Generator"):
        generator_sizes(Discriminator(4, 3).state_dict())
    state = Generator(4, 3, 16).state_dict()
    state["layers.4.weight"] = torch.ones(7)
    with pytest.raises(UserError, match="layers.4.weight"):
        generator_sizes(state)
    state = Generator(4, 3, 16).state_dict()
    state["extra.weight"] = torch.ones(1)
    with pytest.raises(UserError, match="1 unexpected"):
        generator_sizes(state)
    with pytest.raises(UserError, match="not a generator state_dict"):
        generator_sizes([1, 2, 3])


def save_generator(tmp_path, m=4, latent=16, name="g.pth"):
    torch.manual_seed(0)
    g = Generator(m, 3, latent)
    g.apply(weights_init)
    path = str(tmp_path / name)
    torch.save(g.state_dict(), path)
    return path


def run_script(argv, capsys):
    grid = sample_gan.main(argv)
    return grid, capsys.readouterr().out


def test_script_writes_grid_and_single_images(tmp_path, capsys):
    checkpoint = save_generator(tmp_path, latent=16)
    out = str(tmp_path / "out")
    grid, printed = run_script(["--checkpoint", checkpoint, "--num_images", "10", "--temperature", "2",
                                "--out", out, "--single_images"], capsys)
    assert grid == os.path.join(out, "samples_T2_seed0_n10.png") and os.path.getsize(grid) > 0
    singles = sorted(os.listdir(os.path.join(out, "samples_T2_seed0_n10")))
    assert singles == ["{:03d}.png".format(i) for i in range(10)]
    assert "latent_size=16" in printed


def test_script_honours_the_temperature(tmp_path, capsys):
    checkpoint = save_generator(tmp_path, latent=32)
    _, printed = run_script(["--checkpoint", checkpoint, "--num_images", "500", "--temperature", "0.3",
                             "--out", str(tmp_path / "t.png")], capsys)
    variance = float(re.search(r"empirical variance ([0-9.]+) over 16000 values", printed).group(1))
    assert variance == pytest.approx(0.3, rel=0.05)


def test_script_is_repeatable_and_never_overwrites(tmp_path, capsys):
    checkpoint = save_generator(tmp_path)
    first, _ = run_script(["--checkpoint", checkpoint, "--num_images", "4", "--out", str(tmp_path / "a.png")], capsys)
    with pytest.raises(SystemExit) as exit_info:
        sample_gan.run_main(sample_gan.main, ["--checkpoint", checkpoint, "--num_images", "4",
                                              "--out", str(tmp_path / "a.png")])
    assert exit_info.value.code == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    run_script(["--checkpoint", checkpoint, "--num_images", "4", "--out", str(tmp_path / "a.png"), "--overwrite"],
               capsys)


@pytest.mark.parametrize("make,fragment", [
    (lambda tmp: torch.save(Discriminator(4, 3).state_dict(), str(tmp / "d.pth")) or str(tmp / "d.pth"),
     "does not match a Generator"),
    (lambda tmp: (tmp / "junk.pth").write_text("not a checkpoint") and str(tmp / "junk.pth"), "cannot read"),
    (lambda tmp: str(tmp / "missing.pth"), "does not exist"),
    (lambda tmp: str(tmp), "holds neither generator.pth nor checkpoint.pt"),
])
def test_script_refuses_bad_checkpoints_in_one_line(tmp_path, capsys, make, fragment):
    path = make(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        sample_gan.run_main(sample_gan.main, ["--checkpoint", path, "--out", str(tmp_path / "x.png")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and fragment in err
    assert not os.path.exists(str(tmp_path / "x.png"))


def test_course_checkpoint_is_read_as_generator_32_3_64(shared_data, tmp_path, capsys):
    path = os.path.join(shared_data, "course_reference", "gan_model_g_2500_epochs.pth")
    if not os.path.isfile(path):
        pytest.skip("course generator checkpoint absent")
    generator, sizes, _ = load_generator(path)
    assert sizes == dict(channels_multiplier=32, num_input_channels=3, latent_size=64)
    assert not generator.training
    grid, _ = run_script(["--checkpoint", path, "--num_images", "16", "--out", str(tmp_path)], capsys)
    assert os.path.isfile(grid)
