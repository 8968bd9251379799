"""The soak's fake realtime API: OpenAI GA events over a hand-written WebSocket server (wire.py says why by hand).

Upgrades need `Authorization: Bearer <key>` (401 with a JSON error otherwise, as the API answers a wrong key). After the
upgrade it sends `session.created` (its id names the soak's session, so a saved log names its client), then answers each
`response.create` with one response of `ms` milliseconds of 24 kHz PCM16 speech in 100-ms `response.output_audio.delta`
events, `pace` times faster than real time. `soak.report` is answered with what it received; `soak.close` makes it
close (1000); `bench.echo` is answered at once with a small `bench.echo` event carrying its `n` (the fleet
benchmark's round trips). `?soak=badproto` answers the upgrade with a subprotocol nobody offered, `badaccept` with a wrong
Sec-WebSocket-Accept, `h2c` switches to another protocol, `nothttp` answers what is not HTTP. Relayed pings are answered.

One JSON line on stdout per connection when it ends (what it sent and received, how it ended, CLOCK_MONOTONIC times),
and one `totals` line at SIGTERM.
"""

import argparse
import asyncio
import base64
import hashlib
import json
import os
import signal
import sys
import time
import urllib.parse
import wave

import wire

CHUNK_SAMPLES = 2400  # 100 ms at 24 kHz
# How a misbehaving upstream answers the upgrade (`?soak=`): a subprotocol nobody offered, a wrong Sec-WebSocket-Accept,
# a switch to another protocol, bytes that are not HTTP.
MISBEHAVIOURS = ["badproto", "badaccept", "h2c", "nothttp"]
totals = {"event": "totals", "upgrades": 0, "refused": 0, **{how: 0 for how in MISBEHAVIOURS}, "dot_paths": 0, "plain_requests": 0,
          "heads_unreadable": 0}


def emit(record):
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


