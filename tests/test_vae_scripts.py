"""The VAE scripts end to end on tiny offline data, their one-line errors, and a short run on real MNIST digits."""
import json
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

import plot_latent_space
import run_vae_training
from lib.cli import UserError
from lib.data_digits import DigitData, read_idx_split
from lib.model_vae import VAE
from lib.train_vae import train_vae

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--dataset", "digits", "--epochs", "2", "--limit", "200", "--device", "cpu"]


def run_files(folder, epochs):
    return {"training_images.png", "model.pth", "model_config.json", "history.json"} | {
        "reconstructions_epoch_{:02d}.png".format(epoch) for epoch in range(1, epochs + 1)}


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One tiny training run (digits, 2 epochs, 200 images) shared by the tests that only read it."""
    folder = str(tmp_path_factory.mktemp("run") / "tiny")
    history = run_vae_training.main(TINY + ["--kl_loss_weight", "2.5", "--out_dir", folder])
    return folder, history


def test_training_writes_every_promised_file(trained_run):
    folder, _ = trained_run
    assert run_files(folder, 2) <= set(os.listdir(folder))
    for name in ("training_images.png", "reconstructions_epoch_02.png"):
        with open(os.path.join(folder, name), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    state_dict = torch.load(os.path.join(folder, "model.pth"), weights_only=True)
    VAE().load_state_dict(state_dict)  # a plain state_dict of the default architecture
    with open(os.path.join(folder, "model_config.json")) as f:
        assert json.load(f)["dataset"] == "digits"


def test_history_records_terms_that_add_up(trained_run):
    folder, returned = trained_run
    with open(os.path.join(folder, "history.json")) as f:
        history = json.load(f)
    assert history["epoch"] == [1, 2] and history["dataset"] == "digits"
    assert history["num_train"] == 200 and history["num_test"] == 200
    assert history["config"]["kl_loss_weight"] == 2.5
    for split in ("train", "test"):
        for loss, bce, kl in zip(history[split + "_loss"], history[split + "_bce"], history[split + "_kl"]):
            assert loss == pytest.approx(bce + 2.5 * kl)
            assert bce > 0 and kl >= 0
    assert returned["test_loss"] == history["test_loss"]


def test_test_loss_is_the_eval_loss_of_the_saved_model(trained_run):
    folder, history = trained_run
    model = VAE()
    model.load_state_dict(torch.load(os.path.join(folder, "model.pth"), weights_only=True))
    model.eval()
    from lib.data_digits import load_sklearn_digits
    test_images = load_sklearn_digits().test_images[:200]
    with torch.no_grad():
        reconstruction, mu, logvar = model(test_images)
        bce = F.binary_cross_entropy(reconstruction, test_images, reduction="sum").item() / 200
    assert history["test_bce"][-1] == pytest.approx(bce, rel=1e-4)


def test_seeded_runs_repeat_exactly(trained_run, tmp_path):
    _, history = trained_run
    again = run_vae_training.main(TINY + ["--kl_loss_weight", "2.5", "--out_dir", str(tmp_path / "again")])
    assert again["train_loss"] == history["train_loss"] and again["test_loss"] == history["test_loss"]


def test_refuses_to_overwrite_a_finished_run(trained_run):
    folder, _ = trained_run
    before = os.path.getmtime(os.path.join(folder, "model.pth"))
    with pytest.raises(UserError, match="--overwrite"):
        run_vae_training.main(TINY + ["--out_dir", folder])
    assert os.path.getmtime(os.path.join(folder, "model.pth")) == before


def test_overwrite_flag_replaces_the_run(tmp_path):
    folder = str(tmp_path / "run")
    args = ["--dataset", "digits", "--epochs", "1", "--limit", "64", "--out_dir", folder]
    run_vae_training.main(args)
    history = run_vae_training.main(args + ["--overwrite", "--seed", "1"])
    assert history["config"]["seed"] == 1


def test_default_folder_names_the_weight_and_dataset(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_vae_training.main(["--dataset", "digits", "--epochs", "1", "--limit", "64", "--kl_loss_weight", "30"])
    assert run_files("results_kl30.0_digits", 1) <= set(os.listdir("results_kl30.0_digits"))
    summary = plot_latent_space.main(["--dataset", "digits", "--kl_loss_weight", "30", "--grid_size", "3"])
    assert {"latent_space.png", "latent_stats.json"} <= set(os.listdir("results_kl30.0_digits"))
    assert summary["kl_loss_weight"] == 30.0


@pytest.mark.parametrize("bad", [["--epochs", "0"], ["--lr", "-1"], ["--kl_loss_weight", "-1"],
                                 ["--limit", "0"], ["--epochs", "x"], ["--device", "tpu"]])
def test_bad_flag_values_are_user_errors(bad, tmp_path):
    with pytest.raises(UserError):
        run_vae_training.main(["--dataset", "digits", "--out_dir", str(tmp_path / "x")] + bad)


def test_plot_writes_figure_and_class_statistics(trained_run):
    folder, _ = trained_run
    summary = plot_latent_space.main(["--out_dir", folder, "--grid_size", "4"])
    assert {"latent_space.png", "latent_stats.json"} <= set(os.listdir(folder))
    with open(os.path.join(folder, "latent_stats.json")) as f:
        stats = json.load(f)
    assert stats["dataset"] == "digits" and stats["kl_loss_weight"] == 2.5  # read from the run folder
    assert sorted(stats["classes"]) == [str(digit) for digit in range(10)]
    assert sum(c["count"] for c in stats["classes"].values()) == stats["num_images"] == 359
    for c in stats["classes"].values():
        assert len(c["mean"]) == len(c["mean_std"]) == len(c["spread"]) == 2
        assert min(c["mean_std"]) > 0
    assert summary["range"] == stats["range"]


def test_plot_without_model_names_the_training_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError) as excinfo:
        plot_latent_space.main(["--kl_loss_weight", "30"])
    assert "python run_vae_training.py --kl_loss_weight 30.0" in str(excinfo.value)
    with pytest.raises(UserError) as excinfo:
        plot_latent_space.main(["--kl_loss_weight", "0", "--dataset", "fashion"])
    assert "python run_vae_training.py --kl_loss_weight 0.0 --dataset fashion" in str(excinfo.value)


@pytest.mark.parametrize("checkpoint", ["other_architecture", "not_a_checkpoint"])
def test_plot_rejects_a_foreign_checkpoint(tmp_path, checkpoint):
    path = tmp_path / "model.pth"
    if checkpoint == "other_architecture":
        torch.save(VAE(hidden_size=50).state_dict(), str(path))
    else:
        path.write_bytes(b"definitely not a checkpoint")
    with pytest.raises(UserError, match="model.pth"):
        plot_latent_space.main(["--out_dir", str(tmp_path), "--dataset", "digits"])


def test_scripts_from_the_command_line(tmp_path):
    # One real process per script: the one-line error of the plot script, then a tiny training run.
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    plot = subprocess.run([sys.executable, os.path.join(REPO_ROOT, "plot_latent_space.py"), "--kl_loss_weight",
                           "1"], cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=120)
    assert plot.returncode == 2
    assert plot.stderr.strip().splitlines() == [
        "error: no trained model at results_kl1.0/model.pth; train it first: "
        "python run_vae_training.py --kl_loss_weight 1.0"]
    train = subprocess.run([sys.executable, os.path.join(REPO_ROOT, "run_vae_training.py"), "--dataset", "digits",
                            "--epochs", "1", "--limit", "32"], cwd=str(tmp_path), env=env,
                           capture_output=True, text=True, timeout=120)
    assert train.returncode == 0, train.stderr
    assert "NOT MNIST" in train.stdout and "test loss" in train.stdout
    assert os.path.isfile(str(tmp_path / "results_kl1.0_digits" / "model.pth"))


def test_short_training_on_real_mnist_digits_beats_the_best_constant_predictor(shared_data, tmp_path):
    """10 epochs on 8,000 real MNIST test digits, evaluated on the 2,000 held-out ones.

    A VAE that ignores its code can at best output the mean of every pixel with KL 0; on these held-out
    digits that costs about 215 nats per image (computed below). Ending 10 % below it means the 2-d code
    carries real information about each digit (the course's 15 epochs on 60,000 reach about 150).
    No loss can go below the targets' own binary entropy (about 47 here), a check on the BCE itself.
    """
    # One thread: barely slower alone, and immune to the many-fold slow-down that several OpenMP threads
    # suffer when other jobs share the cores (the conftest fixture restores the thread count).
    torch.set_num_threads(1)
    images, labels = read_idx_split(os.path.join(shared_data, "mnist_test"), "test")
    data = DigitData(images[:8000], labels[:8000], images[8000:], labels[8000:])
    train_mean = data.train_images.mean(0, keepdim=True).clamp(1e-6, 1 - 1e-6)
    constant_loss = F.binary_cross_entropy(train_mean.expand_as(data.test_images), data.test_images,
                                           reduction="sum").item() / 2000
    targets = data.test_images
    entropy = -(torch.xlogy(targets, targets) + torch.xlogy(1 - targets, 1 - targets)).sum().item() / 2000
    history = train_vae({"epochs": 10, "device": "cpu", "out_dir": str(tmp_path / "mnist"), "progress": False},
                        data=data)
    assert 200 < constant_loss < 230
    assert history["test_loss"][-1] < 0.9 * constant_loss
    assert history["test_loss"][-1] < history["test_loss"][0]
    assert history["test_bce"][-1] > entropy
