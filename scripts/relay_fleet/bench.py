"""The relay fleet benchmark (issue 29's figures), each against an anchor measured in the same run. Run by hand
(scripts/relay-fleet-bench.sh), not by CI.

1. Added latency: round trips of a small message (`bench.echo`, answered at once by the fake upstream) through
   nginx straight to the fake upstream (the anchor: an upstream block naming it, the location directives of
   docs/DEPLOY.md) and through nginx and a relay (docs/DEPLOY.md's configuration; the relay records WAV and its log
   into a local folder). One connection per path, warmed up, then the paths alternated in random order round after
   round, so that the machine's noise falls on both; p50/p90/p99 in microseconds and the difference.
2. A drain cut short: 100 sessions through nginx on one relay, each hearing a long answer at real-time pace; SIGTERM
   (drain), a moment later a second SIGTERM (finalize now). Time from the second SIGTERM to the relay's exit, the
   recordings it finalized (its `…: N.NNN s of audio` lines, each file read by Python's wave, sample for sample what
   its client heard): recordings finalized per second. Every client must get a 1001 close.
3. A drain that ends by itself: 100 sessions whose answers end at staggered times, SIGTERM, time from the last
   session's end to the relay's exit (the anchor: the last session's end). Every client must hear all its audio.
   A session without its 1001 or its whole audio, or without its recording, is a dropped session: a failure.

Prints a report and one JSON line with every figure; exit 1 when a check failed.
"""

import argparse
import asyncio
import base64
import json
import os
import random
import re
import shutil
import signal
import sys
import time
import wave

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import fleet  # noqa: E402  (the fleet test's components: upstream, relays, nginx with DEPLOY.md's configuration)
from fleet import AUTH, now, wire  # noqa: E402

FINISHED = re.compile(r"relay: (\S+\.wav): ([0-9.]+) s of audio")


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


