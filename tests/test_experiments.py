"""run_experiments.py end to end on tiny settings: the report and its figures, the logged loss terms,
reuse of finished steps, resuming the GAN, and one-line errors."""
import json
import os
import re
import shutil

import pytest
import torch
from torch.distributions import Normal, kl_divergence

import run_experiments
from lib.cli import UserError
from lib.data_digits import load_sklearn_digits
from lib.report import comparison_figure, epoch_windows, latent_summary, markdown_table
from lib.vae_run import load_model

LIMIT = 80  # VAE train and test images, GAN images (one batch: one GAN iteration per epoch)
WEIGHTS = (1.0, 0.0, 30.0)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")  # [text](target) and ![alt](target)


def tiny(out_dir, epochs_vae=2, epochs_gan=1, *extra):
    """Arguments of a tiny quick run into ``out_dir``."""
    return ["--quick", "--epochs_vae", str(epochs_vae), "--epochs_gan", str(epochs_gan), "--limit", str(LIMIT),
            "--device", "cpu", "--no_progress", "--out_dir", out_dir] + list(extra)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: one thread is fastest and does not stall when other jobs share the cores."""
    torch.set_num_threads(1)  # conftest restores the count afterwards


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One tiny quick run shared by the tests that only read it: ``(out_dir, summary)``."""
    torch.set_num_threads(1)
    out_dir = str(tmp_path_factory.mktemp("experiments") / "out")
    summary = run_experiments.main(tiny(out_dir))
    return out_dir, summary


def read_report(out_dir):
    with open(os.path.join(out_dir, "report.md")) as handle:
        return handle.read()


def mtimes(out_dir):
    """Modification times of every file below ``out_dir`` except the report and summary (always rewritten)."""
    times = {}
    for folder, _, names in os.walk(out_dir):
        for name in names:
            path = os.path.join(folder, name)
            times[os.path.relpath(path, out_dir)] = os.stat(path).st_mtime_ns
    times.pop("report.md")
    times.pop("summary.json")
    return times


def gan_runs(out_dir):
    return sorted(os.listdir(os.path.join(out_dir, "gan")))


