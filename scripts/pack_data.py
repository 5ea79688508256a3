"""Repack a BVH training set smaller: every number of the motion blocks rounded to N decimals, xz again.

    python scripts/pack_data.py ../shared/data/bandai-namco-motion-ds2-full.tar.xz --out .carry/ds2-full.tar.xz

Why: the device machine takes at most 64 MiB of working tree per call, and the full Bandai Namco
archive is 74 MB (its parsed cache 375 MB). Its BVH files write six decimals; at two (0.01 degree,
0.01 cm) the same takes pack to about half the size (a measured sample of 202 files: 5.5 MB -> 2.9 MB
of xz), far below capture noise. Only the numbers after ``Frame Time:`` change: the hierarchy, the
file names, ``labels.csv``, the licence and the README travel as they are, plus a NOTE.txt saying what
was rounded. The output is a .tar.xz that `ganim train` reads like the original; its take names, and
so the held-out split, are the same. Keep it out of git (`.carry/` is ignored): the dataset's clips
must not enter the repository.
"""

import argparse
import io
import lzma
import re
import sys
import tarfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from trainer.data import DataError, find_sources  # noqa: E402


def round_motion(text, decimals):
    """The BVH text with its frame block's numbers rounded to ``decimals`` (header kept byte for byte)."""
    m = re.search(r"^\s*Frame Time:[^\n]*\n", text, re.M)
    if m is None or not re.search(r"^\s*MOTION\b", text[:m.start()], re.M):
        raise DataError("no MOTION block with a 'Frame Time:' line")
    head, block = text[:m.end()], text[m.end():]
    rows = [r.split() for r in block.splitlines() if r.strip()]
    if not rows:
        return text
    width = len(rows[0])
    if any(len(r) != width for r in rows):
        raise DataError("frame lines have different numbers of values")
    values = np.round(np.array(rows, dtype=np.float64), decimals) + 0.0  # + 0.0: no '-0.00'
    line = " ".join([f"%.{decimals}f"] * width) + "\n"
    return head + (line * len(values)) % tuple(values.ravel())


def _read(source):
    if source.archive:
        with tarfile.open(source.archive) as tar:
            return tar.extractfile(source.member).read()
    return Path(source.path).read_bytes()


def _extras(inputs):
    """labels.csv, LICENSE / README / NOTE text files beside the BVH files: (name in archive, bytes)."""
    keep = re.compile(r"(labels\.csv|LICEN[CS]E(\.txt|\.md)?|README(\.md|\.txt)?)$", re.I)
    out = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            out += [(str(f.relative_to(p)), f.read_bytes()) for f in sorted(p.rglob("*")) if f.is_file() and keep.search(f.name)]
        elif p.is_file() and p.suffix.lower() != ".bvh":
            with tarfile.open(p) as tar:
                out += [(m.name, tar.extractfile(m).read()) for m in tar.getmembers() if m.isfile() and keep.search(Path(m.name).name)]
    return out


def pack(inputs, out, decimals=2, preset=9, log=print):
    """Write ``out`` (.tar.xz); returns (files, bytes in, bytes out)."""
    sources, _ = find_sources(inputs)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    raw_in = 0
    t0 = time.time()
    with lzma.open(tmp, "wb", preset=preset) as xz, tarfile.open(fileobj=xz, mode="w") as tar:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), int(t0)
            tar.addfile(info, io.BytesIO(data))

        for i, s in enumerate(sources):
            data = _read(s)
            raw_in += len(data)
            try:
                text = round_motion(data.decode("utf-8", errors="strict"), decimals)
            except (DataError, UnicodeDecodeError, ValueError) as e:
                raise DataError(f"{s.name}: cannot repack ({e})") from None
            add(s.member if s.archive else f"data/{s.name}", text.encode())
            if log and (i + 1) % 500 == 0:
                log(f"{i + 1}/{len(sources)} files, {time.time() - t0:.0f} s")
        for name, data in _extras(inputs):
            add(name, data)
        note = (f"Repacked by blender-ganim scripts/pack_data.py from {', '.join(Path(i).name for i in inputs)}: "
                f"every number after 'Frame Time:' rounded to {decimals} decimals; hierarchies, file names, "
                f"labels and licence unchanged. The licence of the original data applies.\n")
        add("NOTE.txt", note.encode())
    tmp.replace(out)
    return len(sources), raw_in, out.stat().st_size


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="+", help="BVH folders or .tar.xz archives (with their labels.csv)")
    ap.add_argument("--out", required=True, help="the .tar.xz to write (keep it in an ignored folder, e.g. .carry/)")
    ap.add_argument("--decimals", type=int, default=2, help="decimals kept in the frame block (default 2)")
    ap.add_argument("--preset", type=int, default=9, help="xz preset 0-9 (default 9)")
    args = ap.parse_args(argv)
    if not 0 <= args.decimals <= 6:
        ap.error("--decimals must be 0-6")
    try:
        n, raw, size = pack(args.data, args.out, args.decimals, args.preset, log=lambda m: print(m, file=sys.stderr))
    except DataError as e:
        print(f"pack_data: error: {e}", file=sys.stderr)
        return 2
    print(f"{n} BVH files, {raw / 1e6:.1f} MB of text -> {args.out}: {size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
