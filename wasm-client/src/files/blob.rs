//! Reading a `Blob` (or `File`) slice by slice, so a file is never whole in memory.

use js_sys::Uint8Array;
use sha2::{Digest, Sha256};
use wasm_bindgen_futures::JsFuture;
use web_sys::Blob;

use super::cancel::CancelToken;
use super::error::FileError;
use super::Side;
use mywebsocket_files_proto::Reason;

/// How much of a file is read at a time to hash it.
const HASH_SLICE: u64 = 1 << 20;

/// The bytes `start..end` of `blob`, still in JavaScript memory.
///
/// # Errors
/// [`FileError::Read`] when the browser cannot read it (a `File` deleted or changed on disk).
pub(crate) async fn read_slice(blob: &Blob, start: u64, end: u64) -> Result<Uint8Array, FileError> {
    // Exact: sizes are below 2^53 (checked by the callers).
    let slice = blob
        .slice_with_f64_and_f64(start as f64, end as f64)
        .map_err(|e| FileError::Read(crate::Error::from_js(&e)))?;
    let buffer = JsFuture::from(slice.array_buffer())
        .await
        .map_err(|e| FileError::Read(crate::Error::from_js(&e)))?;
    let bytes = Uint8Array::new(&buffer);
    if u64::from(bytes.length()) != end - start {
        return Err(FileError::Read(crate::Error::Browser {
            name: "NotReadableError".into(),
            message: format!(
                "read {} bytes at offset {start}, expected {}: the file changed",
                bytes.length(),
                end - start
            ),
        }));
    }
    Ok(bytes)
}

/// The SHA-256 of the first `size` bytes of `blob`, read a slice at a time.
///
/// # Errors
/// As [`read_slice`]; [`FileError::Cancelled`] when `cancel` fires.
pub(crate) async fn hash_blob(
    blob: &Blob,
    size: u64,
    cancel: &CancelToken,
) -> Result<[u8; 32], FileError> {
    let mut hasher = Sha256::new();
    let mut buf = Vec::new();
    let mut offset = 0;
    while offset < size {
        if cancel.is_cancelled() {
            return Err(FileError::Cancelled {
                by: Side::Local,
                reason: Reason::Cancelled,
                message: "cancelled while hashing, before the offer".into(),
            });
        }
        let end = size.min(offset + HASH_SLICE);
        let slice = read_slice(blob, offset, end).await?;
        buf.resize(slice.length() as usize, 0);
        slice.copy_to(&mut buf);
        hasher.update(&buf);
        offset = end;
    }
    Ok(hasher.finalize().into())
}
