#!/usr/bin/env python3
"""Generate the session logs that DeltaTape's tests and README demo use, from the committed speech recordings.

Written with Python's standard library only (json, base64, wave), independently of DeltaTape's Swift code, so
that the expectations it writes are an independent source: for each session NAME it writes

  NAME.jsonl          the session log, as a realtime WebSocket client would have logged it (NAME.json for the
                      JSON array session, NAME.har for the HAR exports)
  NAME.assistant.raw  the assistant track DeltaTape must produce: PCM16 little-endian, mono, at the session's rate
  NAME.user.raw       the user track, when the session has one

and manifest.json, describing each session (vocabulary, frames, the lines a reader must flag).

Usage: make-sessions.py [OUTPUT_DIR] [--hours H [--truncations] [--microphone]]   (default: TestAudio/generated)
       With --hours, writes only long.jsonl: H hours of GA session built by repeating the speech, for benchmarks;
       with --truncations too, every answer is truncated at 60 % of its length; with --microphone, the client
       streams silence while each answer plays (a server-VAD client's microphone).
"""

import base64
import json
import os
import random
import sys
import wave

HERE = os.path.dirname(os.path.abspath(__file__))
RATE = 24000


def read_pcm(name):
    with wave.open(os.path.join(HERE, name), "rb") as w:
        assert w.getframerate() == RATE and w.getsampwidth() == 2 and w.getnchannels() == 1, name
        return w.readframes(w.getnframes())


def b64(data):
    return base64.b64encode(data).decode("ascii")


class Session:
    """Accumulates the lines of one session log and the assistant PCM it must decode to."""

    def __init__(self, vocabulary, rng):
        self.ga = vocabulary == "openai-ga"
        self.rng = rng
        self.lines = []
        self.expected = bytearray()
        self.expected_user = bytearray()
        self.problem_lines = []
        self.event_number = 0

    def event_id(self):
        self.event_number += 1
        return "event_%04d" % self.event_number

    def add(self, message, text=None):
        self.lines.append(text if text is not None else json.dumps(message))

    def session_created(self):
        if self.ga:
            session = {"type": "realtime", "id": "sess_001", "model": "gpt-realtime", "output_modalities": ["audio"],
                       "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000},
                                           "turn_detection": {"type": "server_vad"}},
                                 "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin"}}}
        else:
            session = {"id": "sess_001", "model": "gpt-4o-realtime-preview", "modalities": ["text", "audio"],
                       "input_audio_format": "pcm16", "output_audio_format": "pcm16", "voice": "alloy"}
        self.add({"type": "session.created", "event_id": self.event_id(), "session": session})

    def user_audio(self, pcm, chunk=4800):
        for start in range(0, len(pcm), chunk):
            self.add({"type": "input_audio_buffer.append", "audio": b64(pcm[start:start + chunk])})
        self.add({"type": "input_audio_buffer.commit"})
        self.expected_user += pcm

    def response(self, response_id, items, sizes):
        """One response whose output items carry the given PCM; deltas sized by `sizes` (an iterator)."""
        audio_delta = "response.output_audio.delta" if self.ga else "response.audio.delta"
        transcript_delta = "response.output_audio_transcript.delta" if self.ga else "response.audio_transcript.delta"
        audio_done = "response.output_audio.done" if self.ga else "response.audio.done"
        self.add({"type": "response.created", "event_id": self.event_id(),
                  "response": {"id": response_id, "object": "realtime.response", "status": "in_progress", "output": []}})
        for output_index, (item_id, pcm) in enumerate(items):
            self.add({"type": "response.output_item.added", "event_id": self.event_id(), "response_id": response_id,
                      "output_index": output_index,
                      "item": {"id": item_id, "type": "message", "role": "assistant", "content": []}})
            position = 0
            while position < len(pcm):
                size = next(sizes)
                piece = pcm[position:position + size]
                position += len(piece)
                self.add({"type": audio_delta, "event_id": self.event_id(), "response_id": response_id,
                          "item_id": item_id, "output_index": output_index, "content_index": 0, "delta": b64(piece)})
                self.expected += piece
                if self.rng.random() < 0.3:
                    self.add({"type": transcript_delta, "event_id": self.event_id(), "response_id": response_id,
                              "item_id": item_id, "output_index": output_index, "content_index": 0, "delta": "word "})
            self.add({"type": audio_done, "event_id": self.event_id(), "response_id": response_id, "item_id": item_id,
                      "output_index": output_index, "content_index": 0})
        self.add({"type": "response.done", "event_id": self.event_id(),
                  "response": {"id": response_id, "status": "completed", "output": []}})

    def write(self, directory, name, line_end="\n", prefix=""):
        with open(os.path.join(directory, name + ".jsonl"), "w", newline="") as f:
            f.write(prefix + line_end.join(self.lines) + line_end)
        with open(os.path.join(directory, name + ".assistant.raw"), "wb") as f:
            f.write(bytes(self.expected))
        if self.expected_user:
            with open(os.path.join(directory, name + ".user.raw"), "wb") as f:
                f.write(bytes(self.expected_user))


def even_sizes(rng):
    while True:
        yield rng.choice([2400, 4800, 4800, 9600, 12000, 1600])


def odd_sizes(rng):
    while True:
        yield rng.randrange(1, 6000) | 1  # always odd


