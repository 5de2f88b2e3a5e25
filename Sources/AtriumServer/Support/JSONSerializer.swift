import NIOCore

/// Writes a `JSONValue` as compact JSON straight into bytes (no `JSONEncoder` round trip).
enum JSONSerializer {
    static func write(_ value: JSONValue, into buffer: inout ByteBuffer) {
        switch value {
        case .null: buffer.writeStaticString("null")
        case .bool(let bool): bool ? buffer.writeStaticString("true") : buffer.writeStaticString("false")
        case .int(let int): buffer.writeString(String(int))
        case .double(let double): buffer.writeString(double.isFinite ? "\(double)" : "null")
        case .string(let string): writeString(string, into: &buffer)
        case .array(let elements):
            buffer.writeInteger(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                write(element, into: &buffer)
            }
            buffer.writeInteger(UInt8(ascii: "]"))
        case .object(let members):
            buffer.writeInteger(UInt8(ascii: "{"))
            var first = true
            for (key, member) in members {
                if !first { buffer.writeInteger(UInt8(ascii: ",")) }
                first = false
                writeString(key, into: &buffer)
                buffer.writeInteger(UInt8(ascii: ":"))
                write(member, into: &buffer)
            }
            buffer.writeInteger(UInt8(ascii: "}"))
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    static func writeString(_ string: String, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "\""))
        var string = string
        string.withUTF8 { bytes in
            var runStart = 0
            for (index, byte) in bytes.enumerated() where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                buffer.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[runStart..<index]))
                switch byte {
                case UInt8(ascii: "\""): buffer.writeStaticString("\\\"")
                case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
                case 0x0A: buffer.writeStaticString("\\n")
                case 0x0D: buffer.writeStaticString("\\r")
                case 0x09: buffer.writeStaticString("\\t")
                default:
                    buffer.writeStaticString("\\u00")
                    buffer.writeInteger(hexDigits[Int(byte >> 4)])
                    buffer.writeInteger(hexDigits[Int(byte & 0x0F)])
                }
                runStart = index + 1
            }
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[runStart...]))
        }
        buffer.writeInteger(UInt8(ascii: "\""))
    }
}
