//! Human output: aligned tables and readable sizes and durations.

use serde_json::Value;

/// Lays out `rows` under `headers` in left-aligned columns two spaces apart, one line each,
/// without trailing spaces.
pub fn format_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            let w = cell.chars().count();
            match widths.get_mut(i) {
                Some(width) => *width = (*width).max(w),
                None => widths.push(w),
            }
        }
    }
    let mut out = String::new();
    let header_row: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header_row).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            let pad = widths.get(i).copied().unwrap_or(0) - cell.chars().count();
            line.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Bytes in binary units with one decimal: `512B`, `1.5KiB`, `64.0MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes}B");
    }
    // Precision loss above 2^53 bytes does not matter for one decimal.
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1}{}", UNITS[unit])
}

/// A CPU share without needless zeros: `0.5`, `2`, `0.25`.
pub fn human_cpus(cpus: f64) -> String {
    let text = format!("{cpus:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The CPUS cell: the allocation (`cpus_soft_limit`, the cpus asked for), and the hard limit
/// (`cpus_limit`) only where one is set: Mesos reports the whole node there when there is none.
pub fn cpus_cell(stats: &Value, node_cpus: Option<f64>) -> String {
    let limit = stats["cpus_limit"].as_f64();
    let Some(alloc) = stats["cpus_soft_limit"].as_f64().or(limit) else {
        return "-".to_string();
    };
    match limit.filter(|l| node_cpus.is_some_and(|n| *l < n - 1e-9)) {
        Some(max) => format!("{} (max {})", human_cpus(alloc), human_cpus(max)),
        None => human_cpus(alloc),
    }
}

/// CPU time in seconds with two decimals: `0.12s`.
pub fn human_secs(secs: f64) -> String {
    format!("{secs:.2}s")
}

/// `-` for a missing value.
pub fn or_dash(v: Option<String>) -> String {
    v.unwrap_or_else(|| "-".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns_without_trailing_spaces() {
        let rows = vec![
            vec![
                "web-1".to_string(),
                "RUNNING".to_string(),
                "4242".to_string(),
            ],
            vec![
                "a-much-longer-id".to_string(),
                "-".to_string(),
                "7".to_string(),
            ],
        ];
        assert_eq!(
            format_table(&["ID", "STATE", "PID"], &rows),
            "ID                STATE    PID\n\
             web-1             RUNNING  4242\n\
             a-much-longer-id  -        7\n"
        );
        assert_eq!(format_table(&["ID", "STATE"], &[]), "ID  STATE\n");
    }

    #[test]
    fn sizes_are_binary_with_one_decimal() {
        assert_eq!(human_bytes(0), "0B");
        assert_eq!(human_bytes(1023), "1023B");
        assert_eq!(human_bytes(1536), "1.5KiB");
        assert_eq!(human_bytes(67_108_864), "64.0MiB");
        assert_eq!(human_bytes(1_843_200), "1.8MiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0GiB");
    }

    #[test]
    fn cpus_and_seconds() {
        assert_eq!(human_cpus(0.5), "0.5");
        assert_eq!(human_cpus(2.0), "2");
        assert_eq!(human_cpus(0.25), "0.25");
        assert_eq!(human_secs(0.123), "0.12s");
        assert_eq!(or_dash(None), "-");
    }
}
