#!/usr/bin/env python3
"""Write the fuzzer's seed corpus (Fuzz/Seeds/) from the sessions TestAudio/make-sessions.py generates.

For every session log: the first message of each kind (by `type`, Twilio's `event`, or the first key), and the first
six lines together (so that the line reader sees line ends, a byte order mark, configuration before audio); from the
JSON array session, its first four elements. Every string longer than 96 characters is cut to 64 (base64 payloads
stay valid base64), so the corpus stays small; the raw bytes of each line are kept otherwise (escapes, CRLF, BOM).
From each HAR capture: its entries, each WebSocket one with its first three frames and its first binary frame.

Usage: make-seeds.py [SESSIONS_DIR]   (default: generate the sessions into a temporary folder first)
"""

import base64
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = os.path.join(HERE, "Seeds")
LONG_STRING = re.compile(rb'"((?:[^"\\]|\\.){97,}?)"')
UNIT = re.compile(rb'\\.|[^\\]')


def shorten(line):
    """Cuts every long JSON string in `line` to its first 64 characters (an escape counts as one)."""
    return LONG_STRING.sub(lambda match: b'"' + b"".join(UNIT.findall(match.group(1))[:64]) + b'"', line)


def shrink(value):
    """A copy of a parsed JSON value with every string longer than 96 characters cut to 64."""
    if isinstance(value, dict):
        return {key: shrink(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shrink(item) for item in value]
    if isinstance(value, str) and len(value) > 96:
        return value[:64]
    return value


def shrink_frame(frame):
    """A HAR WebSocket frame with the JSON message it carries (as text, or base64 in a binary frame) shrunk."""
    data = frame.get("data", "")
    try:
        if frame.get("opcode") == 2:
            message = json.loads(base64.b64decode(data))
            data = base64.b64encode(json.dumps(shrink(message)).encode()).decode()
        else:
            data = json.dumps(shrink(json.loads(data)))
    except ValueError:
        data = data[:64]
    return dict(frame, data=data)


def kind(line):
    """What sort of message a line is, for keeping one of each."""
    try:
        value = json.loads(line.lstrip(b"\xef\xbb\xbf"))
    except ValueError:
        return "invalid"
    if not isinstance(value, dict):
        return type(value).__name__
    event = value.get("event") if isinstance(value.get("event"), dict) else value
    name = event.get("type") or event.get("event")
    if name is None and event:
        # Gemini names a message by its one top-level key; what is inside tells audio from transcripts.
        name = next(iter(event))
        if isinstance(event[name], dict) and event[name]:
            name += "." + next(iter(event[name]))
    return str(name)


def main():
    source = sys.argv[1] if len(sys.argv) > 1 else None
    if source is None:
        source = tempfile.mkdtemp(prefix="deltatape-seeds-")
        script = os.path.join(HERE, "..", "TestAudio", "make-sessions.py")
        subprocess.run([sys.executable, script, source], check=True, stdout=subprocess.DEVNULL)
    os.makedirs(SEEDS, exist_ok=True)
    written = set()

    def write(name, data):
        if data in written:
            return
        written.add(data)
        with open(os.path.join(SEEDS, name), "wb") as seed:
            seed.write(data)

    for file_name in sorted(os.listdir(source)):
        path = os.path.join(source, file_name)
        session, extension = os.path.splitext(file_name)
        if extension == ".jsonl":
            with open(path, "rb") as log:
                lines = log.read().split(b"\n")
            seen = set()
            for number, line in enumerate(lines):
                if line.strip() and kind(line) not in seen:
                    seen.add(kind(line))
                    write("%s-%03d.jsonl" % (session, number + 1), shorten(line))
            write("%s-head.jsonl" % session, b"\n".join(shorten(line) for line in lines[:6]) + b"\n")
        elif extension == ".json":
            with open(path, "rb") as log:
                value = json.loads(log.read())
            if not isinstance(value, list):
                continue  # manifest.json
            text = json.dumps(value[:4], indent=2).encode()
            write("%s-head.json" % session, shorten(text))
        elif extension == ".har":
            # The entries, each WebSocket one with its first three frames and its first binary frame.
            with open(path, "rb") as log:
                har = json.loads(log.read())
            for entry in har["log"]["entries"]:
                frames = entry.get("_webSocketMessages")
                if frames:
                    binary = [frame for frame in frames if frame.get("opcode") == 2][:1]
                    kept = frames[:3] + [frame for frame in binary if frame not in frames[:3]]
                    entry["_webSocketMessages"] = [shrink_frame(frame) for frame in kept]
            write("%s-head.har" % session, json.dumps(har, indent=1).encode())
    total = sum(os.path.getsize(os.path.join(SEEDS, name)) for name in os.listdir(SEEDS))
    print("%d seeds, %d bytes in %s" % (len(os.listdir(SEEDS)), total, SEEDS))


if __name__ == "__main__":
    main()
