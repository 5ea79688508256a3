"""scripts/pack_data.py: a training set repacked smaller for the device machine, read back as the original."""

import io
import lzma
import tarfile
from pathlib import Path

import numpy as np
import pytest

import script_modules
from blender_ganim.core import bvh

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"


def _module():
    return script_modules.load("scripts/pack_data.py")


def _frames(text):
    block = text.split("Frame Time:", 1)[1].split("\n", 1)[1]
    return np.array([r.split() for r in block.splitlines() if r.strip()], dtype=float)


def test_packed_set_reads_back_as_the_original_within_the_rounding(tmp_path):
    pack = _module()
    out = tmp_path / "sample.tar.xz"
    assert pack.main([str(SAMPLE), "--out", str(out)]) == 0
    with tarfile.open(out) as tar:
        names = {Path(m.name).name: m.name for m in tar.getmembers()}
        raw_packed = {n: tar.extractfile(m).read() for n, m in names.items()}
    packed = {n: b.decode() for n, b in raw_packed.items()}
    originals = sorted(SAMPLE.glob("*.bvh"))
    assert {p.name for p in originals} | {"labels.csv", "LICENSE.txt", "README.md", "NOTE.txt"} == set(names)
    assert raw_packed["labels.csv"] == (SAMPLE / "labels.csv").read_bytes()
    assert "2 decimals" in packed["NOTE.txt"]
    for p in originals:
        text = p.read_text()
        assert packed[p.name].split("Frame Time:")[0] == text.split("Frame Time:")[0]  # hierarchy byte for byte
        a, b = _frames(text), _frames(packed[p.name])
        assert a.shape == b.shape and np.abs(a - b).max() <= 0.005 + 1e-9, p.name
        assert "-0.00 " not in packed[p.name]
        m = bvh.read_bytes(packed[p.name].encode(), p.name)
        assert m.frames == len(a)
    again = tmp_path / "again.tar.xz"  # an archive in (the real use): read front to back, names kept
    pack.pack([str(out)], again, log=None)
    with tarfile.open(again) as tar:
        repacked = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    assert set(repacked) == set(names.values())
    assert all(repacked[names[p.name]] == raw_packed[p.name] for p in originals), "rounding twice changes nothing"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for p in originals:
            tar.add(p, arcname=p.name)
    assert out.stat().st_size < 0.75 * len(lzma.compress(raw.getvalue(), preset=9)), "smaller than the originals, xz'd"


def test_packed_archive_trains_like_a_folder(tmp_path):
    pytest.importorskip("torch")
    from trainer import data
    pack = _module()
    out = tmp_path / "sample.tar.xz"
    pack.pack([str(SAMPLE)], out, log=None)
    a = data.load_dataset([str(SAMPLE)], cache_dir=tmp_path / "a", log=lambda *x: None)
    b = data.load_dataset([str(out)], cache_dir=tmp_path / "b", log=lambda *x: None)
    assert a.names == b.names and a.labels == b.labels
    assert [len(c) for c in a.clips] == [len(c) for c in b.clips]
    c = a.spec["contact_start"]  # features move by rounding noise; a foot contact at its threshold may flip
    diff = np.concatenate([np.abs(x[:, :c] - y[:, :c]) for x, y in zip(a.clips, b.clips)]).max(0)
    spread = np.concatenate([x[:, :c] for x in a.clips]).std(0)
    assert np.all(diff <= 0.03 * spread + 1e-3), (diff / (spread + 1e-9)).max()  # velocities: 1.7% at most
    flips = sum(int((x[:, c:] != y[:, c:]).sum()) for x, y in zip(a.clips, b.clips))
    assert flips <= 0.01 * sum(x[:, c:].size for x in a.clips), flips


def test_a_malformed_bvh_is_named(tmp_path):
    pack = _module()
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "broken.bvh").write_text("HIERARCHY\nROOT Hips\n{\n}\n")
    with pytest.raises(pack.DataError, match="broken.bvh"):
        pack.pack([str(tmp_path / "in")], tmp_path / "x.tar.xz", log=None)
    assert not list(tmp_path.glob("x.tar.xz*")), "no archive, no stray .part"
    (tmp_path / "empty").mkdir()
    with pytest.raises(pack.DataError, match="no BVH files"):
        pack.pack([str(tmp_path / "empty")], tmp_path / "y.tar.xz", log=None)
    with pytest.raises(pack.DataError, match="not a folder"):
        pack.pack([str(tmp_path / "in" / "broken.bvh") + ".txt"], tmp_path / "y.tar.xz", log=None)
    assert not list(tmp_path.glob("y.tar.xz*"))
