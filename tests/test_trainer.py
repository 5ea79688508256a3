"""The trainer end to end on real clips: train, export, sample, resume, DDP, and its faults."""

import csv
import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from blender_ganim.core import bvh, generator, labeler, model_file, synthesis  # noqa: E402
from trainer import cli  # noqa: E402
from trainer import train as train_mod  # noqa: E402
from trainer.models import generator_from_file, generator_from_weights  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SMALL = ["--batch", "8", "--hidden", "32", "--window", "48"]


def run_cli(*args):
    return cli.main([str(a) for a in args])


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, sample_dir, cache):
    out = tmp_path_factory.mktemp("run") / "x"
    assert run_cli("train", sample_dir, "--out", out, "--steps", 12, "--ckpt-every", 6, "--snapshot-every", 6,
                   "--cache", cache, *SMALL) == 0
    return out


def test_train_writes_a_loadable_model_and_plots(tiny_run):
    model = model_file.load(tiny_run / "model.ganim")
    assert model.header["training"]["steps"] == 12
    assert set(model.labels) == {"style", "content"} and "elderly" in model.labels["style"]
    assert "CC BY-NC 4.0" in model.header["licence"]
    for name in ("checkpoint.pt", "losses.csv", "losses.png", "samples.png", "config.json", "validation_takes.txt"):
        assert (tiny_run / name).is_file(), name
    assert list((tiny_run / "tb").glob("events.out.tfevents.*")), "TensorBoard scalars"
    rows = (tiny_run / "losses.csv").read_text().splitlines()
    assert len(rows) == 13 and rows[0] == "step,d,g_adv,rec,traj,gap,r1,spread,cls_d,cls_g,nearest,slide,energy,mismatch"
    assert all(r.split(",")[8:10] == ["0.0", "0.0"] for r in rows[1:])  # no label heads unless --label-weight
    assert all(float(r.split(",")[10]) > 0 for r in rows[1:])  # the nearer draw's distance is logged, term off
    assert all(float(r.split(",")[13]) == 0 for r in rows[1:])  # no wrong labels unless --mismatch-weight


def test_progress_bar_into_a_log_redraws_rarely(monkeypatch):
    """Into a file (a sweep's log, nohup) the bar must not redraw every step: the per-step
    postfix once forced a redraw and a 13,000-step log grew by a bar per step."""
    import io
    log = io.StringIO()  # not a terminal
    monkeypatch.setattr(sys, "stderr", log)
    bar = train_mod._bar(True, 0, 500)
    for _ in range(500):
        train_mod._advance(bar, {"d": 0.7, "g_adv": 1.5, "rec": 0.06})
    bar.close()
    draws = log.getvalue().count("\r")
    assert 1 <= draws <= 3, draws
    log.seek(0), log.truncate()  # the BVH reading bar too: it drew a bar per file into a run's log
    for _ in train_mod._progress_fn(True, "reading BVH")(range(200), 200):
        time.sleep(0.005)  # a second in all: at tqdm's own 0.1 s that is ~10 redraws
    draws = log.getvalue().count("\r")
    assert 1 <= draws <= 3, draws


def test_sample_writes_bvh_and_labels(tiny_run, tmp_path):
    out = tmp_path / "s"
    assert run_cli("sample", tiny_run / "model.ganim", "--out", out, "--count", 3, "--frames", 120,
                   "--label", "style=elderly", "--seed", 1) == 0
    with open(out / "labels.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and all(r["style"] == "elderly" for r in rows)
    for r in rows:
        m = bvh.read(out / r["file"])
        assert m.frames == 120 and m.skeleton.names[1] == "Hips"
        assert np.all(np.isfinite(m.global_positions()))


def test_sample_same_seed_same_clip(tiny_run, tmp_path):
    for d in ("a", "b"):
        run_cli("sample", tiny_run / "model.ganim", "--out", tmp_path / d, "--frames", 40, "--seed", 5)
    assert (tmp_path / "a" / "sample_000.bvh").read_text() == (tmp_path / "b" / "sample_000.bvh").read_text()


def test_sample_temperature_zero_ignores_the_seed(tiny_run, tmp_path, capsys):
    model = model_file.load(tiny_run / "model.ganim")
    fixed = [arg for column, values in model.labels.items() for arg in ("--label", f"{column}={values[0]}")]
    for d, seed in (("a", 1), ("b", 2), ("c", 1)):
        temperature = "1" if d == "c" else "0"
        assert run_cli("sample", tiny_run / "model.ganim", "--out", tmp_path / d, "--frames", 40, "--seed", seed,
                       "--temperature", temperature, *fixed) == 0
    text = {d: (tmp_path / d / "sample_000.bvh").read_text() for d in "abc"}
    assert text["a"] == text["b"] and text["a"] != text["c"]
    assert run_cli("sample", tiny_run / "model.ganim", "--out", tmp_path / "d", "--temperature", "-1") == 2
    assert "temperature must be between 0 and" in capsys.readouterr().err


def test_unknown_label_is_a_one_line_error(tiny_run, tmp_path, capsys):
    assert run_cli("sample", tiny_run / "model.ganim", "--out", tmp_path, "--label", "style=grumpy") == 2
    err = capsys.readouterr().err.strip()
    assert "unknown style 'grumpy'" in err and len(err.splitlines()) == 1


def test_numpy_generator_matches_torch_on_trained_weights(tiny_run):
    model = model_file.load(tiny_run / "model.ganim")
    cfg = model.header["arch"]
    assert labeler.available(model)  # the run fitted the editing tools' label classifier too
    G = generator_from_file(model).eval()
    rng = np.random.default_rng(0)
    for frames in (7, 48, 121, 300):
        noise, latent = generator.random_inputs(cfg, 3, frames, rng)
        ids = {k: rng.integers(0, n + 1, 3) for k, n in cfg["vocab_sizes"].items()}
        cond = rng.standard_normal((3, generator.cond_channels(cfg), frames)).astype(np.float32)
        ours = generator.forward(model.weights, cfg, noise, latent, ids, cond)
        with torch.no_grad():
            ref = G(torch.from_numpy(noise), torch.from_numpy(latent),
                    {k: torch.from_numpy(v) for k, v in ids.items()}, torch.from_numpy(cond)).numpy()
        assert np.abs(ours - ref).max() < 1e-4, frames


def test_numpy_generator_matches_torch_with_a_joint_label_embedding(tiny_run):
    model = model_file.load(tiny_run / "model.ganim")
    cfg = {**model.header["arch"], "joint": True}
    G = generator_from_weights(cfg, labeler.network_weights(model.weights)).eval()
    rng = np.random.default_rng(1)
    with torch.no_grad():
        G.joint.weight.copy_(torch.from_numpy(rng.standard_normal(G.joint.weight.shape).astype(np.float32)))
    weights = {**model.weights, "joint.weight": G.joint.weight.detach().numpy().copy()}
    noise, latent = generator.random_inputs(cfg, 4, 61, rng)
    ids = {k: rng.integers(0, n + 1, 4) for k, n in cfg["vocab_sizes"].items()}
    cond = np.zeros((4, generator.cond_channels(cfg), 61), dtype=np.float32)
    ours = generator.forward(weights, cfg, noise, latent, ids, cond)
    with torch.no_grad():
        ref = G(torch.from_numpy(noise), torch.from_numpy(latent),
                {k: torch.from_numpy(v) for k, v in ids.items()}, torch.from_numpy(cond)).numpy()
    assert np.abs(ours - ref).max() < 1e-4
    plain = generator.forward(model.weights, model.header["arch"], noise, latent, ids, cond)
    assert np.abs(ours - plain).max() > 1e-2  # the joint rows do act


def test_joint_index_gives_every_label_combination_its_own_row():
    sizes = {"style": 3, "content": 4}
    ids = np.array([(s, c) for s in range(4) for c in range(5)])  # the last value of each: unspecified
    rows = generator.joint_index(sizes, {"style": ids[:, 0], "content": ids[:, 1]})
    assert sorted(rows) == list(range(generator.joint_rows(sizes))) == list(range(20))
    given = ids[(ids[:, 0] < 3) & (ids[:, 1] < 4)]
    rows = generator.joint_index(sizes, {"style": given[:, 0], "content": given[:, 1]}, unspecified=False)
    assert sorted(rows) == list(range(generator.joint_rows(sizes, unspecified=False))) == list(range(12))


def test_joint_labels_fine_tune_starts_from_the_model_and_learns_the_rows(tiny_run, sample_dir, cache, tmp_path,
                                                                         monkeypatch):
    base = model_file.load(tiny_run / "model.ganim")
    run = tmp_path / "joint_warm"  # critic warm-up only: the joint rows stay at zero, the rest as it was
    assert run_cli("train", sample_dir, "--out", run, "--steps", 2, "--ckpt-every", 2, "--cache", cache,
                   "--init", tiny_run / "model.ganim", "--d-warmup", 2, "--joint-labels", *SMALL) == 0
    warm = model_file.load(run / "model.ganim")
    assert warm.header["arch"]["joint"] is True and warm.header["training"]["joint_labels"] is True
    assert not warm.weights["joint.weight"].any()
    # written as format version 2, which a reader of version 1 (that would leave the rows out) refuses
    assert (warm.header["version"], base.header["version"]) == (2, 1)
    monkeypatch.setattr(model_file, "FORMAT_VERSION", 1)
    with pytest.raises(model_file.ModelFileError, match="version 2 is newer"):
        model_file.load(run / "model.ganim")
    monkeypatch.undo()
    cfg, rng = warm.header["arch"], np.random.default_rng(2)
    noise, latent = generator.random_inputs(cfg, 2, 40, rng)
    ids = {k: rng.integers(0, n, 2) for k, n in cfg["vocab_sizes"].items()}
    cond = np.zeros((2, generator.cond_channels(cfg), 40), dtype=np.float32)
    assert np.array_equal(generator.forward(warm.weights, cfg, noise, latent, ids, cond),
                          generator.forward(base.weights, base.header["arch"], noise, latent, ids, cond))

    run = tmp_path / "joint_tuned"
    assert run_cli("train", sample_dir, "--out", run, "--steps", 6, "--ckpt-every", 6, "--cache", cache,
                   "--init", tiny_run / "model.ganim", "--d-warmup", 1, "--joint-labels", *SMALL) == 0
    tuned = model_file.load(run / "model.ganim").weights["joint.weight"]
    assert tuned.any() and tuned.shape == (generator.joint_rows(cfg["vocab_sizes"]), cfg["embed"])
    assert "joint" not in base.header["arch"] and "joint.weight" not in base.weights


def test_existing_run_needs_resume(tiny_run, sample_dir, cache, capsys):
    assert run_cli("train", sample_dir, "--out", tiny_run, "--steps", 14, "--cache", cache, *SMALL) == 2
    assert "--resume" in capsys.readouterr().err


@pytest.mark.parametrize("change, named", [(["--hidden", "48"], "hidden"), (["--d-batch-std"], "d_batch_std"),
                                           (["--label-weight", "1"], "label_weight"), (["--d-wide"], "d_wide"),
                                           (["--foot-weight", "2"], "foot_weight"),
                                           (["--energy-weight", "1"], "energy_weight"),
                                           (["--mismatch-weight", "1"], "mismatch_weight"),
                                           (["--joint-labels"], "joint_labels"),
                                           (["--foot-fast", "2"], "foot_fast"),
                                           (["--diversity-space", "joints"], "diversity_space"),
                                           (["--fps", "24"], "rate"),
                                           (["--train-smooth", "1.75"], "train_smooth")])
def test_resume_with_other_configuration_is_refused(tiny_run, sample_dir, cache, tmp_path, capsys, change, named):
    run = tmp_path / "copy"
    shutil.copytree(tiny_run, run)
    args = ["train", sample_dir, "--out", run, "--steps", 14, "--cache", cache, "--resume", *SMALL, *change]
    assert run_cli(*args) == 2
    err = capsys.readouterr().err
    assert "different configuration" in err and f"({named}: " in err and " in the run, " in err
    assert "give the run's settings and data again" in err


def test_resume_at_the_datas_own_rate_given_or_not_is_the_same_run(tiny_run, sample_dir, cache, tmp_path):
    run = tmp_path / "copy"
    shutil.copytree(tiny_run, run)
    fps = model_file.load(run / "model.ganim").header["fps"]
    assert run_cli("train", sample_dir, "--out", run, "--steps", 14, "--cache", cache, "--resume", "--fps", fps,
                   *SMALL) == 0
    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] == 14


