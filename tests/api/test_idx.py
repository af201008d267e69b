"""The IDX reader against files built byte by byte with ``struct`` from the format spec
(yann.lecun.com/exdb/mnist: 0x00 0x00, type code, ndim, big-endian uint32 sizes, big-endian
data), gzipped and raw; the MNIST directory layouts; and the error messages."""

from __future__ import annotations

import gzip
import re
import struct

import numpy as np
import pytest

from dynlearn.app import cli
from dynlearn.data.idx import (
    MNIST_FILES,
    IDXError,
    check_mnist,
    find_mnist,
    load_image_data,
    load_mnist,
    parse_idx,
    read_idx,
    read_idx_header,
    write_idx,
)

# type code -> (struct format character, native numpy dtype)
SPEC = {
    0x08: ("B", np.uint8),
    0x09: ("b", np.int8),
    0x0B: ("h", np.int16),
    0x0C: ("i", np.int32),
    0x0D: ("f", np.float32),
    0x0E: ("d", np.float64),
}
SHAPES = [(5,), (2, 3), (3, 2, 4), (2, 1, 3, 2)]


def spec_bytes(code: int, shape: tuple[int, ...], values: list) -> bytes:
    """An IDX file written from the specification with struct (independent of the reader)."""
    fmt = SPEC[code][0]
    header = struct.pack(">BBBB", 0, 0, code, len(shape)) + struct.pack(f">{len(shape)}I", *shape)
    return header + struct.pack(f">{len(values)}{fmt}", *values)


def values_for(code: int, size: int) -> list:
    rng = np.random.default_rng(code * 31 + size)
    if code == 0x08:
        return [int(v) for v in rng.integers(0, 256, size)]
    if code == 0x09:
        return [int(v) for v in rng.integers(-128, 128, size)]
    if code == 0x0B:
        return [int(v) for v in rng.integers(-(2**15), 2**15, size)]
    if code == 0x0C:
        return [int(v) for v in rng.integers(-(2**31), 2**31, size)]
    if code == 0x0D:  # values exactly representable in float32
        return [float(np.float32(v)) for v in rng.normal(size=size) * 1e3]
    return [float(v) for v in rng.normal(size=size) * 1e-3]


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"ndim{len(s)}")
@pytest.mark.parametrize("code", sorted(SPEC), ids=lambda c: f"0x{c:02X}")
def test_read_exact(tmp_path, code, shape, gz):
    size = int(np.prod(shape))
    values = values_for(code, size)
    data = spec_bytes(code, shape, values)
    path = tmp_path / ("f.idx.gz" if gz else "f.idx")
    path.write_bytes(gzip.compress(data) if gz else data)
    out = read_idx(path)
    assert out.shape == shape
    assert out.dtype == np.dtype(SPEC[code][1])
    assert out.ravel().tolist() == values  # exact, element by element


@pytest.mark.parametrize("code", sorted(SPEC), ids=lambda c: f"0x{c:02X}")
def test_write_matches_spec_bytes(tmp_path, code):
    shape = (3, 2, 4)
    values = values_for(code, 24)
    array = np.asarray(values, dtype=SPEC[code][1]).reshape(shape)
    raw = write_idx(tmp_path / "a", array).read_bytes()
    assert raw == spec_bytes(code, shape, values)
    gz = write_idx(tmp_path / "a.gz", array).read_bytes()
    assert gzip.decompress(gz) == raw


def test_mnist_image_header():
    # MNIST's own magic numbers: 0x00000803 for images (uint8, 3-D), 0x00000801 for labels
    data = bytes.fromhex("00000803000000020000001c0000001c") + bytes(range(256)) * 6
    data += bytes(2 * 28 * 28 - 256 * 6)
    images = parse_idx(data)
    assert images.shape == (2, 28, 28) and images.dtype == np.uint8
    assert images[0, 0, :5].tolist() == [0, 1, 2, 3, 4]
    assert images[0, 9, 4] == (9 * 28 + 4) % 256
    labels = parse_idx(bytes.fromhex("0000080100000003") + bytes([7, 2, 1]))
    assert labels.tolist() == [7, 2, 1]


