// The decode path's shared layouts (private to CKernels): the 16-bit activations' range and the weight
// tiles' blocks, which every decode kernel and the tiles' packing agree on.
#ifndef ATRIUM_CKERNELS_TILE_LAYOUT_H
#define ATRIUM_CKERNELS_TILE_LAYOUT_H

#include <stddef.h>

/// The largest 16-bit activation: every decode kernel (AVX2 and AVX-512) quantizes to the same integers
/// with it, so their products differ only in the order of their sums.
#define ATR_Q16_MAX 32639.0f

/// A weight tile's block (tiles.c): the 16 rows' scales as halves (bytes 0 … 31), the 4-bit types'
/// minimums (32 … 63), then the quants in pieces of 32 bytes: piece p holds row r's quant bytes 2p and
/// 2p + 1 at its bytes 2r and 2r + 1. For Q8_0 those are elements 2p and 2p + 1; a 4-bit block's byte j
/// holds elements j and j + 16 (low and high nibble), so its pieces widen to elements 2p, 2p + 1 in the
/// low nibbles and 16 + 2p, 17 + 2p in the high ones.
static inline size_t atr_tile_block_bytes(int type) { return type == 8 ? 32 + 512 : 64 + 256; }
static inline size_t atr_tile_quants_at(int type) { return type == 8 ? 32 : 64; }
static inline int atr_tile_pieces(int type) { return type == 8 ? 16 : 8; }

#endif
