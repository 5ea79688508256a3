"""Atomic file writes: a crash or a full disk never leaves half a file where a good one was."""

import contextlib
import os


@contextlib.contextmanager
def temporary_beside(path):
    """Yield a temporary name beside ``path`` to write to; once the block ends, it replaces ``path``.
    On any failure the temporary file is removed, and an OSError names ``path``, not the temporary
    file the user never asked for (BVH files and model files both write this way)."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as e:
        if e.errno is None:
            raise
        raise OSError(e.errno, e.strerror, str(path)) from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