class Bench(fleet.Fleet):
    def __init__(self, arguments):
        super().__init__(arguments)
        self.figures = {}
        self.dropped = 0

    def deploy_configuration(self):
        """DEPLOY.md's configuration for the relays running (one), and beside it a server that passes the same
        location block straight to the fake upstream: the anchor of the latency."""
        configuration = super().deploy_configuration(fewer=True)
        location = re.search(r"^    location / \{\n.*?^    \}\n", configuration, re.M | re.S)
        if not location or "proxy_pass http://deltatape_relays;" not in location.group(0):
            raise RuntimeError("docs/DEPLOY.md's server block has no `location /` passing to deltatape_relays")
        self.direct_port = fleet.free_ports(1)[0]
        direct = location.group(0).replace("proxy_pass http://deltatape_relays;", "proxy_pass http://bench_direct;")
        return (configuration + f"\n# The benchmark's anchor: the same location, straight to the fake upstream.\n"
                f"upstream bench_direct {{\n    server 127.0.0.1:{self.upstream_port};\n}}\n\n"
                f"server {{\n    listen 127.0.0.1:{self.direct_port};\n\n{direct}}}\n")

    async def nginx_for(self, relay, name):
        """nginx (again) in front of this relay alone."""
        if getattr(self, "nginx", None) and self.nginx.poll() is None:
            self.nginx.terminate()
            self.nginx.wait(10)
        self.relays = [relay]
        await self.start_nginx(name)

    # MARK: a client

    async def connect(self, port, sid, ms=1000, pace=1):
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, limit=1 << 20), 10)
        writer.write(wire.upgrade_request(f"/v1/realtime?model=bench&sid={sid}&ms={ms}&pace={pace}", "bench.test", headers=AUTH))
        head, body = await wire.read_response(reader, 20)
        if head is None or head.status != 101:
            writer.close()
            raise ConnectionError(f"{sid}: upgrade answered {head.status if head else 'nothing'} {body[:160]!r}")
        kind, payload = await self.message(reader, writer, 20)
        if kind != wire.TEXT or b"session.created" not in payload:
            writer.close()
            raise ConnectionError(f"{sid}: first message {kind} {payload[:80] if payload else b''}")
        return reader, writer

    @staticmethod
    async def message(reader, writer, timeout):
        while True:
            frame = await asyncio.wait_for(wire.read_frame(reader), timeout)
            if frame.opcode == wire.PING:
                writer.write(wire.frame(wire.PONG, frame.payload))
            elif frame.opcode == wire.CLOSE:
                return "close", frame.payload or b""
            elif frame.opcode != wire.PONG:
                return frame.opcode, frame.payload

    async def close(self, reader, writer):
        writer.write(wire.frame(wire.CLOSE, wire.close_payload(1000, "bye")))
        try:
            while True:
                kind, payload = await self.message(reader, writer, 10)
                if kind == "close":
                    return wire.close_code(payload)
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError, OSError):
            return None
        finally:
            writer.close()

    # MARK: 1. latency

    async def round_trip(self, connection, n):
        reader, writer = connection
        started = time.perf_counter_ns()
        writer.write(wire.frame(wire.TEXT, b'{"type":"bench.echo","n":%d}' % n))
        while True:
            kind, payload = await self.message(reader, writer, 10)
            if kind == wire.TEXT and b'"bench.echo"' in payload and json.loads(payload).get("n") == n:
                return (time.perf_counter_ns() - started) / 1000
            if kind == "close":
                raise ConnectionError(f"closed during a round trip ({wire.close_code(payload)})")

    async def latency(self, relay):
        await self.nginx_for(relay, "nginx-latency")
        paths = {"nginx": await self.connect(self.direct_port, "echo-direct"),
                 "nginx+relay": await self.connect(self.nginx_port, "echo-relay")}
        times = {path: [] for path in paths}
        n, paired = 0, []
        for round_index in range(self.arguments.warmup + self.arguments.round_trips):
            order = list(paths)
            random.shuffle(order)
            this_round = {}
            for path in order:
                n += 1
                this_round[path] = await self.round_trip(paths[path], n)
            if round_index >= self.arguments.warmup:
                for path, elapsed in this_round.items():
                    times[path].append(elapsed)
                paired.append(this_round["nginx+relay"] - this_round["nginx"])
        for path, connection in paths.items():
            code = await self.close(*connection)
            self.check(code == 1000, f"the {path} echo connection closed cleanly (close {code})")
        figures = {}
        for path, values in times.items():
            figures[path] = {f"p{p}": round(percentile(values, p / 100), 1) for p in (50, 90, 99)}
        figures["added"] = {key: round(figures["nginx+relay"][key] - figures["nginx"][key], 1) for key in figures["nginx"]}
        figures["ratio"] = {key: round(figures["nginx+relay"][key] / figures["nginx"][key], 2) for key in figures["nginx"]}
        # The two round trips of one round ran a few hundred microseconds apart: their difference, round by round,
        # leaves out the machine's slower moments that a percentile of either path takes in.
        figures["paired_added"] = {f"p{p}": round(percentile(paired, p / 100), 1) for p in (25, 50, 75)}
        figures["round_trips"] = self.arguments.round_trips
        self.figures["latency_us"] = figures
        print(f"\n1. Round trips of a small message, {self.arguments.round_trips} per path after {self.arguments.warmup} "
              f"warm-up, interleaved (µs):", flush=True)
        print(f"   {'path':<34}{'p50':>9}{'p90':>9}{'p99':>9}")
        print(f"   {'client → nginx → upstream (anchor)':<34}" + "".join(f"{figures['nginx'][k]:>9.0f}" for k in ("p50", "p90", "p99")))
        print(f"   {'client → nginx → relay → upstream':<34}" + "".join(f"{figures['nginx+relay'][k]:>9.0f}" for k in ("p50", "p90", "p99")))
        print(f"   {'added by the relay (b − a)':<34}" + "".join(f"{figures['added'][k]:>9.0f}" for k in ("p50", "p90", "p99")))
        print(f"   {'ratio (b / a)':<34}" + "".join(f"{figures['ratio'][k]:>9.2f}" for k in ("p50", "p90", "p99")), flush=True)
        print(f"   round by round, b − a: median {figures['paired_added']['p50']:.0f} µs (quartiles "
              f"{figures['paired_added']['p25']:.0f} and {figures['paired_added']['p75']:.0f})", flush=True)

    # MARK: 2. a drain cut short by a second SIGTERM

    async def cut_session(self, sid, info):
        """A long answer at real-time pace, until the relay closes: a 1001 close expected, answered."""
        try:
            reader, writer = await self.connect(self.nginx_port, sid, ms=600_000, pace=1)
            writer.write(wire.frame(wire.TEXT, b'{"type":"response.create"}'))
            while True:
                kind, payload = await self.message(reader, writer, 120)
                if kind == "close":
                    info["code"] = wire.close_code(payload)
                    writer.write(wire.frame(wire.CLOSE, payload[:2]))
                    break
                if kind == wire.TEXT:
                    event = json.loads(payload)
                    if event.get("type") == "response.output_audio.delta":
                        info["pcm"] += base64.b64decode(event["delta"])
            info["ok"] = info["code"] == 1001
            info["why"] = "" if info["ok"] else f"closed with {info['code']}, not 1001"
            writer.close()
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError, OSError) as error:
            info["why"] = f"{type(error).__name__}: {error}"
        info["ended"] = now()

    async def wait_heard(self, sids, seconds):
        deadline = now() + seconds
        while now() < deadline and not all(len(self.sessions[sid]["pcm"]) for sid in sids):
            await asyncio.sleep(0.05)
        return sum(1 for sid in sids if len(self.sessions[sid]["pcm"]))

    async def active(self, relay):
        metrics = await self.http_get(relay["admin"], "/metrics") or ""
        found = re.search(r"connections_active (\d+)", metrics)
        return int(found.group(1)) if found else None

    async def cut_short(self, upstream_port):
        count = self.arguments.sessions
        folder = os.path.join(self.folder, "cut")
        relay = await self.start_relay("cut", upstream_port, output_dir=folder, extra=self.arguments.relay_option)
        await self.nginx_for(relay, "nginx-cut")
        sids = [f"cut{index:03}" for index in range(count)]
        tasks = []
        for sid in sids:
            self.sessions[sid] = {"sid": sid, "pcm": bytearray(), "ok": False, "why": "not over", "code": None, "ended": None}
            tasks.append(asyncio.ensure_future(self.cut_session(sid, self.sessions[sid])))
            await asyncio.sleep(0.02)
        heard = await self.wait_heard(sids, 60)
        active = await self.active(relay)
        self.check(heard == count and active == count, f"{heard} of {count} sessions hear audio, the relay holds {active}")
        relay["process"].send_signal(signal.SIGTERM)
        await asyncio.sleep(self.arguments.moment)
        healthz = await self.http_get(relay["admin"], "/healthz", status=True)
        still = await self.active(relay)
        self.check(healthz == 503 and still == count,
                   f"{self.arguments.moment} s into the drain /healthz answers {healthz} and {still} sessions go on")
        second = now()
        relay["process"].send_signal(signal.SIGTERM)
        status = await asyncio.wait_for(relay["process"].wait(), 120)
        exited = now()
        await relay["reader"]
        await asyncio.gather(*tasks)
        self.check(status == 0, f"the relay exits 0 after the second SIGTERM (status {status})")
        finished = [(t, line) for t, line in relay["lines"] if FINISHED.search(line) and t >= second]
        seconds = exited - second
        matched = self.check_recordings(relay, sids, folder, since=second)
        got_1001 = sum(1 for sid in sids if self.sessions[sid]["ok"])
        dropped = sorted(set(sid for sid in sids if not self.sessions[sid]["ok"]) | (set(sids) - set(matched)))
        self.dropped += len(dropped)
        for sid in dropped[:10]:
            print(f"   dropped: {sid}: {self.sessions[sid]['why'] or 'its recording is missing or differs'}")
        self.check(not dropped, f"{count - len(dropped)} of {count} sessions got their 1001 and a recording of what they "
                   f"heard ({len(dropped)} dropped)")
        rate = len(finished) / seconds if seconds > 0 else None
        audio = sum(len(self.sessions[sid]["pcm"]) // 2 for sid in sids) / 24000
        self.figures["cut_short"] = {"sessions": count, "recordings_finalized": len(finished), "got_1001": got_1001,
                                     "seconds_to_exit": round(seconds, 3), "recordings_per_second": round(rate, 1) if rate else None,
                                     "audio_seconds": round(audio, 1), "moment_seconds": self.arguments.moment,
                                     "dropped": len(dropped)}
        print(f"\n2. {count} sessions open, SIGTERM, {self.arguments.moment} s later a second SIGTERM:", flush=True)
        print(f"   the relay exited {seconds * 1000:.0f} ms after the second SIGTERM, having finalized {len(finished)} "
              f"recordings ({audio:.0f} s of audio in all): {rate:.0f} recordings per second of the cut", flush=True)
        idle = self.figures.get("idle_exit_ms")
        if idle is not None:
            print(f"   anchor: the relay with no session open exits {idle:.0f} ms after SIGTERM; the 100 recordings added "
                  f"{seconds * 1000 - idle:.0f} ms", flush=True)
        print(f"   {got_1001} of {count} clients got a 1001 close; {len(dropped)} sessions dropped", flush=True)

    # MARK: 3. a drain that ends by itself

    async def natural(self, upstream_port):
        count = self.arguments.sessions
        folder = os.path.join(self.folder, "natural")
        relay = await self.start_relay("natural", upstream_port, output_dir=folder, extra=self.arguments.relay_option)
        await self.nginx_for(relay, "nginx-natural")
        # Answers of 6.0 to 10.9 s (whole 100-ms chunks), two sessions ending every 100 ms.
        lengths = {f"nat{index:03}": 6000 + 100 * (index // 2) for index in range(count)}
        tasks = []
        for sid, ms in lengths.items():
            tasks.append(asyncio.ensure_future(self.session(sid, 1, ms)))
            await asyncio.sleep(0.02)
        heard = await self.wait_heard(list(lengths), 60)
        active = await self.active(relay)
        self.check(heard == count and active == count, f"{heard} of {count} sessions hear audio, the relay holds {active}")
        sigterm = now()
        relay["process"].send_signal(signal.SIGTERM)
        status = await asyncio.wait_for(relay["process"].wait(), 180)
        exited = now()
        await relay["reader"]
        await asyncio.gather(*tasks)
        self.check(status == 0, f"the relay exits 0 after its drain (status {status})")
        finished = [line for t, line in relay["lines"] if FINISHED.search(line)]
        matched = self.check_recordings(relay, list(lengths), folder)
        ends = [self.sessions[sid]["ended"] for sid in lengths]
        first_end, last_end = min(ends), max(ends)
        dropped = sorted(set(sid for sid in lengths if not self.sessions[sid]["ok"]) | (set(lengths) - set(matched)))
        self.dropped += len(dropped)
        for sid in dropped[:10]:
            print(f"   dropped: {sid}: {self.sessions[sid]['why'] or 'its recording is missing or differs'}")
        self.check(not dropped, f"{count - len(dropped)} of {count} sessions heard all their audio, closed 1000 and were "
                   f"recorded sample-exact ({len(dropped)} dropped)")
        self.check(exited >= last_end - 0.5, "the relay exited after its last session ended")
        self.figures["natural"] = {"sessions": count, "recordings_finalized": len(finished),
                                   "sigterm_to_first_end_s": round(first_end - sigterm, 3),
                                   "sigterm_to_last_end_s": round(last_end - sigterm, 3),
                                   "last_end_to_exit_ms": round((exited - last_end) * 1000, 1),
                                   "sigterm_to_exit_s": round(exited - sigterm, 3), "dropped": len(dropped)}
        print(f"\n3. {count} sessions open, answers ending at staggered times, SIGTERM:", flush=True)
        print(f"   sessions ended {first_end - sigterm:.2f} to {last_end - sigterm:.2f} s after SIGTERM; the relay exited "
              f"{(exited - last_end) * 1000:.0f} ms after the last one ({exited - sigterm:.2f} s after SIGTERM), "
              f"{len(finished)} recordings finalized; {len(dropped)} sessions dropped", flush=True)
        if self.figures.get("idle_exit_ms") is not None:
            print(f"   anchor: the relay with no session open exits {self.figures['idle_exit_ms']:.0f} ms after SIGTERM", flush=True)

    def check_recordings(self, relay, sids, folder, since=None):
        """Each `…: N.NNN s of audio` line's file, read by wave, matched to its session by its log: {sid: path} of the
        recordings sample for sample what their client heard."""
        matched, problems = {}, []
        for t, line in relay["lines"]:
            found = FINISHED.search(line)
            if not found:
                continue
            path = found.group(1)
            if since is not None and t < since:
                problems.append(f"{path} was finalized before the second SIGTERM")
            log_path = path[:-len(".wav")] + ".jsonl"
            try:
                sid = re.search(r'"id": *"sess_([A-Za-z0-9]+)"', open(log_path).read()).group(1)
                with wave.open(path) as recording:
                    frames = recording.readframes(recording.getnframes())
                    shape = (recording.getnchannels(), recording.getsampwidth(), recording.getframerate())
            except (OSError, AttributeError, wave.Error, EOFError) as error:
                problems.append(f"{path}: {type(error).__name__}: {error}")
                continue
            heard = bytes(self.sessions.get(sid, {}).get("pcm", b""))
            if sid not in sids or sid in matched:
                problems.append(f"{path} holds session {sid}, not one of this run or twice")
            elif shape != (1, 2, 24000) or frames != heard:
                problems.append(f"{path} ({sid}): {len(frames) // 2} samples {shape}, its client heard {len(heard) // 2}")
            elif abs(float(found.group(2)) - len(frames) / 48000) > 0.0015:
                problems.append(f"{path}: the relay said {found.group(2)} s, wave reads {len(frames) / 48000:.3f} s")
            else:
                matched[sid] = path
        on_disk = [name for name in os.listdir(folder) if name.endswith(".wav")] if os.path.isdir(folder) else []
        for problem in problems[:10]:
            print("   " + problem)
        self.check(not problems and len(matched) == len(sids) == len(on_disk),
                   f"{len(matched)} of {len(sids)} recordings read by wave, each sample for sample what its client heard "
                   f"({len(on_disk)} WAV files in the folder, {len(problems)} problems)")
        return matched

    # MARK: the run

    async def run(self):
        self.upstream_port = await self.start_upstream()
        print(f"bench: fake upstream on {self.upstream_port}; {os.cpu_count()} cores, load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        if "latency" in self.arguments.only:
            relay = await self.start_relay("latency", self.upstream_port, output_dir=os.path.join(self.folder, "latency"),
                                           extra=self.arguments.relay_option)
            await self.latency(relay)
            # Its sessions closed, this relay's exit after SIGTERM is the anchor of the drains': a relay's own stop.
            await asyncio.sleep(0.5)
            sigterm = now()
            relay["process"].send_signal(signal.SIGTERM)
            status = await asyncio.wait_for(relay["process"].wait(), 30)
            self.figures["idle_exit_ms"] = round((now() - sigterm) * 1000, 1)
            self.check(status == 0, f"the latency relay, no session open, exits 0 {self.figures['idle_exit_ms']:.0f} ms after "
                       f"SIGTERM (status {status}): the anchor of the drains' times")
        if "cut" in self.arguments.only:
            await self.cut_short(self.upstream_port)
        if "natural" in self.arguments.only:
            await self.natural(self.upstream_port)


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", required=True, help="the folder of the release deltatape-relay")
    parser.add_argument("--speech", required=True, help="a 24 kHz mono WAV the upstream speaks")
    parser.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    parser.add_argument("--round-trips", type=int, default=2000, help="timed round trips per path (default 2000)")
    parser.add_argument("--warmup", type=int, default=200, help="round trips per path before timing (default 200)")
    parser.add_argument("--sessions", type=int, default=100, help="sessions open in each drain (default 100)")
    parser.add_argument("--moment", type=float, default=1.0, help="seconds between the two SIGTERMs (default 1)")
    parser.add_argument("--only", default="latency,cut,natural", help="comma-separated: latency, cut, natural")
    parser.add_argument("--relay-option", action="append", default=[],
                        help="an option added to every relay's command line, e.g. --relay-option=--drain-timeout=0 "
                             "(which must fail the run: the natural drain's sessions are then cut)")
    parser.add_argument("--keep", action="store_true", help="keep the run's folder")
    arguments = parser.parse_args()
    arguments.weed = None
    bench = Bench(arguments)
    started = now()
    try:
        await bench.run()
    except Exception as error:  # a component that did not start: a failure with its reason, not a traceback alone
        bench.check(False, f"the benchmark did not run: {type(error).__name__}: {error}")
    finally:
        bench.stop()
    print(f"\ndropped sessions: {bench.dropped}" + (" (none)" if bench.dropped == 0 else ""), flush=True)
    summary = {"event": "fleet-bench", **bench.figures, "dropped": bench.dropped, "failures": len(bench.failures),
               "cores": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()], "seconds": round(now() - started, 1), "folder": bench.folder}
    if bench.failures:
        print(f"fleet-bench: FAILED ({len(bench.failures)} checks); the run's folder is kept: {bench.folder}", flush=True)
    elif not arguments.keep:
        shutil.rmtree(bench.folder, ignore_errors=True)
    print(json.dumps(summary), flush=True)
    sys.exit(1 if bench.failures else 0)


if __name__ == "__main__":
    asyncio.run(main())
