@testable import DeltaTapeStorage
import Testing

/// `s3://` addresses and SigV4's percent-encoding. The encoding's expectations are written from the rules of AWS's
/// Signature Version 4 reference (UriEncode), byte by byte; the server tests check the same keys against a server.
@Suite struct S3AddressTests {
    @Test func objectsAndPrefixes() throws {
        let object = try S3Address(parsing: "s3://my-bucket/logs/2024/x.jsonl")
        #expect(object.bucket == "my-bucket" && object.key == "logs/2024/x.jsonl" && !object.isPrefix)
        let prefix = try S3Address(parsing: "s3://my-bucket/logs/")
        #expect(prefix.isPrefix && prefix.key == "logs/")
        #expect(try S3Address(parsing: "s3://my-bucket").isPrefix)
        #expect(try S3Address(parsing: "s3://my-bucket/").key == "")
        #expect(try prefix.appending("x.wav") == S3Address(bucket: "my-bucket", key: "logs/x.wav"))
        #expect(prefix.description == "s3://my-bucket/logs/")
        // Taken as written: a % in a key is a %.
        #expect(try S3Address(parsing: "s3://b12/a%20b").key == "a%20b")
    }

    @Test func refusalsSayWhatToDo() {
        let cases: [(String, String)] = [
            ("/tmp/x.wav", "does not start with s3://"),
            ("s3:///key", "names no bucket"),
            ("s3://ab/key", "has 2 characters; bucket names have 3 to 63"),
            ("s3://My-Bucket/key", "only lowercase letters, digits, dots and hyphens"),
            ("s3://-bucket/key", "begin and end with a letter or a digit"),
            ("s3://a..b/key", "two dots in a row"),
            ("s3://192.168.1.1/key", "written like an IP address"),
            ("s3://bucket/a/../b", "\"..\" segment"),
            ("s3://bucket/a\u{1}b", "control character"),
            ("s3://bucket/" + String(repeating: "k", count: 1025), "at most 1024 bytes"),
        ]
        for (text, reason) in cases {
            #expect(throws: S3AddressError.self, "\(text)") { try S3Address(parsing: text) }
            do {
                _ = try S3Address(parsing: text)
            } catch {
                #expect(error.description.contains(reason), "\(error.description)")
                #expect(error.description.hasPrefix("\"\(text)\" is not a valid S3 address: "))
            }
        }
        #expect(throws: S3AddressError.self) { try S3Address(parsing: "s3://bucket/object").appending("x") }
    }

    @Test func pathEncodingFollowsSigV4() {
        #expect(S3URIEncoding.path("a b") == "a%20b")
        #expect(S3URIEncoding.path("a+b=c") == "a%2Bb%3Dc")
        #expect(S3URIEncoding.path("dir/sub/file.wav") == "dir/sub/file.wav")
        #expect(S3URIEncoding.path("AZaz09-._~") == "AZaz09-._~")
        #expect(S3URIEncoding.path("é") == "%C3%A9")  // two UTF-8 bytes, uppercase hex
        #expect(S3URIEncoding.path("🎙") == "%F0%9F%8E%99")
        #expect(S3URIEncoding.path("100%") == "100%25")
        #expect(S3URIEncoding.path("a*b'c(d)!$,;:@&?#") == "a%2Ab%27c%28d%29%21%24%2C%3B%3A%40%26%3F%23")
        #expect(S3URIEncoding.queryComponent("a/b c") == "a%2Fb%20c")  // `/` is encoded in a query
    }

    @Test func queriesHaveSortedKeysEachWithEquals() {
        // The order SigV4's canonical query has: sorted by encoded key; `uploads` with `=` and an empty value.
        #expect(S3URIEncoding.query([("uploadId", "x y"), ("partNumber", "2")]) == "partNumber=2&uploadId=x%20y")
        #expect(S3URIEncoding.query([("uploads", "")]) == "uploads=")
        #expect(S3URIEncoding.query([("prefix", "a/b"), ("list-type", "2"), ("continuation-token", "t+=/"), ("max-keys", "3")])
                == "continuation-token=t%2B%3D%2F&list-type=2&max-keys=3&prefix=a%2Fb")
        // Uppercase sorts before lowercase, as bytes do.
        #expect(S3URIEncoding.query([("a", "1"), ("B", "2")]) == "B=2&a=1")
    }

    @Test func endpointsAndAddressingStyles() throws {
        let custom = try S3Endpoint(url: "http://127.0.0.1:9000/")
        #expect(custom.usesPathStyle && custom.host == "127.0.0.1:9000" && custom.basePath == "")
        #expect(custom.url(bucket: "b12", key: "a b/c", query: []) == "http://127.0.0.1:9000/b12/a%20b/c")
        #expect(try S3Endpoint(url: "https://store.example/s3").url(bucket: "b12", key: "k", query: [("uploads", "")])
                == "https://store.example/s3/b12/k?uploads=")
        let aws = S3Endpoint.aws(region: "eu-west-1")
        #expect(aws.url(bucket: "my-bucket", key: "k", query: []) == "https://my-bucket.s3.eu-west-1.amazonaws.com/k")
        // Dots would not match AWS's wildcard certificate: path-style.
        #expect(aws.url(bucket: "my.bucket", key: "k", query: []) == "https://s3.eu-west-1.amazonaws.com/my.bucket/k")
        #expect(throws: S3ConfigurationError.self) { try S3Endpoint(url: "ftp://host") }
        #expect(throws: S3ConfigurationError.self) { try S3Endpoint(url: "http://user:pass@host") }
        #expect(throws: S3ConfigurationError.self) { try S3Endpoint(url: "http://host/?x=1") }
    }
}

/// The tag scanner, on answers shaped as S3 sends them.
@Suite struct S3XMLTests {
    @Test func readsElementsAndEntities() {
        let text = """
            <?xml version="1.0" encoding="UTF-8"?>
            <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IsTruncated>true</IsTruncated>\
            <Contents><Key>a &amp; b &lt;c&gt; &#34;d&#34; &#xE9;</Key><Size>5</Size></Contents>\
            <Contents><Key>k2</Key><Size>7</Size><Owner/></Contents><KeyCount>2</KeyCount></ListBucketResult>
            """
        let document = S3XML(Array(text.utf8))
        #expect(document.rootName == "ListBucketResult")
        #expect(document.value("IsTruncated") == "true")
        let contents = document.elements("Contents")
        #expect(contents.count == 2)
        #expect(contents.first?.value("Key") == "a & b <c> \"d\" é")
        #expect(contents.last?.value("Size") == "7")
        #expect(contents.last?.value("Owner") == "")
        // <Key> is not taken for <KeyCount>, nor the other way round.
        #expect(document.value("KeyCount") == "2")
        #expect(S3XML(Array("<Error><Code>SlowDown</Code></Error>".utf8)).rootName == "Error")
        // <Upload> is not taken for the <UploadId> inside it; a bare & and an unknown entity stay as written.
        let uploads = S3XML(Array("<R><Upload><UploadId>u1</UploadId><Key>a & b &nbsp;</Key></Upload><Upload><UploadId>u2</UploadId></Upload></R>".utf8))
        #expect(uploads.elements("Upload").map { $0.value("UploadId") } == ["u1", "u2"])
        #expect(uploads.value("Key") == "a & b &nbsp;")
        #expect(S3XML(Array("<A>".utf8)).value("A") == nil)  // no end tag
        #expect(S3XML.escape("<a & \"b\">") == "&lt;a &amp; &quot;b&quot;&gt;")
    }
}
