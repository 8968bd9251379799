#!/usr/bin/env python3
"""The anchor a user would write by hand: a session log's assistant audio to WAV with json, base64 and wave."""
import base64
import json
import sys
import wave

with open(sys.argv[1], "rb") as log, wave.open(sys.argv[2], "wb") as out:
    out.setnchannels(1)
    out.setsampwidth(2)
    out.setframerate(24000)
    for line in log:
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if message.get("type") in ("response.output_audio.delta", "response.audio.delta"):
            out.writeframes(base64.b64decode(message["delta"]))