def test_report_links_only_existing_files_and_shows_every_figure(tiny_run):
    out_dir, _ = tiny_run
    report = read_report(out_dir)
    targets = LINK.findall(report)
    assert targets, "the report links no files"
    for target in targets:
        assert not os.path.isabs(target), target  # relative: the folder can be moved as a whole
        assert os.path.isfile(os.path.join(out_dir, target)), target
    images = set(re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", report))
    assert "comparison/latent_space_comparison.png" in images
    for weight in WEIGHTS:
        assert "vae_kl{}/reconstructions_epoch_02.png".format(weight) in images
        assert "vae_kl{}/latent_space.png".format(weight) in targets
    (run,) = gan_runs(out_dir)
    for name in ("loss_curves.png", "generated_final.png", "training_images.png", "progress/iter_000000.png"):
        assert "gan/{}/{}".format(run, name) in images
    assert "_n{}_".format(LIMIT) in run  # a limited GAN run says so in its name
    # the quick data sets are named, never passed off as MNIST or photos
    assert "scikit-learn 8x8 digits" in report and "Not the full MNIST training set" in report
    assert "procedural flowers" in report and "limited to {} images".format(LIMIT) in report


def test_report_tables_hold_the_logged_numbers(tiny_run):
    out_dir, summary = tiny_run
    report = read_report(out_dir)
    for run in summary["vae"]:
        history, weight = run["history"], run["weight"]
        row = "| {:.1f} | {:.2f} | {:.2f} | {:.2f} | {:.2f} |".format(
            weight, history["test_loss"][-1], history["test_bce"][-1], history["test_kl"][-1],
            weight * history["test_kl"][-1])
        assert row in report
        for digit, stats in run["stats"]["classes"].items():
            assert "| {} | {} | {:.3f} | {:.3f} |".format(digit, stats["count"], *stats["mean"]) in report
    losses = summary["gan"]["losses"]["epochs"]
    assert "| 1 | {:.3f} | {:.3f} |".format(losses[0]["loss_D"], losses[0]["loss_G"]) in report
    with open(os.path.join(out_dir, "summary.json")) as handle:
        compact = json.load(handle)
    assert [v["kl_loss_weight"] for v in compact["vae"]] == list(WEIGHTS)
    assert compact["gan"]["last_epoch"]["epoch"] == 1


def test_comparison_figure_has_one_panel_per_weight(tiny_run):
    out_dir, _ = tiny_run
    panels = [(w, os.path.join(out_dir, "vae_kl{}".format(w), "latent_space.png")) for w in WEIGHTS]
    fig = comparison_figure(panels)
    try:
        assert [ax.get_title() for ax in fig.axes] == ["KL weight 1.0", "KL weight 0.0", "KL weight 30.0"]
        assert all(len(ax.get_images()) == 1 for ax in fig.axes)
    finally:
        import matplotlib.pyplot as plt
        plt.close(fig)
    import matplotlib.image as mpimg
    height, width = mpimg.imread(os.path.join(out_dir, "comparison", "latent_space_comparison.png")).shape[:2]
    assert 2.2 < width / float(height) < 3.2  # three square panels side by side


def test_logged_terms_add_up_and_match_the_saved_models(tiny_run):
    out_dir, summary = tiny_run
    test_images = load_sklearn_digits().test_images[:LIMIT]
    for run, weight in zip(summary["vae"], WEIGHTS):
        with open(os.path.join(out_dir, "vae_kl{}".format(weight), "history.json")) as handle:
            history = json.load(handle)
        assert history["config"]["kl_loss_weight"] == weight and history["epoch"] == [1, 2]
        for split in ("train", "test"):
            for loss, bce, kl in zip(history[split + "_loss"], history[split + "_bce"], history[split + "_kl"]):
                assert loss == pytest.approx(bce + weight * kl, rel=1e-6)
                assert bce > 0 and kl > 0
        # the final test terms, recomputed independently: BCE by hand, KL with torch.distributions
        model, _ = load_model(run["dir"])
        with torch.no_grad():
            reconstruction, mu, logvar = model(test_images)
        p = reconstruction.clamp(1e-12, 1 - 1e-12)
        bce = -(test_images * p.log() + (1 - test_images) * (1 - p).log()).sum().item() / LIMIT
        kl = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum().item() / LIMIT
        assert history["test_bce"][-1] == pytest.approx(bce, rel=1e-4)
        assert history["test_kl"][-1] == pytest.approx(kl, rel=1e-4)


def test_second_run_reuses_every_step(tiny_run, capsys):
    out_dir, first = tiny_run
    before = mtimes(out_dir)
    summary = run_experiments.main(tiny(out_dir))
    out = capsys.readouterr().out
    assert out.count("finished earlier, reused") == 5
    assert "training" not in out and "wrote" not in out
    assert mtimes(out_dir) == before  # no file written again, no new GAN run
    assert summary["actions"] == {step: "reuse" for step in summary["actions"]}
    assert summary["vae"][0]["history"]["test_loss"] == first["vae"][0]["history"]["test_loss"]


def test_redo_one_step_and_resume_the_gan(tiny_run, tmp_path, capsys):
    out_dir = str(tmp_path / "copy")
    shutil.copytree(tiny_run[0], out_dir)
    before = mtimes(out_dir)
    (run,) = gan_runs(out_dir)
    summary = run_experiments.main(tiny(out_dir, 2, 2, "--redo", "vae_kl30.0"))
    out = capsys.readouterr().out
    assert summary["actions"] == {"vae_kl1.0": "reuse", "vae_kl0.0": "reuse", "vae_kl30.0": "train",
                                  "comparison": "draw", "gan": "resume"}
    after = mtimes(out_dir)
    assert after["vae_kl1.0/model.pth"] == before["vae_kl1.0/model.pth"]
    assert after["vae_kl30.0/model.pth"] != before["vae_kl30.0/model.pth"]
    assert after["comparison/latent_space_comparison.png"] != before["comparison/latent_space_comparison.png"]
    # the GAN continued in its own folder: epoch 1 as before, then one more
    assert "continuing from its last checkpoint" in out and gan_runs(out_dir) == [run]
    epochs = summary["gan"]["losses"]["epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert epochs[0] == tiny_run[1]["gan"]["losses"]["epochs"][0]


def test_changed_settings_are_refused_not_mixed(tiny_run):
    out_dir, _ = tiny_run
    before = mtimes(out_dir)
    with pytest.raises(UserError, match=r"epochs 2 \(now 3\).*--redo vae_kl1.0"):
        run_experiments.main(tiny(out_dir, 3))
    with pytest.raises(UserError, match=r"dataset digits \(now fashion\)"):
        run_experiments.main(tiny(out_dir, 2, 1, "--vae_dataset", "fashion"))
    assert mtimes(out_dir) == before


@pytest.mark.parametrize("argv, fragment", [
    (["--gan_data_dir", "no_such_photos"], "no_such_photos does not exist"),
    (["--gan_data_dir", "empty_photos"], "empty_photos holds no images"),
    (["--redo", "everything"], "--redo"),
    (["--limit", "0"], "--limit"),
    (["--gan_synthetic", "--gan_data_dir", "x"], "not allowed with"),
    (["--vae_dataset", "cifar"], "--vae_dataset"),
])
def test_bad_input_is_one_line_before_any_work(argv, fragment, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty_photos" / "train" / "1").mkdir(parents=True)
    out_dir = str(tmp_path / "out")
    with pytest.raises(SystemExit) as exit_info:
        run_experiments.run_main(run_experiments.main, tiny(out_dir, 2, 1, *argv))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and fragment in err
    assert not os.path.exists(out_dir)


def test_epoch_windows_cover_every_epoch_once():
    assert epoch_windows(7) == [(e, e) for e in range(1, 8)]
    windows = epoch_windows(500)
    assert len(windows) == 10 and windows[0] == (1, 50) and windows[-1] == (451, 500)
    covered = [e for first, last in epoch_windows(23) for e in range(first, last + 1)]
    assert covered == list(range(1, 24))


def test_latent_summary_closed_form():
    classes = {"0": {"mean": [0.0, 0.0], "mean_std": [1.0, 3.0], "spread": [0.5, 0.5]},
               "1": {"mean": [3.0, 4.0], "mean_std": [1.0, 1.0], "spread": [1.5, 0.5]}}
    s = latent_summary(classes)
    assert s["span"] == [3.0, 4.0] and s["sigma"] == 1.5 and s["spread"] == 0.75
    assert s["distance"] == 5.0 and s["separation"] == pytest.approx(5.0 / 0.75)


def test_markdown_table_aligns_numbers_right():
    table = markdown_table(["name", "value"], [["a|b", "1.50"]])
    assert table.splitlines() == ["| name | value |", "|:---|---:|", "| a\\|b | 1.50 |"]
