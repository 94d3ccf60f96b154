//! Live heap bytes, counted by the global allocator, for the backpressure case.

use std::alloc::System;

use cap::Cap;

/// The system allocator, counting what is allocated (no limit).
#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// The bytes allocated and not yet freed, by the whole process.
pub(crate) fn allocated() -> usize {
    ALLOCATOR.allocated()
}