@pytest.mark.parametrize(
    "data, match",
    [
        (b"", "too short"),
        (b"\x00\x00", "too short"),
        (b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00", "not an IDX file"),
        (b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00", "unknown IDX data type code 0x07"),
        (b"\x00\x00\x08\x03" + struct.pack(">I", 1), "announces 3 dimensions"),
        (b"\x00\x00\x08\x02" + struct.pack(">II", 2, 3) + bytes(5), "needs 6 data bytes"),
        (b"\x00\x00\x08\x02" + struct.pack(">II", 2, 3) + bytes(7), "found 7"),
        (b"\x00\x00\x0b\x01" + struct.pack(">I", 2) + bytes(3), "needs 4 data bytes"),
    ],
)
def test_malformed(tmp_path, data, match):
    path = tmp_path / "bad"
    path.write_bytes(data)
    with pytest.raises(IDXError, match=match):
        read_idx(path)


def test_corrupt_gzip(tmp_path):
    good = gzip.compress(spec_bytes(0x08, (4,), [1, 2, 3, 4]))
    path = tmp_path / "bad.gz"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(IDXError, match="gzip"):
        read_idx(path)


def test_write_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(ValueError, match="cannot store dtype uint16"):
        write_idx(tmp_path / "x", np.zeros(3, np.uint16))


# ---------------------------------------------------------------- MNIST directories


def make_mnist_dir(directory, n_train=12, n_test=5, size=28, gz=(True, False, True, False), seed=0):
    """Four tiny MNIST-format files (uint8 images (N, size, size), labels 0..9)."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, size, size), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, size, size), dtype=np.uint8),
        "test_labels": ((np.arange(n_test) * 3) % 10).astype(np.uint8),
    }
    for (key, stem), zipped in zip(MNIST_FILES.items(), gz, strict=True):
        write_idx(directory / (stem + (".gz" if zipped else "")), arrays[key])
    return arrays


@pytest.mark.parametrize(
    "kind, sub",
    [
        ("mnist", "mnist"),
        ("mnist", "MNIST/raw"),
        ("mnist", "."),
        ("fashion-mnist", "fashion-mnist"),
        ("fashion-mnist", "FashionMNIST/raw"),
    ],
)
def test_load_mnist_layouts(tmp_path, kind, sub):
    arrays = make_mnist_dir(tmp_path / sub)
    data = load_mnist(kind, tmp_path)
    assert data.directory == (tmp_path / sub if sub != "." else tmp_path)
    for key in ("x_train", "y_train", "x_test", "y_test"):
        part, what = key.split("_")[1], "images" if key[0] == "x" else "labels"
        np.testing.assert_array_equal(getattr(data, key), arrays[f"{part}_{what}"])


def test_env_variable(tmp_path, monkeypatch):
    make_mnist_dir(tmp_path / "fashion-mnist", seed=3)
    monkeypatch.setenv("DYNLEARN_DATA", str(tmp_path))
    assert find_mnist("fashion-mnist") == tmp_path / "fashion-mnist"
    assert find_mnist("mnist") is None  # the fashion sub-folder does not count as MNIST
    assert load_mnist("fashion-mnist").x_train.shape == (12, 28, 28)


def test_missing_names_files_and_dirs(tmp_path, monkeypatch):
    monkeypatch.delenv("DYNLEARN_DATA", raising=False)
    with pytest.raises(FileNotFoundError) as info:
        load_mnist("fashion-mnist", tmp_path)
    msg = str(info.value)
    for stem in MNIST_FILES.values():
        assert stem in msg
    assert str(tmp_path / "fashion-mnist") in msg and "Nothing is downloaded" in msg
    with pytest.raises(FileNotFoundError, match="set the DYNLEARN_DATA environment variable"):
        load_mnist("mnist")
    # three of four files are not enough
    arrays_dir = tmp_path / "mnist"
    make_mnist_dir(arrays_dir)
    (arrays_dir / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        load_mnist("mnist", tmp_path)


def test_inconsistent_files(tmp_path):
    make_mnist_dir(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(4, np.uint8))  # 5 images, 4 labels
    with pytest.raises(IDXError, match=r"test images must be \(N, rows, cols\) and labels \(N,\)"):
        load_mnist("mnist", tmp_path)


def test_unknown_kind():
    with pytest.raises(ValueError, match="valid: mnist, fashion-mnist"):
        load_mnist("kmnist", "/nonexistent")


def test_image_data_auto_and_explicit(tmp_path, monkeypatch):
    monkeypatch.delenv("DYNLEARN_DATA", raising=False)
    digits = load_image_data("auto", None, seed=0)  # no folder given: the bundled digits
    assert digits.name == "digits" and digits.image_shape == (8, 8)
    assert digits.split.x_train.shape[1] == 64
    assert len(digits.split.x_train) + len(digits.split.x_test) == 1797

    arrays = make_mnist_dir(tmp_path / "mnist")
    data = load_image_data("auto", tmp_path)
    assert data.name == "mnist" and data.image_shape == (28, 28)
    np.testing.assert_allclose(data.split.x_train, arrays["train_images"].reshape(12, -1) / 255.0)
    np.testing.assert_array_equal(data.split.y_test.argmax(1), arrays["test_labels"])
    assert data.split.y_test.sum(1).tolist() == [1.0] * 5
    sub = load_image_data("mnist", tmp_path, max_train=4, max_test=2, seed=1)
    assert sub.split.x_train.shape == (4, 784) and sub.split.x_test.shape == (2, 784)
    with pytest.raises(FileNotFoundError, match="fashion-mnist data set not found"):
        load_image_data("fashion-mnist", tmp_path)
    with pytest.raises(ValueError, match="valid: auto, digits, mnist, fashion-mnist"):
        load_image_data("cifar", tmp_path)


def test_explicit_data_dir_must_exist_and_hold_the_data(tmp_path, monkeypatch):
    """A data_dir given explicitly is never silently replaced by the bundled digits."""
    monkeypatch.delenv("DYNLEARN_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="data_dir .*nowhere is not a folder"):
        load_image_data("auto", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="mnist data set not found.*searched"):
        load_image_data("auto", tmp_path)  # exists but holds no data set
    with pytest.raises(FileNotFoundError, match="not a folder"):
        load_image_data("digits", tmp_path / "nowhere")
    assert load_image_data("digits", tmp_path).name == "digits"


@pytest.mark.parametrize(
    "labels, match",
    [
        (np.array([0, 1, -3, 2, 1], np.int8), "labels must be >= 0, got -3"),
        (np.array([0.0, 1.0, 2.5, 3.0, 1.0], np.float32), "labels must be integers, got float32"),
    ],
)
def test_bad_label_files_are_refused_naming_the_file(tmp_path, labels, match):
    make_mnist_dir(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels)
    with pytest.raises(IDXError, match="t10k-labels-idx1-ubyte: " + match):
        load_mnist("mnist", tmp_path)
    with pytest.raises(IDXError, match="t10k-labels-idx1-ubyte"):
        load_image_data("mnist", tmp_path)


# ------------------------------------------------ malformed data sets, refused before any work
def _header(code: int, *shape: int) -> bytes:
    return struct.pack(">BBBB", 0, 0, code, len(shape)) + struct.pack(f">{len(shape)}I", *shape)


IMAGES = _header(0x08, 12, 28, 28) + bytes(12 * 28 * 28)
# (file, its new content: bytes or an array, the problem the message must state)
MALFORMED = [
    ("train_images", b"", "too short for an IDX header"),
    ("train_images", b"\x01" + IMAGES[1:], "not an IDX file"),
    ("train_images", IMAGES[:2] + b"\x07" + IMAGES[3:], "unknown IDX data type code 0x07"),
    ("train_images", IMAGES[:9], "header announces 3 dimensions"),
    ("train_images", IMAGES[:-1], "needs 9408 data bytes after the 16-byte header, found 9407"),
    ("train_images", IMAGES + b"\x00", "found 9409"),
    ("train_images", gzip.compress(IMAGES)[:-20], "gzip data is corrupt or truncated"),
    # 2**31 * 2**31 * 4 bytes wraps to 0 in int64: no data must not pass for "all of it"
    ("train_images", _header(0x08, 2**31, 2**31, 4), "needs 18446744073709551616 data bytes"),
    ("train_images", np.zeros((12, 784), np.uint8), "images must be (N, rows, cols)"),
    ("train_images", np.zeros((0, 28, 28), np.uint8), "got (0, 28, 28) and (12,)"),
    ("test_images", np.zeros((5, 0, 0), np.uint8), "images of 0 x 0 pixels are empty"),
    ("test_images", np.zeros((5, 20, 20), np.uint8), "train and test images differ in size"),
    ("test_labels", np.zeros(4, np.uint8), "labels (N,), got (5, 28, 28) and (4,)"),
    ("test_labels", np.array([0, 1, 2.5, 3, 1], np.float32), "labels must be integers"),
    ("test_labels", np.array([0, 1, -3, 2, 1], np.int8), "labels must be >= 0, got -3"),
    ("train_labels", np.arange(12, dtype=np.uint8), "labels must lie in 0..9, got 11"),
]


def _damage(directory, key: str, content) -> str:
    """Replace the file ``key`` of a good data set by ``content``; its file name."""
    stem = MNIST_FILES[key]
    for old in directory.glob(stem + "*"):
        old.unlink()
    if isinstance(content, np.ndarray):
        write_idx(directory / stem, content)
    else:
        (directory / stem).write_bytes(content)
    return stem


@pytest.mark.parametrize("key, content, problem", MALFORMED, ids=[m[2][:30] for m in MALFORMED])
def test_a_malformed_data_set_is_refused_by_validation_naming_the_file(
    tmp_path, capsys, monkeypatch, key, content, problem
):
    make_mnist_dir(tmp_path)
    stem = _damage(tmp_path, key, content)
    with pytest.raises(IDXError, match=re.escape(problem)) as info:
        check_mnist("mnist", tmp_path)
    assert stem in str(info.value)
    with pytest.raises(IDXError, match=re.escape(problem)):
        load_image_data("mnist", tmp_path)  # the loader refuses the same file the same way

    monkeypatch.setattr(cli, "run_plans", lambda *a: pytest.fail("the run started"))
    name = "mnist" if len(problem) % 2 else "autoencoder"  # both scenarios, over the cases
    argv = ["run", name, "--set", "data=mnist", "--set", f"data_dir={tmp_path}"]
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv + ["--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert stem in err and problem in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_headers_are_read_without_loading_and_the_product_does_not_wrap(tmp_path):
    path = tmp_path / "big.gz"
    path.write_bytes(gzip.compress(_header(0x0D, 3, 2) + bytes(24)))
    dtype, shape = read_idx_header(path)
    assert dtype == np.float32 and shape == (3, 2)
    (tmp_path / "wrap").write_bytes(_header(0x08, 2**31, 2**31, 4))
    with pytest.raises(IDXError, match="needs 18446744073709551616 data bytes"):
        read_idx_header(tmp_path / "wrap")
    with pytest.raises(IDXError, match="needs 18446744073709551616 data bytes"):
        read_idx(tmp_path / "wrap")


def test_a_data_set_without_examples_is_refused(tmp_path):
    make_mnist_dir(tmp_path)
    _damage(tmp_path, "train_images", np.zeros((0, 28, 28), np.uint8))
    _damage(tmp_path, "train_labels", np.zeros(0, np.uint8))
    with pytest.raises(IDXError, match="train-images-idx3-ubyte: holds 0 examples"):
        check_mnist("mnist", tmp_path)
    with pytest.raises(IDXError, match="holds 0 examples"):
        load_mnist("mnist", tmp_path)


def test_a_good_data_set_passes_validation_with_its_sizes(tmp_path):
    make_mnist_dir(tmp_path)
    assert check_mnist("mnist", tmp_path) == {"n_train": 12, "n_test": 5, "image_shape": (28, 28)}
