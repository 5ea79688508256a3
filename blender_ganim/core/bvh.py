"""Read and write BVH files: any hierarchy, 3 or 6 channels per joint in any order, End Sites.

Position channels *replace* the joint's OFFSET (as Blender's importer does); joints
without them keep their OFFSET.  The frame block is parsed in one vectorised pass;
only when something is wrong do we walk it line by line to say exactly where.
"""

import codecs
import io
import os
import warnings

import numpy as np

from . import rotations as rot
from .atomic import temporary_beside
from .motion import Motion
from .skeleton import POSITION_CHANNELS, ROTATION_CHANNELS, Skeleton

VALID_CHANNELS = POSITION_CHANNELS + ROTATION_CHANNELS


class BVHError(ValueError):
    """A BVH file that cannot be read: names the file, the line and what is wrong."""

    def __init__(self, path, line, message):
        self.path, self.line, self.message = str(path), line, message
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {message}")


class _Tokens:
    """Whitespace tokens of the header, each with its 1-based line number."""

    def __init__(self, path, lines):
        self.path = path
        self.items = [(tok, n + 1) for n, line in enumerate(lines) for tok in line.split()]
        self.pos = 0
        self.last_line = len(lines)

    def peek(self):
        return self.items[self.pos][0] if self.pos < len(self.items) else None

    def next(self, what):
        if self.pos >= len(self.items):
            raise BVHError(self.path, self.last_line, f"file ends early: expected {what}")
        tok = self.items[self.pos]
        self.pos += 1
        return tok

    def expect(self, word):
        tok, line = self.next(repr(word))
        if tok.upper() != word.upper():
            raise BVHError(self.path, line, f"expected {word!r}, found {tok!r}")
        return line

    def number(self, what):
        tok, line = self.next(what)
        try:
            value = float(tok)
        except ValueError:
            raise BVHError(self.path, line, f"expected a number for {what}, found {tok!r}") from None
        if not np.isfinite(value):
            raise BVHError(self.path, line, f"{what} is {tok}, not a finite number")
        return value


def _parse_hierarchy(path, tokens):
    names, parents, offsets, channels, end_sites = [], [], [], [], {}
    tokens.expect("HIERARCHY")
    tok, line = tokens.next("ROOT")
    if tok.upper() != "ROOT":
        raise BVHError(path, line, f"expected 'ROOT', found {tok!r}")

    def joint(parent):
        name, line = tokens.next("a joint name")
        if name in names:
            raise BVHError(path, line, f"joint name {name!r} is used twice")
        index = len(names)
        names.append(name)
        parents.append(parent)
        tokens.expect("{")
        tokens.expect("OFFSET")
        offsets.append([tokens.number(f"OFFSET of {name}") for _ in range(3)])
        chans = []
        if tokens.peek() and tokens.peek().upper() == "CHANNELS":
            tokens.next("CHANNELS")
            count_tok, line = tokens.next("channel count")
            if count_tok not in ("0", "1", "2", "3", "4", "5", "6"):
                raise BVHError(path, line, f"channel count of {name} must be 0 to 6, found {count_tok!r}")
            for _ in range(int(count_tok)):
                c, line = tokens.next("a channel name")
                match = [v for v in VALID_CHANNELS if v.lower() == c.lower()]
                if not match:
                    raise BVHError(path, line, f"unknown channel {c!r} on joint {name} "
                                               f"(expected one of {', '.join(VALID_CHANNELS)})")
                chans.append(match[0])
            rot_count = sum(c in ROTATION_CHANNELS for c in chans)
            if rot_count not in (0, 3) or len(set(chans)) != len(chans):
                raise BVHError(path, line, f"joint {name} needs 0 or 3 distinct rotation channels, has {chans}")
        channels.append(tuple(chans))
        while True:
            tok, line = tokens.next("'}' closing joint " + name)
            key = tok.upper()
            if key == "}":
                return
            if key == "JOINT":
                joint(index)
            elif key == "END":
                tokens.expect("Site")
                tokens.expect("{")
                tokens.expect("OFFSET")
                end_sites[index] = [tokens.number(f"End Site OFFSET of {name}") for _ in range(3)]
                tokens.expect("}")
            else:
                raise BVHError(path, line, f"unexpected {tok!r} inside joint {name}")

    joint(-1)
    return Skeleton(names=tuple(names), parents=np.array(parents), offsets=np.array(offsets),
                    channels=tuple(channels), end_sites=end_sites)


