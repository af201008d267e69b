"""IDX files (the MNIST / Fashion-MNIST format) and the image-classification data of the scenarios.

IDX format (LeCun, Cortes & Burges, "THE MNIST DATABASE", yann.lecun.com/exdb/mnist)::

    bytes 0-1   0x00 0x00
    byte  2     data type code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                                0x0D float32, 0x0E float64
    byte  3     number of dimensions ndim
    4 * ndim    the sizes d_1, ..., d_ndim, each a big-endian uint32
    rest        d_1 * ... * d_ndim values, big-endian, C order (last index fastest)

A file may be gzip-compressed (``.gz``); it is recognised by its gzip magic bytes, not its name.

Where the files are looked for (nothing is ever downloaded): a directory ``data_dir``, or if
that is not given the directory in the environment variable ``DYNLEARN_DATA``. In it, for
``kind="mnist"`` the sub-folders ``mnist/``, ``MNIST/raw/`` (torchvision's layout), then the
directory itself; for ``kind="fashion-mnist"`` the sub-folders ``fashion-mnist/``,
``FashionMNIST/raw/``, then the directory itself. Each must hold the four standard names,
raw or gzipped:

    train-images-idx3-ubyte   train-labels-idx1-ubyte
    t10k-images-idx3-ubyte    t10k-labels-idx1-ubyte

For example ``$DYNLEARN_DATA/mnist/train-images-idx3-ubyte.gz, ...`` and
``$DYNLEARN_DATA/fashion-mnist/train-images-idx3-ubyte.gz, ...``.
"""

from __future__ import annotations

import functools
import gzip
import math
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

# IDX type code -> big-endian numpy dtype
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF_KIND = {("u", 1): 0x08, ("i", 1): 0x09, ("i", 2): 0x0B, ("i", 4): 0x0C}
_CODE_OF_KIND.update({("f", 4): 0x0D, ("f", 8): 0x0E})

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
KINDS = ("mnist", "fashion-mnist")
SUBDIRS = {"mnist": ("mnist", "MNIST/raw"), "fashion-mnist": ("fashion-mnist", "FashionMNIST/raw")}
DATA_CHOICES = ("auto", "digits", "mnist", "fashion-mnist")
ENV_VAR = "DYNLEARN_DATA"
_GZIP_MAGIC = b"\x1f\x8b"


class IDXError(ValueError):
    """A file is not a valid IDX file; the message says what is wrong and where."""


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode the bytes of an (uncompressed) IDX file into an array of its shape and type.

    The result has the native-endian version of the file's dtype (uint8, int8, int16, int32,
    float32 or float64) and shape (d_1, ..., d_ndim). ``name`` only labels error messages.
    """
    dtype, shape, header = parse_idx_header(data, name)
    _check_data_size(dtype, shape, header, len(data), name)
    values = np.frombuffer(data, dtype=dtype, offset=header)
    return values.reshape(shape).astype(dtype.newbyteorder("="))


def _check_data_size(dtype: np.dtype, shape: tuple[int, ...], header: int, total: int, name: str):
    """IDXError unless the file's ``total`` bytes are the header plus prod(shape) values (the
    product in Python integers: sizes like (2^31, 2^31, 4) must not wrap around)."""
    expected = math.prod(shape) * dtype.itemsize
    if total - header != expected:
        raise IDXError(
            f"{name}: shape {shape} of {dtype.name} needs {expected} data bytes after the "
            f"{header}-byte header, found {total - header}"
        )


def parse_idx_header(data: bytes, name: str = "<bytes>") -> tuple[np.dtype, tuple[int, ...], int]:
    """(big-endian dtype, shape, header length in bytes) from the start of an IDX file's
    bytes (at least its header); IDXError naming ``name`` for a malformed header."""
    if len(data) < 4:
        raise IDXError(f"{name}: {len(data)} bytes is too short for an IDX header (4 bytes)")
    if data[0] != 0 or data[1] != 0:
        raise IDXError(
            f"{name}: not an IDX file (the first two bytes must be 0x00 0x00, got "
            f"0x{data[0]:02x} 0x{data[1]:02x})"
        )
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        valid = ", ".join(f"0x{c:02X} ({IDX_DTYPES[c].name})" for c in IDX_DTYPES)
        raise IDXError(f"{name}: unknown IDX data type code 0x{code:02X}; valid: {valid}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXError(
            f"{name}: header announces {ndim} dimensions ({header} header bytes) but the file "
            f"has only {len(data)} bytes"
        )
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    return IDX_DTYPES[code], shape, header


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, raw or gzip-compressed (detected by the gzip magic bytes 1f 8b)."""
    path = Path(path)
    data = path.read_bytes()
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as err:
            raise IDXError(f"{path}: gzip data is corrupt or truncated ({err})") from None
    return parse_idx(data, str(path))


