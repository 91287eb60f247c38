"""Read untrusted instance files in a child process with a time limit.

libhdf5 can loop forever or crash on a crafted file (tests/fuzz_corpus holds such files), and no
Python signal interrupts C code. So a file whose bytes are not pinned by the shipped registry is
parsed by `qnntraps.hdf5_reader.read_raw` in a separate Python process that we start ourselves:

- the parent sends the file's bytes (never a path: the child opens no file), the child answers
  with a JSON header and the raw bytes of plain numeric arrays; nothing is unpickled;
- the child runs with libhdf5 plugin loading disabled (HDF5_PLUGIN_PRELOAD='::'), no core dumps,
  no file writes (RLIMIT_FSIZE = 0) and at most `CHILD_MEMORY_BYTES` of address space;
- the parent gives each file `READ_TIMEOUT_S` seconds; past that it kills the child and raises
  ReadTimeoutError; a child that dies raises ReaderCrashedError; either way the next file gets a
  fresh child;
- the parent bounds every size in the answer and re-validates everything (qnntraps.validation).

One child serves many files (startup, about 0.3 s, is paid once per process). It is not shared
across `fork`: a forked process starts its own.
"""

from __future__ import annotations

import atexit
import json
import os
import struct
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

from qnntraps.errors import (
    CorruptFileError,
    ForbiddenObjectError,
    InvalidValueError,
    LimitExceededError,
    QnnTrapsError,
    ReaderCrashedError,
    ReadTimeoutError,
    UnsupportedFormatError,
)
from qnntraps.hdf5_reader import ADVICE, LIMITS, Attr, RawFile, ReadLimits

READ_TIMEOUT_S = 5.0
STARTUP_TIMEOUT_S = 60.0
CHILD_MEMORY_BYTES = 4 * 2**30
MAX_HEADER_BYTES = 2**20
READY = b"qnntraps-reader-ready\n"
_ERRORS = {
    cls.__name__: cls
    for cls in (
        CorruptFileError,
        ForbiddenObjectError,
        InvalidValueError,
        LimitExceededError,
        UnsupportedFormatError,
    )
}
_DTYPES = {"|i1": np.dtype("int8"), "<i8": np.dtype("<i8"), "<f8": np.dtype("<f8")}


# ---------------------------------------------------------------- the child's side


def child_main() -> None:
    """Serve read requests on stdin/stdout until stdin closes (runs in the child process)."""
    _harden()
    from qnntraps.hdf5_reader import read_raw

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    stdout.write(READY)
    stdout.flush()
    while True:
        head = stdin.read(16)
        if len(head) < 16:
            return
        name_size, data_size = struct.unpack("<QQ", head)
        name = stdin.read(name_size).decode("utf-8", "replace")
        data = stdin.read(data_size)
        try:
            raw = read_raw(data, name)
            header, blobs = _encode(raw)
        except QnnTrapsError as error:
            header, blobs = {"ok": False, "error": type(error).__name__, "message": str(error)}, []
        except Exception as error:  # a bug of ours: report it as a malformed file, typed
            header = {
                "ok": False,
                "error": "CorruptFileError",
                "message": f"{name} could not be read ({type(error).__name__}: {error})",
            }
            blobs = []
        text = json.dumps(header).encode("utf-8")
        stdout.write(struct.pack("<Q", len(text)) + text)
        for blob in blobs:
            stdout.write(blob)
        stdout.flush()


def _harden() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = (
            CHILD_MEMORY_BYTES if hard == resource.RLIM_INFINITY else min(hard, CHILD_MEMORY_BYTES)
        )
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, ValueError, OSError):  # not POSIX, or limits we may not lower
        pass
    import h5py

    while h5py.h5pl.size():  # no filter plugin paths, whatever the environment says
        h5py.h5pl.remove(0)


def _encode(raw: RawFile) -> tuple[dict, list[bytes]]:
    attrs = {}
    for key, attr in raw.attrs.items():
        value = attr.value.hex() if attr.tag == "f8" else attr.value
        attrs[key] = [attr.tag, value]
    arrays, blobs = [], []
    for key, array in raw.arrays.items():
        array = np.ascontiguousarray(array)
        arrays.append([key, array.dtype.str, list(array.shape)])
        blobs.append(array.tobytes())
    return {"ok": True, "attrs": attrs, "arrays": arrays}, blobs


# ---------------------------------------------------------------- the parent's side


def _child_command() -> list[str]:
    root = str(Path(__file__).resolve().parent.parent)
    code = (
        f"import sys; sys.path.insert(0, {root!r}); "
        "from qnntraps.sandbox import child_main; child_main()"
    )
    return [sys.executable, "-I", "-c", code]


def _child_environment() -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HDF5_")}
    environment["HDF5_PLUGIN_PRELOAD"] = "::"
    return environment


