//! Parsers for the flat-keyed statistics files (`cpuacct.stat`, `cpu.stat`, `memory.stat`).
//!
//! They run for every container on every statistics request, so they walk the bytes in place:
//! no allocation per line, no UTF-8 validation. Unknown keys are skipped (kernels add keys); a
//! known key with a value that is not a number is an error.

use crate::stats::ResourceStatistics;

/// A known key whose value is not an unsigned integer.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct BadValue;

/// Parses an unsigned decimal integer (the whole slice).
pub(super) fn parse_u64(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    for &b in bytes {
        let digit = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        value = value.checked_mul(10)?.checked_add(u64::from(digit))?;
    }
    Some(value)
}

/// Counts the non-empty lines (the processes of `cgroup.procs`, the threads of `tasks`).
pub(super) fn count_lines(buf: &[u8]) -> u32 {
    let lines = buf
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .count();
    u32::try_from(lines).unwrap_or(u32::MAX)
}

/// Calls `f(key, value)` for every `key value` line whose key `wants` accepts.
///
/// One pass over the bytes: the key runs to the first space, the value from there to the end
/// of the line, and only a wanted key's value is parsed (most of v1 `memory.stat` is not
/// wanted). A line without a space holds no pair.
fn for_each_pair(
    buf: &[u8],
    wants: impl Fn(&[u8]) -> bool,
    mut f: impl FnMut(&[u8], u64),
) -> Result<(), BadValue> {
    let mut rest = buf;
    while !rest.is_empty() {
        let key_end = rest
            .iter()
            .position(|&b| b == b' ' || b == b'\n')
            .unwrap_or(rest.len());
        let (key, after) = rest.split_at(key_end);
        let line_end = match after.first() {
            Some(b' ') => after
                .iter()
                .position(|&b| b == b'\n')
                .unwrap_or(after.len()),
            _ => 0,
        };
        let (value, next) = after.split_at(line_end);
        rest = next.get(1..).unwrap_or_default();
        if !value.is_empty() && wants(key) {
            f(key, parse_u64(value.trim_ascii()).ok_or(BadValue)?);
        }
    }
    Ok(())
}

