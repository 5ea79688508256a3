"""The training-set loader: folders and archives, labels, the feature cache (numpy only)."""

import os
import shutil
import tarfile

import numpy as np
import pytest

from trainer import data


def _folder(sample_dir, dst, n=3):
    dst.mkdir()
    for f in sorted(sample_dir.glob("*.bvh"))[:n]:
        shutil.copy(f, dst / f.name)
    shutil.copy(sample_dir / "labels.csv", dst / "labels.csv")
    return dst


def test_cache_is_reused_and_rebuilt_when_files_change(sample_dir, tmp_path):
    folder = _folder(sample_dir, tmp_path / "d")
    cache = tmp_path / "cache"
    first = data.load_dataset([folder], cache_dir=cache, window=48, log=lambda m: None)
    assert len(list(cache.glob("*.npz"))) == 1
    again = data.load_dataset([folder], cache_dir=cache, window=48, log=lambda m: None)
    assert again.names == first.names and all(np.array_equal(a, b) for a, b in zip(again.clips, first.clips))
    assert len(list(cache.glob("*.npz"))) == 1          # a hit: nothing new written
    victim = sorted(folder.glob("*.bvh"))[0]
    victim.unlink()                                     # a file goes away ...
    fewer = data.load_dataset([folder], cache_dir=cache, window=48, log=lambda m: None)
    assert len(fewer.clips) == len(first.clips) - 2      # (the take and its mirrored copy)
    st = os.stat(sorted(folder.glob("*.bvh"))[0])
    os.utime(sorted(folder.glob("*.bvh"))[0], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    data.load_dataset([folder], cache_dir=cache, window=48, log=lambda m: None)   # ... or changes
    assert len(list(cache.glob("*.npz"))) == 3


def test_damaged_cache_is_rebuilt(sample_dir, tmp_path):
    folder = _folder(sample_dir, tmp_path / "d", 2)
    cache = tmp_path / "cache"
    data.load_dataset([folder], cache_dir=cache, window=48, log=lambda m: None)
    (cached,) = cache.glob("*.npz")
    cached.write_bytes(b"not an npz")
    said = []
    ds = data.load_dataset([folder], cache_dir=cache, window=48, log=said.append)
    assert len(ds.clips) == 4 and any("rebuilding damaged cache" in m for m in said)


def test_tar_xz_archive_reads_like_a_folder(sample_dir, tmp_path):
    folder = _folder(sample_dir, tmp_path / "d", 3)
    archive = tmp_path / "clips.tar.xz"
    with tarfile.open(archive, "w:xz") as tar:
        tar.add(folder, arcname="clips")
    a = data.load_dataset([archive], cache_dir=tmp_path / "c1", window=48, log=lambda m: None)
    b = data.load_dataset([folder], cache_dir=tmp_path / "c2", window=48, log=lambda m: None)
    assert sorted(a.names) == sorted(b.names) and a.vocab == b.vocab
    np.testing.assert_allclose(a.mean, b.mean, rtol=1e-5)


def test_mirrored_copies_swap_left_and_right_labels(sample_dir, tmp_path):
    folder = _folder(sample_dir, tmp_path / "d", 9)
    ds = data.load_dataset([folder], cache_dir=tmp_path / "c", window=48, log=lambda m: None)
    i = ds.names.index("dataset-2_walk-turn-left_normal_001.bvh#mirror")
    assert ds.labels["content"][i] == "walk-turn-right" and "walk-turn-right" in ds.vocab["content"]
    j = ds.names.index("dataset-2_walk_normal_004.bvh#mirror")
    assert ds.labels["content"][j] == "walk"


def test_split_holds_out_whole_takes_spread_over_labels(sample_dir, tmp_path):
    folder = _folder(sample_dir, tmp_path / "d", 9)
    ds = data.load_dataset([folder], cache_dir=tmp_path / "c", window=48, log=lambda m: None)
    held = data.split_takes(ds, fraction=0.3, seed=0)
    assert 1 <= len(held) <= 4
    kept = data.subset(ds, {n.split("#")[0] for n in ds.names} - held)
    assert not {n.split("#")[0] for n in kept.names} & held
    assert data.split_takes(ds, fraction=0.3, seed=0) == held   # deterministic


def test_swap_side_keeps_case():
    assert data._swap_side("wave-left-hand") == "wave-right-hand"
    assert data._swap_side("TurnLeft") == "TurnRight" and data._swap_side("LEFT") == "RIGHT"
    assert data._swap_side("walk") == "walk"


def test_a_label_column_the_table_lacks_is_named_with_the_columns_it_has(sample_dir, tmp_path):
    """A typo, or the labels.csv of export_actions without labels (file names alone): it said the column
    was "missing or empty" for five files, with no word on what to do."""
    folder = _folder(sample_dir, tmp_path / "d", n=2)
    with pytest.raises(data.DataError, match=r"labels.csv has no column 'mood' \(its label columns: .*content.*--condition none"):
        data.load_dataset([str(folder)], condition=("mood",))
    (folder / "labels.csv").write_text("file\n" + "".join(f"{p.name}\n" for p in sorted(folder.glob("*.bvh"))))
    with pytest.raises(data.DataError, match=r"no column 'style' \(its label columns: none\)"):
        data.load_dataset([str(folder)], condition=("style",))


def test_data_without_any_of_the_models_held_out_takes_is_named_as_other_data(sample_dir, tmp_path):
    """`ganim select` never scores held-out takes, yet it said "none of the model's held-out takes are
    in --data": now it says the data is not what the model was trained on."""
    from trainer import evaluate
    folder = _folder(sample_dir, tmp_path / "d", n=2)
    with pytest.raises(ValueError, match=r"--data holds none of the 2 takes the model held out from training "
                                         r"\(e\.g\. a\.bvh\), so it is not the data the model was trained on"):
        evaluate.load_real([str(folder)], heldout_names=["b.bvh", "a.bvh"], log=lambda *a: None)


def test_a_damaged_or_cut_short_archive_is_named(sample_dir, tmp_path):
    """A garbage .tar.xz raised tarfile.ReadError, a truncated one EOFError: tracebacks, not messages."""
    garbage = tmp_path / "garbage.tar.xz"
    garbage.write_bytes(b"not an archive at all" * 50)
    with pytest.raises(data.DataError, match=r"garbage.tar.xz: the archive is damaged or cut short"):
        data.load_dataset([str(garbage)], condition=())
    whole = tmp_path / "whole.tar.xz"
    with tarfile.open(whole, "w:xz") as tar:
        for f in sorted(sample_dir.glob("*.bvh"))[:3]:
            tar.add(f, arcname=f"takes/{f.name}")
    cut = tmp_path / "cut.tar.xz"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(data.DataError, match=r"cut.tar.xz: the archive is damaged or cut short"):
        data.load_dataset([str(cut)], condition=(), cache_dir=None)