def _lines_have_width(block, width):
    """Every non-blank line holds exactly ``width`` values (vectorised over the bytes).

    The total count alone would accept a short line followed by a long one.
    """
    b = np.frombuffer(block.encode("latin-1", "replace"), dtype=np.uint8)
    sep = b <= 32                                   # space, tab, CR, LF, ...
    starts = np.flatnonzero(~sep[1:] & sep[:-1]) + 1
    if b.size and not sep[0]:
        starts = np.concatenate([[0], starts])
    bounds = np.concatenate([[-1], np.flatnonzero(b == 10), [b.size]])
    counts = np.diff(np.searchsorted(starts, bounds))
    counts = counts[counts > 0]
    return bool(np.all(counts == width))


def _locate_frame_error(path, lines, first_line, num_frames, width):
    """Slow path: find the first bad frame line and raise a precise error."""
    for i in range(num_frames):
        n = first_line + i
        if n - 1 >= len(lines) or not lines[n - 1].strip():
            raise BVHError(path, n, f"file is truncated: header says {num_frames} frames, found {i}")
        fields = lines[n - 1].split()
        if len(fields) != width:
            raise BVHError(path, n, f"frame {i} has {len(fields)} values, expected {width}")
        for k, f in enumerate(fields):
            try:
                v = float(f)
            except ValueError:
                raise BVHError(path, n, f"frame {i}, value {k + 1} is not a number: {f!r}") from None
            if not np.isfinite(v):
                raise BVHError(path, n, f"frame {i}, value {k + 1} is {f}, not a finite number")
    extra = [n for n in range(first_line + num_frames, len(lines) + 1) if lines[n - 1].strip()]
    if extra:
        raise BVHError(path, extra[0], f"more frame lines than the {num_frames} the header declares")
    raise BVHError(path, first_line, "frame data could not be read")


def _decode(path, data):
    if not data.strip():
        raise BVHError(path, 1, "file is empty")
    if b"\x00" in data[:65536]:
        raise BVHError(path, 1, "binary data, not a BVH text file")
    data = data.removeprefix(codecs.BOM_UTF8)  # Windows tools start text files with a byte-order mark
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return data.decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes any byte
            raise BVHError(path, 1, "not a text file") from None


def parse(text, path="<string>"):
    """Parse BVH text into a :class:`Motion`."""
    lines = text.splitlines()
    if not lines:
        raise BVHError(path, 1, "file is empty")
    motion_line = next((i for i, line in enumerate(lines) if line.strip().upper() == "MOTION"), None)
    first = next((i for i, line in enumerate(lines) if line.strip()), 0)
    if lines[first].strip().upper() != "HIERARCHY":
        raise BVHError(path, first + 1, "missing HIERARCHY section: not a BVH file")
    tokens = _Tokens(path, lines[:motion_line] if motion_line is not None else lines)
    skeleton = _parse_hierarchy(path, tokens)
    if tokens.peek() is not None:
        tok, line = tokens.items[tokens.pos]
        raise BVHError(path, line, f"unexpected {tok!r} after the hierarchy")
    if motion_line is None:
        raise BVHError(path, len(lines), "missing MOTION section")

    # "Frames: N" and "Frame Time: t", tolerating extra spaces.
    n = motion_line + 1
    def header_value(n, label):
        if n >= len(lines):
            raise BVHError(path, n, f"file ends before '{label}:'")
        line = lines[n]
        head, _, value = line.partition(":")
        if " ".join(head.split()).lower() != label.lower():
            raise BVHError(path, n + 1, f"expected '{label}:', found {line.strip()!r}")
        try:
            number = float(value)
        except ValueError:
            raise BVHError(path, n + 1, f"'{label}:' needs a number, found {value.strip()!r}") from None
        if not np.isfinite(number):  # inf or nan would fail later, without the file and line
            raise BVHError(path, n + 1, f"'{label}:' needs a finite number, found {value.strip()!r}")
        return number
    num_frames = header_value(n, "Frames")
    if num_frames != int(num_frames) or num_frames < 1:
        raise BVHError(path, n + 1, f"frame count must be a positive integer, found {num_frames:g}")
    num_frames = int(num_frames)
    frame_time = header_value(n + 1, "Frame Time")
    if not np.isfinite(frame_time) or frame_time <= 0:
        raise BVHError(path, n + 2, f"frame time must be positive, found {frame_time:g}")
    first_line = n + 3  # 1-based line number of frame 0

    width = sum(len(c) for c in skeleton.channels)
    block = "\n".join(lines[first_line - 1:])
    values = None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            values = np.fromstring(block, dtype=np.float64, sep=" ")
        except (ValueError, DeprecationWarning):
            values = None
    if (values is None or values.size != num_frames * width or not np.all(np.isfinite(values))
            or not _lines_have_width(block, width)):
        _locate_frame_error(path, lines, first_line, num_frames, width)
    frames = values.reshape(num_frames, width)
    return _frames_to_motion(skeleton, frames, _snap_fps(1.0 / frame_time), name=os.path.splitext(os.path.basename(str(path)))[0])