fn saturating_u32(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// v1 `cpuacct.stat`: `user` and `system` in USER_HZ ticks.
pub(super) fn parse_cpuacct_stat(
    buf: &[u8],
    ticks_per_sec: u64,
    out: &mut ResourceStatistics,
) -> Result<(), BadValue> {
    let ticks = ticks_per_sec.max(1) as f64;
    for_each_pair(
        buf,
        |key| matches!(key, b"user" | b"system"),
        |key, value| match key {
            b"user" => out.cpus_user_time_secs = Some(value as f64 / ticks),
            _ => out.cpus_system_time_secs = Some(value as f64 / ticks),
        },
    )
}

/// v1 `cpu.stat`: CFS throttling, `throttled_time` in nanoseconds.
pub(super) fn parse_v1_cpu_stat(buf: &[u8], out: &mut ResourceStatistics) -> Result<(), BadValue> {
    for_each_pair(
        buf,
        |key| matches!(key, b"nr_periods" | b"nr_throttled" | b"throttled_time"),
        |key, value| match key {
            b"nr_periods" => out.cpus_nr_periods = Some(saturating_u32(value)),
            b"nr_throttled" => out.cpus_nr_throttled = Some(saturating_u32(value)),
            _ => out.cpus_throttled_time_secs = Some(value as f64 / 1e9),
        },
    )
}

/// v2 `cpu.stat`: times in microseconds; the throttling keys exist only with the cpu controller.
pub(super) fn parse_v2_cpu_stat(buf: &[u8], out: &mut ResourceStatistics) -> Result<(), BadValue> {
    for_each_pair(
        buf,
        |key| {
            matches!(
                key,
                b"user_usec" | b"system_usec" | b"nr_periods" | b"nr_throttled" | b"throttled_usec"
            )
        },
        |key, value| match key {
            b"user_usec" => out.cpus_user_time_secs = Some(value as f64 / 1e6),
            b"system_usec" => out.cpus_system_time_secs = Some(value as f64 / 1e6),
            b"nr_periods" => out.cpus_nr_periods = Some(saturating_u32(value)),
            b"nr_throttled" => out.cpus_nr_throttled = Some(saturating_u32(value)),
            _ => out.cpus_throttled_time_secs = Some(value as f64 / 1e6),
        },
    )
}

/// v1 `memory.stat`: the hierarchical `total_*` keys, mapped as Mesos's memory isolator does
/// (`total_rss` is both rss and anon, `total_cache` both cache and file).
pub(super) fn parse_v1_memory_stat(
    buf: &[u8],
    out: &mut ResourceStatistics,
) -> Result<(), BadValue> {
    for_each_pair(
        buf,
        |key| {
            matches!(
                key,
                b"total_rss"
                    | b"total_cache"
                    | b"total_mapped_file"
                    | b"total_swap"
                    | b"total_unevictable"
                    | b"total_inactive_file"
            )
        },
        |key, value| match key {
            b"total_rss" => {
                out.mem_rss_bytes = Some(value);
                out.mem_anon_bytes = Some(value);
            }
            b"total_cache" => {
                out.mem_cache_bytes = Some(value);
                out.mem_file_bytes = Some(value);
            }
            b"total_mapped_file" => out.mem_mapped_file_bytes = Some(value),
            b"total_swap" => out.mem_swap_bytes = Some(value),
            b"total_inactive_file" => out.mem_inactive_file_bytes = Some(value),
            _ => out.mem_unevictable_bytes = Some(value),
        },
    )
}

/// v2 `memory.stat` (already hierarchical): `anon`, `file`, `file_mapped`, `unevictable`.
pub(super) fn parse_v2_memory_stat(
    buf: &[u8],
    out: &mut ResourceStatistics,
) -> Result<(), BadValue> {
    for_each_pair(
        buf,
        |key| {
            matches!(
                key,
                b"anon" | b"file" | b"file_mapped" | b"unevictable" | b"inactive_file"
            )
        },
        |key, value| match key {
            b"anon" => {
                out.mem_rss_bytes = Some(value);
                out.mem_anon_bytes = Some(value);
            }
            b"file" => {
                out.mem_cache_bytes = Some(value);
                out.mem_file_bytes = Some(value);
            }
            b"file_mapped" => out.mem_mapped_file_bytes = Some(value),
            b"inactive_file" => out.mem_inactive_file_bytes = Some(value),
            _ => out.mem_unevictable_bytes = Some(value),
        },
    )
}

/// Whether a v2 `cgroup.events` says `populated 1`.
pub(super) fn parse_populated(buf: &[u8]) -> Result<bool, BadValue> {
    let mut populated = None;
    for_each_pair(
        buf,
        |key| key == b"populated",
        |_, value| {
            populated = Some(value != 0);
        },
    )?;
    populated.ok_or(BadValue)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    #[test]
    fn test_parse_u64() {
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(parse_u64(b"67108864"), Some(67_108_864));
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"-1"), None);
        assert_eq!(parse_u64(b"12a"), None);
    }

    #[test]
    fn pairs_are_found_on_every_kind_of_line() {
        let mut seen = Vec::new();
        let text = b"a 1\n\nnospace\nb  22 \nskipped x\nc 3";
        for_each_pair(text, |k| k != b"skipped", |k, v| seen.push((k.to_vec(), v))).unwrap();
        assert_eq!(
            seen,
            [(b"a".to_vec(), 1), (b"b".to_vec(), 22), (b"c".to_vec(), 3)]
        );
        assert_eq!(for_each_pair(b"a \n", |_| true, |_, _| {}), Err(BadValue));
        assert_eq!(for_each_pair(b"a x\n", |_| true, |_, _| {}), Err(BadValue));
        assert_eq!(for_each_pair(b"", |_| true, |_, _| {}), Ok(()));
    }

    #[test]
    fn test_count_lines() {
        assert_eq!(count_lines(b""), 0);
        assert_eq!(count_lines(b"1\n"), 1);
        assert_eq!(count_lines(b"1\n22\n333\n"), 3);
    }

    #[test]
    fn test_cpuacct_stat_in_ticks() {
        let mut out = ResourceStatistics::default();
        parse_cpuacct_stat(b"user 7708\nsystem 5368\n", 100, &mut out).unwrap();
        assert_eq!(out.cpus_user_time_secs, Some(77.08));
        assert_eq!(out.cpus_system_time_secs, Some(53.68));
        assert!(parse_cpuacct_stat(b"user x\n", 100, &mut out).is_err());
    }

    #[test]
    fn test_v1_cpu_stat() {
        let mut out = ResourceStatistics::default();
        let text = b"nr_periods 769021\nnr_throttled 1046\nthrottled_time 352597023453\nnr_bursts 0\nburst_time 0\n";
        parse_v1_cpu_stat(text, &mut out).unwrap();
        assert_eq!(out.cpus_nr_periods, Some(769_021));
        assert_eq!(out.cpus_nr_throttled, Some(1046));
        assert_eq!(out.cpus_throttled_time_secs, Some(352.597023453));
    }

    #[test]
    fn test_v2_cpu_stat() {
        let mut out = ResourceStatistics::default();
        let text = b"usage_usec 128748130\nuser_usec 75893938\nsystem_usec 52854191\n\
                     nice_usec 0\nnr_periods 10\nnr_throttled 2\nthrottled_usec 1500000\n";
        parse_v2_cpu_stat(text, &mut out).unwrap();
        assert_eq!(out.cpus_user_time_secs, Some(75.893938));
        assert_eq!(out.cpus_system_time_secs, Some(52.854191));
        assert_eq!(out.cpus_nr_periods, Some(10));
        assert_eq!(out.cpus_nr_throttled, Some(2));
        assert_eq!(out.cpus_throttled_time_secs, Some(1.5));
    }

    #[test]
    fn test_v1_memory_stat_uses_total_keys() {
        let mut out = ResourceStatistics::default();
        let text = b"cache 9457664\nrss 7565312\nmapped_file 7487488\nswap 0\nunevictable 1\n\
                     total_cache 539385856\ntotal_rss 13574144\ntotal_rss_huge 0\n\
                     total_mapped_file 10964992\ntotal_swap 4096\ntotal_unevictable 15032320\n";
        parse_v1_memory_stat(text, &mut out).unwrap();
        assert_eq!(out.mem_cache_bytes, Some(539_385_856));
        assert_eq!(out.mem_file_bytes, Some(539_385_856));
        assert_eq!(out.mem_rss_bytes, Some(13_574_144));
        assert_eq!(out.mem_anon_bytes, Some(13_574_144));
        assert_eq!(out.mem_mapped_file_bytes, Some(10_964_992));
        assert_eq!(out.mem_swap_bytes, Some(4096));
        assert_eq!(out.mem_unevictable_bytes, Some(15_032_320));
    }

    #[test]
    fn test_v2_memory_stat() {
        let mut out = ResourceStatistics::default();
        let text = b"anon 4845449216\nfile 260165632\nkernel 1000\nfile_mapped 7159808\n\
                     file_dirty 0\nunevictable 12\nanon_thp 0\n";
        parse_v2_memory_stat(text, &mut out).unwrap();
        assert_eq!(out.mem_rss_bytes, Some(4_845_449_216));
        assert_eq!(out.mem_anon_bytes, Some(4_845_449_216));
        assert_eq!(out.mem_cache_bytes, Some(260_165_632));
        assert_eq!(out.mem_file_bytes, Some(260_165_632));
        assert_eq!(out.mem_mapped_file_bytes, Some(7_159_808));
        assert_eq!(out.mem_unevictable_bytes, Some(12));
        assert_eq!(out.mem_swap_bytes, None);
    }

    #[test]
    fn test_populated() {
        assert_eq!(parse_populated(b"populated 1\nfrozen 0\n"), Ok(true));
        assert_eq!(parse_populated(b"populated 0\nfrozen 1\n"), Ok(false));
        assert_eq!(parse_populated(b"frozen 0\n"), Err(BadValue));
    }
}