def read_idx_header(path: str | os.PathLike) -> tuple[np.dtype, tuple[int, ...]]:
    """(native dtype, shape) of an IDX file, raw or gzipped, checked without loading it: the
    header is parsed and the file's length compared with the one the header implies (a
    gzipped file is decompressed in chunks to count its bytes). IDXError names the file."""
    path = Path(path)
    with path.open("rb") as raw:
        gzipped = raw.read(2) == _GZIP_MAGIC
    try:
        with gzip.open(path, "rb") if gzipped else path.open("rb") as f:
            start = f.read(4)
            ndim = start[3] if len(start) == 4 else 0
            start += f.read(4 * ndim)
            dtype, shape, header = parse_idx_header(start, str(path))
            total = len(start)
            while chunk := f.read(1 << 20):
                total += len(chunk)
    except (OSError, EOFError) as err:
        if isinstance(err, OSError) and not gzipped:
            raise
        raise IDXError(f"{path}: gzip data is corrupt or truncated ({err})") from None
    _check_data_size(dtype, shape, header, total, str(path))
    return dtype.newbyteorder("="), shape


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of ``array`` (uint8, int8, int16, int32, float32 or float64)."""
    array = np.asarray(array)
    key = (array.dtype.kind, array.dtype.itemsize)
    if key not in _CODE_OF_KIND or array.ndim > 255:
        valid = ", ".join(IDX_DTYPES[c].newbyteorder("=").name for c in IDX_DTYPES)
        raise ValueError(f"IDX cannot store dtype {array.dtype} (valid: {valid}) or ndim > 255")
    code = _CODE_OF_KIND[key]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    return header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file; gzip it if ``compress`` (default: name ends in .gz)."""
    path = Path(path)
    data = idx_bytes(array)
    if compress if compress is not None else path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path


class MNISTData(NamedTuple):
    """Raw MNIST-format arrays: images uint8 (N, 28, 28), labels uint8 (N,)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    directory: Path


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown data set kind {kind!r}; valid: {', '.join(KINDS)}")


def _root(data_dir: str | os.PathLike | None) -> Path | None:
    if data_dir not in (None, ""):
        return Path(data_dir)
    env = os.environ.get(ENV_VAR, "")
    return Path(env) if env else None


def _file(directory: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    return None


def candidate_dirs(kind: str, data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The directories searched for ``kind``, in order (empty if no directory is configured)."""
    _check_kind(kind)
    root = _root(data_dir)
    if root is None:
        return []
    return [root / sub for sub in SUBDIRS[kind]] + [root]


def find_mnist(kind: str = "mnist", data_dir: str | os.PathLike | None = None) -> Path | None:
    """The first candidate directory holding all four files of ``kind``, else None."""
    for directory in candidate_dirs(kind, data_dir):
        if all(_file(directory, stem) for stem in MNIST_FILES.values()):
            return directory
    return None


