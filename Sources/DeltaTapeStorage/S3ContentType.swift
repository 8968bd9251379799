// The Content-Type an object gets from its key's extension, so that a browser or a CDN serving it plays it: the
// outputs DeltaTape writes (and their session logs).

/// Content types of DeltaTape's outputs.
public enum S3ContentType {
    /// The media type for `key`'s extension (`.wav`, `.ogg`/`.opus`, `.webm`, `.jsonl`), or nil for any other.
    public static func forKey(_ key: String) -> String? {
        guard let dot = key.lastIndex(of: "."), !key[dot...].contains("/") else { return nil }
        return forExtension(String(key[key.index(after: dot)...]))
    }

    /// The media type for a file extension without its dot (`wav`, `ogg`, `opus`, `webm`, `jsonl`), or nil.
    public static func forExtension(_ fileExtension: String) -> String? {
        switch fileExtension.lowercased() {
        case "wav": "audio/wav"
        case "ogg", "opus": "audio/ogg"
        case "webm": "audio/webm"
        case "jsonl": "application/jsonl"
        default: nil
        }
    }
}