def test_resume_on_takes_changed_under_the_same_names_is_refused(sample_dir, tmp_path, capsys):
    """The run learned from what the files held: a take relabelled or trimmed under its old name, or a
    take added, is named; before, names alone were compared and the run went on on other data."""
    data = tmp_path / "data"
    files = _copy_clips(sample_dir, data, 3)
    table = [r for r in csv.DictReader(open(sample_dir / "labels.csv")) if r["file"] in {f.name for f in files}]

    def write_labels(rows):
        with open(data / "labels.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["file", "style", "content"], extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)

    write_labels(table)
    run = tmp_path / "run"
    args = ["train", data, "--out", run, "--ckpt-every", 2, "--val-fraction", 0, "--cache", tmp_path / "c", *SMALL]
    assert run_cli(*args, "--steps", 2) == 0
    capsys.readouterr()
    other = next(r["style"] for r in table if r["style"] != table[0]["style"])
    write_labels([{**table[0], "style": other}] + table[1:])
    assert run_cli(*args, "--steps", 4, "--resume") == 2
    err = capsys.readouterr().err
    frames = bvh.read(files[0]).frames
    assert (f"take(s) changed length or labels under the same name ({files[0].name}: {frames} frames, "
            f"{table[0]['content']}, {table[0]['style']} in the run, {frames} frames, {table[0]['content']}, "
            f"{other} now)") in err
    write_labels(table)
    bvh.write(data / files[0].name, bvh.read(files[0]).slice(0, 60))
    assert run_cli(*args, "--steps", 4, "--resume") == 2
    labels = f"{table[0]['content']}, {table[0]['style']}"
    assert f"({files[0].name}: {frames} frames, {labels} in the run, 60 frames, {labels} now)" in capsys.readouterr().err
    shutil.copy(files[0], data / files[0].name)
    shutil.copy(sorted(sample_dir.glob("*.bvh"))[3], data / "zz_new.bvh")
    write_labels(table + [{"file": "zz_new.bvh", "style": other, "content": table[0]["content"]}])
    assert run_cli(*args, "--steps", 4, "--resume") == 2
    assert "training takes: 0 gone (-), 2 new (zz_new.bvh, zz_new.bvh#mirror)" in capsys.readouterr().err
    (data / "zz_new.bvh").unlink()
    write_labels(table)
    assert run_cli(*args, "--steps", 4, "--resume") == 0               # the data as it was: it goes on


def test_a_run_that_fails_before_writing_leaves_the_out_folder_as_it_was(tmp_path, sample_dir, capsys):
    (tmp_path / "empty").mkdir()
    assert run_cli("train", tmp_path / "empty", "--out", tmp_path / "new" / "deeper" / "r", "--steps", 1) == 2
    assert not (tmp_path / "new").exists()                             # it was left behind, with a lock file
    (tmp_path / "mine").mkdir()
    assert run_cli("train", tmp_path / "empty", "--out", tmp_path / "mine", "--steps", 1) == 2
    assert (tmp_path / "mine").is_dir() and not list((tmp_path / "mine").iterdir())
    assert "no BVH files found" in capsys.readouterr().err


def test_a_file_name_that_is_not_utf8_is_named_not_a_codec_error(sample_dir, tmp_path, capsys):
    data = tmp_path / "names"
    files = _copy_clips(sample_dir, data, 2)
    os.rename(os.fsencode(data / files[0].name), os.fsencode(data) + b"/caf\xe9_" + files[0].name.encode())
    assert run_cli("train", data, "--out", tmp_path / "r", "--steps", 1, "--condition", "none",
                   "--cache", tmp_path / "c") == 2
    err = capsys.readouterr().err
    assert f"1 file name(s) are not UTF-8 text: caf\\xe9_{files[0].name}; rename them" in err
    assert not (tmp_path / "r").exists()


def test_a_cache_folder_that_cannot_be_written_costs_a_warning_not_the_run(sample_dir, tmp_path, capsys):
    data = tmp_path / "data"
    _copy_clips(sample_dir, data, 2)
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    assert run_cli("train", data, "--out", tmp_path / "r", "--steps", 2, "--ckpt-every", 2, "--condition", "none",
                   "--cache", blocked, *SMALL) == 0
    err = capsys.readouterr().err
    assert f"warning: could not write the feature cache {blocked}/dataset-" in err and "going on without it" in err
    assert (tmp_path / "r" / "model.ganim").is_file()


def test_resume_to_fewer_steps_than_the_run_has_is_refused(tiny_run, sample_dir, cache, tmp_path, capsys):
    run = tmp_path / "copy"
    shutil.copytree(tiny_run, run)
    config = (run / "config.json").read_text()
    assert run_cli("train", sample_dir, "--out", run, "--steps", 4, "--cache", cache, "--resume", *SMALL) == 2
    assert "is at step 12 already: give --steps 12 or more" in capsys.readouterr().err
    assert (run / "config.json").read_text() == config               # it wrote the smaller --steps there


def test_a_checkpoint_whose_weights_do_not_fit_the_network_is_named(tiny_run, sample_dir, cache, tmp_path, capsys):
    run = tmp_path / "copy"
    shutil.copytree(tiny_run, run)
    ck = torch.load(run / "checkpoint.pt", weights_only=True)
    ck["G"].pop(next(iter(ck["G"])))                                  # a weight missing, settings the same
    torch.save(ck, run / "checkpoint.pt")
    assert run_cli("train", sample_dir, "--out", run, "--steps", 14, "--cache", cache, "--resume", *SMALL) == 2
    assert "holds weights that do not fit this run's network" in capsys.readouterr().err


def test_resume_after_sigkill_continues_from_last_checkpoint(sample_dir, cache, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "trainer.cli", "train", str(sample_dir), "--out", str(out), "--steps", "2000",
           "--ckpt-every", "4", "--cache", str(cache), "--threads", "1", *SMALL]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            if (out / "checkpoint.pt").exists():
                step = torch.load(out / "checkpoint.pt", weights_only=True)["step"]
                if step >= 8:
                    break
            time.sleep(0.2)
        else:
            pytest.fail("no checkpoint within 120 s")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    saved = torch.load(out / "checkpoint.pt", weights_only=True)["step"]
    resumed = subprocess.run(cmd[:8] + [str(saved + 3)] + cmd[9:] + ["--resume"], cwd=REPO,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming {out} at step {saved}" in resumed.stderr
    final = torch.load(out / "checkpoint.pt", weights_only=True)
    assert final["step"] == saved + 3
    assert model_file.load(out / "model.ganim").header["training"]["steps"] == saved + 3


def test_ddp_two_cpu_processes_with_gloo(sample_dir, cache, tmp_path):
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "trainer.cli", "train", str(sample_dir), "--out", str(out), "--steps", "6", "--ckpt-every", "3",
           "--device", "cpu", "--cache", str(cache), *SMALL]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "cpu x2" in done.stderr
    model = model_file.load(out / "model.ganim")
    assert model.header["training"]["steps"] == 6


def test_nan_loss_stops_and_keeps_last_good_checkpoint(sample_dir, cache, tmp_path, monkeypatch):
    calls = {"n": 0}
    real_sample = train_mod.data_mod.WindowSampler.sample

    def poisoned(self, batch, window=None):
        calls["n"] += 1  # one batch per step: NaN from step 8
        x, labels = real_sample(self, batch, window)
        return (x * float("nan") if calls["n"] >= 8 else x), labels

    monkeypatch.setattr(train_mod.data_mod.WindowSampler, "sample", poisoned)
    out = tmp_path / "nan"
    with pytest.raises(train_mod.TrainError, match="NaN") as err:
        train_mod.train([sample_dir], out, steps=20, ckpt_every=5, batch=8, hidden=32, window=48,
                        progress=False, log=lambda *a: None, cache_dir=None)
    assert "step 5" in str(err.value)
    ck = torch.load(out / "checkpoint.pt", weights_only=True)
    assert ck["step"] == 5
    assert model_file.load(out / "model.ganim").header["training"]["steps"] == 5


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"),  # torch's own writer says:
                                   RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 8 vs 4")])
def test_full_disk_during_checkpoint_keeps_previous(sample_dir, tmp_path, monkeypatch, error):
    real_save = torch.save
    calls = {"n": 0}

    def full_disk(obj, f, *a, **k):
        calls["n"] += 1
        if calls["n"] >= 2:
            f.write(b"partial checkpoint bytes")
            raise error
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(train_mod.torch, "save", full_disk)
    out = tmp_path / "full"
    with pytest.raises(train_mod.TrainError, match="disk full"):
        train_mod.train([sample_dir], out, steps=10, ckpt_every=4, batch=8, hidden=32, window=48,
                        progress=False, log=lambda *a: None)
    monkeypatch.setattr(train_mod.torch, "save", real_save)
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 4
    assert not [p for p in out.iterdir() if ".tmp" in p.name]


def test_a_run_stopped_while_writing_its_model_writes_it_on_resume(sample_dir, tmp_path, monkeypatch):
    """The checkpoint was written before the model: a run killed (or out of disk) between the two had
    nothing left to do on --resume, said "done", and left the model of the step before."""
    real_export, calls = train_mod.export_model, []

    def dies_at_the_end(path, G_ema, ds, cfg, arch, step, *a, **k):
        calls.append(step)
        if step == 6 and calls.count(6) == 1:
            raise KeyboardInterrupt
        return real_export(path, G_ema, ds, cfg, arch, step, *a, **k)

    monkeypatch.setattr(train_mod, "export_model", dies_at_the_end)
    args = dict(steps=6, ckpt_every=2, snapshot_every=2, batch=8, hidden=32, window=48, progress=False,
                log=lambda *a: None)
    with pytest.raises(KeyboardInterrupt) as stopped:  # (its frames, kept alive here, no longer hold the lock)
        train_mod.train([sample_dir], tmp_path / "r", **args)
    assert torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)["step"] == 4 and stopped.traceback
    train_mod.train([sample_dir], tmp_path / "r", resume=True, **args)
    assert model_file.load(tmp_path / "r" / "model.ganim").header["training"]["steps"] == 6
    assert sorted(p.name for p in (tmp_path / "r" / "snapshots").iterdir()) == [
        "model_0000002.ganim", "model_0000004.ganim", "model_0000006.ganim"]