def _snap_fps(fps):
    """'Frame Time: 0.0333333' means 30 fps, not 30.00003: snap to a whole rate when that close."""
    whole = round(fps)
    return float(whole) if whole > 0 and abs(fps - whole) < 2e-4 * fps else fps


def _frames_to_motion(skeleton, frames, fps, name=""):
    num_frames, J = len(frames), len(skeleton)
    positions = np.broadcast_to(skeleton.offsets, (num_frames, J, 3)).copy()
    rotations = np.zeros((num_frames, J, 4))
    rotations[..., 0] = 1.0
    col = 0
    by_order = {}
    for j, chans in enumerate(skeleton.channels):
        rot_cols = []
        for c in chans:
            if c in POSITION_CHANNELS:
                positions[:, j, POSITION_CHANNELS.index(c)] = frames[:, col]
            else:
                rot_cols.append(col)
            col += 1
        if rot_cols:
            by_order.setdefault(skeleton.rotation_order(j), []).append((j, rot_cols))
    for order, items in by_order.items():
        joints = [j for j, _ in items]
        cols = np.array([c for _, c in items])                   # [Jg, 3]
        angles = np.radians(frames[:, cols])                     # [T, Jg, 3]
        rotations[:, joints] = rot.euler_to_quat(angles, order)
    return Motion(skeleton, rotations, positions, fps, name=name)


def read(path):
    """Read a BVH file into a :class:`Motion`; raises :class:`BVHError` on bad input."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise BVHError(path, 0, f"cannot read file: {e.strerror or e}") from None
    return parse(_decode(path, data), path=path)


def read_bytes(data, path="<bytes>"):
    return parse(_decode(path, data), path=path)


# ----------------------------------------------------------------------- write

def _fmt(v):
    return f"{v:.6f}"


def _hierarchy_text(skeleton):
    out = io.StringIO()
    out.write("HIERARCHY\n")

    def joint(j, depth):
        pad = "\t" * depth
        kind = "ROOT" if j == 0 else "JOINT"
        out.write(f"{pad}{kind} {skeleton.names[j]}\n{pad}{{\n")
        out.write(f"{pad}\tOFFSET {' '.join(_fmt(v) for v in skeleton.offsets[j])}\n")
        chans = skeleton.channels[j]
        if chans:
            out.write(f"{pad}\tCHANNELS {len(chans)} {' '.join(chans)}\n")
        for c in skeleton.children(j):
            joint(c, depth + 1)
        if j in skeleton.end_sites:
            out.write(f"{pad}\tEnd Site\n{pad}\t{{\n")
            out.write(f"{pad}\t\tOFFSET {' '.join(_fmt(v) for v in skeleton.end_sites[j])}\n{pad}\t}}\n")
        out.write(f"{pad}}}\n")

    joint(0, 0)
    return out.getvalue()


def motion_to_frames(motion):
    """The ``[T, channels]`` frame block of a motion (angles in degrees)."""
    sk = motion.skeleton
    cols = []
    for j, chans in enumerate(sk.channels):
        euler = None
        for c in chans:
            if c in POSITION_CHANNELS:
                cols.append(motion.positions[:, j, POSITION_CHANNELS.index(c)])
            else:
                if euler is None:
                    order = sk.rotation_order(j)
                    euler = np.degrees(rot.euler_unroll(rot.quat_to_euler(motion.rotations[:, j], order)))
                cols.append(euler[:, order.index(c[0].upper())])
    return np.stack(cols, axis=-1) if cols else np.zeros((motion.frames, 0))


def dumps(motion, precision=6):
    frames = motion_to_frames(motion)
    out = io.StringIO()
    out.write(_hierarchy_text(motion.skeleton))
    out.write(f"MOTION\nFrames: {motion.frames}\nFrame Time: {1.0 / motion.fps:.7f}\n")
    np.savetxt(out, frames, fmt=f"%.{precision}f", delimiter=" ")
    return out.getvalue()


def write(path, motion, precision=6):
    """Write a Motion as BVH, atomically (a crash never leaves half a file).

    A failed write removes its temporary file and names ``path`` in its OSError, not the
    temporary file the user never asked for.
    """
    text = dumps(motion, precision)
    with temporary_beside(path) as tmp, open(tmp, "w", newline="\n") as f:
        f.write(text)
