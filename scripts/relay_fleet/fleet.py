"""The relay fleet test (issue 29): two release relays behind nginx, run with the configuration of docs/DEPLOY.md,
recording into SeaweedFS (S3), in front of the soak's fake upstream (relay_soak/upstream.py).

1. Twenty sessions go through nginx at once, each hearing several seconds of audio at real-time pace.
2. While they run, one relay gets SIGTERM. Its open sessions must run to their end; ten sessions started during the
   drain must all succeed (through the other relay), and none of them may reach the draining one.
3. The drained relay must exit 0, after its last session ended.
4. Every session's recording must be in the bucket under a key of its own, its audio read by Python's wave and by
   ffprobe, sample for sample the PCM its client heard; its saved log names the session.

Prints what it checked, one JSON summary line at the end; exit 1 when a check failed. scripts/relay-fleet.sh builds
what it needs and runs it.
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
import socket
import subprocess
import sys
import tempfile
import time
import wave
import xml.etree.ElementTree as ElementTree

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "relay_soak"))
import wire  # noqa: E402  (the soak's WebSocket frames, shared)

KEY = "fleet-key"
AUTH = [("Authorization", f"Bearer {KEY}")]
BUCKET = "deltatape-fleet"
PREFIX = "recordings/"


def now():
    return time.monotonic()


def free_ports(count):
    """Ports free now (and their +10000 neighbours, which SeaweedFS takes for gRPC)."""
    ports = []
    while len(ports) < count:
        candidate = random.randint(20000, 50000)
        if candidate in ports:
            continue
        try:
            for port in (candidate, candidate + 10000):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        ports.append(candidate)
    return ports


class Fleet:
    def __init__(self, arguments):
        self.arguments = arguments
        self.folder = tempfile.mkdtemp(prefix="deltatape-fleet.")
        self.failures = []
        self.processes = []
        self.relays = []
        self.sessions = {}  # sid → what its client saw
        self.access, self.secret = "FLEET" + os.urandom(6).hex().upper(), os.urandom(20).hex()

    def check(self, ok, what):
        print(("ok: " if ok else "FAILED: ") + what, flush=True)
        if not ok:
            self.failures.append(what)

    # MARK: SeaweedFS

    def curl(self, method, path, extra=()):
        """A SigV4-signed request to the S3 server (curl: a client independent of the relay's): (status, body)."""
        result = subprocess.run(["curl", "-sS", "--max-time", "30", "-X", method, "--aws-sigv4", "aws:amz:us-east-1:s3",
                                 "--user", f"{self.access}:{self.secret}", "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD",
                                 "-w", "\n%{http_code}", self.s3 + path, *extra], capture_output=True)
        body, _, status = result.stdout.rpartition(b"\n")
        return int(status or 0), body

    def start_seaweedfs(self):
        master, volume, filer, s3 = free_ports(4)
        data = os.path.join(self.folder, "s3")
        os.makedirs(os.path.join(data, "data"))
        with open(os.path.join(data, "identities.json"), "w") as identities:
            json.dump({"identities": [{"name": "fleet", "credentials": [{"accessKey": self.access, "secretKey": self.secret}],
                                       "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}, identities)
        self.grpc_ports = [port + 10000 for port in (master, volume, filer, s3)]
        log = open(os.path.join(self.folder, "weed.log"), "w")
        weed = subprocess.Popen([self.arguments.weed, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={data}/data",
                                 f"-master.port={master}", f"-volume.port={volume}", f"-filer.port={filer}",
                                 "-s3", f"-s3.port={s3}", f"-s3.config={data}/identities.json", "-s3.port.iceberg=0",
                                 "-s3.port.lance=0", "-s3.autoCreateBucket=false", f"-s3.localSocket={data}/s3.sock",
                                 f"-filer.localSocket={data}/filer.sock", "-volume.preStopSeconds=0",
                                 "-master.volumeSizeLimitMB=64", "-volume.max=0"],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self.processes.append(weed)
        self.s3 = f"http://127.0.0.1:{s3}"
        # It answers before its volumes are ready: ready once an object is stored.
        deadline, made = now() + 90, False
        while now() < deadline:
            if weed.poll() is not None:
                raise RuntimeError("weed exited: " + open(os.path.join(self.folder, "weed.log")).read()[-1500:])
            status, _ = self.curl("PUT", f"/{BUCKET}/ready-probe" if made else f"/{BUCKET}",
                                  ["--data-binary", "ready"] if made else [])
            if status == 200 and made:
                self.curl("DELETE", f"/{BUCKET}/ready-probe")
                return
            made = made or status == 200
            time.sleep(0.2)
        raise RuntimeError("SeaweedFS was not ready within 90 s")

    def listed_keys(self):
        # The query in SigV4's canonical order and encoding (curl signs it as written).
        status, body = self.curl("GET", f"/{BUCKET}?list-type=2&max-keys=1000&prefix={PREFIX.replace('/', '%2F')}")
        if status != 200:
            raise RuntimeError(f"listing the bucket answered {status}: {body[:300]!r}")
        namespace = {"s3": "http://s3.amazonaws.com/doc/2006-03-01/"}
        root = ElementTree.fromstring(body)
        keys = [element.text for element in root.iterfind(".//s3:Contents/s3:Key", namespace)]
        return keys or [element.text for element in root.iter() if element.tag.endswith("Key")]

    def fetch(self, key):
        path = os.path.join(self.folder, "fetched", key.replace("/", "_"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        status, _ = self.curl("GET", f"/{BUCKET}/{key}", ["-o", path])
        if status != 200:
            raise RuntimeError(f"GET {key} answered {status}")
        return path

    # MARK: the upstream, the relays, nginx

    async def start_upstream(self):
        port_file = os.path.join(self.folder, "upstream.port")
        self.upstream = await asyncio.create_subprocess_exec(
            sys.executable, os.path.join(here, "..", "relay_soak", "upstream.py"), "--port-file", port_file, "--key", KEY,
            "--speech", self.arguments.speech, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL)
        deadline = now() + 30
        while not os.path.exists(port_file) or not open(port_file).read().strip():
            if now() > deadline:
                raise RuntimeError("the fake upstream did not start")
            await asyncio.sleep(0.05)
        return int(open(port_file).read())

    async def start_relay(self, name, upstream_port, output_dir=None, extra=()):
        """A release relay recording into the bucket (or into `output_dir`, a local folder), `extra` options added."""
        environment = {**os.environ, "HOME": self.folder}
        if output_dir is None:
            environment.update({"AWS_ACCESS_KEY_ID": self.access, "AWS_SECRET_ACCESS_KEY": self.secret,
                                "AWS_ENDPOINT_URL": self.s3, "AWS_REGION": "us-east-1"})
            output = ["--output-dir", f"s3://{BUCKET}/{PREFIX}", "--spool", os.path.join(self.folder, f"spool-{name}")]
        else:
            output = ["--output-dir", output_dir]
        command = [os.path.join(self.arguments.bin, "deltatape-relay"), "--listen", "127.0.0.1:0", "--admin-listen",
                   "127.0.0.1:0", "--upstream", f"ws://127.0.0.1:{upstream_port}", *output, "--format", "wav", "--save-log",
                   "--drain-timeout", "120", *extra]
        process = await asyncio.create_subprocess_exec(*command, stdin=asyncio.subprocess.DEVNULL,
                                                       stderr=asyncio.subprocess.PIPE, env=environment)
        relay = {"name": name, "process": process, "lines": [], "port": None, "admin": None}
        started = asyncio.get_running_loop().create_future()

        async def read_lines():
            log = open(os.path.join(self.folder, f"relay-{name}.stderr"), "w", buffering=1)
            while line := await process.stderr.readline():
                text = line.decode("utf-8", "replace").rstrip("\n")
                relay["lines"].append((now(), text))
                log.write(text + "\n")
                if match := re.search(r"listening on 127\.0\.0\.1:(\d+)", text):
                    relay["port"] = int(match.group(1))
                if match := re.search(r"POST /drain\) on 127\.0\.0\.1:(\d+)", text):
                    relay["admin"] = int(match.group(1))
                if relay["port"] and relay["admin"] and not started.done():
                    started.set_result(True)
            if not started.done():
                started.set_result(False)

        relay["reader"] = asyncio.ensure_future(read_lines())
        if not await asyncio.wait_for(started, 30):
            raise RuntimeError(f"relay {name} did not start: {relay['lines'][-5:]}")
        self.relays.append(relay)
        return relay

    def deploy_configuration(self, fewer=False):
        """The nginx configuration of docs/DEPLOY.md, with this run's addresses in place of the example's (`fewer`:
        fewer relays than its upstream lists may run, the lines left over removed)."""
        text = open(os.path.join(here, "..", "..", "docs", "DEPLOY.md")).read()
        block = re.search(r"<!-- fleet-test: nginx begins -->\s*```nginx\n(.*?)```\s*<!-- fleet-test: nginx ends -->", text, re.S)
        if not block:
            raise RuntimeError("docs/DEPLOY.md has no nginx block between the fleet-test markers")
        configuration = block.group(1)
        servers = re.findall(r"^\s*server 10\.0\.0\.\d+:8765 [^;]*;$", configuration, re.M)
        if len(servers) != len(self.relays) and not (fewer and 0 < len(self.relays) < len(servers)):
            raise RuntimeError(f"docs/DEPLOY.md's upstream has {len(servers)} relays, the test runs {len(self.relays)}")
        for line in servers[len(self.relays):]:
            configuration = configuration.replace(line + "\n", "", 1)
        for line, relay in zip(servers, self.relays):
            configuration = configuration.replace(line, re.sub(r"10\.0\.0\.\d+:8765", f"127.0.0.1:{relay['port']}", line), 1)
        if "listen 80;" not in configuration:
            raise RuntimeError("docs/DEPLOY.md's server block has no `listen 80;` line to replace")
        return configuration.replace("listen 80;", f"listen 127.0.0.1:{self.nginx_port};")

    async def start_nginx(self, name="nginx"):
        self.nginx_port = free_ports(1)[0]
        folder = os.path.join(self.folder, name)
        os.makedirs(folder)
        with open(os.path.join(folder, "deltatape-relay.conf"), "w") as included:
            included.write(self.deploy_configuration())
        user = "user root root;\n" if os.getuid() == 0 else ""
        with open(os.path.join(folder, "nginx.conf"), "w") as main:
            main.write(f"""{user}worker_processes 1;
error_log {folder}/error.log info;
pid {folder}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log {folder}/access.log;
    client_body_temp_path {folder}/body; proxy_temp_path {folder}/proxy; fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi; scgi_temp_path {folder}/scgi;
    include {folder}/deltatape-relay.conf;
}}
""")
        test = subprocess.run([self.arguments.nginx, "-t", "-p", folder, "-c", f"{folder}/nginx.conf"], capture_output=True, text=True)
        if test.returncode != 0:
            raise RuntimeError("nginx -t refused the configuration: " + test.stderr[-1500:])
        self.nginx = subprocess.Popen([self.arguments.nginx, "-p", folder, "-c", f"{folder}/nginx.conf", "-g", "daemon off;"],
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.processes.append(self.nginx)
        deadline = now() + 20
        while now() < deadline:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.nginx_port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.05)
        raise RuntimeError("nginx did not listen within 20 s: " + open(f"{folder}/error.log").read()[-1500:])

    # MARK: sessions

    async def session(self, sid, answers, ms):
        """A client through nginx: `answers` responses of `ms` ms each at real-time pace, heard whole, then a close
        handshake (1000). What it heard is kept to check the recording against."""
        info = {"sid": sid, "pcm": bytearray(), "ok": False, "why": "", "started": now(), "ended": None,
                "expected": answers * (ms * 24 // 2400) * 2400}
        self.sessions[sid] = info
        try:
            info["why"] = await asyncio.wait_for(self.run_session(sid, answers, ms, info), answers * ms / 1000 + 60)
        except asyncio.TimeoutError:
            info["why"] = "not over within its time"
        except (ConnectionError, OSError) as error:
            info["why"] = f"connection failed: {error}"
        info["ended"] = now()
        info["ok"] = info["why"] == ""

    async def run_session(self, sid, answers, ms, info):
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.nginx_port, limit=1 << 20), 10)
        try:
            writer.write(wire.upgrade_request(f"/v1/realtime?model=fleet&sid={sid}&ms={ms}&pace=1", "fleet.test", headers=AUTH))
            head, body = await wire.read_response(reader, 20)
            if head is None or head.status != 101:
                return f"upgrade answered {head.status if head else 'nothing'} {body[:160]!r}"

            async def message(timeout):
                while True:
                    frame = await asyncio.wait_for(wire.read_frame(reader), timeout)
                    if frame.opcode == wire.PING:
                        writer.write(wire.frame(wire.PONG, frame.payload))
                    elif frame.opcode == wire.CLOSE:
                        return "close", wire.close_code(frame.payload or b"")
                    elif frame.opcode != wire.PONG:
                        return frame.opcode, frame.payload

            kind, payload = await message(20)
            if kind != wire.TEXT or b"session.created" not in payload:
                return f"first message {kind} {payload[:80] if payload else b''}"
            for _ in range(answers):
                writer.write(wire.frame(wire.TEXT, json.dumps({"type": "response.create"}).encode()))
                while True:
                    kind, payload = await message(30)
                    if kind != wire.TEXT:
                        return f"during an answer: {kind} {payload}"
                    event = json.loads(payload)
                    if event.get("type") == "response.output_audio.delta":
                        info["pcm"] += base64.b64decode(event["delta"])
                    elif event.get("type") == "response.done":
                        break
            if len(info["pcm"]) // 2 != info["expected"]:
                return f"heard {len(info['pcm']) // 2} samples of {info['expected']}"
            writer.write(wire.frame(wire.CLOSE, wire.close_payload(1000, "bye")))
            kind, code = await message(20)
            if (kind, code) != ("close", 1000):
                return f"the close frame was answered with {kind} {code}"
            return ""
        finally:
            writer.close()

    # MARK: the run

    async def run(self):
        self.start_seaweedfs()
        upstream_port = await self.start_upstream()
        for name in ("a", "b"):
            await self.start_relay(name, upstream_port)
        await self.start_nginx()
        print(f"fleet: nginx on {self.nginx_port} in front of relays "
              + ", ".join(f"{r['name']} on {r['port']} (admin {r['admin']})" for r in self.relays), flush=True)
        drained, other = self.relays

        # 1. Twenty sessions at once: 2 answers of 3 s each at real-time pace.
        first = [asyncio.ensure_future(self.session(f"first{index:02}", 2, 3000)) for index in range(20)]
        # Once every one has heard audio (nginx has spread them over both relays), the deploy begins.
        deadline = now() + 30
        while now() < deadline and not all(len(self.sessions.get(f"first{i:02}", {}).get("pcm", b"")) for i in range(20)):
            await asyncio.sleep(0.05)
        open_on_drained = int(re.search(r"connections_active (\d+)",
                                        await self.http_get(drained["admin"], "/metrics") or "connections_active 0").group(1))
        self.check(open_on_drained > 0, f"relay a holds {open_on_drained} of the 20 open sessions when it is drained")
        drained["process"].send_signal(signal.SIGTERM)
        self.sigterm_at = now()
        await asyncio.sleep(0.3)
        healthz = await self.http_get(drained["admin"], "/healthz", status=True)
        self.check(healthz == 503, f"/healthz of the draining relay answers 503 (got {healthz})")
        metrics = await self.http_get(drained["admin"], "/metrics") or ""
        self.check("deltatape_relay_draining 1" in metrics, "its /metrics says deltatape_relay_draining 1")

        # 2. Ten sessions started during the drain, one every 300 ms.
        later = []
        for index in range(10):
            later.append(asyncio.ensure_future(self.session(f"later{index:02}", 1, 2000)))
            await asyncio.sleep(0.3)
        await asyncio.gather(*first, *later)
        for sid, info in sorted(self.sessions.items()):
            self.check(info["ok"], f"session {sid} heard all its audio and closed cleanly {info['why']}".rstrip())

        # 3. The drained relay exits 0 after its last session.
        try:
            status = await asyncio.wait_for(drained["process"].wait(), 60)
        except asyncio.TimeoutError:
            status = None
        exited_at = now()
        self.check(status == 0, f"the drained relay exits 0 (status {status})")
        await drained["reader"]
        finished_lines = [(t, line) for t, line in drained["lines"] if re.search(r"relay: s3://\S+\.wav: [0-9.]+ s of audio", line)]
        self.check(len(finished_lines) == open_on_drained,
                   f"the drained relay finished {len(finished_lines)} recordings, one per session it held ({open_on_drained})")
        self.check(all(t >= self.sigterm_at for t, _ in finished_lines), "its recordings were finished after SIGTERM, as their sessions ended")
        self.check(not any("a connection was refused: the relay is shutting down" in line for _, line in drained["lines"]),
                   "no session reached the draining relay (it refused none: nginx sent them to the other)")

        # 4. Every recording, in the bucket under a key of its own, sample for sample what its client heard.
        other["process"].send_signal(signal.SIGTERM)
        status = await asyncio.wait_for(other["process"].wait(), 60)
        self.check(status == 0, f"the other relay exits 0 after SIGTERM (status {status})")
        await other["reader"]
        matched = self.check_bucket()
        # Which sessions the drained relay held: those whose recording it said it finished.
        held = sorted(sid for sid, key in matched.items() if any(key in line for _, line in finished_lines))
        self.check(len(held) == open_on_drained and all(sid.startswith("first") for sid in held),
                   f"the drained relay held {len(held)} sessions of the first wave ({', '.join(held)}) and none started during the drain")
        last_end = max((self.sessions[sid]["ended"] for sid in held), default=self.sigterm_at)
        self.check(exited_at >= last_end - 0.5, f"it exited {exited_at - self.sigterm_at:.1f} s after SIGTERM, after its last session "
                   f"ended ({last_end - self.sigterm_at:.1f} s after SIGTERM)")
        self.drain_seconds = round(exited_at - self.sigterm_at, 2)

    def check_bucket(self):
        keys = self.listed_keys()
        wavs = sorted(key for key in keys if key.endswith(".wav"))
        logs = sorted(key for key in keys if key.endswith(".jsonl"))
        self.check(len(wavs) == len(self.sessions) and len(set(wavs)) == len(wavs),
                   f"{len(wavs)} distinct recordings in the bucket for {len(self.sessions)} sessions")
        self.check(len(logs) == len(wavs), f"each with its log ({len(logs)} logs)")
        matched = {}
        for key in wavs:
            log_key = key[:-len(".wav")] + ".jsonl"
            if log_key not in logs:
                self.check(False, f"{key} has no log beside it")
                continue
            log = open(self.fetch(log_key), "rb").read().decode()
            found = re.search(r'"id": *"sess_([A-Za-z0-9]+)"', log)
            if not found:
                self.check(False, f"{log_key} names no session")
                continue
            sid = found.group(1)
            if sid in matched:
                self.check(False, f"{key} and {matched[sid]} both hold session {sid}")
                continue
            path = self.fetch(key)
            with wave.open(path) as recording:
                frames = recording.readframes(recording.getnframes())
                shape = (recording.getnchannels(), recording.getsampwidth(), recording.getframerate())
            heard = bytes(self.sessions.get(sid, {}).get("pcm", b""))
            same = shape == (1, 2, 24000) and frames == heard
            if not same:
                first_difference = next((i for i in range(min(len(frames), len(heard))) if frames[i] != heard[i]), None)
                self.check(False, f"{key} ({sid}): {len(frames) // 2} samples {shape}, heard {len(heard) // 2}; "
                           f"first differing byte {first_difference}")
                continue
            matched[sid] = key
            probe = subprocess.run(["ffprobe", "-v", "error", "-count_packets", "-show_entries", "stream=sample_rate,channels,duration_ts",
                                    "-of", "json", path], capture_output=True, text=True)
            streams = json.loads(probe.stdout or "{}").get("streams", [{}]) if probe.returncode == 0 else [{}]
            if int(streams[0].get("duration_ts", -1)) != len(frames) // 2:
                self.check(False, f"{key}: ffprobe reads {streams[0]} ({probe.stderr[:200]}), expected {len(frames) // 2} samples")
                del matched[sid]
        self.check(set(matched) == set(self.sessions),
                   f"every session's recording is sample-exact ({len(matched)} of {len(self.sessions)} matched and read by wave and ffprobe)")
        return matched

    async def http_get(self, port, path, status=False):
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
        except OSError:
            return None
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        head, body = await wire.read_response(reader, 10)
        writer.close()
        if head is None:
            return None
        return head.status if status else body.decode()

    def stop(self):
        for relay in self.relays:
            if relay["process"].returncode is None:
                relay["process"].kill()
        if getattr(self, "upstream", None) and self.upstream.returncode is None:
            self.upstream.send_signal(signal.SIGTERM)
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
        for port in getattr(self, "grpc_ports", []):
            for leftover in os.listdir("/tmp"):
                if leftover.startswith("seaweedfs-") and leftover.endswith(f"-grpc-{port}.sock"):
                    try:
                        os.remove(os.path.join("/tmp", leftover))
                    except OSError:
                        pass


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", required=True, help="the folder of the release deltatape-relay")
    parser.add_argument("--speech", required=True, help="a 24 kHz mono WAV the upstream speaks")
    parser.add_argument("--weed", required=True)
    parser.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    parser.add_argument("--keep", action="store_true", help="keep the run's folder")
    arguments = parser.parse_args()
    fleet = Fleet(arguments)
    started = now()
    try:
        await fleet.run()
    except Exception as error:  # a component that did not start: a failure with its reason, not a traceback alone
        fleet.check(False, f"the fleet did not run: {type(error).__name__}: {error}")
    finally:
        fleet.stop()
    summary = {"event": "fleet", "sessions": len(fleet.sessions), "failures": len(fleet.failures),
               "drain_seconds": getattr(fleet, "drain_seconds", None),
               "seconds": round(now() - started, 1), "folder": fleet.folder}
    print(json.dumps(summary), flush=True)
    if fleet.failures:
        print(f"fleet: FAILED ({len(fleet.failures)} checks); the run's folder is kept: {fleet.folder}", flush=True)
        sys.exit(1)
    if not arguments.keep:
        shutil.rmtree(fleet.folder, ignore_errors=True)
    print("fleet: passed", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