def test_weights_gone_nan_are_not_checkpointed_and_a_run_with_no_checkpoint_says_so():
    net = torch.nn.Linear(2, 2)
    with torch.no_grad():
        net.weight[0, 0] = float("nan")
    with pytest.raises(train_mod.TrainError, match="the weights became NaN/inf at step 3; stopped. The last good "
                                                   "checkpoint \\(step 2\\)"):
        train_mod._check_finite(3, 2, Path("run/checkpoint.pt"), net)
    with pytest.raises(train_mod.TrainError, match="No checkpoint was written yet"):
        train_mod._check_finite(1, 0, Path("run/checkpoint.pt"), net)


def test_an_out_folder_in_use_or_holding_a_model_without_a_checkpoint_is_refused(sample_dir, tmp_path, capsys):
    args = ["train", sample_dir, "--steps", 2, *SMALL]
    busy = tmp_path / "busy"
    busy.mkdir()
    held = train_mod._lock_run(busy)                        # another run writing there now
    assert run_cli(*args, "--out", busy) == 2 and "another ganim train is writing to" in capsys.readouterr().err
    held.close()
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "model.ganim").write_bytes(b"a model someone keeps here")
    assert run_cli(*args, "--out", shipped) == 2
    assert "holds a model.ganim but no checkpoint.pt" in capsys.readouterr().err
    assert (shipped / "model.ganim").read_bytes() == b"a model someone keeps here"


@pytest.mark.parametrize("flag, value, said", [("--threads", -1, "--threads -1: give at least 1"),
                                               ("--seed", -1, "--seed -1: give a seed of 0 or more"),
                                               ("--split-seed", -2, "--split-seed -2: give a seed of 0 or more"),
                                               ("--val-fraction", "nan", "--val-fraction nan: give a share"),
                                               ("--snapshot-every", -1, "--snapshot-every -1: give 0")])
def test_option_values_a_run_cannot_use_are_refused(sample_dir, tmp_path, capsys, flag, value, said):
    assert run_cli("train", sample_dir, "--out", tmp_path / "x", "--steps", 2, *SMALL, flag, value) == 2
    assert said in capsys.readouterr().err


# ----------------------------------------------------------------- bad data

def _copy_clips(src, dst, n=3):
    dst.mkdir(parents=True, exist_ok=True)
    files = sorted(src.glob("*.bvh"))[:n]
    for f in files:
        shutil.copy(f, dst / f.name)
    return files


def test_no_bvh_in_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert run_cli("train", tmp_path / "empty", "--out", tmp_path / "r", "--steps", 1) == 2
    assert "no BVH files found" in capsys.readouterr().err


def test_different_skeleton_is_named(sample_dir, tmp_path, capsys):
    data = tmp_path / "mixed"
    files = _copy_clips(sample_dir, data, 2)
    other = bvh.read(files[0])
    # Same joint names, one bone twice as long: another character.
    sk = other.skeleton
    offsets = sk.offsets.copy()
    offsets[sk.index("LowerLeg_L")] *= 2
    from blender_ganim.core.skeleton import Skeleton
    sk2 = Skeleton(sk.names, sk.parents, offsets, sk.channels, sk.end_sites)
    pos = other.positions.copy()
    pos[:, sk.index("LowerLeg_L")] *= 2
    bvh.write(data / "zz_giant.bvh", other.copy(skeleton=sk2, positions=pos))
    assert run_cli("train", data, "--out", tmp_path / "r", "--steps", 1, "--condition", "none",
                   "--cache", tmp_path / "c") == 2
    assert "zz_giant.bvh has a different skeleton" in capsys.readouterr().err


def test_labels_missing_rows_and_orphans(sample_dir, tmp_path, capsys):
    data = tmp_path / "lab"
    files = _copy_clips(sample_dir, data, 3)
    with open(data / "labels.csv", "w") as f:
        f.write("file,style,content\n")
        f.write(f"{files[0].name},normal,walk\n{files[1].name},elderly,walk\nghost.bvh,normal,run\n")
    assert run_cli("train", data, "--out", tmp_path / "r", "--steps", 1, "--cache", tmp_path / "c") == 2
    err = capsys.readouterr().err
    assert f"no row for 1 file(s): {files[2].name}" in err


def test_short_clips_are_skipped_with_a_count(sample_dir, tmp_path, capsys):
    data = tmp_path / "short"
    files = _copy_clips(sample_dir, data, 2)
    m = bvh.read(files[0])
    bvh.write(data / "tiny_clip.bvh", m.slice(0, 20))
    assert run_cli("train", data, "--out", tmp_path / "r", "--steps", 2, "--condition", "none",
                   "--cache", tmp_path / "c", "--ckpt-every", 2, *SMALL) == 0
    err = capsys.readouterr().err
    assert "skipped 1 clip(s) shorter than the 48-frame window" in err and "tiny_clip.bvh" in err


def test_high_frame_rate_capture_trains_at_the_rate_asked_for(sample_dir, tmp_path, capsys):
    """120 fps capture trains at its own rate with a note on what --fps would buy; with --fps 30 every
    take is resampled and the model is made at 30 fps; --init refuses a model made at another rate."""
    data = tmp_path / "fast"
    data.mkdir()
    for f in sorted(sample_dir.glob("*.bvh"))[:2]:
        bvh.write(data / f.name, bvh.read(f).resample(120))
    common = ["--steps", 2, "--ckpt-every", 2, "--condition", "none", "--cache", tmp_path / "c", *SMALL]
    assert run_cli("train", data, "--out", tmp_path / "own", *common) == 0
    err = capsys.readouterr().err
    assert "the data plays at 120 fps, so a 48-frame window spans 0.40 s; --fps 30" in err
    assert model_file.load(tmp_path / "own" / "model.ganim").header["fps"] == 120
    assert run_cli("train", data, "--out", tmp_path / "slow", "--fps", 30, *common) == 0
    assert "the data plays at" not in capsys.readouterr().err
    assert model_file.load(tmp_path / "slow" / "model.ganim").header["fps"] == 30
    assert run_cli("train", data, "--out", tmp_path / "ft", "--init", tmp_path / "own" / "model.ganim",
                   "--fps", 30, *common) == 2
    assert "the model was made at 120 fps and the data plays at 30; pass --fps 120" in capsys.readouterr().err


def test_a_run_that_holds_nothing_out_says_so_and_eval_refuses_it(sample_dir, tmp_path, capsys):
    """One take per label pair (as in dataset 1): nothing can be held out without losing a pair, so the
    run says so, and `ganim eval` refuses to pass off takes the model learned from as unseen."""
    data = tmp_path / "one_each"
    data.mkdir()
    takes = ["dataset-2_run_elderly_005.bvh", "dataset-2_walk_normal_004.bvh"]
    for name in takes:
        shutil.copy(sample_dir / name, data / name)
    rows = list(csv.reader(open(sample_dir / "labels.csv")))
    with open(data / "labels.csv", "w", newline="") as f:
        csv.writer(f).writerows([rows[0]] + [r for r in rows[1:] if r[0] in takes])
    assert run_cli("train", data, "--out", tmp_path / "r", "--steps", 2, "--ckpt-every", 2,
                   "--cache", tmp_path / "c", *SMALL) == 0
    assert "0 held out" in (err := capsys.readouterr().err) and "no take held out for `ganim eval`" in err
    assert run_cli("eval", tmp_path / "r" / "model.ganim", "--data", data, "--count", 4) == 2
    assert "held out no takes when it was trained" in capsys.readouterr().err


@pytest.mark.slow
def test_acceptance_train_50_steps_on_ds2(shared_data, tmp_path, cache):
    out = tmp_path / "x"
    assert run_cli("train", shared_data / "bandai-namco-motion-ds2", "--out", out, "--steps", 50,
                   "--cache", cache, "--ckpt-every", 50) == 0
    assert run_cli("sample", out / "model.ganim", "--out", tmp_path / "s", "--count", 3, "--frames", 120,
                   "--label", "style=elderly") == 0
    assert len(list((tmp_path / "s").glob("*.bvh"))) == 3 and (tmp_path / "s" / "labels.csv").is_file()


