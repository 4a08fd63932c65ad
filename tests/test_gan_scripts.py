"""run_gan_training.py end to end: the files it promises, --resume, and one-line errors."""
import glob
import json
import os

import pytest
import torch

import lib.gan_run
import run_gan_training
from lib.gan_checkpoint import load_generator
from lib.model_gan import Discriminator

TINY = ["--synthetic", "--ngf", "4", "--ndf", "4", "--nz", "8", "--batch_size", "32", "--no_progress"]
NUM_IMAGES = 80  # 3 iterations per epoch (32 + 32 + 16)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks: one thread is fastest and does not stall when other jobs share the cores."""
    torch.set_num_threads(1)  # conftest restores the count afterwards


@pytest.fixture(autouse=True)
def small_synthetic_set(monkeypatch):
    """The procedural set with 80 instead of 800 flowers keeps these runs to a second or two."""
    monkeypatch.setattr(lib.gan_run, "SYNTHETIC_IMAGES", NUM_IMAGES)


def train(tmp_path, *extra):
    return run_gan_training.main(TINY + ["--out_root", str(tmp_path / "results_gan")] + list(extra))


def read_losses(run_dir):
    with open(os.path.join(run_dir, "losses.json")) as handle:
        return json.load(handle)


def expect_error(capsys, argv, *fragments):
    with pytest.raises(SystemExit) as exit_info:
        run_gan_training.run_main(run_gan_training.main, argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    for fragment in fragments:
        assert fragment in err
    return err


def test_tiny_run_writes_every_promised_file(tmp_path):
    run_dir = train(tmp_path, "--epochs", "4", "--checkpoint_every", "2")
    assert os.path.basename(run_dir).startswith("run_synthetic_ngf4_ndf4_nz8_bs32_lr0.0002_seed999_")
    for name in ("training_images.png", "fixed_noise.pt", "generated_final.png", "loss_curves.png", "losses.json",
                 "generator.pth", "discriminator.pth", "checkpoint.pt"):
        assert os.path.getsize(os.path.join(run_dir, name)) > 0, name
    # 12 iterations: the initial weights, iteration 10, and the end
    progress = sorted(os.path.basename(p) for p in glob.glob(os.path.join(run_dir, "progress", "*.png")))
    assert progress == ["iter_000000.png", "iter_000010.png", "iter_000012.png"]

    losses = read_losses(run_dir)
    assert losses["iteration"] == 12 and losses["epoch"] == 4
    assert [e["epoch"] for e in losses["epochs"]] == [1, 2, 3, 4]
    assert all(e["iterations"] == 3 for e in losses["epochs"])
    assert len(losses["iteration_loss_D"]) == len(losses["iteration_loss_G"]) == 12
    assert losses["snapshots"] == [0, 10, 12]
    assert losses["settings"]["synthetic"] is True and losses["settings"]["ngf"] == 4

    fixed_noise = torch.load(os.path.join(run_dir, "fixed_noise.pt"), weights_only=True)
    assert fixed_noise.shape == (64, 8, 1, 1)
    generator, sizes, _ = load_generator(run_dir)
    assert sizes == dict(channels_multiplier=4, num_input_channels=3, latent_size=8)
    discriminator = Discriminator(4, 3)
    discriminator.load_state_dict(torch.load(os.path.join(run_dir, "discriminator.pth"), weights_only=True))
    checkpoint = torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=True)
    assert checkpoint["iteration"] == 12
    for key in ("optimizerG", "optimizerD"):
        assert len(checkpoint[key]["state"]) > 0  # Adam has moments for every parameter
    assert torch.equal(checkpoint["fixed_noise"], fixed_noise)


def test_runs_never_share_a_folder(tmp_path):
    first = train(tmp_path, "--epochs", "1")
    second = train(tmp_path, "--epochs", "1")
    assert first != second and os.path.isdir(first) and os.path.isdir(second)


def test_resume_continues_where_it_stopped(tmp_path):
    straight = train(tmp_path, "--epochs", "3", "--seed", "7")
    stopped = train(tmp_path, "--epochs", "2", "--seed", "7")
    before = read_losses(stopped)
    noise_before = torch.load(os.path.join(stopped, "fixed_noise.pt"), weights_only=True)

    assert run_gan_training.main(["--resume", stopped, "--epochs", "3", "--no_progress"]) == stopped
    after = read_losses(stopped)
    assert after["iteration"] == 9 and [e["epoch"] for e in after["epochs"]] == [1, 2, 3]
    assert after["iteration_loss_D"][:6] == before["iteration_loss_D"]
    assert after["epochs"][:2] == before["epochs"]
    checkpoint = torch.load(os.path.join(stopped, "checkpoint.pt"), weights_only=True)
    assert torch.equal(checkpoint["fixed_noise"], noise_before)
    # the resumed run draws the same batches and noise as an unbroken run
    assert after["iteration_loss_D"] == pytest.approx(read_losses(straight)["iteration_loss_D"], rel=1e-5)
    assert after["iteration_loss_G"] == pytest.approx(read_losses(straight)["iteration_loss_G"], rel=1e-5)
    assert os.path.isfile(os.path.join(stopped, "progress", "iter_000009.png"))


