//! The crash test hook: with the `test-hooks` feature (only the binary the tests build has it),
//! the agent dies at the launch step named by `MESOLITE_TEST_CRASH_AT`, so the recovery tests
//! can show that a crash at any step leaves nothing unknown behind. Without the feature this is
//! an empty function and the variable means nothing.

#[cfg(feature = "test-hooks")]
pub(super) fn point(step: &str) {
    use std::sync::OnceLock;
    static AT: OnceLock<Option<String>> = OnceLock::new();
    let at = AT.get_or_init(|| std::env::var("MESOLITE_TEST_CRASH_AT").ok());
    if at.as_deref() == Some(step) {
        log::error!("MESOLITE_TEST_CRASH_AT={step}: dying on purpose");
        crate::sys::process::exit_now(70);
    }
}

#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub(super) fn point(_step: &str) {}