def test_eval_scores_a_model_against_its_held_out_takes(tiny_run, sample_dir, tmp_path, capsys):
    out_json, out_png = tmp_path / "eval.json", tmp_path / "eval.png"
    assert run_cli("eval", tiny_run / "model.ganim", "--data", sample_dir, "--count", 8, "--frames", 90,
                   "--json", out_json, "--plot", out_png) == 0
    table = capsys.readouterr().out
    assert "| FD (G vs H) |" in table and "style accuracy" in table
    result = json.loads(out_json.read_text())
    held = model_file.load(tiny_run / "model.ganim").header["training"]["validation_takes"]
    assert result["generated_clips"] == 8 and held
    for key in ("fd", "novelty", "coverage", "diversity", "foot_skate", "jitter", "accuracy_style"):
        entry = result["metrics"][key]
        assert np.isfinite(entry["generated"]) and np.isfinite(entry["reference"]), key
    assert out_png.read_bytes()[:4] == b"\x89PNG"
    assert result["temperature"] == synthesis.TEMPERATURE  # scored as the tools generate
    style = result["metrics"]["accuracy_style"]  # each label read apart, and the confusion behind it
    classes = style["confusion"]["classes"]
    assert sorted(style["by_label"]) == sorted(classes) == sorted(model_file.load(tiny_run / "model.ganim").labels["style"])
    for part, clips, acc in (("generated", "generated_clips", style["generated"]),
                             ("reference", "reference_clips", style["reference"])):
        counts = np.array(style["confusion"][part])
        assert counts.sum() == sum(v[clips] for v in style["by_label"].values())
        assert np.trace(counts) / counts.sum() == pytest.approx(acc)
    assert "style accuracy by label, generated / held-out:" in table
    assert result["label_spread"].startswith("labels spread evenly over ") and result["label_spread"] in table
    labels_png = tmp_path / "labels.png"
    assert run_cli("eval", tiny_run / "model.ganim", "--data", sample_dir, "--count", 8, "--frames", 90,
                   "--plot-labels", labels_png) == 0
    assert labels_png.read_bytes()[:4] == b"\x89PNG"
    cold_json = tmp_path / "cold.json"
    assert run_cli("eval", tiny_run / "model.ganim", "--data", sample_dir, "--count", 8, "--frames", 90,
                   "--temperature", 0, "--json", cold_json) == 0
    cold = json.loads(cold_json.read_text())
    assert cold["temperature"] == 0 and cold["sampling"].startswith("temperature 0,")
    assert cold["metrics"]["diversity"]["generated"] != result["metrics"]["diversity"]["generated"]
    # no low-pass and no foot lock for every clip is the network's own output, as --raw scores it
    bare_json, raw_json = tmp_path / "bare.json", tmp_path / "raw.json"
    assert run_cli("eval", tiny_run / "model.ganim", "--data", sample_dir, "--count", 8, "--frames", 90,
                   "--smooth-sigma", 0, "--lock-strength", 0, "--json", bare_json) == 0
    assert run_cli("eval", tiny_run / "model.ganim", "--data", sample_dir, "--count", 8, "--frames", 90,
                   "--raw", "--json", raw_json) == 0
    bare, raw = json.loads(bare_json.read_text()), json.loads(raw_json.read_text())
    assert "smooth sigma 0, lock strength 0" in bare["sampling"] and raw["sampling"].endswith("no foot lock")
    for key in ("fd", "novelty", "jitter", "foot_skate"):
        assert bare["metrics"][key]["generated"] == pytest.approx(raw["metrics"][key]["generated"], rel=1e-9), key
    assert bare["metrics"]["jitter"]["generated"] > result["metrics"]["jitter"]["generated"]  # the low-pass acts
    capsys.readouterr()
    for bad, says in ((["--lock-strength", 2], "--lock-strength"), (["--raw", "--smooth-sigma", 1], "--raw"),
                      (["--smooth-sigma", -1], "--smooth-sigma")):
        assert run_cli("eval", tiny_run / "model.ganim", "--data", sample_dir, "--count", 8, *bad) == 2
        assert says in capsys.readouterr().err


def test_quality_benchmark_over_seeds_scores_each_against_one_reference(tiny_run, sample_dir, tmp_path,
                                                                       monkeypatch):
    # benchmarks/quality.py --seeds builds the held-out reference once; each seed must score as
    # `ganim eval --seed S` does on its own, and the summary is the median of those.
    import importlib.util
    spec = importlib.util.spec_from_file_location("quality_bench", REPO / "benchmarks" / "quality.py")
    quality = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(quality)
    out = tmp_path / "results"
    monkeypatch.setattr(sys, "argv", ["quality.py", "--model", str(tiny_run / "model.ganim"), "--data", str(sample_dir),
                                      "--count", "8", "--frames", "90", "--seeds", "0-2", "--out", str(out)])
    quality.main()
    record = json.loads((out / "quality_seeds.json").read_text())
    assert record["seeds"] == [0, 1, 2] and set(record["ratios"]) == {"0", "1", "2"}
    fds = [record["ratios"][s]["fd"] for s in ("0", "1", "2")]
    assert len(set(fds)) == 3, "each seed generates its own set"
    assert record["median"]["fd"] == pytest.approx(sorted(fds)[1])
    assert record["passes"]["fd"] == sum(f <= 1.5 for f in fds)
    for name in ("quality.json", "quality.md", "quality_seeds.md"):
        assert (out / name).is_file(), name
    assert (out / "quality_seeds.png").read_bytes()[:4] == b"\x89PNG"
    assert "| median |" in (out / "quality_seeds.md").read_text()
    alone = tmp_path / "seed1.json"
    assert run_cli("eval", tiny_run / "model.ganim", "--data", sample_dir, "--count", 8, "--frames", 90,
                   "--seed", 1, "--json", alone) == 0
    single = json.loads(alone.read_text())["metrics"]
    for key in ("fd", "novelty", "coverage", "foot_skate", "accuracy_style"):
        assert record["ratios"]["1"][key] == pytest.approx(single[key]["ratio"], rel=1e-9), key
    # sampling settings for every clip, as `ganim eval` takes them, are used and recorded
    bare = tmp_path / "bare"
    monkeypatch.setattr(sys, "argv", ["quality.py", "--model", str(tiny_run / "model.ganim"), "--data", str(sample_dir),
                                      "--count", "8", "--frames", "90", "--seed", "1", "--smooth-sigma", "0",
                                      "--lock-strength", "0", "--out", str(bare)])
    quality.main()
    assert run_cli("eval", tiny_run / "model.ganim", "--data", sample_dir, "--count", 8, "--frames", 90,
                   "--seed", 1, "--raw", "--json", alone) == 0
    raw, scored = json.loads(alone.read_text())["metrics"], json.loads((bare / "quality.json").read_text())
    assert "smooth sigma 0, lock strength 0" in scored["sampling"]
    assert "smooth sigma 0" in (bare / "quality.md").read_text()
    for key in ("fd", "jitter", "foot_skate"):
        assert scored["metrics"][key]["ratio"] == pytest.approx(raw[key]["ratio"], rel=1e-9), key
    with pytest.raises(SystemExit):
        monkeypatch.setattr(sys, "argv", ["quality.py", "--seeds", "zero"])
        quality.main()


def test_skate_parts_benchmark_splits_the_bars_foot_skate_by_content(tiny_run, sample_dir, tmp_path, monkeypatch):
    # benchmarks/skate_parts.py --heldout: its "all" rows are the figures `ganim eval` gives for the
    # same seed, the contents' rows add up to them, and the same-mix rate weighs the real takes'
    # per-content rates by the generated windows.
    import importlib.util
    spec = importlib.util.spec_from_file_location("skate_parts", REPO / "benchmarks" / "skate_parts.py")
    parts = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(parts)
    out = tmp_path / "results"
    monkeypatch.setattr(sys, "argv", ["skate_parts.py", "--model", str(tiny_run / "model.ganim"), "--data",
                                      str(sample_dir), "--count", "20", "--heldout", "--out", str(out)])
    parts.main()
    record = json.loads((out / "skate_parts_heldout.json").read_text())
    alone = tmp_path / "eval.json"
    assert run_cli("eval", tiny_run / "model.ganim", "--data", sample_dir, "--count", 20, "--frames", 120,
                   "--json", alone) == 0
    skate = json.loads(alone.read_text())["metrics"]["foot_skate"]
    assert record["generated"]["all"]["skate"] == pytest.approx(skate["generated"], rel=1e-9)
    assert record["real"]["all"]["skate"] == pytest.approx(skate["reference"], rel=1e-9)
    for name in ("real", "generated", "raw_network"):
        rows = {k: v for k, v in record[name].items() if k != "all"}
        n = sum(v["windows"] for v in rows.values())
        assert n == record[name]["all"]["windows"]
        assert sum(v["skate"] * v["windows"] for v in rows.values()) / n == pytest.approx(record[name]["all"]["skate"])
        assert sum(record[name]["all"]["bands"]) == pytest.approx(record[name]["all"]["skate"])
    assert "| all |" in (out / "skate_parts_heldout.md").read_text()
    real = {"walk": {"skate": 0.2, "windows": 100}, "wave": {"skate": 0.0, "windows": 300}}
    gen = {"walk": {"skate": 0.3, "windows": 50}, "wave": {"skate": 0.0, "windows": 50}, "all": {}}
    assert parts.same_mix_rate(real, gen) == pytest.approx(0.1)


def test_label_mix_benchmark_draws_real_windows_and_model_clips_at_each_label_spread(tiny_run, sample_dir, tmp_path,
                                                                                     monkeypatch):
    # benchmarks/label_mix.py: real training windows labelled as the bar's generated set is, and the
    # model at the bar's spread (the very figures `ganim eval --seed S` gives) and at the held-out mix.
    import importlib.util
    spec = importlib.util.spec_from_file_location("label_mix", REPO / "benchmarks" / "label_mix.py")
    mix = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mix)
    pairs = ["a"] * 10 + ["b"] * 3 + ["c"] * 5
    rng = np.random.default_rng(0)
    sel, short, missing = mix.windows_like(pairs, ["a", "a", "b", "z"], 2, rng)
    assert sorted(pairs[i] for i in sel) == ["a"] * 4 + ["b"] * 2 and len(set(sel)) == 6
    assert short == [] and missing == ["z"]
    sel, short, _ = mix.windows_like(pairs, ["b", "b"], 2, rng)  # 4 windows of b wanted, 3 there
    assert short == ["b"] and [pairs[i] for i in sel] == ["b"] * 4
    with pytest.raises(ValueError, match="no real windows"):
        mix.windows_like(pairs, ["z"], 2, rng)
    real = [("walk", "old")] * 30 + [("wave", "old")] * 10
    drawn = mix.mix_labels(real, ["content", "style"], 4000, seed=0)
    assert abs(sum(d["content"] == "walk" for d in drawn) / 4000 - 0.75) < 0.03
    assert {d["content"] for d in mix.mix_labels(real, ["content", "style"], 50, 0, {("wave", "old")})} == {"wave"}

    out = tmp_path / "results"
    monkeypatch.setattr(sys, "argv", ["label_mix.py", "--model", str(tiny_run / "model.ganim"), "--data",
                                      str(sample_dir), "--count", "8", "--frames", "90", "--seeds", "0-1",
                                      "--out", str(out)])
    mix.main()
    record = json.loads((out / "label_mix.json").read_text())
    rows = record["rows"]
    assert {"real training windows, the bar's spread (pairs)", "real training windows, the bar's spread of style only",
            "the model, the bar's spread", "the model, the held-out takes' own mix"} <= set(rows)
    assert all(len(r["fd"]) == 2 and all(f > 0 for f in r["fd"]) for r in rows.values())
    alone = tmp_path / "seed1.json"
    assert run_cli("eval", tiny_run / "model.ganim", "--data", sample_dir, "--count", 8, "--frames", 90,
                   "--seed", 1, "--json", alone) == 0
    single = json.loads(alone.read_text())["metrics"]
    for key in ("fd", "novelty", "coverage", "foot_skate"):
        assert rows["the model, the bar's spread"][key][1] == pytest.approx(single[key]["ratio"], rel=1e-9), key
    assert rows["the model, the held-out takes' own mix"]["fd"] != rows["the model, the bar's spread"]["fd"]
    assert "| the model, the bar's spread |" in (out / "label_mix.md").read_text()


