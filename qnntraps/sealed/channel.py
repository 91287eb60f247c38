"""The wire format between the harness and a sealed worker: framed JSON plus raw numeric arrays.

No pickle crosses the channel in either direction: a worker runs untrusted code, and unpickling
anything it sends would hand it the harness's process. One message is

    b"QNTS" | header length (4 bytes, big-endian) | payload length (8 bytes, big-endian)
    | header: a UTF-8 JSON object | payload: the arrays' bytes, back to back

where the header's ``"arrays"`` lists ``[name, dtype, shape]`` for each array in payload order;
dtypes are little-endian float64 ``"<f8"``, int64 ``"<i8"`` or bool ``"|b1"``. The receiver
checks the magic, both lengths against MAX_HEADER and MAX_PAYLOAD, that the header is a JSON
object of bounded depth, that every array descriptor is well formed and that the shapes account
for every payload byte, before it allocates anything. Anything else is a ChannelProtocolError.
"""

from __future__ import annotations

import json
import math
import select
import socket
import struct
import time
from dataclasses import dataclass, field

import numpy as np

MAGIC = b"QNTS"
PREFIX = struct.Struct(">4sIQ")
MAX_HEADER = 1 << 20  # bytes of JSON header (error messages, hyper-parameters, code identity)
MAX_PAYLOAD = 1 << 31  # bytes of arrays in one message (2 GiB: 10^6 restarts x 62 float64 x 4)
SMALL_PAYLOAD = 1 << 16  # payloads up to this size go in one write and are read in one read
MAX_DEPTH = 32  # nesting of the JSON header
DTYPES = {"<f8": np.dtype("<f8"), "<i8": np.dtype("<i8"), "|b1": np.dtype("|b1")}


class ChannelError(Exception):
    """The other end broke the channel: base of the three cases below."""


class ChannelClosed(ChannelError):
    """The other end closed the channel (it exited, crashed or was killed)."""


class ChannelTimeout(ChannelError):
    """Nothing arrived before the deadline."""


class ChannelProtocolError(ChannelError):
    """What arrived is not a well-formed message."""


@dataclass(frozen=True)
class Message:
    """One message: its JSON header (a dict) and its arrays by name."""

    header: dict
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def op(self) -> str:
        op = self.header.get("op")
        if not isinstance(op, str):
            raise ChannelProtocolError("a message without an 'op' string")
        return op

    def array(self, name: str, dtype: str, shape: tuple[int | None, ...]) -> np.ndarray:
        """The array `name`, checked against `dtype` and `shape` (None: any length there)."""
        array = self.arrays.get(name)
        if array is None:
            raise ChannelProtocolError(f"message {self.op!r} lacks the array {name!r}")
        if array.dtype != DTYPES[dtype] or array.ndim != len(shape):
            raise ChannelProtocolError(
                f"array {name!r} is {array.dtype} {array.shape}, expected {dtype} of rank {len(shape)}"
            )
        for actual, expected in zip(array.shape, shape, strict=True):
            if expected is not None and actual != expected:
                raise ChannelProtocolError(
                    f"array {name!r} has shape {array.shape}, expected {shape}"
                )
        return array


def send(sock: socket.socket, header: dict, arrays: dict[str, np.ndarray] | None = None) -> None:
    """Send one message (blocking until every byte is written)."""
    arrays = arrays or {}
    descriptors, buffers = [], []
    for name, array in arrays.items():
        array = np.ascontiguousarray(array)
        dtype = _dtype_name(array.dtype)
        descriptors.append([name, dtype, list(array.shape)])
        buffers.append(array.astype(DTYPES[dtype], copy=False).reshape(-1).view(np.uint8))
    body = json.dumps({**header, "arrays": descriptors}, allow_nan=False).encode("utf-8")
    if len(body) > MAX_HEADER:
        raise ValueError(f"message header of {len(body)} bytes exceeds {MAX_HEADER}")
    payload = sum(b.nbytes for b in buffers)
    if payload > MAX_PAYLOAD:
        raise ValueError(f"message payload of {payload} bytes exceeds {MAX_PAYLOAD}")
    head = PREFIX.pack(MAGIC, len(body), payload) + body
    if payload <= SMALL_PAYLOAD:  # one write: most messages are a few rows
        sock.sendall(b"".join([head, *buffers]))
        return
    sock.sendall(head)
    for buffer in buffers:
        if buffer.nbytes:
            sock.sendall(memoryview(buffer))


