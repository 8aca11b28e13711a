//! Validation allocates nothing, on any input (issue 11, item 15: no
//! allocation beyond the caps). A test binary of its own, because it replaces
//! the global allocator with dhat's counting one.
//!
//! A long run: `PROPTEST_CASES=100000 cargo test -p sluice-batch --release --test alloc`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod strategies;

use proptest::test_runner::{Config, TestRunner};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

#[test]
fn validation_allocates_nothing() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let cases = Config::default().cases;
    let mut runner = TestRunner::new(Config::default());
    let strategy = (strategies::batch(), strategies::caps());
    let checked = std::cell::Cell::new(0u32);
    runner
        .run(&strategy, |(batch, caps)| {
            let before = dhat::HeapStats::get().total_blocks;
            let result = std::hint::black_box(batch.validate_within(&caps));
            let after = dhat::HeapStats::get().total_blocks;
            std::hint::black_box(result.is_ok());
            proptest::prop_assert_eq!(after, before, "validate_within allocated");
            checked.set(checked.get() + 1);
            Ok(())
        })
        .unwrap();
    assert!(checked.get() >= cases, "{} cases", checked.get());
}