def test_eval_of_a_folder_of_clips(sample_dir, tmp_path, capsys):
    # Copies of the real clips scored as if generated: those in the training split are
    # their own nearest neighbours, so novelty falls far below the held-out reference.
    gen = tmp_path / "gen"
    _copy_clips(sample_dir, gen, 9)
    shutil.copy(sample_dir / "labels.csv", gen / "labels.csv")
    assert run_cli("eval", gen, "--data", sample_dir, "--val-fraction", "0.3", "--json", tmp_path / "e.json") == 0
    assert "| FD (G vs H) |" in capsys.readouterr().out
    result = json.loads((tmp_path / "e.json").read_text())
    assert result["generated_clips"] == 9
    assert result["metrics"]["novelty"]["ratio"] < 0.5


def test_resume_with_a_new_learning_rate(tiny_run, sample_dir, cache, tmp_path):
    run = tmp_path / "decay"
    shutil.copytree(tiny_run, run)
    assert run_cli("train", sample_dir, "--out", run, "--steps", 14, "--ckpt-every", 2, "--cache", cache,
                   "--resume", "--lr", "1e-5", *SMALL) == 0
    ck = torch.load(run / "checkpoint.pt", weights_only=True)
    assert ck["step"] == 14
    assert all(g["lr"] == 1e-5 for g in ck["opt_g"]["param_groups"])
    assert all(g["lr"] == pytest.approx(2e-5) for g in ck["opt_d"]["param_groups"])  # twice --lr by default


def test_snapshots_are_kept_and_select_ranks_them_on_training_takes(tiny_run, sample_dir, tmp_path, capsys):
    from trainer.evaluate import label_spread
    snaps = sorted(p.name for p in (tiny_run / "snapshots").glob("*.ganim"))
    assert snaps == ["model_0000006.ganim", "model_0000012.ganim"]
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    best = tmp_path / "best.ganim"
    assert run_cli("select", run, "--data", sample_dir, "--count", 6, "--frames", 90, "--best", best) == 0
    out = capsys.readouterr()
    assert "| run | step | fd |" in out.out and "**best**" in out.out
    assert "held-out takes are not used" in out.err
    result = json.loads((run / "select.json").read_text())
    assert [r["step"] for r in result["rows"]] == [6, 12] and result["temperature"] == synthesis.TEMPERATURE
    nearest = min(r["shortfall"] for r in result["rows"])
    assert result["best"]["shortfall"] == nearest and result["by"] == "bar"
    assert result["best"]["ratios"]["fd"] == min(r["ratios"]["fd"] for r in result["rows"] if r["shortfall"] == nearest)
    assert best.read_bytes() == Path(result["best"]["path"]).read_bytes()
    assert (run / "select.png").read_bytes()[:4] == b"\x89PNG"
    assert run_cli("select", run, "--data", sample_dir, "--count", 6, "--frames", 90, "--by", "fd") == 0
    result = json.loads((run / "select.json").read_text())
    assert result["best"]["ratios"]["fd"] == min(r["ratios"]["fd"] for r in result["rows"])
    warm = tmp_path / "warm.ganim"  # chosen at another temperature, the copy generates at it by default
    assert run_cli("select", run, "--data", sample_dir, "--count", 6, "--frames", 90, "--temperature", 0.7,
                   "--best", warm) == 0
    result = json.loads((run / "select.json").read_text())
    assert result["temperature"] == 0.7 and {r["temperature"] for r in result["rows"]} == {0.7}
    chosen, copy = model_file.load(result["best"]["path"]), model_file.load(warm)
    assert copy.header["sampling"] == {"temperature": 0.7} and "sampling" not in chosen.header
    assert all(np.array_equal(copy.weights[k], v) for k, v in chosen.weights.items())
    assert result["label_spread"] == label_spread(chosen, count=6)     # the pairs training had
    cool = tmp_path / "cool.ganim"  # the clean-up too, for every clip, without `ganim sampling` copies first
    assert run_cli("select", run, "--data", sample_dir, "--count", 6, "--frames", 90, "--temperature", 0.7,
                   "--smooth-sigma", 1.25, "--lock-strength", 0.5, "--best", cool) == 0
    assert "recording temperature 0.7, smooth sigma 1.25, lock strength 0.5" in capsys.readouterr().out
    sampled = json.loads((run / "select.json").read_text())
    assert sampled["sampling"] == {"temperature": 0.7, "smooth_sigma": 1.25, "lock_strength": 0.5}
    assert [r["ratios"]["fd"] for r in sampled["rows"]] != [r["ratios"]["fd"] for r in result["rows"]]
    assert model_file.load(cool).header["sampling"] == sampled["sampling"]
    assert run_cli("select", run, "--data", sample_dir, "--lock-strength", 2) != 0
    assert "--lock-strength: lock_strength must be a number from 0 to 1" in capsys.readouterr().err
    older = model_file.load(run / "snapshots" / "model_0000006.ganim")  # a file from before the record
    model_file.save(run / "snapshots" / "model_0000006.ganim",
                    {k: v for k, v in older.header.items() if k not in ("label_frames", "sha256")}, older.weights)
    assert run_cli("select", run, "--data", sample_dir, "--count", 6, "--frames", 90) == 0
    assert "every snapshot is scored on every pair" in capsys.readouterr().err
    result = json.loads((run / "select.json").read_text())
    assert result["label_spread"] == label_spread(chosen, all_combinations=True, count=6) != label_spread(chosen, count=6)


def test_select_draws_average_several_generation_seeds(tiny_run, sample_dir, tmp_path, capsys):
    from trainer.select import score_snapshot, training_reference
    path = tiny_run / "snapshots" / "model_0000012.ganim"
    model = model_file.load(path)
    ref = training_reference(model, [sample_dir], 0, log=lambda m: None)
    one = [score_snapshot(path, 12, ref, 6, 90, seed) for seed in (0, 1000)]
    two = score_snapshot(path, 12, ref, 6, 90, 0, draws=2)
    assert two["shortfall_per_draw"] == [r["shortfall"] for r in one]
    assert two["shortfall"] == pytest.approx((one[0]["shortfall"] + one[1]["shortfall"]) / 2)
    assert two["ratios"]["fd"] == pytest.approx((one[0]["ratios"]["fd"] + one[1]["ratios"]["fd"]) / 2)
    assert one[0]["ratios"]["fd"] != one[1]["ratios"]["fd"]  # the draws differ, so the mean is not one of them
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    assert run_cli("select", run, "--data", sample_dir, "--count", 6, "--frames", 90, "--draws", 2) == 0
    assert "| shortfall | per draw |" in capsys.readouterr().out
    result = json.loads((run / "select.json").read_text())
    assert result["draws"] == [0, 1000] and all(len(r["shortfall_per_draw"]) == 2 for r in result["rows"])
    assert (run / "select.png").read_bytes()[:4] == b"\x89PNG"  # each draw's range drawn beside the mean
    assert run_cli("select", run, "--data", sample_dir, "--draws", 0) != 0
    assert "--draws 0" in capsys.readouterr().err


def test_shortfall_measures_the_distance_from_every_bar():
    import math
    from trainer.evaluate import shortfall
    met = {"fd": 1.4, "novelty": 1.0, "coverage": 0.9, "foot_skate": 1.0, "jitter": 1.2, "accuracy_style": 0.9}
    assert shortfall(met) == 0.0
    assert shortfall({**met, "fd": 3.0}) == pytest.approx(math.log(2.0))
    assert shortfall({**met, "novelty": 0.35, "coverage": 0.4}) == pytest.approx(2 * math.log(2.0))
    assert shortfall({**met, "jitter": None}) == 0.0


def test_select_fraction_keeps_takes_out_of_training_for_select_alone(sample_dir, cache, tmp_path, capsys):
    from trainer.evaluate import load_real
    from trainer.select import training_split
    data = tmp_path / "twice"  # every sample take twice, so every label group can spare one
    data.mkdir()
    rows = (sample_dir / "labels.csv").read_text().splitlines()
    for f in sample_dir.glob("*.bvh"):
        shutil.copyfile(f, data / f.name)
        shutil.copyfile(f, data / f.name.replace(".bvh", "9.bvh"))
    (data / "labels.csv").write_text("\n".join(rows + [r.replace(".bvh", "9.bvh", 1) for r in rows[1:]]) + "\n")
    sample_dir = data
    run = tmp_path / "sel"
    assert run_cli("train", data, "--out", run, "--steps", 4, "--ckpt-every", 4, "--cache", cache,
                   "--select-fraction", 0.2, *SMALL) == 0
    assert "kept for `ganim select`" in capsys.readouterr().err
    model = model_file.load(run / "model.ganim")
    training = model.header["training"]
    selection, held = set(training["selection_takes"]), set(training["validation_takes"])
    assert len(selection) == 3 and len(held) == 1 and not selection & held
    assert (run / "selection_takes.txt").read_text().split() == sorted(selection)
    # select ranks on the selection takes; eval's training reference leaves them out
    clips, labels = training_split(model, [sample_dir], log=lambda m: None)
    real, _, split = load_real([sample_dir], sorted(held), log=lambda m: None, unused_names=selection)
    assert len(clips["heldout"]) == len(selection)
    assert len(clips["train"]) == len(split["train"]) and not selection & set(split["train"])
    assert sorted(labels["content"]["heldout"]) == sorted(n.split("_")[1] for n in selection)
    assert run_cli("train", sample_dir, "--out", tmp_path / "bad", "--steps", 2, "--cache", cache,
                   "--select-fraction", 0.7, *SMALL) != 0
    assert "--select-fraction 0.7" in capsys.readouterr().err