class _Worker:
    """One child process and the pipe protocol to it."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.process = subprocess.Popen(
            _child_command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_child_environment(),
        )

    def alive(self) -> bool:
        return self.pid == os.getpid() and self.process.poll() is None

    def kill(self) -> None:
        if self.pid != os.getpid():
            return  # a forked copy: the child belongs to the parent process
        self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass

    def _read_exactly(self, size: int) -> bytes:
        chunks, left = [], size
        while left:
            chunk = self.process.stdout.read(left)
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def wait_ready(self) -> None:
        if self._read_exactly(len(READY)) != READY:
            raise EOFError

    def exchange(self, name: str, data: bytes, limits: ReadLimits):
        encoded_name = name.encode("utf-8", "replace")
        self.process.stdin.write(struct.pack("<QQ", len(encoded_name), len(data)))
        self.process.stdin.write(encoded_name)
        self.process.stdin.write(data)
        self.process.stdin.flush()
        (size,) = struct.unpack("<Q", self._read_exactly(8))
        if size > MAX_HEADER_BYTES:
            raise _Protocol("answer header too large")
        header = json.loads(self._read_exactly(size).decode("utf-8"))
        if not isinstance(header, dict):
            raise _Protocol("answer is not an object")
        if not header.get("ok"):
            return header
        return self._decode(header, limits)

    def _decode(self, header: dict, limits: ReadLimits) -> RawFile:
        attrs = {}
        for key, item in header["attrs"].items():
            tag, value = item
            if tag == "f8":
                value = float.fromhex(value)
            elif tag not in ("i8", "u8", "str"):
                raise _Protocol("unknown attribute tag")
            attrs[str(key)] = Attr(tag, value)
        arrays, total = {}, 0
        for key, dtype_text, shape in header["arrays"]:
            dtype = _DTYPES[dtype_text]
            shape = tuple(int(d) for d in shape)
            if any(d < 0 for d in shape) or len(shape) > 2:
                raise _Protocol("bad array shape")
            count = 1
            for d in shape:
                count *= d
            if count > limits.max_elements:
                raise _Protocol("array too large")
            total += count * dtype.itemsize
            if total > limits.max_file_bytes:
                raise _Protocol("arrays too large")
            buffer = self._read_exactly(count * dtype.itemsize)
            arrays[str(key)] = np.frombuffer(buffer, dtype=dtype).reshape(shape).copy()
        return RawFile(attrs=attrs, arrays=arrays)


class _Protocol(Exception):
    """The child's answer does not follow the protocol."""


class IsolatedReader:
    """Reads files through a child process; thread-safe; restarts the child after a failure."""

    def __init__(
        self, timeout: float = READ_TIMEOUT_S, startup_timeout: float = STARTUP_TIMEOUT_S
    ) -> None:
        self.timeout = timeout
        self.startup_timeout = startup_timeout
        self._lock = threading.Lock()
        self._worker: _Worker | None = None

    def close(self) -> None:
        with self._lock:
            if self._worker is not None:
                self._worker.kill()
                self._worker = None

    def read_raw(self, data: bytes, name: str, limits: ReadLimits = LIMITS) -> RawFile:
        """The RawFile of `data` as the child reads it (with the default limits; `limits` bounds
        its answer); typed errors on refusal, hang or crash."""
        with self._lock:
            worker = self._ensure_worker(name)
            outcome = self._run(lambda: worker.exchange(name, data, limits), self.timeout)
            if outcome is _TIMED_OUT:
                self._discard()
                raise ReadTimeoutError(
                    f"{name}: reading did not finish within {self.timeout:g} s (libhdf5 kept "
                    f"spinning on it); the file is malformed or hostile; {ADVICE}"
                )
            if isinstance(outcome, BaseException):
                reason = _describe(outcome, worker)
                self._discard()
                raise ReaderCrashedError(
                    f"{name}: the isolated reader died while parsing it ({reason}); the file is "
                    f"malformed or hostile; {ADVICE}"
                )
        if isinstance(outcome, RawFile):
            return outcome
        error = _ERRORS.get(outcome.get("error"), CorruptFileError)
        message = " ".join(str(outcome.get("message", "")).split())[:1000]
        raise error(message or f"{name} is a malformed qnntraps instance; {ADVICE}")

    def _ensure_worker(self, name: str) -> _Worker:
        if self._worker is not None and not self._worker.alive():
            self._discard()
        if self._worker is None:
            worker = _Worker()
            outcome = self._run(worker.wait_ready, self.startup_timeout)
            if outcome is _TIMED_OUT or isinstance(outcome, BaseException):
                reason = (
                    f"did not start within {self.startup_timeout:g} s"
                    if outcome is _TIMED_OUT
                    else f"could not start ({_describe(outcome, worker)})"
                )
                worker.kill()
                raise ReaderCrashedError(
                    f"{name}: the isolated reader process {reason}; check that "
                    f"'{sys.executable} -c \"import h5py, qnntraps\"' works"
                )
            self._worker = worker
        return self._worker

    def _discard(self) -> None:
        if self._worker is not None:
            self._worker.kill()
            self._worker = None

    @staticmethod
    def _run(task, timeout: float):
        """Run `task` in a helper thread; its result, the exception it raised, or _TIMED_OUT."""
        box: list = []

        def target() -> None:
            try:
                box.append(task())
            except BaseException as error:  # handed to the caller, which types it
                box.append(error)

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        thread.join(timeout)
        return box[0] if box else _TIMED_OUT


_TIMED_OUT = object()


def _describe(error: BaseException, worker: _Worker) -> str:
    try:
        code = worker.process.wait(timeout=1.0) if isinstance(error, EOFError | OSError) else None
    except subprocess.TimeoutExpired:
        code = None
    if code is not None and code < 0:
        return f"killed by signal {-code}"
    if code is not None:
        return f"exit status {code}"
    return type(error).__name__


_READER: IsolatedReader | None = None
_READER_LOCK = threading.Lock()


def shared_reader() -> IsolatedReader:
    """The process-wide IsolatedReader (created on first use, closed at exit)."""
    global _READER
    with _READER_LOCK:
        if _READER is None:
            _READER = IsolatedReader()
            atexit.register(_READER.close)
        return _READER
