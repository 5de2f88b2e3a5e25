import CKernels
import Foundation

extension LlamaModel {
    /// The matrices that this machine's decode kernel takes as weight tiles (16 rows side by side a block,
    /// see tiles.c), repacked once at load: the same quants and scales, in the memory of the mapped pages
    /// they replace (those are handed back to the kernel). Owns the tiles' memory: one allocation in huge
    /// pages (`atr_streamed_alloc`), the matrices in the order a pass reads them.
    final class Tiles: @unchecked Sendable {
        private let arena: UnsafeMutableRawPointer
        private(set) var weights: Weights

        /// Nil where no matrix of `weights` is tiled here (no AVX2, other types or shapes) or there is no
        /// memory for the tiles.
        init?(_ weights: Weights) {
            func bytes(_ matrix: Matrix) -> Int {
                guard atr_tiles_supported(matrix.type, matrix.rows, matrix.columns) != 0 else { return 0 }
                return (atr_tiles_bytes(matrix.type, matrix.rows, matrix.columns) + 63) / 64 * 64
            }
            let total = (weights.layers.flatMap(\.matrices) + [weights.output]).reduce(0) { $0 + bytes($1) }
            guard total > 0, let arena = atr_streamed_alloc(total) else { return nil }
            self.arena = arena
            self.weights = weights
            var offset = 0
            func tile(_ matrix: Matrix) -> Matrix {
                let size = bytes(matrix)
                guard size > 0 else { return matrix }
                let buffer = arena + offset
                offset += size
                atr_tiles_pack(matrix.type, matrix.data, matrix.rows, matrix.columns, buffer)
                // A tied output matrix is the embedding too, whose rows are still read from the map: its
                // pages stay (handing them back made them fault in again, row by row, for hours).
                if matrix.data != weights.embedding.data {
                    atr_release_mapped(matrix.data, matrix.rows * LlamaModel.rowBytes(matrix))
                }
                return Matrix(type: matrix.type | Int32(ATR_TILED), data: UnsafeRawPointer(buffer), rows: matrix.rows, columns: matrix.columns)
            }
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
            self.weights.output = tile(weights.output)
        }

        deinit {
            free(arena)
        }
    }
}