def receive(
    sock: socket.socket, deadline: float | None = None, max_payload: int = MAX_PAYLOAD
) -> Message:
    """Receive one message; `deadline` is a time.monotonic() value (None: wait forever);
    a payload over `max_payload` bytes is refused before anything is allocated for it."""
    magic, header_length, payload_length = PREFIX.unpack(_read(sock, PREFIX.size, deadline, True))
    if magic != MAGIC:
        raise ChannelProtocolError("bad magic: not a qnntraps channel message")
    if header_length > MAX_HEADER or payload_length > min(max_payload, MAX_PAYLOAD):
        raise ChannelProtocolError(
            f"message too large (header {header_length} bytes, payload {payload_length} bytes)"
        )
    if payload_length <= SMALL_PAYLOAD:  # one read; a large payload waits for a valid header
        rest = memoryview(_read(sock, header_length + payload_length, deadline))
        header = _parse_header(bytes(rest[:header_length]))
        layout = _layout(header.pop("arrays", []), payload_length)
        payload = rest[header_length:]
    else:
        header = _parse_header(bytes(_read(sock, header_length, deadline)))
        layout = _layout(header.pop("arrays", []), payload_length)
        payload = _read(sock, payload_length, deadline)
    arrays = {}
    offset = 0
    for name, dtype, shape, size in layout:
        flat = np.frombuffer(payload, dtype=dtype, count=size // dtype.itemsize, offset=offset)
        arrays[name] = flat.reshape(shape).copy()
        offset += size
    return Message(header, arrays)


def _dtype_name(dtype: np.dtype) -> str:
    if dtype.kind == "f":
        return "<f8"
    if dtype.kind in "iu":
        return "<i8"
    if dtype.kind == "b":
        return "|b1"
    raise TypeError(f"cannot send arrays of dtype {dtype}")


def _parse_header(raw: bytes) -> dict:
    try:
        header = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, ValueError) as error:
        raise ChannelProtocolError(f"the header is not JSON ({type(error).__name__})") from None
    if not isinstance(header, dict):
        raise ChannelProtocolError("the header is not a JSON object")
    if _depth(header) > MAX_DEPTH:
        raise ChannelProtocolError("the header nests too deeply")
    return header


def _refuse_constant(name: str):
    raise ValueError(f"{name} in a header")


def _depth(value, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def _layout(descriptors, payload_length: int) -> list[tuple[str, np.dtype, tuple, int]]:
    if not isinstance(descriptors, list):
        raise ChannelProtocolError("'arrays' is not a list")
    layout, names, total = [], set(), 0
    for descriptor in descriptors:
        if not (isinstance(descriptor, list) and len(descriptor) == 3):
            raise ChannelProtocolError("an array descriptor is not [name, dtype, shape]")
        name, dtype, shape = descriptor
        if not isinstance(name, str) or name in names or dtype not in DTYPES:
            raise ChannelProtocolError(f"bad array descriptor {descriptor!r:.80}")
        if not isinstance(shape, list) or len(shape) > 4:
            raise ChannelProtocolError(f"bad shape for array {name!r}")
        if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise ChannelProtocolError(f"bad shape for array {name!r}")
        size = math.prod(shape) * DTYPES[dtype].itemsize
        total += size
        if total > payload_length:
            raise ChannelProtocolError("array shapes exceed the payload")
        names.add(name)
        layout.append((name, DTYPES[dtype], tuple(shape), size))
    if total != payload_length:
        raise ChannelProtocolError("array shapes do not account for the payload")
    return layout


def _read(sock: socket.socket, size: int, deadline: float | None, first: bool = False):
    """Exactly `size` bytes, or ChannelClosed / ChannelTimeout."""
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChannelTimeout("no message before the deadline")
            poller = select.poll()
            poller.register(sock, select.POLLIN | select.POLLHUP | select.POLLERR)
            if not poller.poll(max(1, math.ceil(remaining * 1000))):
                raise ChannelTimeout("no message before the deadline")
        try:
            count = sock.recv_into(view[got:], size - got)
        except (ConnectionResetError, BrokenPipeError) as error:
            raise ChannelClosed(str(error)) from None
        if count == 0:
            if got == 0 and first:
                raise ChannelClosed("the other end closed the channel")
            raise ChannelClosed("the channel closed in the middle of a message")
        got += count
    return buffer
