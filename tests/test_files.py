"""``ads_jax._files``: whole-file writes on a local file system (temporary file + fsync +
rename) and on an object store without atomic rename (the ``gs://`` in-memory double of
``tests/_memfs.py``: one object write, never a rename)."""

from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np
import pytest

from ads_jax import _files as F

import _memfs


@pytest.fixture
def gcs(monkeypatch):
    return _memfs.install(monkeypatch)


@pytest.fixture(params=["local", "gs"])
def where(request, tmp_path, monkeypatch):
    """(root, backend or None): a local directory, or a gs:// bucket in memory."""
    if request.param == "local":
        return str(tmp_path), None
    return "gs://bucket/run", _memfs.install(monkeypatch)


def _listing(root):
    return sorted(str(p)[len(str(root)) + 1:] for p in F.iter_files(root))


def test_paths_local_and_uri(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert F.is_local("runs/x") and F.is_local(tmp_path) and F.is_local("/a/b")
    assert not F.is_local("gs://bucket/x") and not F.is_local("s3://b/x")
    assert F.absolute("runs/x") == os.path.join(str(tmp_path), "runs", "x")
    # A URI is never made "absolute" (os.path.abspath would turn it into <cwd>/gs:/bucket/x).
    assert F.absolute("gs://bucket/run/x") == "gs://bucket/run/x"
    assert str(F.as_path("gs://bucket/run") / "config.json") == "gs://bucket/run/config.json"
    with pytest.raises(TypeError, match="path"):
        F.as_path(3)


def test_atomic_write_round_trip_and_no_leftovers(where):
    root, be = where
    path = f"{root}/a/b/c.txt"
    assert F.atomic_write(path, "héllo") == path  # parent directories are created
    assert F.read_bytes(path) == "héllo".encode()
    F.atomic_write(path, b"\x00\x01")  # replaced whole
    assert F.read_bytes(path) == b"\x00\x01"
    assert _listing(root) == ["a/b/c.txt"]  # no temporary file left behind
    if be is not None:
        assert be.renames == 0  # an object store is written directly


def test_failed_write_keeps_the_old_file(where):
    root, be = where
    path = f"{root}/f.json"
    F.atomic_write_json(path, {"v": 1})

    def half_then_die(f):
        f.write(b'{"v": 2, "trunc')
        raise KeyboardInterrupt  # a kill in the middle of the write

    with pytest.raises(KeyboardInterrupt):
        F.atomic_write_with(path, half_then_die)
    assert F.read_json(path) == {"v": 1}
    assert _listing(root) == ["f.json"]
    with pytest.raises(KeyboardInterrupt):
        F.atomic_write_with(f"{root}/new.bin", half_then_die)
    assert _listing(root) == ["f.json"]  # a failed first write leaves nothing


def test_local_write_is_synced_and_renamed(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append(("replace", os.path.dirname(a),
                                                                   b)), real_replace(a, b))[1])
    target = str(tmp_path / "x.txt")
    F.atomic_write(target, "data")
    assert calls == ["fsync", ("replace", str(tmp_path), target)]  # synced, then renamed


def test_atomic_write_json(where):
    root, _ = where
    path = f"{root}/j.json"
    F.atomic_write_json(path, {"a": [1, 2.5, None]}, indent=None)
    assert F.read_bytes(path) == b'{"a": [1, 2.5, null]}\n'
    with pytest.raises(ValueError):
        F.atomic_write_json(f"{root}/nan.json", {"x": float("nan")}, allow_nan=False)
    assert not F.as_path(f"{root}/nan.json").exists()
    F.atomic_write_json(f"{root}/nan.json", {"x": float("nan")})  # allowed by default
    assert np.isnan(F.read_json(f"{root}/nan.json")["x"])


def test_read_json_errors_name_the_file(where):
    root, _ = where
    with pytest.raises(FileNotFoundError, match="Config file .*missing.json.* does not exist"):
        F.read_json(f"{root}/missing.json", what="Config file")
    F.atomic_write(f"{root}/bad.json", '{"a": ')
    with pytest.raises(ValueError, match=r"bad.json.* is not valid JSON .*cut off"):
        F.read_json(f"{root}/bad.json")
    F.atomic_write(f"{root}/bin.json", b"\xff\xfe")
    with pytest.raises(ValueError, match="not valid JSON"):
        F.read_json(f"{root}/bin.json")
    F.as_path(f"{root}/adir").mkdir(parents=True, exist_ok=True)
    F.atomic_write(f"{root}/adir/x", "1")
    with pytest.raises(FileNotFoundError):
        F.read_bytes(f"{root}/adir")  # a directory is not a file