def test_select_generates_each_label_combination_twice_by_default():
    from types import SimpleNamespace
    from trainer.select import default_count
    labels = {"style": list("abcdefg"), "content": list("0123456789")}
    assert default_count(SimpleNamespace(labels=labels, header={})) == 140
    seen = [[[a, b], 90] for a in labels["style"] for b in labels["content"] if (a, b) != ("a", "0")]
    record = {"label_frames": {"columns": ["style", "content"], "combos": seen}}
    assert default_count(SimpleNamespace(labels=labels, header=record)) == 138   # pairs no take had: left out
    assert default_count(SimpleNamespace(labels={"style": list("ab")}, header={})) == 60
    assert default_count(SimpleNamespace(labels={}, header={})) == 60


def test_eval_spreads_labels_over_the_combinations_the_training_takes_had(tiny_run, sample_dir, tmp_path):
    """A pair of labels no training take had (an active raise in the full data) has nothing real to be
    compared with on either side of the split; --all-combinations asks for every pair anyway."""
    from trainer.evaluate import balanced_labels, label_combinations, label_spread
    model = model_file.load(tiny_run / "model.ganim")
    seen = [dict(zip(model.header["label_frames"]["columns"], v)) for v, _ in model.header["label_frames"]["combos"]]
    every = label_combinations(model, all_combinations=True)
    assert len(every) == len(model.labels["style"]) * len(model.labels["content"]) > len(seen)  # the sample lacks pairs
    assert label_combinations(model) == seen
    # Whole rounds in order, then the remainder on combinations the generation seed draws, so that no
    # combination is always the one with an extra clip: every one gets it under some seed.
    assert balanced_labels(model, 2 * len(seen) + 1, seed=0)[:2 * len(seen)] == seen + seen
    rest = min(3, len(seen) - 1)
    drawn = balanced_labels(model, 2 * len(seen) + rest, seed=0)
    assert len(drawn) == 2 * len(seen) + rest and drawn[:2 * len(seen)] == seen + seen
    assert len({tuple(c.values()) for c in drawn[2 * len(seen):]}) == rest and all(c in seen for c in drawn)
    landed = {tuple(c.values()) for s in range(100) for c in balanced_labels(model, len(seen) + 1, seed=s)[len(seen):]}
    assert len(landed) == len(seen)
    assert balanced_labels(model, len(every), seed=0, all_combinations=True) == every
    missing = [c for c in every if c not in seen]
    text = label_spread(model)
    assert text.startswith(f"labels spread evenly over {len(seen)} combinations (left out, no training take has them: ")
    assert "left over" not in text and "left over" not in label_spread(model, count=2 * len(seen))
    assert label_spread(model, count=2 * len(seen) + 1).endswith(
        "; the 1 clip left over after 2 rounds goes to a combination each generation seed draws")
    assert label_spread(model, count=len(seen) + 2).endswith(
        "; the 2 clips left over after 1 round go to combinations each generation seed draws")
    assert " ".join(missing[0].values()) in text
    assert label_spread(model, all_combinations=True) == f"labels spread evenly over {len(every)} combinations"
    older = model_file.Model({k: v for k, v in model.header.items() if k != "label_frames"}, model.weights)
    assert label_combinations(older) == every   # a file that does not say: every pair, as before
    out = tmp_path / "all.json"
    assert run_cli("eval", tiny_run / "model.ganim", "--data", sample_dir, "--count", 8, "--frames", 90,
                   "--all-combinations", "--json", out) == 0
    assert json.loads(out.read_text())["label_spread"] == label_spread(model, all_combinations=True, count=8)
    assert label_spread(model, all_combinations=True, count=8).endswith(
        "; 8 clips, fewer than the combinations: each generation seed draws which combinations get one")


def test_select_names_each_scored_file_by_the_run_it_came_from():
    from trainer.select import run_name
    assert run_name("runs/r0/snapshots/model_0009500.ganim") == "r0"
    assert run_name("runs/r0/model.ganim") == "r0"
    # snapshots gathered into one folder plot as one run, not one run per file
    assert run_name("runs/picked/model_0008000.ganim") == run_name("runs/picked/model_0008500.ganim") == "picked"
    assert run_name("blender_ganim/models/default.ganim") == "default"
    assert run_name("runs/avg/r0_8500-10000.ganim") == "r0_8500-10000"


def test_select_without_snapshots_is_a_one_line_error(tmp_path, sample_dir, capsys):
    (tmp_path / "empty").mkdir()
    assert run_cli("select", tmp_path / "empty", "--data", sample_dir) == 2
    assert "--snapshot-every" in capsys.readouterr().err


def test_select_best_refuses_to_write_over_a_file_of_the_run(tmp_path, sample_dir, capsys, default_model):
    run = tmp_path / "run"
    (run / "snapshots").mkdir(parents=True)
    for kept in (run / "snapshots" / "model_0000005.ganim", run / "model.ganim"):
        shutil.copyfile(default_model, kept)
    before = (run / "model.ganim").read_bytes()
    for target in (run / "model.ganim", run / "snapshots" / "model_0000005.ganim"):
        assert run_cli("select", run, "--data", sample_dir, "--best", target) == 2
        assert f"--best {target} is {target}, a file of the run: name a new file" in capsys.readouterr().err
    assert (run / "model.ganim").read_bytes() == before
    assert run_cli("select", run, "--data", sample_dir, "--every", 0) == 2
    assert "--every 0: give 1 (every snapshot) or more" in capsys.readouterr().err


def test_normalisation_comes_from_training_takes_only(tiny_run, sample_dir, cache):
    from trainer import data as data_mod
    model = model_file.load(tiny_run / "model.ganim")
    held = set(model.header["training"]["validation_takes"])
    ds = data_mod.load_dataset([sample_dir], window=48, cache_dir=cache)
    train_frames = np.concatenate([c for c, n in zip(ds.clips, ds.names) if n.split("#")[0] not in held])
    assert np.allclose(model.header["norm"]["mean"], train_frames.mean(0), atol=1e-3)
    assert not np.allclose(model.header["norm"]["mean"], np.concatenate(ds.clips).mean(0), atol=1e-3)


def test_critic_sees_known_frames_kept():
    fake, real = torch.zeros(2, 3, 5), torch.ones(2, 3, 5)
    mask = torch.tensor([1.0, 1, 0, 0, 1]).view(1, 1, 5).expand(2, 1, 5)
    out = train_mod.composite(fake, real, mask)
    assert out[:, :, [0, 1, 4]].eq(1).all() and out[:, :, [2, 3]].eq(0).all()


def test_fit_labels_adds_the_classifier_to_an_older_model(tiny_run, sample_dir, cache, tmp_path):
    model = model_file.load(tiny_run / "model.ganim")
    old = tmp_path / "old.ganim"
    model_file.save(old, model.header, labeler.network_weights(model.weights))
    assert not labeler.available(model_file.load(old))
    new = tmp_path / "new.ganim"
    assert run_cli("fit-labels", old, "--data", sample_dir, "--cache", cache, "--out", new) == 0
    fitted = model_file.load(new)
    assert labeler.available(fitted)
    for k in model.weights:  # the same classifier a training run fits, generator untouched
        np.testing.assert_allclose(fitted.weights[k], model.weights[k], atol=1e-4)
    assert fitted.header["label_frames"] == model.header["label_frames"]  # take lengths recorded too


def test_training_records_each_label_combinations_take_length_and_sample_notes_a_long_ask(tiny_run, tmp_path,
                                                                                         capsys):
    model = model_file.load(tiny_run / "model.ganim")
    record = model.header["label_frames"]
    assert record["columns"] == list(model.labels) and record["combos"]
    for values, frames in record["combos"]:
        assert all(v in model.labels[c] for c, v in zip(record["columns"], values)) and frames >= 48  # --window
    (style, content), short = min(record["combos"], key=lambda c: c[1])
    wanted = ["--label", f"style={style}", "--label", f"content={content}"]
    assert run_cli("sample", tiny_run / "model.ganim", "--out", tmp_path / "long", "--frames", 2 * short, *wanted) == 0
    assert f"note: style {style}, content {content}: the training takes run about {short} frames" in capsys.readouterr().err
    assert run_cli("sample", tiny_run / "model.ganim", "--out", tmp_path / "fits", "--frames", short, *wanted) == 0
    assert "note:" not in capsys.readouterr().err
    seen = {tuple(values) for values, _ in record["combos"]}
    style, content = next((a, b) for a in model.labels["style"] for b in model.labels["content"] if (a, b) not in seen)
    apart = ["--label", f"style={style}", "--label", f"content={content}"]
    assert run_cli("sample", tiny_run / "model.ganim", "--out", tmp_path / "apart", "--frames", 64, *apart) == 0
    assert f"note: style {style} with content {content}: no training take has these labels together" in \
        capsys.readouterr().err


def test_learning_rate_falls_along_a_cosine_to_a_tenth_after_the_given_step():
    cfg = {"lr_decay_after": 100, "steps": 200}
    assert [train_mod.lr_at(s, 1.0, cfg) for s in (1, 100)] == [1.0, 1.0]
    assert train_mod.lr_at(150, 1.0, cfg) == pytest.approx(0.55)
    assert train_mod.lr_at(200, 1.0, cfg) == pytest.approx(0.1)
    lrs = [train_mod.lr_at(s, 1.0, cfg) for s in range(100, 201)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))
    assert train_mod.lr_at(200, 1.0, {"lr_decay_after": 0, "steps": 200}) == 1.0


def test_resumed_run_with_lr_decay_ends_at_a_tenth(tiny_run, sample_dir, cache, tmp_path):
    run = tmp_path / "cosine"
    shutil.copytree(tiny_run, run)
    assert run_cli("train", sample_dir, "--out", run, "--steps", 16, "--ckpt-every", 2, "--cache", cache,
                   "--resume", "--lr-decay-after", 12, *SMALL) == 0
    ck = torch.load(run / "checkpoint.pt", weights_only=True)
    cfg = train_mod.DEFAULTS
    assert all(g["lr"] == pytest.approx(cfg["lr_g"] / 10) for g in ck["opt_g"]["param_groups"])
    assert all(g["lr"] == pytest.approx(2 * cfg["lr_g"] / 10) for g in ck["opt_d"]["param_groups"])


def test_critic_learns_twice_as_fast_as_the_generator_unless_told(tiny_run, sample_dir, cache, tmp_path):
    """The default two-timescale rates (README: at equal rates runs drifted past their peak)."""
    assert json.loads((tiny_run / "config.json").read_text())["lr_d"] == pytest.approx(4e-4)
    for extra, lr_d in ((["--lr", "1e-4"], 2e-4), (["--lr", "1e-4", "--lr-d", "1e-4"], 1e-4)):
        run = tmp_path / f"rates{lr_d}"
        assert run_cli("train", sample_dir, "--out", run, "--steps", 2, "--ckpt-every", 2, "--cache", cache,
                       *extra, *SMALL) == 0
        assert json.loads((run / "config.json").read_text())["lr_d"] == pytest.approx(lr_d)


