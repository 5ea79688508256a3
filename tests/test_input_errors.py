"""User mistakes in files and options: one line `ganim: error: ...` naming the file, exit status 2,
no traceback and no temporary file left behind."""

import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

from blender_ganim.core import bvh, model_file, paths
from blender_ganim.core.motion import MAX_FPS
from blender_ganim.core.synthesis import SynthesisError
from trainer import cli
from trainer.labels import LabelError, label_difference, read_labels

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "blender_ganim" / "models" / "default.ganim"


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 20-frame walk written as BVH: small enough for every conversion here."""
    path = tmp_path_factory.mktemp("clip") / "walk.bvh"
    bvh.write(path, bvh.read(REPO / "data" / "sample" / "dataset-2_walk_normal_004.bvh").slice(0, 20))
    return path


def one_error(capsys, *args):
    """Run `ganim ARGS` in this process; the one stderr line it printed (it must exit 2)."""
    assert cli.main([str(a) for a in args]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ganim: error: "), lines
    return lines[0]


def leftovers(folder):
    return [p.name for p in Path(folder).iterdir() if ".tmp" in p.name]


# ----------------------------------------------------------------- writing where one cannot

def test_output_that_is_a_folder_is_named_and_leaves_no_temp_file(clip, tmp_path, capsys):
    (tmp_path / "out").mkdir()
    line = one_error(capsys, "convert", clip, tmp_path / "out")
    assert line == f"ganim: error: {tmp_path / 'out'}: Is a directory"
    assert not leftovers(tmp_path)


def test_output_under_a_file_is_named(clip, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    line = one_error(capsys, "convert", clip, tmp_path / "file" / "a.bvh")
    assert line == f"ganim: error: {tmp_path / 'file' / 'a.bvh'}: Not a directory"


def test_output_in_a_missing_folder_names_the_file_not_its_temp_file(clip, tmp_path, capsys):
    line = one_error(capsys, "convert", clip, tmp_path / "missing" / "x.bvh")
    assert line == f"ganim: error: {tmp_path / 'missing' / 'x.bvh'}: No such file or directory"


def test_bvh_write_removes_its_temp_file_and_names_the_path(clip, tmp_path):
    (tmp_path / "out.bvh").mkdir()
    with pytest.raises(IsADirectoryError) as e:
        bvh.write(tmp_path / "out.bvh", bvh.read(clip))
    assert e.value.filename == str(tmp_path / "out.bvh")
    assert not leftovers(tmp_path)


def test_sampling_copy_onto_a_folder_is_named(tmp_path, capsys):
    (tmp_path / "new.ganim").mkdir()
    line = one_error(capsys, "sampling", MODEL, "--temperature", "0.5", "--out", tmp_path / "new.ganim")
    assert line == f"ganim: error: {tmp_path / 'new.ganim'}: Is a directory"
    assert not leftovers(tmp_path)


def test_follow_path_given_a_folder_for_its_csv(tmp_path, capsys):
    line = one_error(capsys, "follow-path", MODEL, tmp_path, "--speed", "1.3", "--out", tmp_path / "o.bvh")
    assert line == f"ganim: error: {tmp_path}: Is a directory"


def test_sample_into_a_file_is_named(tmp_path, capsys):
    (tmp_path / "taken").write_text("x")
    line = one_error(capsys, "sample", MODEL, "--out", tmp_path / "taken", "--frames", "30")
    assert line == f"ganim: error: {tmp_path / 'taken'}: File exists"


# ----------------------------------------------------------------- BVH headers

@pytest.mark.parametrize("label, value", [("Frames", "inf"), ("Frames", "nan"),
                                          ("Frame Time", "inf"), ("Frame Time", "nan")])
def test_bvh_header_number_must_be_finite(clip, tmp_path, capsys, label, value):
    lines = clip.read_text().splitlines()
    n = next(i for i, line in enumerate(lines) if line.startswith(label + ":"))
    lines[n] = f"{label}: {value}"
    bad = tmp_path / "bad.bvh"
    bad.write_text("\n".join(lines) + "\n")
    line = one_error(capsys, "info", bad)
    assert line == f"ganim: error: {bad}:{n + 1}: '{label}:' needs a finite number, found '{value}'"


def test_bvh_with_a_byte_order_mark_reads(clip, tmp_path):
    marked = tmp_path / "bom.bvh"
    marked.write_bytes(b"\xef\xbb\xbf" + clip.read_bytes())
    m, ref = bvh.read(marked), bvh.read(clip)
    assert m.frames == ref.frames and np.allclose(m.positions, ref.positions)


# ----------------------------------------------------------------- frame rates

@pytest.mark.parametrize("fps", ["0", "-30", "inf", "nan", "1e5"])
def test_convert_refuses_a_rate_it_cannot_make(clip, tmp_path, capsys, fps):
    line = one_error(capsys, "convert", clip, tmp_path / "o.bvh", "--fps", fps)
    assert line.startswith(f"ganim: error: --fps {float(fps):g}: ") and f"at most {MAX_FPS:g} fps" in line
    assert not (tmp_path / "o.bvh").exists()


@pytest.mark.parametrize("fps", [0.0, float("inf"), float("nan"), 1e5])
def test_motion_refuses_a_rate_it_cannot_make(clip, fps):
    m = bvh.read(clip)
    with pytest.raises(ValueError, match="at most 1000 fps"):
        m.resample(fps)
    with pytest.raises(ValueError, match="at most 1000 fps"):
        m.sample_at([0.0, 0.5], fps=fps)


def test_motion_keeps_its_own_rate_and_resamples_to_the_top_rate(clip):
    m = bvh.read(clip)
    assert m.sample_at([0.0, 1.0]).fps == m.fps
    assert m.resample(MAX_FPS).fps == MAX_FPS


# ----------------------------------------------------------------- CSV files

def test_a_label_given_twice_with_two_values_is_refused(clip, tmp_path, capsys):
    line = one_error(capsys, "inbetween", MODEL, clip, "--frames", "5:10", "--label", "style=elderly",
                     "--label", "style=normal", "--out", tmp_path / "x.bvh")
    assert line == "ganim: error: --label style is given twice (elderly, normal): give one value per label"


def test_labels_csv_with_a_byte_order_mark(tmp_path):
    csv = tmp_path / "labels.csv"
    csv.write_bytes("file,style\nwalk.bvh,elderly\n".encode("utf-8-sig"))
    assert read_labels(csv) == {"walk.bvh": {"style": "elderly"}}


def test_labels_csv_that_is_not_utf8_is_named(tmp_path):
    csv = tmp_path / "labels.csv"
    csv.write_bytes("file,style\nwalk.bvh,\u00e9l\u00e9gant\n".encode("latin-1"))
    with pytest.raises(LabelError, match=f"^{csv}: not UTF-8 text .*save it as UTF-8"):
        read_labels(csv)


def test_labels_csv_names_the_files_own_line(tmp_path):
    csv = tmp_path / "labels.csv"
    csv.write_text("file,style\n\nwalk.bvh,elderly\n\n,normal\n")
    with pytest.raises(LabelError, match=f"^{csv}:5: empty file name"):
        read_labels(csv)


def test_labels_csv_inside_an_archive_is_checked_as_a_folders_is(tmp_path):
    """A .tar.xz's labels.csv without a 'file' column was a KeyError traceback; now the folder's message,
    naming the archive and member."""
    import io
    import tarfile

    from trainer.data import load_label_table
    archive = tmp_path / "d.tar.xz"
    with tarfile.open(archive, "w:xz") as tar:
        data = b"name,style\nx.bvh,elderly\n"
        member = tarfile.TarInfo("d/labels.csv")
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
    with pytest.raises(LabelError, match=f"^{archive}:d/labels.csv: a labels CSV needs a header row starting "
                                         "with 'file'"):
        load_label_table([(archive, "d/labels.csv")])


def test_path_csv_with_a_byte_order_mark(model_file_loaded, tmp_path):
    csv = tmp_path / "path.csv"
    csv.write_bytes("x,z\n0,0\n1,2\n".encode("utf-8-sig"))
    xz = paths.read_csv(csv, model_file_loaded) * paths.meters_per_unit(model_file_loaded)
    np.testing.assert_allclose(xz, [[0, 0], [1, 2]])


def test_path_csv_that_is_not_utf8_is_named(model_file_loaded, tmp_path):
    csv = tmp_path / "path.csv"
    csv.write_bytes("x,z,note\n0,0,\u00e9\n1,2,\n".encode("latin-1"))
    with pytest.raises(SynthesisError, match=f"^{csv}: not UTF-8 text"):
        paths.read_csv(csv, model_file_loaded)


def test_path_csv_names_the_files_own_line(model_file_loaded, tmp_path):
    csv = tmp_path / "path.csv"
    csv.write_text("x,z\n\n0,0\n\n1,1\nnope,2\n")
    with pytest.raises(SynthesisError, match=f"^{csv}, row 6: x and z must be numbers"):
        paths.read_csv(csv, model_file_loaded)


@pytest.fixture(scope="module")
def model_file_loaded():
    return model_file.load(MODEL)


# ----------------------------------------------------------------- model files

@pytest.mark.parametrize("change, words", [
    (lambda w: w.pop("out.bias"), "model file lacks what its network needs (out.bias)"),
    (lambda w: w.__setitem__("blocks.0.conv1.weight", w["blocks.0.conv1.weight"][:, :-1]),
     "the weights do not fit the network the header describes"),
])
def test_model_whose_weights_do_not_fit_its_network(tmp_path, change, words):
    """A file saved with a valid checksum (by hand, or by another trainer) but weights missing or of
    other shapes: refused when loaded, not by a KeyError half way through generating."""
    model = model_file.load(MODEL)
    weights = dict(model.weights)
    change(weights)
    header = {k: v for k, v in model.header.items() if k != "sha256"}
    model_file.save(tmp_path / "odd.ganim", header, weights)
    with pytest.raises(model_file.ModelFileError, match=re.escape(f"{tmp_path / 'odd.ganim'}: {words}")):
        model_file.load(tmp_path / "odd.ganim")


def test_model_format_version_must_be_a_positive_whole_number(tmp_path):
    import json
    model = model_file.load(MODEL)
    for version in (0, True):  # written by hand: save() itself records the version a file needs
        header = {**model.header, "version": version}
        header["sha256"] = model_file._digest(header, model.weights)
        blob = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
        with open(tmp_path / "v.ganim", "wb") as f:  # a handle: given a name, numpy adds .npz
            np.savez(f, **{model_file.HEADER_KEY: blob}, **model.weights)
        with pytest.raises(model_file.ModelFileError, match="no valid format version"):
            model_file.load(tmp_path / "v.ganim")


def test_model_whose_header_member_is_not_npy(tmp_path, capsys):
    bad = tmp_path / "bad.ganim"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("__header__.npy", b'{"format": "ganim"}')
    with pytest.raises(model_file.ModelFileError, match="model file is corrupt"):
        model_file.load(bad)
    assert "model file is corrupt" in one_error(capsys, "info", bad)


def test_model_save_onto_a_folder_names_it_and_leaves_no_temp_file(model_file_loaded, tmp_path):
    (tmp_path / "m.ganim").mkdir()
    with pytest.raises(IsADirectoryError) as e:
        model_file.save(tmp_path / "m.ganim", model_file_loaded.header, model_file_loaded.weights)
    assert e.value.filename == str(tmp_path / "m.ganim")
    assert not leftovers(tmp_path)


# ----------------------------------------------------------------- training options (torch)

@pytest.mark.parametrize("option, value, words", [
    ("--steps", 0, "--steps 0: give at least 1 training step"),
    ("--batch", 0, "--batch 0: give at least 1 window per batch"),
    ("--hidden", 0, "--hidden 0: give a network width of at least 2"),
    ("--hidden", 1, "--hidden 1: give a network width of at least 2"),
    ("--window", 0, "--window 0: give a training window of at least 16 frames"),
    ("--window", 1, "--window 1: give a training window of at least 16 frames"),
    ("--window", 15, "--window 15: give a training window of at least 16 frames"),
    ("--ckpt-every", 0, "--ckpt-every 0: give at least 1"),
])
def test_train_refuses_sizes_it_cannot_run(tmp_path, capsys, option, value, words):
    pytest.importorskip("torch")
    tiny = ("--steps", 1, "--batch", 2, "--hidden", 8, "--window", 16, "--cache", tmp_path / "cache")  # bounded
    line = one_error(capsys, "train", REPO / "data" / "sample", "--out", tmp_path / "run", *tiny, option, value,
                     "--device", "cpu")
    assert line.startswith(f"ganim: error: {words}")
    assert not (tmp_path / "run" / "model.ganim").exists()


def test_train_out_that_is_a_file(tmp_path, capsys):
    pytest.importorskip("torch")
    (tmp_path / "run").write_text("x")
    line = one_error(capsys, "train", REPO / "data" / "sample", "--out", tmp_path / "run", "--device", "cpu")
    assert line == f"ganim: error: {tmp_path / 'run'}: File exists"


@pytest.mark.parametrize("content", [b"hello, I am not a checkpoint\n", b"", "cut"])
def test_resume_from_a_damaged_checkpoint(tmp_path, capsys, content):
    torch = pytest.importorskip("torch")
    from trainer import train as train_mod
    ckpt = tmp_path / "checkpoint.pt"
    if content == "cut":  # a real zip checkpoint, cut in half
        torch.save({"G": {"w": torch.zeros(64)}}, ckpt)
        content = ckpt.read_bytes()[: ckpt.stat().st_size // 2]
    ckpt.write_bytes(content)
    with pytest.raises(train_mod.TrainError) as e:
        train_mod._read_checkpoint(ckpt, torch.device("cpu"))
    assert str(e.value).startswith(f"{ckpt} is damaged (")
    assert str(e.value).endswith("): delete it to start over, or restore a copy")


def test_resume_from_a_checkpoint_that_is_no_ganim_state(tmp_path):
    torch = pytest.importorskip("torch")
    from trainer import train as train_mod
    ckpt = tmp_path / "checkpoint.pt"
    torch.save({"G": {}}, ckpt)
    with pytest.raises(train_mod.TrainError, match="not a checkpoint written by ganim train"):
        train_mod._read_checkpoint(ckpt, torch.device("cpu"))


def test_train_resume_with_a_damaged_checkpoint_is_one_line(tmp_path, capsys):
    pytest.importorskip("torch")
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.pt").write_text("not a checkpoint\n")
    assert cli.main([str(a) for a in ("train", REPO / "data" / "sample", "--out", run, "--resume", "--steps", 1,
                                      "--batch", 2, "--hidden", 8, "--window", 16, "--device", "cpu",
                                      "--cache", tmp_path / "cache")]) == 2
    err = capsys.readouterr().err  # the data's progress bar first, then the error alone
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (f"ganim: error: {run / 'checkpoint.pt'} is damaged (not a PyTorch "
                                            "checkpoint, or cut short): delete it to start over, or restore a copy")


def test_a_fine_tune_refusal_names_the_label_values_that_differ():
    """data/sample has 3 of the shipped model's 7 styles: the refusal named the columns (content, style),
    which match, not the values that do not."""
    said = label_difference({"style": ["active", "elderly", "normal"], "content": ["walk", "run"]},
                            {"style": ["elderly", "normal"], "content": ["walk", "run", "wave"]})
    assert said == "content wave only in the data; style active only in the model"
    assert label_difference({"style": ["a", "b"]}, {"style": ["b", "a"]}) == "style values in another order"


def test_labels_csv_with_spaces_after_commas_duplicates_and_no_rows(tmp_path):
    """"file, style" named a column " style"; a file labelled twice took the last row silently; a file
    of the header alone was said to need a header."""
    spaced = tmp_path / "spaced.csv"
    spaced.write_text("file, style, content\n a.bvh, elderly, walk\n")
    assert read_labels(spaced) == {"a.bvh": {"style": "elderly", "content": "walk"}}
    twice = tmp_path / "twice.csv"
    twice.write_text("file,style\na.bvh,elderly\nb.bvh,normal\na.bvh,elderly\na.bvh,youthful\n")
    with pytest.raises(LabelError, match=r"twice.csv:5: a.bvh is labelled again, differently from line 4"):
        read_labels(twice)
    header = tmp_path / "header.csv"
    header.write_text("file,style\n")
    assert read_labels(header) == {}
