"""WebSocket frames and HTTP/1.1 heads over asyncio streams, by hand.

Hand-written because the soak's attacks need raw bytes (frames a library refuses to send, heads no client would write)
and the soak must run without a package from outside; the same code serves its well-behaved clients and fake upstream.
"""

import asyncio
import base64
import hashlib
import os
import struct

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CONTINUATION, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA
# Payloads up to this size are unmasked and kept; larger ones are read and counted only (a 60 MiB message is counted,
# never held: the load generator must cost little beside the relay).
KEEP_BYTES = 1 << 20


def xor_mask(data, key):
    """RFC 6455 §5.3 masking (its own inverse), as one big-integer XOR: fast enough for a megabyte in Python."""
    if not data or key == b"\0\0\0\0":
        return bytes(data)
    count = len(data)
    keystream = (key * (count // 4 + 1))[:count]
    return (int.from_bytes(data, "big") ^ int.from_bytes(keystream, "big")).to_bytes(count, "big")


def frame_header(opcode, length, fin=True, mask_key=None):
    """A frame's header; `mask_key` (4 bytes) for a client's frame, None for a server's."""
    first = (0x80 if fin else 0) | opcode
    mask_bit = 0x80 if mask_key is not None else 0
    if length < 126:
        header = struct.pack("!BB", first, mask_bit | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, length)
    return header + (mask_key or b"")


def frame(opcode, payload=b"", fin=True, masked=True, mask_key=None):
    """A whole frame; a client's (masked) by default, with a random key unless one is given."""
    if masked:
        key = mask_key if mask_key is not None else os.urandom(4)
        return frame_header(opcode, len(payload), fin, key) + xor_mask(payload, key)
    return frame_header(opcode, len(payload), fin) + bytes(payload)


def close_payload(code, reason=""):
    return struct.pack("!H", code) + reason.encode()


def close_code(payload):
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None


class Frame:
    __slots__ = ("fin", "opcode", "length", "payload")

    def __init__(self, fin, opcode, length, payload):
        self.fin, self.opcode, self.length, self.payload = fin, opcode, length, payload


async def read_frame(reader):
    """One frame: its payload unmasked when at most KEEP_BYTES long, else None (the bytes are read and dropped)."""
    first, second = await reader.readexactly(2)
    length = second & 0x7F
    if length == 126:
        length = struct.unpack("!H", await reader.readexactly(2))[0]
    elif length == 127:
        length = struct.unpack("!Q", await reader.readexactly(8))[0]
    key = await reader.readexactly(4) if second & 0x80 else None
    if length <= KEEP_BYTES:
        payload = await reader.readexactly(length)
        if key:
            payload = xor_mask(payload, key)
    else:
        payload, left = None, length
        while left:
            chunk = await reader.read(min(left, 1 << 20))
            if not chunk:
                raise asyncio.IncompleteReadError(b"", left)
            left -= len(chunk)
    return Frame(bool(first & 0x80), first & 0x0F, length, payload)


class Head:
    """A request or response head: its first line and its headers (names lowercased)."""

    def __init__(self, first_line, headers):
        self.first_line, self.headers = first_line, headers

    @property
    def status(self):
        parts = self.first_line.split(" ", 2)
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None

    def header(self, name):
        return self.headers.get(name.lower())


async def read_head(reader):
    """Reads up to the end of a head (CRLF CRLF), leaving what follows in the reader; None when the connection ends
    first or the head is longer than the reader's limit."""
    try:
        data = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return None
    lines = data[:-4].decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Head(lines[0], headers)


async def read_response(reader, timeout):
    """A response's head and body (Content-Length bytes, or up to the end of the connection): (Head, body), or
    (None, b"") when the connection ended or timed out without a head."""
    try:
        head = await asyncio.wait_for(read_head(reader), timeout)
        if head is None:
            return None, b""
        body = b""
        length = head.header("content-length")
        if length is not None and length.isdigit():
            while len(body) < int(length):
                chunk = await asyncio.wait_for(reader.read(65536), timeout)
                if not chunk:
                    break
                body += chunk
        return head, body
    except (asyncio.TimeoutError, ConnectionError, OSError):
        return None, b""


def accept_key(key):
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def upgrade_request(target, host, key=None, headers=()):
    """A client's upgrade request head (bytes); `key` is the Sec-WebSocket-Key (random when None)."""
    key = key or base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
