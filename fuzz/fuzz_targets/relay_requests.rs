//! The whole relay in process (`coffer_fuzz::relay`), one request per input in the text format of
//! `coffer_fuzz::request`. Asserts for every answer: no panic, no 5xx except 507, and every error
//! body is the JSON `{"error","message"}` object with a JSON content type.

#![no_main]

use std::cell::RefCell;

use coffer_fuzz::relay::{Harness, check};
use libfuzzer_sys::fuzz_target;

thread_local! {
    /// Built once per fuzzing process: the relay, its runtime, its database and its fixtures.
    /// Leaked on purpose: dropping the app during thread-local teardown would touch actix's
    /// own thread-locals after they are gone (a panic at exit, not a finding).
    static HARNESS: RefCell<Option<&'static mut Harness>> = const { RefCell::new(None) };
}

fuzz_target!(|data: &[u8]| {
    HARNESS.with(|cell| {
        let mut slot = cell.borrow_mut();
        let harness = slot.get_or_insert_with(|| Box::leak(Box::new(Harness::new())));
        if let Some(outcome) = harness.run(data) {
            check(&outcome);
        }
    });
});