def load_mnist(kind: str = "mnist", data_dir: str | os.PathLike | None = None) -> MNISTData:
    """Load MNIST or Fashion-MNIST from IDX files (see the module docstring for the layout).

    ``data_dir`` defaults to the ``DYNLEARN_DATA`` environment variable. Raises
    FileNotFoundError naming the expected files and the directories searched when the set is
    missing, and IDXError (a ValueError) for malformed files or inconsistent shapes.
    """
    directory = find_mnist(kind, data_dir)
    if directory is None:
        searched = candidate_dirs(kind, data_dir)
        where = (
            "searched: " + ", ".join(str(d) for d in searched)
            if searched
            else f"no directory given: pass data_dir or set the {ENV_VAR} environment variable"
        )
        names = ", ".join(f"{s}[.gz]" for s in MNIST_FILES.values())
        raise FileNotFoundError(
            f"{kind} data set not found; expected the files {names} in one directory; {where}. "
            f"Nothing is downloaded: fetch the files yourself and place them there."
        )
    headers = {key: read_idx_header(_file(directory, stem)) for key, stem in MNIST_FILES.items()}
    _check_mnist_shapes(directory, headers)
    arrays = {key: read_idx(_file(directory, stem)) for key, stem in MNIST_FILES.items()}
    for part in ("train", "test"):
        _check_labels(arrays[f"{part}_labels"], _file(directory, MNIST_FILES[f"{part}_labels"]))
    return MNISTData(
        arrays["train_images"],
        arrays["train_labels"],
        arrays["test_images"],
        arrays["test_labels"],
        directory,
    )


def _check_mnist_shapes(directory: Path, headers: dict) -> None:
    """IDXError unless the four files' (dtype, shape) headers make an image data set: images
    (N, rows, cols) with N, rows, cols >= 1, integer labels (N,), train and test images of one
    size."""
    for part in ("train", "test"):
        images, labels = headers[f"{part}_images"][1], headers[f"{part}_labels"][1]
        label_file = _file(directory, MNIST_FILES[f"{part}_labels"])
        image_file = _file(directory, MNIST_FILES[f"{part}_images"])
        if headers[f"{part}_labels"][0].kind not in "ui":
            raise IDXError(
                f"{label_file}: labels must be integers, got {headers[f'{part}_labels'][0]}"
            )
        if len(images) != 3 or len(labels) != 1 or images[0] != labels[0]:
            raise IDXError(
                f"{image_file} and {label_file.name}: {part} images must be (N, rows, cols) and "
                f"labels (N,), got {images} and {labels}"
            )
        if images[0] == 0:
            raise IDXError(f"{image_file}: holds 0 examples; a data set needs at least one")
        if min(images[1:]) == 0:
            raise IDXError(f"{image_file}: images of {images[1]} x {images[2]} pixels are empty")
    if headers["train_images"][1][1:] != headers["test_images"][1][1:]:
        test_file = _file(directory, MNIST_FILES["test_images"])
        raise IDXError(
            f"{test_file}: train and test images differ in size: "
            f"{headers['train_images'][1][1:]} vs {headers['test_images'][1][1:]}"
        )


