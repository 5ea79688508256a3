"""Repack a BVH training set smaller: every number of the motion blocks rounded to N decimals, xz again.

    python scripts/pack_data.py ../shared/data/bandai-namco-motion-ds2-full.tar.xz --out .carry/ds2-full.tar.xz

Why: the device machine takes at most 64 MiB of working tree per call, and the full Bandai Namco
archive is 74 MB (its parsed cache 375 MB). Its BVH files write six decimals; at two (0.01 degree,
0.01 cm, far below capture noise) the same takes pack to about half the size (the full set: 74 MB
-> 40.5 MB of xz, 8 minutes on a 2-core CPU). Only the numbers after ``Frame Time:`` change: the hierarchy, the
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

from trainer.data import DataError  # noqa: E402


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


EXTRAS = re.compile(r"(labels\.csv|LICEN[CS]E(\.txt|\.md)?|README(\.md|\.txt)?)$", re.I)


def _items(inputs):
    """(name in the new archive, bytes, is BVH) of every BVH file and every labels/licence/README file;
    an archive is read once, front to back (reaching each member from the start again would unpack
    an xz archive once per file)."""
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and (f.suffix.lower() == ".bvh" or EXTRAS.search(f.name)):
                    is_bvh = f.suffix.lower() == ".bvh"
                    yield (f"data/{f.name}" if is_bvh else str(f.relative_to(p))), f.read_bytes(), is_bvh
        elif p.suffix.lower() == ".bvh":
            yield f"data/{p.name}", p.read_bytes(), True
        elif p.is_file() and re.search(r"\.tar(\.(xz|gz|bz2))?$|\.t[gx]z$", p.name):
            with tarfile.open(p) as tar:
                for m in tar:
                    is_bvh = m.name.lower().endswith(".bvh")
                    if m.isfile() and (is_bvh or EXTRAS.search(Path(m.name).name)):
                        yield m.name, tar.extractfile(m).read(), is_bvh
        else:
            raise DataError(f"{item}: not a folder, a .bvh file or a .tar.xz archive of BVH files")


def _write(tmp, inputs, decimals, preset, log):
    """One pass over the inputs; returns (BVH files, their bytes in)."""
    t0 = time.time()
    done = raw_in = 0
    seen = set()
    with lzma.open(tmp, "wb", preset=preset) as xz, tarfile.open(fileobj=xz, mode="w") as tar:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), int(t0)
            tar.addfile(info, io.BytesIO(data))

        for name, data, is_bvh in _items(inputs):
            if is_bvh:
                if Path(name).name in seen:  # the loader refuses the same take name twice, so refuse it here
                    raise DataError(f"the same file name appears twice: {Path(name).name}")
                seen.add(Path(name).name)
                raw_in += len(data)
                try:
                    data = round_motion(data.decode("utf-8", errors="strict"), decimals).encode()
                except (DataError, UnicodeDecodeError, ValueError) as e:
                    raise DataError(f"{Path(name).name}: cannot repack ({e})") from None
                done += 1
                if log and done % 500 == 0:
                    log(f"{done} files, {time.time() - t0:.0f} s")
            add(name, data)
        add("NOTE.txt", (f"Repacked by blender-ganim scripts/pack_data.py from "
                         f"{', '.join(Path(i).name for i in inputs)}: every number after 'Frame Time:' rounded "
                         f"to {decimals} decimals; hierarchies, file names, labels and licence unchanged. The "
                         f"licence of the original data applies.\n").encode())
    if not done:
        raise DataError(f"no BVH files found in {', '.join(map(str, inputs))}")
    return done, raw_in


def pack(inputs, out, decimals=2, preset=9, log=print):
    """Write ``out`` (.tar.xz) atomically; returns (files, bytes in, bytes out)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    try:
        files, raw_in = _write(tmp, inputs, decimals, preset, log)
    except BaseException:
        tmp.unlink(missing_ok=True)  # neither a half archive under the real name nor a stray .part
        raise
    tmp.replace(out)
    return files, raw_in, out.stat().st_size


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
    except (DataError, OSError) as e:
        print(f"pack_data: error: {e}", file=sys.stderr)
        return 2
    print(f"{n} BVH files, {raw / 1e6:.1f} MB of text -> {args.out}: {size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
