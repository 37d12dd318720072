#![no_main]

use cap::Cap;

/// More than 512 MiB allocated at once aborts, which libFuzzer reports as a crash.
#[global_allocator]
static ALLOCATOR: Cap<std::alloc::System> = Cap::new(std::alloc::System, 512 << 20);

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::npz(data));