def test_another_seed_is_measured_on_the_same_held_out_takes(tiny_run, sample_dir, cache, tmp_path):
    run = tmp_path / "seed1"
    assert run_cli("train", sample_dir, "--out", run, "--steps", 2, "--seed", 1, "--cache", cache, *SMALL) == 0
    held = (tiny_run / "validation_takes.txt").read_text()
    assert held.strip() and (run / "validation_takes.txt").read_text() == held
    assert model_file.load(run / "model.ganim").header["training"]["validation_takes"] == held.split()


def test_diversity_target_is_a_fraction_of_the_real_spread(tiny_run, sample_dir, cache, tmp_path, capsys):
    targets = {}
    for fraction in ("1", "0.5"):
        run = tmp_path / fraction
        shutil.copytree(tiny_run, run)
        assert run_cli("train", sample_dir, "--out", run, "--steps", 13, "--cache", cache, "--resume",
                       "--diversity-target", fraction, *SMALL) == 0
        log = capsys.readouterr()
        targets[fraction] = float(re.search(r"pushed apart up to ([0-9.]+)", log.out + log.err).group(1))
    assert targets["1"] > 0.05
    assert targets["0.5"] == pytest.approx(targets["1"] / 2, abs=1e-4)


def test_mixed_window_lengths_draw_only_clips_that_long(sample_dir, cache):
    from trainer import data as data_mod
    ds = data_mod.load_dataset([sample_dir], window=48, cache_dir=cache, log=lambda *a: None)
    sampler = data_mod.WindowSampler(ds, 48, seed=0, window_max=96)
    lengths = {sampler.draw_length() for _ in range(200)}
    assert lengths <= set(range(48, 97, 4)) and {48, 96} <= lengths
    x, _ = sampler.sample(5, 96)
    assert x.shape[:2] == (5, 96)
    long_enough = np.array([len(c) >= 96 for c in ds.clips])
    assert np.all(sampler.weights_for(96)[~long_enough] == 0) and not long_enough.all()
    assert data_mod.WindowSampler(ds, 48).draw_length() == 48  # no --window-max: one length


def test_mixed_windows_train_and_are_recorded(tiny_run, sample_dir, cache, tmp_path):
    run = tmp_path / "mixed"
    assert run_cli("train", sample_dir, "--out", run, "--steps", 3, "--ckpt-every", 3, "--cache", cache,
                   "--window-max", 96, *SMALL) == 0
    training = model_file.load(run / "model.ganim").header["training"]
    assert (training["window"], training["window_max"]) == (48, 96)
    shutil.copytree(tiny_run, tmp_path / "copy")  # a fixed-window run cannot go on with mixed windows
    assert run_cli("train", sample_dir, "--out", tmp_path / "copy", "--steps", 14, "--cache", cache, "--resume",
                   "--window-max", 96, *SMALL) == 2


def test_free_length_trains_is_recorded_and_part_of_resume(tiny_run, sample_dir, cache, tmp_path, capsys):
    run = tmp_path / "long"
    assert run_cli("train", sample_dir, "--out", run, "--steps", 3, "--ckpt-every", 3, "--cache", cache,
                   "--free-length", 96, *SMALL) == 0
    assert model_file.load(run / "model.ganim").header["training"]["free_length"] == 96
    shutil.copytree(tiny_run, tmp_path / "copy")  # a run without long draws cannot go on with them
    assert run_cli("train", sample_dir, "--out", tmp_path / "copy", "--steps", 14, "--cache", cache, "--resume",
                   "--free-length", 96, *SMALL) == 2
    assert "(free_length: None in the run, 96 now)" in capsys.readouterr().err
    assert run_cli("train", sample_dir, "--out", tmp_path / "short", "--cache", cache, "--free-length", 40,
                   *SMALL) == 2
    assert "--free-length 40 is shorter than --window 48" in capsys.readouterr().err


def test_init_fine_tunes_from_a_model_after_the_critic_warms_up(tiny_run, sample_dir, cache, tmp_path, capsys):
    base = model_file.load(tiny_run / "model.ganim")
    run = tmp_path / "warm"  # the critic alone for every step: the generator must not move
    assert run_cli("train", sample_dir, "--out", run, "--steps", 3, "--ckpt-every", 3, "--cache", cache,
                   "--init", tiny_run / "model.ganim", "--d-warmup", 3, *SMALL) == 0
    assert "fine-tuning model.ganim" in capsys.readouterr().err
    warm = model_file.load(run / "model.ganim")
    assert warm.header["training"]["init"] == "model.ganim:" + base.header["sha256"][:12]
    assert warm.header["norm"] == base.header["norm"]
    for k, v in labeler.network_weights(base.weights).items():
        assert np.array_equal(warm.weights[k], v), k
    held = set(base.header["training"]["validation_takes"])
    assert held and held <= set(warm.header["training"]["validation_takes"])
    assert "sampling" not in warm.header  # a base that records none: the shipped defaults

    style = next(iter(base.labels["style"]))  # a base with sampling of its own hands it on
    tuned_base = synthesis.with_sampling(synthesis.with_sampling(base, {"temperature": 0.3}),
                                         {"smooth_sigma": 2.5}, labels={"style": [style]})
    model_file.save(tmp_path / "tuned_base.ganim", tuned_base.header, tuned_base.weights)
    run = tmp_path / "tuned"  # and after the warm-up it learns
    assert run_cli("train", sample_dir, "--out", run, "--steps", 4, "--ckpt-every", 4, "--cache", cache,
                   "--init", tmp_path / "tuned_base.ganim", "--d-warmup", 2, *SMALL) == 0
    assert "the model keeps tuned_base.ganim's sampling (temperature 0.3" in capsys.readouterr().err
    tuned = model_file.load(run / "model.ganim")
    assert any(not np.array_equal(tuned.weights[k], v) for k, v in labeler.network_weights(base.weights).items())
    assert tuned.header["sampling"] == {"temperature": 0.3, "by_label": {"style": {style: {"smooth_sigma": 2.5}}}}


def test_init_refuses_a_model_that_does_not_fit_the_data(tiny_run, sample_dir, cache, tmp_path, capsys):
    args = ["train", sample_dir, "--steps", 2, "--cache", cache, *SMALL]
    assert run_cli(*args, "--out", tmp_path / "a", "--init", tiny_run / "model.ganim", "--condition", "style") == 2
    assert "labels differ from the data's (column content only in the model)" in capsys.readouterr().err
    assert run_cli(*args, "--out", tmp_path / "b", "--init", tiny_run / "model.ganim", "--hidden", "48") == 2
    assert "32 wide, not --hidden 48" in capsys.readouterr().err
    base = model_file.load(tiny_run / "model.ganim")
    skeleton = dict(base.header["skeleton"], names=[*base.header["skeleton"]["names"][:-1], "Tail"])
    other = tmp_path / "other.ganim"
    model_file.save(other, {k: v for k, v in base.header.items() if k != "sha256"} | {"skeleton": skeleton},
                    base.weights)
    assert run_cli(*args, "--out", tmp_path / "s", "--init", other) == 2
    assert "the model is for another skeleton (bones Tail are not in the data)" in capsys.readouterr().err
    broken = tmp_path / "broken.ganim"
    broken.write_bytes((tiny_run / "model.ganim").read_bytes()[:2000])
    assert run_cli(*args, "--out", tmp_path / "c", "--init", broken) == 2
    err = capsys.readouterr().err
    assert "--init:" in err and "corrupt" in err


def test_label_weight_gives_the_critic_label_heads_that_learn_real_labels(sample_dir, cache, tmp_path):
    import torch
    run = tmp_path / "labelled"
    assert run_cli("train", sample_dir, "--out", run, "--steps", 60, "--ckpt-every", 60, "--cache", cache,
                   "--label-weight", 1, "--lr-d", 2e-3, *SMALL) == 0
    model = model_file.load(run / "model.ganim")
    vocab = model.labels
    D = torch.load(run / "checkpoint.pt", weights_only=True)["D"]
    assert {k for k in D if k.startswith("classify.")} == {f"classify.{c}.{p}" for c in vocab for p in ("weight", "bias")}
    with open(run / "losses.csv") as f:
        rows = list(csv.DictReader(f))
    cls_d = np.array([float(r["cls_d"]) for r in rows])
    chance = sum(np.log(len(v)) for v in vocab.values())  # fresh heads guess uniformly
    assert abs(cls_d[0] - chance) < 0.5
    assert cls_d[-10:].mean() < cls_d[:10].mean() - 0.5  # they learn which labels real windows have
    assert all(float(r["cls_g"]) > 0 for r in rows)  # and G is scored by them
    assert max(float(r["d"]) for r in rows) < 4.5  # the logged critic loss stays the hinge alone


def test_nearest_draw_pulls_draws_toward_the_real_windows(sample_dir, cache, tmp_path):
    """Same seed, same batches, so steps compare in pairs: with a heavy --nearest-draw the logged
    distance from each free row's real window to its nearer draw falls below the run without it."""
    def nearest(weight):
        run = tmp_path / f"n{weight}"
        assert run_cli("train", sample_dir, "--out", run, "--steps", 40, "--ckpt-every", 40, "--cache", cache,
                       "--nearest-draw", weight, "--lr", 1e-3, *SMALL) == 0
        with open(run / "losses.csv") as f:
            return np.array([float(r["nearest"]) for r in csv.DictReader(f)])
    off, on = nearest(0), nearest(20)
    assert on[0] == pytest.approx(off[0])  # step 1: the same weights and draws
    gain = off[-15:] - on[-15:]
    assert (gain > 0).sum() >= 12 and gain.mean() > 0.01, gain


@pytest.mark.parametrize("option", ["--foot-weight", "--energy-weight", "--mismatch-weight"])
def test_negative_term_weights_are_refused(sample_dir, cache, tmp_path, capsys, option):
    assert run_cli("train", sample_dir, "--out", tmp_path / "neg", "--cache", cache, option, -1, *SMALL) == 2
    assert f"{option} -1.0: give 0 (off) or a positive weight" in capsys.readouterr().err


