extension Collection {
    /// Consecutive slices of at most `size` elements (database statements take a bounded number of values).
    public func chunks(of size: Int) -> [SubSequence] {
        precondition(size > 0)
        var chunks: [SubSequence] = []
        var start = startIndex
        while start != endIndex {
            let end = index(start, offsetBy: size, limitedBy: endIndex) ?? endIndex
            chunks.append(self[start..<end])
            start = end
        }
        return chunks
    }
}