class Session:
    def __init__(self, reader, writer, sid, query, speech):
        self.reader, self.writer, self.sid, self.speech = reader, writer, sid, speech
        self.ms = int(query.get("ms", ["3000"])[0])
        self.pace = float(query.get("pace", ["2"])[0])
        self.sent_samples = self.deltas = self.responses = 0
        self.text_messages = self.binary_messages = self.binary_bytes = self.largest_message = 0
        self.binary_hash = hashlib.sha256()
        self.close_received = None
        self.sent_close = False
        self.ended = "open"
        self.answers = asyncio.Queue()
        self.position = 0
        self.events = 0

    async def send(self, opcode, payload):
        self.writer.write(wire.frame(opcode, payload, masked=False))
        await self.writer.drain()

    async def event(self, message):
        self.events += 1
        message["event_id"] = f"soak-{self.sid}-{self.events}"
        await self.send(wire.TEXT, json.dumps(message).encode())

    async def answer_loop(self):
        while True:
            await self.answers.get()
            self.responses += 1
            rid, iid = f"resp_{self.responses}", f"item_{self.responses}"
            ids = {"response_id": rid, "item_id": iid, "output_index": 0, "content_index": 0}
            await self.event({"type": "response.created", "response": {"id": rid, "status": "in_progress", "output": []}})
            await self.event({"type": "response.output_item.added", "response_id": rid, "output_index": 0,
                              "item": {"id": iid, "type": "message", "role": "assistant", "content": []}})
            chunks = max(1, self.ms * 24 // CHUNK_SAMPLES)
            step = CHUNK_SAMPLES / 24000 / self.pace
            start = time.monotonic()
            for index in range(chunks):
                await asyncio.sleep(max(0.0, start + index * step - time.monotonic()))
                await self.event({"type": "response.output_audio.delta", **ids, "delta": self.next_chunk()})
                self.sent_samples += CHUNK_SAMPLES
                self.deltas += 1
            await self.event({"type": "response.output_audio.done", **ids})
            await self.event({"type": "response.done", "response": {"id": rid, "status": "completed", "output": []}})

    def next_chunk(self):
        size = CHUNK_SAMPLES * 2
        if self.position + size > len(self.speech):
            self.position = 0
        piece = self.speech[self.position:self.position + size]
        self.position += size
        return base64.b64encode(piece).decode()

    async def message(self, opcode, data):
        if opcode == wire.BINARY:
            self.binary_messages += 1
            self.binary_bytes += len(data) if data is not None else 0
            if data is not None:
                self.binary_hash.update(data)
            return
        self.text_messages += 1
        if data is None:
            return
        try:
            kind = json.loads(data).get("type")
        except (ValueError, AttributeError):
            return
        if kind == "response.create":
            self.answers.put_nowait(True)
        elif kind == "soak.report":
            await self.event({"type": "soak.report", "binary_messages": self.binary_messages,
                              "binary_bytes": self.binary_bytes, "binary_sha256": self.binary_hash.hexdigest(),
                              "text_messages": self.text_messages, "largest_message": self.largest_message})
        elif kind == "bench.echo":
            n = json.loads(data).get("n")
            await self.event({"type": "bench.echo", "n": n})
        elif kind == "soak.close":
            self.sent_close = True
            await self.send(wire.CLOSE, wire.close_payload(1000, "soak done"))

    async def run(self):
        await self.event({"type": "session.created",
                          "session": {"type": "realtime", "id": f"sess_{self.sid}", "model": "soak",
                                      "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}}}}})
        answering = asyncio.ensure_future(self.answer_loop())
        parts, size, kept, opcode = [], 0, True, None
        try:
            while True:
                frame = await wire.read_frame(self.reader)
                if frame.opcode == wire.PING:
                    await self.send(wire.PONG, frame.payload)
                elif frame.opcode == wire.CLOSE:
                    self.close_received = wire.close_code(frame.payload)
                    if not self.sent_close:
                        self.sent_close = True
                        await self.send(wire.CLOSE, frame.payload[:2])
                    self.ended = "close"
                    break
                elif frame.opcode in (wire.TEXT, wire.BINARY, wire.CONTINUATION):
                    if frame.opcode != wire.CONTINUATION:
                        opcode, parts, size, kept = frame.opcode, [], 0, True
                    size += frame.length
                    if frame.payload is None or size > wire.KEEP_BYTES:
                        kept, parts = False, []
                    elif kept:
                        parts.append(frame.payload)
                    if frame.fin:
                        self.largest_message = max(self.largest_message, size)
                        await self.message(opcode, b"".join(parts) if kept else None)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            self.ended = "eof" if self.ended == "open" else self.ended
        finally:
            answering.cancel()
            self.writer.close()
        emit({"event": "session", "sid": self.sid, "ended": self.ended, "close_received": self.close_received,
              "ended_at": time.monotonic(), "sent_samples": self.sent_samples, "deltas": self.deltas,
              "responses": self.responses, "text_messages": self.text_messages,
              "binary_messages": self.binary_messages, "binary_bytes": self.binary_bytes,
              "largest_message": self.largest_message})


async def handle(reader, writer, key, speech):
    try:
        head = await asyncio.wait_for(wire.read_head(reader), 30)
    except (asyncio.TimeoutError, ConnectionError, OSError):
        head = None
    if head is None:
        totals["heads_unreadable"] += 1
        writer.close()
        return
    parts = head.first_line.split(" ")
    target = parts[1] if len(parts) > 1 else "/"
    path, _, query_text = target.partition("?")
    query = urllib.parse.parse_qs(query_text)
    if any(segment in (".", "..") for segment in urllib.parse.unquote(path).split("/")):
        totals["dot_paths"] += 1
    if (head.header("upgrade") or "").lower() != "websocket":
        totals["plain_requests"] += 1
        writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        writer.close()
        return
    if head.header("authorization") != f"Bearer {key}":
        totals["refused"] += 1
        body = json.dumps({"type": "error", "error": {"type": "invalid_request_error", "code": "invalid_api_key",
                                                      "message": "Incorrect API key provided."}}).encode()
        writer.write(b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        try:
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        writer.close()
        return
    how = query.get("soak", [""])[0]
    misbehaving = how in MISBEHAVIOURS
    if misbehaving:
        totals[how] += 1
    accept = wire.accept_key(head.header("sec-websocket-key") or "")
    if how == "badaccept":
        accept = wire.accept_key("not the key the relay sent")
    lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: " + accept]
    if how == "h2c":
        lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: h2c", "Connection: Upgrade"]
    elif how == "nothttp":
        lines = ["SSH-2.0-OpenSSH_9.6"]
    if how == "badproto":
        lines.append("Sec-WebSocket-Protocol: soak-unoffered")
    elif head.header("sec-websocket-protocol"):
        lines.append("Sec-WebSocket-Protocol: " + head.header("sec-websocket-protocol").split(",")[0].strip())
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    totals["upgrades"] += 1
    if misbehaving:
        # The relay must fail the client's upgrade and close this connection: held open until it does (10 minutes at
        # most), and said when.
        answered, closed_by = time.monotonic(), "relay"
        try:
            while await asyncio.wait_for(reader.read(65536), 600):
                pass
        except asyncio.TimeoutError:
            closed_by = "nobody within 600 s"
        except (ConnectionError, OSError):
            pass
        writer.close()
        emit({"event": "misbehaving", "sid": query.get("sid", ["-"])[0], "soak": query["soak"][0],
              "answered_at": answered, "closed_at": time.monotonic(), "closed_by": closed_by})
        return
    await Session(reader, writer, query.get("sid", ["-"])[0], query, speech).run()


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--speech", required=True)
    arguments = parser.parse_args()
    with wave.open(arguments.speech) as speech_file:
        speech = speech_file.readframes(speech_file.getnframes())
    server = await asyncio.start_server(lambda r, w: handle(r, w, arguments.key, speech), "127.0.0.1", 0, backlog=4096,
                                        limit=1 << 20)
    with open(arguments.port_file, "w") as port_file:
        port_file.write(str(server.sockets[0].getsockname()[1]))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    emit(totals)
    # Without cancelling the connections' tasks (asyncio.run would, and print each cancellation).
    os._exit(0)


if __name__ == "__main__":
    asyncio.run(main())