def test_resume_refuses_conflicts(tmp_path, capsys):
    run_dir = train(tmp_path, "--epochs", "1")
    expect_error(capsys, ["--resume", run_dir, "--epochs", "1"], "already has 1 epochs")
    expect_error(capsys, ["--resume", run_dir, "--epochs", "2", "--ngf", "8"], "--ngf 8", "resumed run's 4")
    expect_error(capsys, ["--resume", str(tmp_path / "nowhere")], "no such run folder")
    os.remove(os.path.join(run_dir, "checkpoint.pt"))
    expect_error(capsys, ["--resume", run_dir, "--epochs", "2"], "checkpoint.pt")


def test_bad_input_gives_one_line_errors(tmp_path, capsys):
    missing = str(tmp_path / "no_such_folder")
    err = expect_error(capsys, ["--data_dir", missing, "--epochs", "1", "--out_root", str(tmp_path)], missing)
    assert "--synthetic" in err and "prepare_flowers.py" in err
    empty = tmp_path / "empty"
    (empty / "train" / "1").mkdir(parents=True)
    expect_error(capsys, ["--data_dir", str(empty), "--epochs", "1", "--out_root", str(tmp_path)], "no images")
    expect_error(capsys, TINY + ["--batch_size", "0", "--out_root", str(tmp_path)], "--batch_size")
    expect_error(capsys, TINY + ["--epochs", "0", "--out_root", str(tmp_path)], "--epochs")
    expect_error(capsys, TINY + ["--epochs", "many", "--out_root", str(tmp_path)], "--epochs", "invalid int")
    expect_error(capsys, TINY + ["--device", "tpu", "--out_root", str(tmp_path)], "--device")
    assert not os.path.exists(str(tmp_path / "results_gan"))


def test_amp_and_channels_last_train(tmp_path):
    run_dir = train(tmp_path, "--epochs", "1", "--amp", "--channels_last")
    assert os.path.basename(run_dir).split("_seed999_")[1].startswith("amp_")
    losses = read_losses(run_dir)
    assert all(0 < value < 15 for value in losses["iteration_loss_D"] + losses["iteration_loss_G"])
    # weights saved in the usual layout, loadable by sampling
    load_generator(run_dir)


@pytest.mark.slow
def test_short_run_on_the_real_photos(tmp_path, shared_data):
    photos = os.path.join(shared_data, "dataset_flowers_64px")
    if not os.path.isdir(photos):
        pytest.skip("flower photos absent")
    run_dir = run_gan_training.main(["--data_dir", photos, "--epochs", "2", "--ngf", "8", "--ndf", "8",
                                     "--out_root", str(tmp_path), "--no_progress"])
    assert "dataset_flowers_64px" in os.path.basename(run_dir)
    losses = read_losses(run_dir)
    assert losses["iteration"] == 14  # 800 photos, batches of 128: 6 full and one of 32, twice
    epochs = losses["epochs"]
    assert all(0 < e["D_x"] < 1 and 0 < e["D_G_z2"] < 1 for e in epochs)
    # D learns from the first step: its update lowers its score on the very fakes it was shown
    assert all(e["D_G_z2"] < e["D_G_z1"] for e in epochs)


def test_benchmark_runs_every_pipeline(tmp_path, capsys):
    """bench/bench_gan.py end to end on a few generated JPEGs (the real timing needs the photos)."""
    import importlib.util

    from PIL import Image

    for i in range(24):
        folder = tmp_path / "photos" / "train" / str(1 + i % 2)
        folder.mkdir(parents=True, exist_ok=True)
        colour = (10 * i, 255 - 10 * i, 128)
        Image.new("RGB", (40 + i % 3, 36), colour).save(str(folder / "{:02d}.jpg".format(i)))
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench", "bench_gan.py")
    spec = importlib.util.spec_from_file_location("bench_gan", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.main(["--quick", "--data_dir", str(tmp_path / "photos"), "--ngf", "4", "--ndf", "4", "--nz", "8",
                "--batch_size", "16", "--workers", "0"])
    out = capsys.readouterr().out
    assert "24 photos" in out and "2 iterations per epoch" in out
    for name in ("tutorial (ImageFolder, 0 workers)", "ours fp32 ", "ours --amp --channels_last"):
        assert name in out
    assert "1.00x" in out  # the tutorial against itself
