"""Build the installable Blender extension zip: ``python scripts/build_extension.py [--out dist/]``.

Blender installs an extension by unpacking the zip into ``extensions/<repo>/<id>/``
and importing that folder as the package ``bl_ext.<repo>.<id>``; the manifest must
sit beside its ``__init__.py``.  So the zip's root is the *contents* of
``blender_ganim/`` plus ``blender_manifest.toml``; the package's imports are all
relative, so they work under either name.  Only package files go in (Python
sources and shipped models), never tests, caches or stray files.

When bpy is importable, the zip is checked with Blender's own validator
(``bl_pkg/cli/blender_ext.py validate``, shipped in the bpy wheel).
"""

import argparse
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "blender_ganim"
MANIFEST = REPO / "blender_manifest.toml"
INCLUDE = ("*.py", "models/*.ganim")
MAX_MODEL_BYTES = 10 * 1024 * 1024
FIXED_TIME = (2024, 1, 1, 0, 0, 0)     # same inputs, same zip bytes


def manifest():
    with open(MANIFEST, "rb") as f:
        return tomllib.load(f)


def package_files():
    """Files of the package that belong in the extension, as (path, name in zip)."""
    files = set()
    for pattern in INCLUDE:
        for path in PACKAGE.rglob(pattern) if pattern.startswith("*") else PACKAGE.glob(pattern):
            rel = path.relative_to(PACKAGE)
            if path.is_file() and not any(part.startswith((".", "__pycache__")) for part in rel.parts):
                files.add((path, rel.as_posix()))
    return sorted(files, key=lambda f: f[1])


def build(out_dir):
    """Write ``<out_dir>/<id>-<version>.zip``; returns its path."""
    meta = manifest()
    files = package_files()
    for path, name in files:
        if name.startswith("models/") and path.stat().st_size > MAX_MODEL_BYTES:
            raise SystemExit(f"build_extension: {name} is {path.stat().st_size / 2**20:.1f} MB, "
                             f"over the {MAX_MODEL_BYTES // 2**20} MB limit")
    if "__init__.py" not in {name for _, name in files}:
        raise SystemExit(f"build_extension: {PACKAGE}/__init__.py is missing")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{meta['id']}-{meta['version']}.zip"
    tmp = target.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        _add(zf, MANIFEST, "blender_manifest.toml")
        for path, name in files:
            _add(zf, path, name)
    tmp.replace(target)
    return target


def _add(zf, path, name):
    info = zipfile.ZipInfo(name, FIXED_TIME)
    info.compress_type = zipfile.ZIP_STORED if name.endswith(".ganim") else zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, path.read_bytes())


def blender_validator():
    """Path of Blender's extension tool in the installed bpy wheel, or None."""
    try:
        import bpy
    except ImportError:
        return None
    root = Path(bpy.__file__).resolve().parents[3]        # <bpy>/<ver>/scripts/modules/bpy
    tool = root / "scripts" / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"
    return tool if tool.is_file() else None


def validate(zip_path, tool=None):
    """Run Blender's validator on the zip; returns (ok, output). Raises if no validator."""
    tool = tool or blender_validator()
    if tool is None:
        raise RuntimeError("Blender's extension validator is not available (no bpy)")
    done = subprocess.run([sys.executable, str(tool), "validate", str(zip_path)],
                          capture_output=True, text=True)
    return done.returncode == 0, (done.stdout + done.stderr).strip()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "dist"), help="output folder (default: dist/)")
    parser.add_argument("--no-validate", action="store_true", help="skip Blender's validator")
    args = parser.parse_args(argv)
    target = build(args.out)
    with zipfile.ZipFile(target) as zf:
        count = len(zf.namelist())
    print(f"built {target} ({count} files, {target.stat().st_size / 2**20:.1f} MB)")
    if args.no_validate:
        return 0
    tool = blender_validator()
    if tool is None:
        print("not validated: bpy is not importable here (Blender's validator ships in the bpy wheel)")
        return 0
    ok, output = validate(target, tool)
    print(output or ("valid" if ok else "invalid"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
