//! permessage-deflate done with flate2 directly (RFC 7692 §7.2), independently of our codec,
//! so a test can check what our library compresses or decompresses.

/// The empty stored block that ends a sync flush, which permessage-deflate strips from every
/// compressed message (RFC 7692 §7.2.1).
pub const DEFLATE_TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// `data` as a browser's first compressed message on a connection whose answer lets it use
/// `bits` window bits: compressed from an empty window at level 6. zlib cannot compress with
/// 8 bits; 9 keeps within 256 bytes all the same.
pub fn first_message_compressed(bits: u8, data: &[u8]) -> Vec<u8> {
    deflate_message(
        &mut flate2::Compress::new_with_window_bits(
            flate2::Compression::new(6),
            false,
            bits.max(9),
        ),
        data,
    )
}

/// Compresses `data` as one permessage-deflate message with flate2 directly (raw deflate,
/// sync flush, tail stripped; RFC 7692 §7.2.1), independently of our `Deflater`.
pub fn deflate_message(compress: &mut flate2::Compress, data: &[u8]) -> Vec<u8> {
    let mut out = flush_through(data, data.len() / 2 + 64, |input, out| {
        let before = compress.total_in();
        compress
            .compress_vec(input, out, flate2::FlushCompress::Sync)
            .expect("deflate");
        compress.total_in() - before
    });
    assert!(
        out.ends_with(&DEFLATE_TAIL),
        "a sync flush ends with the tail"
    );
    out.truncate(out.len() - DEFLATE_TAIL.len());
    out
}

/// Decompresses one permessage-deflate message with flate2 directly (puts back the tail;
/// RFC 7692 §7.2.2), independently of our `Inflater`.
///
/// # Panics
/// If the data does not decompress.
pub fn inflate_message(decompress: &mut flate2::Decompress, compressed: &[u8]) -> Vec<u8> {
    let mut input = compressed.to_vec();
    input.extend_from_slice(&DEFLATE_TAIL);
    flush_through(&input, compressed.len() * 4 + 64, |input, out| {
        let before = decompress.total_in();
        decompress
            .decompress_vec(input, out, flate2::FlushDecompress::Sync)
            .expect("valid deflate data");
        decompress.total_in() - before
    })
}

/// Feeds `input` to `step` (one flate2 call with a sync flush, returning how many input bytes
/// it took) until all of it is taken and a call left room in the output: flate2 writes only
/// into the spare capacity, so a full output may hide more flushed data.
fn flush_through(
    input: &[u8],
    capacity: usize,
    mut step: impl FnMut(&[u8], &mut Vec<u8>) -> u64,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity);
    let mut consumed = 0;
    loop {
        out.reserve(64 << 10);
        consumed += usize::try_from(step(&input[consumed..], &mut out)).expect("fits");
        if consumed == input.len() && out.len() < out.capacity() {
            return out;
        }
    }
}
