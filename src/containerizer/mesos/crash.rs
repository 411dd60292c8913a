//! The test hooks. The crash: with the `test-hooks` feature (only the binary the tests build has it),
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

/// The pause between two launch steps: with the `test-hooks` feature,
/// `MESOLITE_TEST_LAUNCH_STEP_PAUSE_MS` holds each launch that long between its steps, so a
/// test can send a KILL or a second LAUNCH while it waits. None: the next loop iteration.
#[cfg(feature = "test-hooks")]
pub(super) fn step_pause() -> Option<std::time::Duration> {
    use std::sync::OnceLock;
    static PAUSE: OnceLock<Option<u64>> = OnceLock::new();
    let ms = PAUSE.get_or_init(|| {
        std::env::var("MESOLITE_TEST_LAUNCH_STEP_PAUSE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
    });
    ms.map(std::time::Duration::from_millis)
}

#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub(super) fn step_pause() -> Option<std::time::Duration> {
    None
}

/// With the `test-hooks` feature, `MESOLITE_TEST_CGROUPS_OFF_LOOP=1` has every launch's cgroups
/// made by the cgroup helper, whether or not another init is attaching.
#[cfg(feature = "test-hooks")]
pub(super) fn cgroups_off_loop_always() -> bool {
    use std::sync::OnceLock;
    static ALWAYS: OnceLock<bool> = OnceLock::new();
    *ALWAYS.get_or_init(|| std::env::var("MESOLITE_TEST_CGROUPS_OFF_LOOP").as_deref() == Ok("1"))
}

#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub(super) fn cgroups_off_loop_always() -> bool {
    false
}
