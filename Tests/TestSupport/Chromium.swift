// Chromium as a reference decoder: headless Chromium's Web Audio `decodeAudioData`, what a browser does with a file.
// Driven through the DevTools protocol on a pipe (descriptors 3 and 4), so the test waits for the decode itself
// rather than for a page load or a timer.
import Foundation

/// What Chromium's `decodeAudioData` made of a file.
public struct ChromiumDecoding: Sendable {
    /// The decoded length, in frames at the context's rate.
    public var frameCount: Int
    /// The AudioBuffer's rate.
    public var sampleRate: Int
    /// Each channel's samples, as Web Audio gives them (floats in [-1, 1]).
    public var channels: [[Float]]

    /// A channel's samples as 16-bit values (`× 32768`, rounded, clamped).
    public func samples16(channel: Int = 0) -> [Int16] {
        channels[channel].map { Int16(clamping: Int(($0 * 32768).rounded())) }
    }
}

/// Decodes `paths` in one headless Chromium, each with an `OfflineAudioContext` at `sampleRate` (decodeAudioData
/// resamples to the context's rate, so this is the rate the samples come back at).
public func chromiumDecode(_ paths: [String], sampleRate: Int) throws -> [ChromiumDecoding] {
    let result = try run("python3", ["-c", chromiumDecodeScript, "\(sampleRate)"] + paths)
    guard result.status == 0,
          let entries = try JSONSerialization.jsonObject(with: result.standardOutput) as? [[String: Any]], entries.count == paths.count
    else { throw TestSupportError("Chromium could not decode \(paths): \(result.standardError)") }
    return try entries.map { entry in
        guard let frames = entry["frames"] as? Int, let rate = entry["rate"] as? Int, let channels = entry["channels"] as? [String]
        else { throw TestSupportError("unexpected reply from Chromium: \(entry.keys)") }
        let floats = try channels.map { text in
            guard let bytes = Data(base64Encoded: text) else { throw TestSupportError("bad base64 from Chromium") }
            return bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        }
        return ChromiumDecoding(frameCount: frames, sampleRate: rate, channels: floats)
    }
}

/// Arguments: the context's rate, then the files. Copies the files beside an empty page, loads it from file://
/// (with --allow-file-access-from-files, so the page may read them), and prints a JSON array, one entry per file.
private let chromiumDecodeScript = #"""
import json, os, shutil, subprocess, sys, tempfile, time
rate, audios = int(sys.argv[1]), sys.argv[2:]
folder = tempfile.mkdtemp(prefix='chromium-decode-')
proc = None
try:
    names = []
    for index, audio in enumerate(audios):
        names.append('audio%d%s' % (index, os.path.splitext(audio)[1]))
        shutil.copy(audio, os.path.join(folder, names[-1]))
    page = os.path.join(folder, 'page.html')
    open(page, 'w').write('<!doctype html><title>decode</title>')
    to_chrome_r, to_chrome_w = os.pipe()
    from_chrome_r, from_chrome_w = os.pipe()
    def child():
        # Chromium's DevTools pipe is descriptors 3 (commands in) and 4 (replies out).
        read_end, write_end = os.dup(to_chrome_r), os.dup(from_chrome_w)
        os.dup2(read_end, 3); os.dup2(write_end, 4)
        os.set_inheritable(3, True); os.set_inheritable(4, True)
    profile = os.path.join(folder, 'profile')
    proc = subprocess.Popen(['chromium', '--headless', '--no-sandbox', '--disable-gpu', '--remote-debugging-pipe',
                             '--allow-file-access-from-files', '--user-data-dir=' + profile, 'file://' + page],
                            preexec_fn=child, close_fds=False,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(to_chrome_r); os.close(from_chrome_w)
    out = os.fdopen(to_chrome_w, 'wb'); inp = os.fdopen(from_chrome_r, 'rb')
    buffer = b''; next_id = 0
    def call(method, params={}, session=None):
        global buffer, next_id
        next_id += 1
        message = {'id': next_id, 'method': method, 'params': params}
        if session: message['sessionId'] = session
        out.write(json.dumps(message).encode() + b'\0'); out.flush()
        while True:
            while b'\0' not in buffer:
                chunk = inp.read1(1 << 20)
                if not chunk: raise SystemExit('chromium closed its pipe')
                buffer += chunk
            raw, buffer = buffer.split(b'\0', 1)
            reply = json.loads(raw)
            if reply.get('id') == next_id:
                if 'error' in reply: raise SystemExit('%s: %s' % (method, reply['error']))
                return reply['result']
    target = next(t for t in call('Target.getTargets')['targetInfos'] if t['type'] == 'page')
    session = call('Target.attachToTarget', {'targetId': target['targetId'], 'flatten': True})['sessionId']
    # The page starts as about:blank and then loads: evaluate only once the file page has loaded.
    while call('Runtime.evaluate', {'expression': 'location.protocol + document.readyState', 'returnByValue': True},
               session)['result'].get('value') != 'file:complete':
        time.sleep(0.05)
    expression = '''(async name => {
      const bytes = await new Promise((ok, no) => { const x = new XMLHttpRequest(); x.open('GET', name);
        x.responseType = 'arraybuffer'; x.onload = () => ok(x.response); x.onerror = () => no(new Error('XHR failed')); x.send(); });
      const buffer = await new OfflineAudioContext(1, 1, %d).decodeAudioData(bytes);
      const channels = [];
      for (let c = 0; c < buffer.numberOfChannels; c++) {
        const u8 = new Uint8Array(buffer.getChannelData(c).buffer); let s = '';
        for (let i = 0; i < u8.length; i += 32768) s += String.fromCharCode.apply(null, u8.subarray(i, i + 32768));
        channels.push(btoa(s));
      }
      return {frames: buffer.length, rate: buffer.sampleRate, channels};
    })'''
    decoded = []
    for name in names:
        result = call('Runtime.evaluate', {'expression': '(%s)(%s)' % (expression % rate, json.dumps(name)),
                                           'awaitPromise': True, 'returnByValue': True}, session)
        if 'exceptionDetails' in result: raise SystemExit('decoding %s failed: %s' % (name, json.dumps(result['exceptionDetails'])[:500]))
        decoded.append(result['result']['value'])
    sys.stdout.write(json.dumps(decoded))
    call('Browser.close')
    proc.wait(timeout=30)
finally:
    if proc and proc.poll() is None: proc.kill()
    shutil.rmtree(folder, ignore_errors=True)
"""#
