"""torch checkpoints read into numpy arrays without importing torch.

The diarization process imports no torch (its import alone costs about 1.5 s per dub), yet
the speaker encoders' weights ship as `torch.save` files. Both of its formats are read
here: the legacy one (a pickle followed by the storages' bytes, as resemblyzer's
`pretrained.pt`) and the zip one that torch writes since 1.6 (`<name>/data.pkl` beside
one `<name>/data/<key>` file per storage, as speechbrain's checkpoints). Only the few
globals a state dict needs are allowed, so a checkpoint cannot run code while it loads.
"""
from __future__ import annotations

import pickle
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
           "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
           "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_}


class _Storage:
    def __init__(self, dtype: np.dtype, key: str, numel: int):
        self.dtype, self.key, self.numel = dtype, key, numel
        self.data: np.ndarray | None = None


class _Tensor:
    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def array(self) -> np.ndarray:
        item = self.storage.data.itemsize
        return np.lib.stride_tricks.as_strided(self.storage.data[self.offset:], self.size,
                                               [s * item for s in self.stride]).copy()


def _rebuild_tensor(storage, offset, size, stride, *_rest):
    return _Tensor(storage, offset, tuple(size), tuple(stride))


def _rebuild_parameter(tensor, *_rest):
    return tensor


class _Unpickler(pickle.Unpickler):
    """Tensors come as persistent references to storages; their bytes are read after the pickle,
    so the unpickled object holds placeholders until `_arrays` swaps them for numpy arrays."""

    _GLOBALS = {("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
                ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
                ("collections", "OrderedDict"): OrderedDict}

    def __init__(self, f):
        super().__init__(f)
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module, name):
        if (module, name) in self._GLOBALS:
            return self._GLOBALS[module, name]
        if module == "torch" and name in _DTYPES:
            return _DTYPES[name]
        raise pickle.UnpicklingError(f"unexpected {module}.{name} in a torch checkpoint")

    def persistent_load(self, pid):
        kind, dtype, key, _location, numel = pid[:5]
        if kind != "storage":
            raise pickle.UnpicklingError(f"unexpected persistent id {kind!r}")
        return self.storages.setdefault(str(key), _Storage(np.dtype(dtype), str(key), numel))


def _arrays(obj: Any) -> Any:
    if isinstance(obj, _Tensor):
        return obj.array()
    if isinstance(obj, dict):
        return type(obj)((k, _arrays(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_arrays(v) for v in obj)
    return obj


def _load_legacy(f) -> Any:
    for _ in range(3):  # magic number, protocol version, system info
        pickle.load(f)
    unpickler = _Unpickler(f)
    obj = unpickler.load()
    for key in pickle.load(f):
        storage = unpickler.storages[str(key)]
        (numel,) = struct.unpack("<q", f.read(8))
        storage.data = np.frombuffer(f.read(numel * storage.dtype.itemsize), dtype=storage.dtype)
    return obj


def _load_zip(archive: zipfile.ZipFile) -> Any:
    # The folder inside the zip is named after the file torch first wrote ("archive" lately).
    pkl = next(name for name in archive.namelist() if name.endswith("data.pkl"))
    root = pkl[: -len("data.pkl")]
    with archive.open(pkl) as f:
        unpickler = _Unpickler(f)
        obj = unpickler.load()
    for storage in unpickler.storages.values():
        raw = archive.read(f"{root}data/{storage.key}")
        storage.data = np.frombuffer(raw, dtype=storage.dtype)
    return obj


def load(path: str | Path) -> Any:
    """What `torch.load(path)` returns, with every tensor a numpy array."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return _arrays(_load_zip(archive))
    with open(path, "rb") as f:
        return _arrays(_load_legacy(f))
