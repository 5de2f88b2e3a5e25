/// HTML escaping for long text the server writes itself (sample code): the same five characters
/// Mustache escapes, done over UTF-8 bytes, several times faster than the template's own escaping,
/// which walks the text character by character. The result goes into templates as `{{{…HTML}}}`.
enum HTMLText {
    static func escape(_ text: String) -> String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(text.utf8.count + text.utf8.count / 8)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "&"): bytes.append(contentsOf: Array("&amp;".utf8))
            case UInt8(ascii: "<"): bytes.append(contentsOf: Array("&lt;".utf8))
            case UInt8(ascii: ">"): bytes.append(contentsOf: Array("&gt;".utf8))
            case UInt8(ascii: "\""): bytes.append(contentsOf: Array("&quot;".utf8))
            case UInt8(ascii: "'"): bytes.append(contentsOf: Array("&#39;".utf8))
            default: bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
