"""Shared test fixtures: where the data lives."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
SHARED = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def sample_dir():
    return SAMPLE


@pytest.fixture(scope="session")
def shared_data():
    if not (SHARED / "bandai-namco-motion-ds2").is_dir():
        pytest.skip("shared/data is not beside the checkout")
    return SHARED


@pytest.fixture(scope="session")
def walk_clip():
    from blender_ganim.core import bvh
    return bvh.read(SAMPLE / "dataset-2_walk_normal_004.bvh")


@pytest.fixture(scope="module")
def walk_fk(walk_clip):
    """(clip, feature spec, torch PoseFK in float64, its normalised features [1, C, T]) of the walk;
    one per test module, as a test may cast the PoseFK in place."""
    torch = pytest.importorskip("torch")
    import numpy as np
    from blender_ganim.core import features
    from trainer.fk import PoseFK
    spec = features.spec_for(walk_clip.skeleton)
    x = features.encode(walk_clip, spec)
    mean, std = x.mean(0), x.std(0) + 1e-3
    fk = PoseFK(walk_clip.skeleton, spec, mean, std, walk_clip.fps).double()
    return walk_clip, spec, fk, torch.tensor(np.asarray((x - mean) / std).T[None])


@pytest.fixture(scope="session")
def default_model():
    """The shipped model: the add-on's default, which every Blender test uses."""
    path = REPO / "blender_ganim" / "models" / "default.ganim"
    assert path.is_file(), f"no shipped model at {path}"
    return path


@pytest.fixture(scope="session")
def model(default_model):
    from blender_ganim.core import model_file
    return model_file.load(default_model)


@pytest.fixture(scope="module")
def registered_addon():
    """The add-on registered for one test module, as Blender does when it is enabled."""
    import blender_ganim
    blender_ganim.register()
    yield
    blender_ganim.unregister()


# bpy 4.2's module build can crash while the interpreter shuts down after add-on classes
# were registered and unregistered (every test passes, then exit status 139). Once pytest
# has finished and reported, leave without that teardown, keeping pytest's exit status.
_exit_status = {}


def pytest_sessionfinish(session, exitstatus):
    _exit_status["code"] = int(exitstatus)


def pytest_unconfigure(config):
    import os
    import sys
    bpy = sys.modules.get("bpy")
    if bpy is not None and "code" in _exit_status and bpy.app.version < (4, 3, 0):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status["code"])
