import CKernels

extension LlamaModel {
    /// The matrices that this machine's decode kernel takes as weight tiles (16 rows side by side a block,
    /// see tiles.c), repacked once at load: the same quants and scales, in the memory of the mapped pages
    /// they replace (those are handed back to the kernel). Owns the tiles' memory.
    final class Tiles: @unchecked Sendable {
        private var buffers: [UnsafeMutableRawPointer] = []
        private(set) var weights: Weights

        /// Nil where no matrix of `weights` is tiled here (no AVX2, other types or shapes).
        init?(_ weights: Weights) {
            self.weights = weights
            var tiled = false
            func tile(_ matrix: Matrix) -> Matrix {
                guard atr_tiles_supported(matrix.type, matrix.rows, matrix.columns) != 0 else { return matrix }
                let bytes = atr_tiles_bytes(matrix.type, matrix.rows, matrix.columns)
                let buffer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
                atr_tiles_pack(matrix.type, matrix.data, matrix.rows, matrix.columns, buffer)
                // A tied output matrix is the embedding too, whose rows are still read from the map: its
                // pages stay (handing them back made them fault in again, row by row, for hours).
                if matrix.data != weights.embedding.data {
                    atr_release_mapped(matrix.data, matrix.rows * LlamaModel.rowBytes(matrix))
                }
                buffers.append(buffer)
                tiled = true
                return Matrix(type: matrix.type | Int32(ATR_TILED), data: UnsafeRawPointer(buffer), rows: matrix.rows, columns: matrix.columns)
            }
            self.weights.output = tile(weights.output)
            for index in self.weights.layers.indices {
                let layer = weights.layers[index]
                self.weights.layers[index].query = tile(layer.query)
                self.weights.layers[index].key = tile(layer.key)
                self.weights.layers[index].value = tile(layer.value)
                self.weights.layers[index].output = tile(layer.output)
                self.weights.layers[index].gate = tile(layer.gate)
                self.weights.layers[index].up = tile(layer.up)
                self.weights.layers[index].down = tile(layer.down)
            }
            if !tiled { return nil }
        }

        deinit {
            for buffer in buffers { buffer.deallocate() }
        }
    }
}