def test_train_smooth_filters_as_sampling_does_and_the_critic_sees_it(model, sample_dir, cache, tmp_path, capsys):
    """--train-smooth: the torch low-pass is synthesis.smooth's twin (contacts kept), and the critic judges
    the filtered windows: same seed, same batches, the critic's first loss differs from a run without it
    (and two runs without it agree), and the run records the sigma."""
    from trainer import lowpass
    spec = model.header["features"]
    f = np.random.default_rng(0).standard_normal((40, spec["channels"]))
    twin = lowpass.features(torch.from_numpy(f.T[None].copy()), spec, 1.75)[0].numpy().T
    assert np.allclose(twin, synthesis.smooth(f, spec, 1.75), atol=1e-12)
    assert np.array_equal(twin[:, spec["contact_start"]:], f[:, spec["contact_start"]:])
    x = torch.from_numpy(f.T[None].copy())
    assert lowpass.features(x, spec, 0) is x  # off: the network's own output

    def first_critic_loss(name, *extra):
        run = tmp_path / name
        assert run_cli("train", sample_dir, "--out", run, "--steps", 2, "--cache", cache, *SMALL, *extra) == 0
        with open(run / "losses.csv") as fh:
            return float(next(csv.DictReader(fh))["d"]), model_file.load(run / "model.ganim").header["training"]
    plain, training = first_critic_loss("plain")
    again, _ = first_critic_loss("again")
    smoothed, training_smoothed = first_critic_loss("smoothed", "--train-smooth", 1.75)
    assert plain == again and smoothed != plain
    assert training["train_smooth"] == 0 and training_smoothed["train_smooth"] == 1.75
    assert run_cli("train", sample_dir, "--out", tmp_path / "neg", "--cache", cache, "--train-smooth", -1, *SMALL) == 2
    assert "--train-smooth -1.0: give 0 (off) or the low-pass's sigma in frames" in capsys.readouterr().err


def test_foot_fast_must_lie_above_the_band_start(sample_dir, cache, tmp_path, capsys):
    assert run_cli("train", sample_dir, "--out", tmp_path / "ff", "--cache", cache, "--foot-fast", 0.5, *SMALL) == 2
    assert "--foot-fast 0.5: the band charged starts at 0.5 m/s" in capsys.readouterr().err


def test_foot_weight_slows_planted_feet_and_is_recorded(sample_dir, cache, tmp_path):
    """Same seed, same batches: the sliding of planted feet is logged in every run, and with a
    heavy --foot-weight it falls below the run without it."""
    def slide(weight):
        run = tmp_path / f"f{weight}"
        assert run_cli("train", sample_dir, "--out", run, "--steps", 40, "--ckpt-every", 40, "--cache", cache,
                       "--foot-weight", weight, "--lr", 1e-3, *SMALL) == 0
        training = model_file.load(run / "model.ganim").header["training"]
        assert training["foot_weight"] == weight and training["foot_fast"] == 1.0  # the band's default top
        with open(run / "losses.csv") as f:
            return np.array([float(r["slide"]) for r in csv.DictReader(f)])
    off, on = slide(0), slide(50)
    assert off[0] == pytest.approx(on[0]) and off[0] > 0  # step 1: the same weights and draws, logged either way
    assert on[-15:].mean() < 0.7 * off[-15:].mean(), (off[-15:], on[-15:])


def test_energy_weight_is_logged_in_every_run_recorded_and_acts(sample_dir, cache, tmp_path):
    """Same seed, same batches: how far the labels' energy is off real's is logged in every run with
    FK; with --energy-weight the generator's steps change (tests/test_label_energy.py shows which way:
    a tiny run's batches hold too few windows per label for the log to tell)."""
    def run(weight):
        out = tmp_path / f"e{weight}"
        assert run_cli("train", sample_dir, "--out", out, "--steps", 6, "--ckpt-every", 6, "--cache", cache,
                       "--energy-weight", weight, *SMALL) == 0
        model = model_file.load(out / "model.ganim")
        assert model.header["training"]["energy_weight"] == weight
        with open(out / "losses.csv") as f:
            logged = np.array([float(r["energy"]) for r in csv.DictReader(f)])
        return logged, torch.load(out / "checkpoint.pt", weights_only=True)["G"]  # G itself, not its slow EMA
    (off, g_off), (on, g_on) = run(0), run(50)
    assert off[0] == pytest.approx(on[0]) and np.abs(off).max() > 0  # step 1: the same weights and draws
    assert max((g_off[k] - g_on[k]).abs().max().item() for k in g_off) > 1e-4


def test_mismatch_weight_teaches_the_critic_to_tell_labels_apart(sample_dir, cache, tmp_path):
    """With --mismatch-weight the critic sees real windows under wrong labels as fakes: its hinge on
    them, logged as `mismatch` (0 without the option), falls as it learns the labels, and the weight
    is recorded."""
    run = tmp_path / "mismatched"
    assert run_cli("train", sample_dir, "--out", run, "--steps", 60, "--ckpt-every", 60, "--cache", cache,
                   "--mismatch-weight", 1, "--lr-d", 2e-3, *SMALL) == 0
    assert model_file.load(run / "model.ganim").header["training"]["mismatch_weight"] == 1
    with open(run / "losses.csv") as f:
        logged = np.array([float(r["mismatch"]) for r in csv.DictReader(f)])
    assert logged.min() >= 0 and logged[:10].mean() > 0.2
    assert logged[-10:].mean() < 0.5 * logged[:10].mean(), logged


def test_nearest_of_k_draws_trains_and_refuses_fewer_than_two(sample_dir, cache, tmp_path, capsys):
    run = tmp_path / "k4"
    assert run_cli("train", sample_dir, "--out", run, "--steps", 4, "--ckpt-every", 4, "--cache", cache,
                   "--nearest-draw", 4, "--nearest-of", 4, *SMALL) == 0
    with open(run / "losses.csv") as f:
        assert all(float(r["nearest"]) > 0 for r in csv.DictReader(f))
    capsys.readouterr()
    assert run_cli("train", sample_dir, "--out", tmp_path / "k1", "--steps", 2, "--cache", cache,
                   "--nearest-draw", 4, "--nearest-of", 1, *SMALL) != 0
    assert "--nearest-of 1" in capsys.readouterr().err
    assert run_cli("train", sample_dir, "--out", tmp_path / "v0", "--steps", 2, "--cache", cache,
                   "--d-fk-vel-scale", 0, *SMALL) != 0
    assert "--d-fk-vel-scale 0" in capsys.readouterr().err


def test_balanced_labels_give_every_combination_the_same_share(sample_dir, cache):
    from trainer import data as data_mod
    ds = data_mod.load_dataset([sample_dir], window=48, cache_dir=cache, log=lambda *a: None)
    combos = [tuple(ds.labels[c][i] for c in sorted(ds.labels)) for i in range(len(ds.clips))]
    kinds = sorted(set(combos))
    assert len(kinds) > 1

    def shares(sampler):
        w = sampler.weights_for(48)
        return np.array([sum(w[i] for i, k in enumerate(combos) if k == kind) for kind in kinds])

    plain = shares(data_mod.WindowSampler(ds, 48))
    balanced = shares(data_mod.WindowSampler(ds, 48, balance_labels=True))
    assert plain.max() - plain.min() > 0.02  # the sample's takes differ in length
    np.testing.assert_allclose(balanced, 1 / len(kinds), atol=1e-9)
    # within one combination the longer take still gives more windows
    sampler = data_mod.WindowSampler(ds, 48, balance_labels=True)
    w, lengths = sampler.weights_for(48), [len(c) for c in ds.clips]
    for kind in kinds:
        idx = [i for i, k in enumerate(combos) if k == kind]
        if len(idx) > 1 and len({lengths[i] for i in idx}) > 1:
            a, b = sorted(idx, key=lambda i: lengths[i])[::len(idx) - 1]
            assert w[a] < w[b]


def test_balanced_labels_are_recorded_and_part_of_resume(tiny_run, sample_dir, cache, tmp_path):
    run = tmp_path / "balanced"
    assert run_cli("train", sample_dir, "--out", run, "--steps", 3, "--ckpt-every", 3, "--cache", cache,
                   "--balance-labels", *SMALL) == 0
    assert model_file.load(run / "model.ganim").header["training"]["balance_labels"] is True
    shutil.copytree(tiny_run, tmp_path / "copy")  # an unbalanced run cannot go on balanced
    assert run_cli("train", sample_dir, "--out", tmp_path / "copy", "--steps", 14, "--cache", cache, "--resume",
                   "--balance-labels", *SMALL) == 2


def test_average_writes_the_mean_of_snapshots_and_refuses_other_networks(tiny_run, tmp_path, capsys):
    a, b = tiny_run / "snapshots" / "model_0000006.ganim", tiny_run / "snapshots" / "model_0000012.ganim"
    out = tmp_path / "avg.ganim"
    assert run_cli("average", a, b, "--out", out) == 0
    ma, mb, avg = model_file.load(a), model_file.load(b), model_file.load(out)
    name = next(k for k in avg.weights if not np.array_equal(ma.weights[k], mb.weights[k]))
    np.testing.assert_allclose(avg.weights[name], (ma.weights[name] + mb.weights[name]) / 2, rtol=1e-6, atol=1e-7)
    assert avg.header["training"]["steps"] == 12
    sources = avg.header["training"]["averaged"]  # which run each file came from, and which file exactly
    assert [(r["file"], r["run"], r["steps"]) for r in sources] == [(a.name, tiny_run.name, 6), (b.name, tiny_run.name, 12)]
    assert [r["sha256"] for r in sources] == [ma.header["sha256"], mb.header["sha256"]]
    capsys.readouterr()
    assert run_cli("info", out) == 0
    assert f"averaged  2 snapshots: {tiny_run.name} @6, {tiny_run.name} @12" in capsys.readouterr().out
    from trainer.select import find_snapshots
    assert find_snapshots([out]) == [(12, out)]  # scored at its newest snapshot's step, not a number in its name
    motions, _ = synthesis.generate(avg, frames=60, seed=0)  # the average is a model like any other
    assert np.isfinite(motions[0].rotations).all()
    other = tmp_path / "other.ganim"
    model_file.save(other, {**mb.header, "arch": {**mb.header["arch"], "hidden": 64}}, mb.weights)
    assert run_cli("average", a, other, "--out", tmp_path / "bad.ganim") == 2
    assert "they differ in arch" in capsys.readouterr().err and not (tmp_path / "bad.ganim").exists()
    assert run_cli("average", a, "--out", tmp_path / "one.ganim") == 2
    assert "at least two" in capsys.readouterr().err
    assert run_cli("average", a, b, "--out", a) == 2
    assert "one of the inputs" in capsys.readouterr().err and model_file.load(a).weights.keys() == ma.weights.keys()