def conversation(vocabulary, seed, sizes=even_sizes):
    """A two-turn conversation: user speech, an assistant response in two items, user speech, a second response."""
    rng = random.Random(seed)
    assistant, user = read_pcm("assistant-speech.wav"), read_pcm("user-speech.wav")
    split = (len(assistant) // 2) & ~1
    session = Session(vocabulary, rng)
    session.session_created()
    session.user_audio(user)
    session.add({"type": "input_audio_buffer.speech_started", "event_id": session.event_id(), "item_id": "item_u1", "audio_start_ms": 100})
    session.response("resp_001", [("item_a1", assistant[:split]), ("item_a2", assistant[split:])], sizes(rng))
    session.user_audio(user[: len(user) // 2])
    session.response("resp_002", [("item_a3", assistant[: split // 2])], sizes(rng))
    return session


def shuffled_keys(message, rng):
    keys = list(message.keys())
    rng.shuffle(keys)
    return {key: message[key] for key in keys}


def make_reordered(directory, manifest):
    """Keys in random order, odd whitespace, and 'delta' keys that are not audio (nested, transcript, text)."""
    rng = random.Random(7)
    session = conversation("openai-ga", 3)
    lines = []
    for line in session.lines:
        message = json.loads(line)
        if message.get("type") == "response.output_audio.delta":
            message["metadata"] = {"delta": b64(b"\x01\x02\x03\x04" * 8)}  # nested 'delta': not audio
        separators = rng.choice([(",", ":"), (" , ", " : "), (",\t", ":\t"), (",  ", ":   ")])
        lines.append(" " * rng.randrange(3) + json.dumps(shuffled_keys(message, rng), separators=separators) + "\t" * rng.randrange(2))
    session.lines = lines
    session.add({"type": "response.output_text.delta", "response_id": "resp_009", "item_id": "item_t", "delta": "AAAA"})
    session.add({"type": "response.function_call_arguments.delta", "response_id": "resp_009", "item_id": "item_f", "delta": "AAAABBBB"})
    session.write(directory, "reordered-keys")
    manifest["reordered-keys"] = {"vocabulary": "openai-ga", "problem_lines": []}


def make_escaped(directory, manifest):
    """Base64 with every '/' written as '\\/' and every '+' as '\\u002B', as some loggers write them."""
    session = conversation("openai-ga", 4)
    escaped = []
    for line in session.lines:
        if '"response.output_audio.delta"' in line:
            head, _, payload = line.rpartition('"delta": "')
            payload = payload.replace("/", "\\/").replace("+", "\\u002B")
            line = head + '"delta": "' + payload
        escaped.append(line)
    session.lines = escaped
    assert any("\\/" in line for line in session.lines)
    session.write(directory, "escaped-slashes")
    manifest["escaped-slashes"] = {"vocabulary": "openai-ga", "problem_lines": []}


def make_crlf_bom(directory, manifest):
    """CRLF line ends, a UTF-8 byte order mark, and blank lines (empty and whitespace-only)."""
    session = conversation("openai-beta", 5)
    with_blanks = []
    for index, line in enumerate(session.lines):
        with_blanks.append(line)
        if index % 7 == 3:
            with_blanks.append("")
        if index % 11 == 5:
            with_blanks.append("  \t ")
    session.lines = with_blanks
    session.write(directory, "crlf-bom", line_end="\r\n", prefix="\ufeff")
    manifest["crlf-bom"] = {"vocabulary": "openai-beta", "problem_lines": []}


def make_malformed(directory, manifest):
    """Each kind of bad line: truncated JSON (its audio before the cut kept), non-object JSON, plain text, invalid
    base64 (-> silence), bad UTF-8."""
    session = conversation("openai-ga", 6)
    audio_lines = [i for i, line in enumerate(session.lines) if '"response.output_audio.delta"' in line]
    expected = bytearray()
    lines = []
    problems = []
    corrupt_at = set(audio_lines[3:6])  # three deltas whose base64 gets a bad character
    truncate_at = audio_lines[8]  # one audio line cut in the middle: the line is flagged, its audio before the cut kept
    for index, line in enumerate(session.lines):
        message = json.loads(line)
        is_audio = index in audio_lines
        payload = base64.b64decode(message["delta"]) if is_audio else b""
        if index == truncate_at:
            lines.append(line[: len(line) // 2])
            problems.append(len(lines))
            # The payload's written characters in whole groups of eight (six bytes, whole samples) decode and are kept.
            written = lines[-1][lines[-1].index('"delta": "') + len('"delta": "'):]
            expected += base64.b64decode(written[: len(written) // 8 * 8])
            continue
        if index in corrupt_at:
            text = message["delta"]
            bad = len(text) // 3
            message["delta"] = text[:bad] + "!" + text[bad + 1:]
            lines.append(json.dumps(message))
            problems.append(len(lines))
            # Silence as long as the payload would have been (the '=' padding excluded).
            expected += b"\x00" * ((len(text) - text.count("=")) * 3 // 4)
            continue
        lines.append(line)
        expected += payload
        if index == 2:
            lines.append("[1, 2, 3]")  # valid JSON, not an object
            problems.append(len(lines))
            lines.append('"just a string"')
            problems.append(len(lines))
            lines.append("this is not json at all")
            problems.append(len(lines))
            lines.append('{"type": "conversation.item.created", "item": {"id": "x"}} trailing')
            problems.append(len(lines))
    session.lines = lines
    session.expected = expected
    session.write(directory, "malformed")
    # A line with invalid UTF-8 inside a string, written as bytes.
    with open(os.path.join(directory, "malformed.jsonl"), "ab") as f:
        f.write(b'{"type": "conversation.item.created", "note": "\xff\xfe"}\n')
    problems.append(len(lines) + 1)
    manifest["malformed"] = {"vocabulary": "openai-ga", "problem_lines": problems}


def _audioop():
    """Python's audioop (deprecated, present in 3.11-3.12): the independent G.711 and rate-conversion reference."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop
    return audioop


def make_g711(directory, manifest):
    """A beta session configured for G.711 mu-law both ways (as telephony bridges set it): 8 kHz, one byte a
    sample. The expectation is Python's own G.711 expansion (audioop) of the bytes sent."""
    audioop = _audioop()
    rng = random.Random(11)
    speech = read_pcm("assistant-speech.wav")
    narrow, _ = audioop.ratecv(speech, 2, 1, RATE, 8000, None)
    codes = audioop.lin2ulaw(narrow, 2)
    session = Session("openai-beta", rng)
    session.add({"type": "session.created", "event_id": session.event_id(),
                 "session": {"id": "sess_g711", "modalities": ["text", "audio"],
                             "input_audio_format": "g711_ulaw", "output_audio_format": "g711_ulaw"}})
    session.response("resp_g1", [("item_g1", codes)], iter(lambda: rng.choice([160, 320, 800, 1601]), None))
    session.expected = bytearray(audioop.ulaw2lin(bytes(codes), 2))
    session.write(directory, "g711-ulaw")
    manifest["g711-ulaw"] = {"vocabulary": "openai-beta", "problem_lines": [], "rate": 8000}


def make_mixed_formats(directory, manifest):
    """A GA session whose second response asks for G.711 A-law: the first response's PCM16 must come out
    bit-exact at 24 kHz, the second resampled from 8 kHz (its frame count is in the manifest)."""
    audioop = _audioop()
    rng = random.Random(12)
    speech = read_pcm("assistant-speech.wav")
    first = speech[: (len(speech) // 3) & ~1]
    narrow, _ = audioop.ratecv(speech[len(first):], 2, 1, RATE, 8000, None)
    codes = audioop.lin2alaw(narrow, 2)
    session = Session("openai-ga", rng)
    session.session_created()
    session.response("resp_m1", [("item_m1", first)], even_sizes(rng))
    expected_first = bytes(session.expected)
    session.lines.append(json.dumps({"type": "response.created", "event_id": session.event_id(),
                                     "response": {"id": "resp_m2", "audio": {"output": {"format": {"type": "audio/pcma"}}}}}))
    for start in range(0, len(codes), 800):
        session.add({"type": "response.output_audio.delta", "event_id": session.event_id(), "response_id": "resp_m2",
                     "item_id": "item_m2", "output_index": 0, "content_index": 0, "delta": b64(codes[start:start + 800])})
    session.expected = bytearray(expected_first)
    session.write(directory, "mixed-formats")
    # The second response's samples before resampling (Python's A-law expansion), for comparing with sox's resampling.
    with open(os.path.join(directory, "mixed-formats.resampled-source.raw"), "wb") as f:
        f.write(audioop.alaw2lin(codes, 2))
    manifest["mixed-formats"] = {"vocabulary": "openai-ga", "problem_lines": [], "rate": 24000,
                                 "resampled_input_frames": len(codes), "resampled_input_rate": 8000}


def make_envelope(directory, manifest):
    """Each message in the {"time", "source", "event"} envelope some client libraries log."""
    session = conversation("openai-ga", 13)
    wrapped = []
    for index, line in enumerate(session.lines):
        message = json.loads(line)
        source = "client" if message.get("type", "").startswith("input_audio_buffer.append") else "server"
        wrapped.append(json.dumps({"time": "2026-11-27T04:%02d:%02d.000Z" % (index // 60 % 60, index % 60),
                                   "source": source, "event": message}))
    session.lines = wrapped
    session.write(directory, "envelope")
    manifest["envelope"] = {"vocabulary": "openai-ga", "problem_lines": []}


def make_other_envelopes(directory, manifest):
    """The envelope in the other spellings loggers write (issue 13): the event as a string holding its JSON (what
    JSON.stringify inside a logger gives), the fields named ts/timestamp, direction, message/payload/data, a time in
    epoch milliseconds; and a field no default names ("frame"), which needs --event-field frame."""
    def wrap(name, seed, envelope):
        session = conversation("openai-ga", seed)
        wrapped = []
        for index, line in enumerate(session.lines):
            message = json.loads(line)
            outgoing = message.get("type", "").startswith("input_audio_buffer.")
            wrapped.append(json.dumps(envelope(index, message, outgoing)))
        session.lines = wrapped
        session.write(directory, name)
        manifest[name] = {"vocabulary": "openai-ga", "problem_lines": []}

    wrap("envelope-string", 31, lambda index, message, outgoing: {
        "time": "2026-11-27T05:%02d:%02d.250Z" % (index // 60 % 60, index % 60),
        "source": "client" if outgoing else "server", "event": json.dumps(message)})
    wrap("envelope-ts-message", 32, lambda index, message, outgoing: {
        "ts": 1795000000000 + 40 * index, "direction": "out" if outgoing else "in", "message": message})
    wrap("envelope-payload-string", 33, lambda index, message, outgoing: {
        "timestamp": 1795000000.5 + index / 25, "direction": "sent" if outgoing else "received",
        "payload": json.dumps(message, separators=(",", ":"))})
    wrap("envelope-data", 34, lambda index, message, outgoing: {"data": message, "ts": "2026-11-27T06:00:%02dZ" % (index % 60)})
    wrap("envelope-custom-field", 35, lambda index, message, outgoing: {"at": index, "frame": message})


def make_json_array(directory, manifest):
    """The messages as one pretty-printed JSON array (a file some tools export), elements over several lines."""
    session = conversation("openai-beta", 14)
    messages = [json.loads(line) for line in session.lines]
    with open(os.path.join(directory, "json-array.json"), "w") as f:
        json.dump(messages, f, indent=2)
    with open(os.path.join(directory, "json-array.assistant.raw"), "wb") as f:
        f.write(bytes(session.expected))
    manifest["json-array"] = {"vocabulary": "openai-beta", "problem_lines": []}


def twilio_call(seed, stream_sid, tracks):
    """A Twilio Media Streams session opened with connected and start messages, and the two voices in mu-law at 8 kHz
    (the assistant's, the caller's) for its media."""
    audioop = _audioop()
    assistant, _ = audioop.ratecv(read_pcm("assistant-speech.wav"), 2, 1, RATE, 8000, None)
    user, _ = audioop.ratecv(read_pcm("user-speech.wav"), 2, 1, RATE, 8000, None)
    session = Session("twilio", random.Random(seed))
    session.add({"event": "connected", "protocol": "Call", "version": "1.0.0"})
    session.add({"event": "start", "sequenceNumber": "1", "streamSid": stream_sid,
                 "start": {"streamSid": stream_sid, "callSid": "CA" + stream_sid[2:], "tracks": tracks,
                           "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}})
    return session, audioop.lin2ulaw(assistant, 2), audioop.lin2ulaw(user, 2)


def make_twilio(directory, manifest):
    """A Twilio Media Streams fork with both tracks: the caller inbound, the assistant outbound, mu-law 8 kHz in
    160-byte (20 ms) frames. The expectation is audioop's expansion of the outbound payloads."""
    session, outbound, inbound = twilio_call(15, "MZ0001", ["inbound", "outbound"])
    sequence = 2
    for chunk, start in enumerate(range(0, max(len(inbound), len(outbound)), 160)):
        for track, data in (("inbound", inbound), ("outbound", outbound)):
            piece = data[start:start + 160]
            if not piece:
                continue
            session.add({"event": "media", "sequenceNumber": str(sequence), "streamSid": "MZ0001",
                         "media": {"track": track, "chunk": str(chunk + 1), "timestamp": str(chunk * 20), "payload": b64(piece)}})
            sequence += 1
    session.add({"event": "stop", "sequenceNumber": str(sequence), "streamSid": "MZ0001", "stop": {"callSid": "CA0001"}})
    session.expected = bytearray(_audioop().ulaw2lin(outbound, 2))
    session.expected_user = bytearray(_audioop().ulaw2lin(inbound, 2))
    session.write(directory, "twilio")
    manifest["twilio"] = {"vocabulary": "twilio", "problem_lines": [], "rate": 8000}


def make_twilio_bridge(directory, manifest):
    """A bidirectional <Connect><Stream> bridge's log: Twilio's inbound frames (track "inbound") and the bridge's own
    media messages back to Twilio, which carry no track (the assistant), a mark and a clear (the caller interrupted)."""
    session, outbound, inbound = twilio_call(23, "MZ0002", ["inbound"])
    sequence = 2
    for chunk, start in enumerate(range(0, len(inbound), 160)):
        session.add({"event": "media", "sequenceNumber": str(sequence), "streamSid": "MZ0002",
                     "media": {"track": "inbound", "chunk": str(chunk + 1), "timestamp": str(chunk * 20),
                               "payload": b64(inbound[start:start + 160])}})
        sequence += 1
    for start in range(0, len(outbound), 640):
        session.add({"event": "media", "streamSid": "MZ0002", "media": {"payload": b64(outbound[start:start + 640])}})
    session.add({"event": "mark", "streamSid": "MZ0002", "mark": {"name": "reply-1"}})
    session.add({"event": "clear", "streamSid": "MZ0002"})
    session.expected = bytearray(_audioop().ulaw2lin(outbound, 2))
    session.expected_user = bytearray(_audioop().ulaw2lin(inbound, 2))
    session.write(directory, "twilio-bridge")
    manifest["twilio-bridge"] = {"vocabulary": "twilio", "problem_lines": [], "rate": 8000, "interruptions": 1}


def make_elevenlabs(directory, manifest):
    """An ElevenLabs Agents conversation: metadata says pcm_16000 out and in; agent audio in audio_event."""
    audioop = _audioop()
    agent, _ = audioop.ratecv(read_pcm("assistant-speech.wav"), 2, 1, RATE, 16000, None)
    user, _ = audioop.ratecv(read_pcm("user-speech.wav"), 2, 1, RATE, 16000, None)
    session = Session("elevenlabs", random.Random(16))
    session.add({"type": "conversation_initiation_metadata", "conversation_initiation_metadata_event":
                 {"conversation_id": "conv_1", "agent_output_audio_format": "pcm_16000", "user_input_audio_format": "pcm_16000"}})
    for start in range(0, len(user), 8000):
        session.add({"user_audio_chunk": b64(user[start:start + 8000])})
    session.add({"type": "user_transcript", "user_transcription_event": {"user_transcript": "Hi"}})
    for event_id, start in enumerate(range(0, len(agent), 6400)):
        session.add({"type": "audio", "audio_event": {"audio_base_64": b64(agent[start:start + 6400]), "event_id": event_id + 1}})
    session.add({"type": "agent_response", "agent_response_event": {"agent_response": "Thanks for calling."}})
    session.add({"type": "interruption", "interruption_event": {"event_id": 9999}})
    session.expected = bytearray(agent)
    session.expected_user = bytearray(user)
    session.write(directory, "elevenlabs")
    manifest["elevenlabs"] = {"vocabulary": "elevenlabs", "problem_lines": [], "rate": 16000, "interruptions": 1}


def make_gpt_live(directory, manifest):
    """An OpenAI GPT-Live sideband: reflected input appends and output deltas with start_ms/end_ms, 24 kHz PCM16."""
    session = Session("openai-gpt-live", random.Random(17))
    speech, user = read_pcm("assistant-speech.wav"), read_pcm("user-speech.wav")
    session.add({"type": "session.started", "session": {"id": "live_1"}})
    for start in range(0, len(user), 4800):
        session.add({"type": "session.input_audio.append", "audio": b64(user[start:start + 4800])})
    for start in range(0, len(speech), 9600):
        piece = speech[start:start + 9600]
        start_ms = start // 48
        session.add({"type": "session.output_audio.delta", "delta": b64(piece), "start_ms": start_ms,
                     "end_ms": start_ms + len(piece) // 48})
    session.expected = bytearray(speech)
    session.expected_user = bytearray(user)
    session.write(directory, "gpt-live")
    manifest["gpt-live"] = {"vocabulary": "openai-gpt-live", "problem_lines": [], "rate": 24000}


def make_no_audio(directory, manifest):
    """A WebRTC data-channel log: lifecycle and transcripts, but the audio travelled on the media track."""
    session = Session("openai-ga", random.Random(8))
    session.session_created()
    for n in range(3):
        session.add({"type": "response.created", "event_id": session.event_id(), "response": {"id": "resp_%d" % n}})
        session.add({"type": "output_audio_buffer.started", "event_id": session.event_id(), "response_id": "resp_%d" % n})
        session.add({"type": "response.output_audio_transcript.delta", "event_id": session.event_id(),
                     "response_id": "resp_%d" % n, "item_id": "item_%d" % n, "delta": "Hello"})
        session.add({"type": "output_audio_buffer.stopped", "event_id": session.event_id(), "response_id": "resp_%d" % n})
        session.add({"type": "response.done", "event_id": session.event_id(), "response": {"id": "resp_%d" % n}})
    session.write(directory, "no-audio")
    manifest["no-audio"] = {"vocabulary": "openai-ga", "problem_lines": []}


def make_gemini(directory, manifest):
    """A Gemini Live session: client audio in realtimeInput (16 kHz; the last chunks in the older mediaChunks form,
    one message with two), model audio in serverContent.modelTurn.parts[].inlineData (24 kHz; one to three audio
    parts a message, a text part among them, some MIME types without a rate), transcriptions, an interruption."""
    audioop = _audioop()
    rng = random.Random(18)
    speech = read_pcm("assistant-speech.wav")
    user, _ = audioop.ratecv(read_pcm("user-speech.wav"), 2, 1, RATE, 16000, None)
    session = Session("gemini-live", rng)
    session.add({"setup": {"model": "models/gemini-live-2.5-flash", "generationConfig": {"responseModalities": ["AUDIO"]}}})
    session.add({"setupComplete": {}})
    chunks = [user[start:start + 3200] for start in range(0, len(user), 3200)]
    for chunk in chunks[:-3]:
        session.add({"realtimeInput": {"audio": {"mimeType": "audio/pcm;rate=16000", "data": b64(chunk)}}})
    session.add({"realtimeInput": {"mediaChunks": [{"mimeType": "audio/pcm;rate=16000", "data": b64(chunks[-3])}]}})
    session.add({"realtimeInput": {"mediaChunks": [{"mimeType": "audio/pcm;rate=16000", "data": b64(chunk)} for chunk in chunks[-2:]]}})
    session.add({"realtimeInput": {"audioStreamEnd": True}})
    session.add({"serverContent": {"inputTranscription": {"text": "Hello there"}}})
    position = 0
    while position < len(speech):
        parts = []
        for _ in range(rng.choice([1, 1, 2, 3])):
            piece = speech[position:position + rng.choice([4800, 9600, 3840])]
            if not piece:
                break
            position += len(piece)
            mime = rng.choice(["audio/pcm;rate=24000", "audio/pcm;rate=24000", "audio/pcm", "audio/pcm; rate=24000"])
            parts.append({"inlineData": {"mimeType": mime, "data": b64(piece)}})
        if rng.random() < 0.1:
            parts.insert(rng.randrange(len(parts) + 1), {"text": "thinking"})
        content = {"modelTurn": {"parts": parts}}
        if rng.random() < 0.3:
            content["outputTranscription"] = {"text": "word "}
        session.add({"serverContent": content})
    session.add({"serverContent": {"generationComplete": True}})
    session.add({"serverContent": {"turnComplete": True}, "usageMetadata": {"totalTokenCount": 420}})
    session.add({"serverContent": {"interrupted": True}})
    session.add({"sessionResumptionUpdate": {"newHandle": "h1", "resumable": True}})
    session.expected = bytearray(speech)
    session.expected_user = bytearray(user)
    session.write(directory, "gemini")
    manifest["gemini"] = {"vocabulary": "gemini-live", "problem_lines": [], "rate": 24000, "user_rate": 16000,
                          "interruptions": 1}
    return session


def make_item_create(directory, manifest):
    """User audio sent whole with conversation.item.create (two input_audio parts in one item; an input_text part
    beside one), between input_audio_buffer.append chunks."""
    rng = random.Random(19)
    assistant, user = read_pcm("assistant-speech.wav"), read_pcm("user-speech.wav")
    half = (len(user) // 2) & ~1
    session = Session("openai-ga", rng)
    session.session_created()
    session.add({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [
        {"type": "input_audio", "audio": b64(user[:half])}, {"type": "input_audio", "audio": b64(user[half:])}]}})
    session.expected_user += user
    session.user_audio(user[:9600])
    session.add({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "and this"}, {"type": "input_audio", "audio": b64(user[9600:19200])}]}})
    session.expected_user += user[9600:19200]
    session.response("resp_001", [("item_a1", assistant)], even_sizes(rng))
    session.write(directory, "item-create")
    manifest["item-create"] = {"vocabulary": "openai-ga", "problem_lines": []}


def make_cutoffs(directory, manifest):
    """Two audio deltas of an item that arrive after its response.output_audio.done (kept, in their stream), then the
    client truncates the item where playback stopped."""
    rng = random.Random(20)
    assistant = read_pcm("assistant-speech.wav")
    session = Session("openai-ga", rng)
    session.session_created()
    head, tail = assistant[:-19200], assistant[-19200:]
    session.response("resp_001", [("item_a1", head)], even_sizes(rng))
    for piece in (tail[:9600], tail[9600:]):
        session.add({"type": "response.output_audio.delta", "event_id": session.event_id(), "response_id": "resp_001",
                     "item_id": "item_a1", "output_index": 0, "content_index": 0, "delta": b64(piece)})
    session.expected += tail
    # The listener heard 1.5 s of the item: the recording keeps its first 1.5 s at 24 kHz (docs/TIMELINE.md, cuts).
    session.expected = session.expected[:1500 * 24 * 2]
    session.add({"type": "conversation.item.truncate", "item_id": "item_a1", "content_index": 0, "audio_end_ms": 1500})
    session.add({"type": "conversation.item.truncated", "event_id": session.event_id(), "item_id": "item_a1",
                 "content_index": 0, "audio_end_ms": 1500})
    session.write(directory, "cutoffs")
    manifest["cutoffs"] = {"vocabulary": "openai-ga", "problem_lines": [], "deltas_after_done": 2, "truncations": 1}


def make_text_only(directory, manifest):
    """A session configured for text output only: no audio will come."""
    session = Session("openai-ga", random.Random(21))
    session.add({"type": "session.created", "event_id": session.event_id(),
                 "session": {"type": "realtime", "id": "sess_t", "output_modalities": ["text"]}})
    session.add({"type": "response.created", "event_id": session.event_id(), "response": {"id": "resp_t"}})
    for word in ["Hello", " there"]:
        session.add({"type": "response.output_text.delta", "event_id": session.event_id(), "response_id": "resp_t",
                     "item_id": "item_t", "output_index": 0, "content_index": 0, "delta": word})
    session.add({"type": "response.done", "event_id": session.event_id(), "response": {"id": "resp_t"}})
    session.write(directory, "text-only")
    manifest["text-only"] = {"vocabulary": "openai-ga", "problem_lines": []}


def make_interleaved(directory, manifest):
    """Two assistant streams at once (out-of-band responses: different response_id and item_id), their deltas
    interleaved one by one, every delta an odd number of bytes and each stream's deltas whole samples only when
    joined within the stream. The assistant voice is one stream, the user recording the other, so a byte carried
    across to the wrong stream garbles samples of both.

    The expectation is the rule of the specification computed here: each stream keeps its own leftover byte, and
    every delta releases the whole samples its stream then holds; the streams are then placed one after the other, in
    the order they started. (NAME.arrival-order.raw holds the samples in arrival order, which a recorder that joins
    deltas as they come would write.)"""
    rng = random.Random(23)
    first, second = read_pcm("assistant-speech.wav")[:96000], read_pcm("user-speech.wav")[:72000]
    streams = [("resp_oob_1", "item_x1", first), ("resp_oob_2", "item_y1", second)]
    cuts = []
    for _, _, pcm in streams:
        # Odd-sized pieces, the last one too (it takes what remains).
        sizes, left = [], len(pcm)
        while left > 12001:
            size = rng.randrange(1, 6000) | 1
            sizes.append(size)
            left -= size
        if left % 2 == 0:  # an even number of odd pieces so far: one more (a lone byte) leaves an odd remainder
            sizes.append(1)
            left -= 1
        sizes.append(left)
        assert sum(sizes) == len(pcm)
        cuts.append(sizes)
    session = Session("openai-ga", rng)
    session.session_created()
    for response_id, _, _ in streams:
        session.add({"type": "response.created", "event_id": session.event_id(),
                     "response": {"id": response_id, "conversation_id": None, "status": "in_progress", "output": []}})
    held = [bytearray(), bytearray()]
    positions = [0, 0]
    pieces = [0, 0]
    expected = bytearray()
    while pieces[0] < len(cuts[0]) or pieces[1] < len(cuts[1]):
        for which, (response_id, item_id, pcm) in enumerate(streams):
            if pieces[which] == len(cuts[which]):
                continue
            size = cuts[which][pieces[which]]
            piece = pcm[positions[which]:positions[which] + size]
            positions[which] += size
            pieces[which] += 1
            session.add({"type": "response.output_audio.delta", "event_id": session.event_id(), "response_id": response_id,
                         "item_id": item_id, "output_index": 0, "content_index": 0, "delta": b64(piece)})
            held[which] += piece
            whole = len(held[which]) & ~1
            expected += held[which][:whole]
            del held[which][:whole]
    assert not held[0] and not held[1] and all(size % 2 == 1 for sizes in cuts for size in sizes)
    for response_id, item_id, _ in streams:
        session.add({"type": "response.output_audio.done", "event_id": session.event_id(), "response_id": response_id,
                     "item_id": item_id, "output_index": 0, "content_index": 0})
        session.add({"type": "response.done", "event_id": session.event_id(), "response": {"id": response_id, "status": "completed"}})
    # Concurrent streams never interleave: each stream's audio whole, in the order the streams started (the
    # arrival-order joining computed above is kept beside it, to show the two differ).
    session.expected = bytearray(first + second)
    session.write(directory, "interleaved-odd")
    with open(os.path.join(directory, "interleaved-odd.arrival-order.raw"), "wb") as f:
        f.write(expected)
    manifest["interleaved-odd"] = {"vocabulary": "openai-ga", "problem_lines": []}


def make_half_sample_end(directory, manifest):
    """A stream whose bytes add up to an odd count: its last byte is half a sample that never completes. Whole samples
    come out; the reader warns once, naming the item and the line of its last delta."""
    rng = random.Random(24)
    pcm = read_pcm("assistant-speech.wav")[:24001]
    session = Session("openai-ga", rng)
    session.session_created()
    session.response("resp_half", [("item_half", pcm)], odd_sizes(rng))
    session.expected = bytearray(pcm[:len(pcm) & ~1])
    session.write(directory, "half-sample-end")
    # The warning names the line whose payload left the half sample: the stream's last delta.
    last_delta = max(number for number, line in enumerate(session.lines, 1) if "response.output_audio.delta" in line)
    manifest["half-sample-end"] = {"vocabulary": "openai-ga", "problem_lines": [last_delta],
                                   "half_sample_item": "item_half"}


def make_cut_off_line(directory, manifest):
    """A log whose writer was killed mid-write: the last line is an audio delta cut inside its base64 payload, with no
    line end. The payload's first 1001 characters were written; its whole 8-character groups (1000 characters, 750
    bytes, whole samples) decode, and the reader keeps them: the expected assistant PCM ends with those 750 bytes."""
    session = conversation("openai-ga", 36)
    piece = read_pcm("assistant-speech.wav")[:4800]
    message = {"type": "response.output_audio.delta", "event_id": session.event_id(), "response_id": "resp_003",
               "item_id": "item_cut", "output_index": 0, "content_index": 0, "delta": b64(piece)}
    text = json.dumps(message)
    start = text.index('"delta": "') + len('"delta": "')
    session.add(None, text[:start + 1001])
    session.expected += piece[:750]
    session.write(directory, "cut-off-line")
    path = os.path.join(directory, "cut-off-line.jsonl")
    with open(path, "rb") as f:
        content = f.read()
    with open(path, "wb") as f:
        f.write(content.rstrip(b"\n"))  # the killed writer never wrote the line end
    manifest["cut-off-line"] = {"vocabulary": "openai-ga", "problem_lines": [len(session.lines)], "kept_bytes": 750}


CLIENT_TYPES = ("input_audio_buffer.", "conversation.item.create", "conversation.item.truncate", "session.update",
                "response.create", "response.cancel")


def write_har(directory, name, connections, session):
    """A HAR export as Chrome writes it (indent 2): a page request, then one entry per WebSocket connection with its
    frames in _webSocketMessages."""
    entries = [{"startedDateTime": "2026-11-27T04:00:00.000Z", "time": 12.5,
                "request": {"method": "GET", "url": "https://example.test/app", "headers": []},
                "response": {"status": 200, "content": {"mimeType": "application/json",
                                                        "text": json.dumps({"_webSocketMessages": [1, 2]})}}}]
    for url, frames in connections:
        entries.append({"startedDateTime": "2026-11-27T04:00:01.000Z", "time": 0, "_resourceType": "websocket",
                        "request": {"method": "GET", "url": url, "headers": []},
                        "response": {"status": 101, "content": {"size": 0}}, "_webSocketMessages": frames})
    with open(os.path.join(directory, name + ".har"), "w") as f:
        json.dump({"log": {"version": "1.2", "creator": {"name": "WebInspector", "version": "537.36"},
                           "pages": [], "entries": entries}}, f, indent=2)
    with open(os.path.join(directory, name + ".assistant.raw"), "wb") as f:
        f.write(bytes(session.expected))
    with open(os.path.join(directory, name + ".user.raw"), "wb") as f:
        f.write(bytes(session.expected_user))


def make_har_openai(directory, manifest):
    """An OpenAI GA conversation in a Chrome HAR: text frames, send and receive, and a closing error frame."""
    session = conversation("openai-ga", 22)
    frames = []
    for index, line in enumerate(session.lines):
        sent = json.loads(line).get("type", "").startswith(CLIENT_TYPES)
        frames.append({"type": "send" if sent else "receive", "time": 1795000000.0 + index * 0.02, "opcode": 1, "data": line})
    frames.append({"type": "error", "time": 1795000100.0, "opcode": -1, "data": "net::ERR_CONNECTION_CLOSED"})
    write_har(directory, "har-openai", [("wss://api.openai.com/v1/realtime?model=gpt-realtime", frames)], session)
    manifest["har-openai"] = {"vocabulary": "openai-ga", "problem_lines": []}


def make_har_gemini(directory, manifest, gemini):
    """The Gemini session in a HAR whose tool writes request/response: the client's text frames, the server's JSON in
    binary frames (base64), over two connections (a reconnect), with a close frame."""
    frames = []
    for index, line in enumerate(gemini.lines):
        message = json.loads(line)
        sent = "realtimeInput" in message or "setup" in message
        time = 1795000000.0 + index * 0.02
        if sent:
            frames.append({"type": "request", "time": time, "opcode": 1, "data": line})
        else:
            frames.append({"type": "response", "time": time, "opcode": 2, "data": b64(line.encode())})
    middle = len(frames) // 2
    frames.insert(middle, {"type": "response", "time": 1795000050.0, "opcode": 8, "data": ""})
    url = "wss://generativelanguage.googleapis.com/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
    write_har(directory, "har-gemini", [(url, frames[:middle + 1]), (url, frames[middle + 1:])], gemini)
    manifest["har-gemini"] = {"vocabulary": "gemini-live", "problem_lines": [], "rate": 24000}


def make_long(directory, hours, truncations=False, microphone=False):
    """H hours of GA session (assistant speech repeated, user audio alongside), for benchmarks. With truncations,
    every answer is done and then truncated at 60 % of its length (the listener interrupted it). With microphone, the
    client streams its microphone all along, as a server-VAD client does: silence while each answer plays, so the
    user's audio is a clock the answers fit on."""
    rng = random.Random(9)
    assistant = read_pcm("assistant-speech.wav")
    user = read_pcm("user-speech.wav")
    seconds = int(hours * 3600)
    with open(os.path.join(directory, "long.jsonl"), "w") as f:
        session = Session("openai-ga", rng)
        session.session_created()
        f.write(session.lines[0] + "\n")
        produced = 0.0
        turn = 0
        while produced < seconds:
            turn += 1
            for start in range(0, len(user), 4800):
                f.write(json.dumps({"type": "input_audio_buffer.append", "audio": b64(user[start:start + 4800])}) + "\n")
            rid, iid = "resp_%06d" % turn, "item_%06d" % turn
            f.write(json.dumps({"type": "response.created", "event_id": "e", "response": {"id": rid}}) + "\n")
            for start in range(0, len(assistant), 4800):
                f.write(json.dumps({"type": "response.output_audio.delta", "event_id": "event_%d" % start,
                                    "response_id": rid, "item_id": iid, "output_index": 0, "content_index": 0,
                                    "delta": b64(assistant[start:start + 4800])}) + "\n")
            if truncations:
                f.write(json.dumps({"type": "response.output_audio.done", "event_id": "e", "response_id": rid, "item_id": iid,
                                    "output_index": 0, "content_index": 0}) + "\n")
                heard = len(assistant) // 2 * 1000 // RATE * 6 // 10
                f.write(json.dumps({"type": "conversation.item.truncated", "event_id": "e", "item_id": iid, "content_index": 0,
                                    "audio_end_ms": heard}) + "\n")
            f.write(json.dumps({"type": "response.done", "event_id": "e", "response": {"id": rid}}) + "\n")
            if microphone:
                quiet = bytes(len(assistant) - (len(assistant) * 4 // 10 if truncations else 0))
                for start in range(0, len(quiet), 4800):
                    f.write(json.dumps({"type": "input_audio_buffer.append", "audio": b64(quiet[start:start + 4800])}) + "\n")
            produced += len(assistant) / 2 / RATE
    print(os.path.join(directory, "long.jsonl"))


def main():
    arguments = sys.argv[1:]
    if any(argument in ("-h", "--help") for argument in arguments):
        print(__doc__.strip())
        return
    hours = None
    if "--hours" in arguments:
        at = arguments.index("--hours")
        hours = float(arguments[at + 1])
        del arguments[at:at + 2]
    truncations = "--truncations" in arguments
    if truncations:
        arguments.remove("--truncations")
    microphone = "--microphone" in arguments
    if microphone:
        arguments.remove("--microphone")
    unknown = [argument for argument in arguments if argument.startswith("-")]
    if unknown:
        sys.exit("make-sessions.py: unknown option %s (see --help)" % unknown[0])
    directory = arguments[0] if arguments else os.path.join(HERE, "generated")
    os.makedirs(directory, exist_ok=True)
    if hours is not None:
        make_long(directory, hours, truncations, microphone)
        return
    manifest = {}
    for name, vocabulary, seed, sizes in [("ga-basic", "openai-ga", 1, even_sizes), ("beta-basic", "openai-beta", 2, even_sizes),
                                          ("odd-splits", "openai-ga", 10, odd_sizes)]:
        conversation(vocabulary, seed, sizes).write(directory, name)
        manifest[name] = {"vocabulary": vocabulary, "problem_lines": []}
    make_reordered(directory, manifest)
    make_escaped(directory, manifest)
    make_crlf_bom(directory, manifest)
    make_malformed(directory, manifest)
    make_g711(directory, manifest)
    make_mixed_formats(directory, manifest)
    make_envelope(directory, manifest)
    make_other_envelopes(directory, manifest)
    make_json_array(directory, manifest)
    make_twilio(directory, manifest)
    make_twilio_bridge(directory, manifest)
    make_elevenlabs(directory, manifest)
    make_gpt_live(directory, manifest)
    make_no_audio(directory, manifest)
    gemini = make_gemini(directory, manifest)
    make_item_create(directory, manifest)
    make_cutoffs(directory, manifest)
    make_text_only(directory, manifest)
    make_interleaved(directory, manifest)
    make_half_sample_end(directory, manifest)
    make_cut_off_line(directory, manifest)
    make_har_openai(directory, manifest)
    make_har_gemini(directory, manifest, gemini)
    with open(os.path.join(directory, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
    print(directory)


if __name__ == "__main__":
    main()
