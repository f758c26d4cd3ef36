//! `uniffi-bindgen`, pinned to the UniFFI release `coffer-ffi` is built with.
//!
//! Generates the Kotlin, Swift and Python bindings from the built library (library mode: the
//! metadata is read from the `.so`/`.dylib`/`.a` itself, no `.udl` file):
//!
//! ```sh
//! cargo build -p coffer-ffi
//! cargo run -p coffer-uniffi-bindgen -- generate --library target/debug/libcoffer_ffi.so \
//!     --language python --out-dir target/bindings/python
//! ```
//!
//! See `docs/app-integration.md` for Kotlin and Swift.

fn main() {
    uniffi::uniffi_bindgen_main()
}