def _check_labels(labels: np.ndarray, path: Path, num_classes: int | None = None) -> None:
    if labels.dtype.kind not in "ui":
        raise IDXError(f"{path}: labels must be integers, got {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise IDXError(f"{path}: labels must be >= 0, got {labels.min()}")
    if num_classes is not None and labels.size and labels.max() >= num_classes:
        raise IDXError(f"{path}: labels must lie in 0..{num_classes - 1}, got {labels.max()}")


def check_mnist(kind: str = "mnist", data_dir: str | os.PathLike | None = None) -> dict:
    """Everything ``load_mnist`` + ``load_image_data`` would refuse, found without loading the
    images: the files' headers and lengths (``read_idx_header``), their shapes, and the labels
    (integers in 0..9). Returns {"n_train", "n_test", "image_shape"}; FileNotFoundError or
    IDXError (naming the file and the problem) otherwise. Cached per file state, so a
    scenario's validation and its memory estimate read the files once."""
    from dynlearn.data.digits import NUM_CLASSES

    directory = find_mnist(kind, data_dir)
    if directory is None:
        load_mnist(kind, data_dir)  # raises FileNotFoundError naming the files and folders
    files = tuple(_file(directory, stem) for stem in MNIST_FILES.values())
    stamp = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    return _checked_mnist(directory, stamp, NUM_CLASSES)


@functools.lru_cache(maxsize=16)
def _checked_mnist(directory: Path, stamp: tuple, num_classes: int) -> dict:
    headers = {
        key: read_idx_header(path) for key, (path, *_) in zip(MNIST_FILES, stamp, strict=True)
    }
    _check_mnist_shapes(directory, headers)
    for part in ("train", "test"):
        path = _file(directory, MNIST_FILES[f"{part}_labels"])
        _check_labels(read_idx(path), path, num_classes)
    images = headers["train_images"][1]
    return {
        "n_train": images[0],
        "n_test": headers["test_images"][1][0],
        "image_shape": tuple(images[1:]),
    }


def resolve_image_data(data: str = "auto", data_dir: str | os.PathLike | None = None) -> str:
    """The data set ``load_image_data(data, data_dir)`` loads: "digits", "mnist" or
    "fashion-mnist" (only file look-ups; nothing is read).

    "auto" is MNIST if its files are found, else the digits -- but a ``data_dir`` given
    explicitly must exist and hold the files (of MNIST for "auto"): a mistyped folder is an
    error, never a silent fall-back to the digits. FileNotFoundError names what was searched.
    """
    if data not in DATA_CHOICES:
        raise ValueError(f"unknown data {data!r}; valid: {', '.join(DATA_CHOICES)}")
    explicit = data_dir not in (None, "")
    if explicit and not Path(data_dir).is_dir():
        raise FileNotFoundError(
            f"data_dir {data_dir} is not a folder; give the folder that "
            f"holds the data set, or leave data_dir empty"
        )
    if data == "auto":
        found = find_mnist("mnist", data_dir) is not None
        if not found and not explicit:
            return "digits"
        data = "mnist"
    if data != "digits" and find_mnist(data, data_dir) is None:
        load_mnist(data, data_dir)  # raises FileNotFoundError naming the files and folders
    return data


class ImageData(NamedTuple):
    """Image-classification data ready for an MLP: ``split`` has x in [0, 1] as flat rows and
    one-hot y (the ``Split`` of ``dynlearn.data.digits``); ``image_shape`` un-flattens a row."""

    name: str  # "digits", "mnist" or "fashion-mnist"
    split: object  # dynlearn.data.digits.Split
    image_shape: tuple[int, int]


def load_image_data(
    data: str = "auto",
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
    test_fraction: float = 0.25,
    max_train: int = 0,
    max_test: int = 0,
) -> ImageData:
    """The image data set of a scenario's ``data`` / ``data_dir`` config keys.

    ``data``: "digits" (scikit-learn's bundled 8x8 digits, split by ``load_digits_split(seed,
    test_fraction)``), "mnist" or "fashion-mnist" (IDX files, error if missing; the official
    60000/10000 train/test split), or "auto" (MNIST files if found, else the digits; see
    ``resolve_image_data``: an explicit ``data_dir`` must hold the files).
    Pixels are scaled to [0, 1] (MNIST: /255, digits: /16). ``max_train`` / ``max_test`` > 0
    keep a seeded random subset of that many rows (0: all).
    """
    from dynlearn.data.digits import NUM_CLASSES, Split, load_digits_split

    data = resolve_image_data(data, data_dir)
    if data == "digits":
        split, shape = load_digits_split(seed=seed, test_fraction=test_fraction), (8, 8)
        x_tr, y_tr = np.asarray(split.x_train), np.asarray(split.y_train)
        x_te, y_te = np.asarray(split.x_test), np.asarray(split.y_test)
    else:
        raw = load_mnist(data, data_dir)
        shape = tuple(raw.x_train.shape[1:])
        onehot = np.eye(NUM_CLASSES)
        for labels, part in ((raw.y_train, "train"), (raw.y_test, "test")):
            _check_labels(labels, raw.directory / MNIST_FILES[f"{part}_labels"], NUM_CLASSES)
        x_tr = raw.x_train.reshape(len(raw.x_train), -1).astype(np.float64) / 255.0
        x_te = raw.x_test.reshape(len(raw.x_test), -1).astype(np.float64) / 255.0
        y_tr, y_te = onehot[raw.y_train], onehot[raw.y_test]
    rng = np.random.default_rng(seed)
    if 0 < max_train < len(x_tr):
        keep = np.sort(rng.choice(len(x_tr), max_train, replace=False))
        x_tr, y_tr = x_tr[keep], y_tr[keep]
    if 0 < max_test < len(x_te):
        keep = np.sort(rng.choice(len(x_te), max_test, replace=False))
        x_te, y_te = x_te[keep], y_te[keep]
    empty_x, empty_y = x_tr[:0], y_tr[:0]
    return ImageData(data, Split(x_tr, y_tr, empty_x, empty_y, x_te, y_te), shape)