@pytest.mark.parametrize("compress", [True, False])
def test_atomic_savez(where, compress):
    root, _ = where
    arrays = {"a": np.arange(1000, dtype=np.int32) % 3, "b": np.linspace(0, 1, 7)}
    path = f"{root}/arr.npz"
    F.atomic_savez(path, compress=compress, **arrays)
    raw = F.read_bytes(path)
    with np.load(io.BytesIO(raw)) as z:
        assert sorted(z.files) == ["a", "b"]
        for k, v in arrays.items():
            np.testing.assert_array_equal(z[k], v)
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        kinds = {i.compress_type for i in zf.infolist()}
    assert kinds == ({zipfile.ZIP_DEFLATED} if compress else {zipfile.ZIP_STORED})


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG\r\n\x1a\n"), (".pdf", b"%PDF")])
def test_atomic_savefig(where, suffix, magic):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    root, _ = where
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.imshow(np.random.default_rng(0).random((16, 16)), cmap="viridis")
    path = f"{root}/fig/plot{suffix}"
    assert F.atomic_savefig(fig, path, dpi=40, palette=16) == path
    assert not plt.fignum_exists(fig.number)  # closed
    raw = F.read_bytes(path)
    assert raw.startswith(magic)
    assert _listing(root) == [f"fig/plot{suffix}"]
    if suffix == ".png":
        img = Image.open(io.BytesIO(raw))
        assert img.mode == "P" and len(img.getcolors()) <= 16  # the palette was applied
        assert img.size == (80, 80)  # 2 in x 40 dpi
        fig2, _ = plt.subplots(figsize=(1, 1))
        F.atomic_savefig(fig2, path, dpi=30, close=False)
        assert plt.fignum_exists(fig2.number)
        plt.close(fig2)
        assert Image.open(io.BytesIO(F.read_bytes(path))).mode in ("RGBA", "RGB")  # full colour


def test_append_line(where):
    root, be = where
    path = f"{root}/sub/log.jsonl"
    for i in range(3):
        F.append_line(path, json.dumps({"i": i}) + "\n")
    assert F.read_bytes(path).decode().splitlines() == ['{"i": 0}', '{"i": 1}', '{"i": 2}']
    if be is not None:
        assert be.renames == 0


def test_remove_rmtree_move_iter_files(where):
    root, be = where
    for name in ("d/a.txt", "d/e/b.txt", "d/e/f/c.txt", "top.txt"):
        F.atomic_write(f"{root}/{name}", name)
    assert _listing(root) == ["d/a.txt", "d/e/b.txt", "d/e/f/c.txt", "top.txt"]
    assert list(F.iter_files(f"{root}/nope")) == []
    moved = F.move(f"{root}/d/e", f"{root}/aside/e1")
    assert moved == f"{root}/aside/e1"
    assert _listing(root) == ["aside/e1/b.txt", "aside/e1/f/c.txt", "d/a.txt", "top.txt"]
    assert F.read_bytes(f"{root}/aside/e1/f/c.txt") == b"d/e/f/c.txt"
    F.move(f"{root}/top.txt", f"{root}/aside/top2.txt")
    assert F.read_bytes(f"{root}/aside/top2.txt") == b"top.txt"
    assert F.remove(f"{root}/d/a.txt") is True and F.remove(f"{root}/d/a.txt") is False
    assert F.rmtree(f"{root}/aside") is True and F.rmtree(f"{root}/aside") is False
    assert _listing(root) == []
    if be is not None:
        assert be.renames == 0


def test_makedirs_is_local_only(tmp_path, gcs, monkeypatch):
    F.makedirs(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir()
    F.makedirs(tmp_path / "a" / "b")  # exists: fine

    def no_mkdir(*a, **k):
        raise AssertionError("an object store has no directories to make")

    monkeypatch.setattr(gcs, "makedirs", no_mkdir)
    monkeypatch.setattr(gcs, "mkdir", no_mkdir)
    F.makedirs("gs://bucket/x/y")  # no request at all (gcsfs would create a missing bucket)
    F.atomic_write("gs://bucket/x/y/z.txt", "1")  # written without making directories
    assert F.as_path("gs://bucket/x/y").is_dir() and gcs.files() == {"gs://bucket/x/y/z.txt": b"1"}
