//! Memory and CPU of a process from `/proc` (Linux).

/// Clock ticks per second of `/proc/PID/stat` (USER_HZ, 100 on every Linux
/// architecture tern targets).
const TICKS_PER_SECOND: f64 = 100.0;

/// One reading of a process.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sample {
    /// Peak resident set (`VmHWM`), kB.
    pub hwm_kb: u64,
    /// Current resident set (`VmRSS`), kB.
    pub rss_kb: u64,
    /// User + system CPU, seconds.
    pub cpu_s: f64,
}

/// `pid` of `None` is this process.
pub fn sample(pid: Option<u32>) -> Result<Sample, String> {
    let dir = pid.map_or_else(|| "/proc/self".to_string(), |p| format!("/proc/{p}"));
    let status = std::fs::read_to_string(format!("{dir}/status")).map_err(|e| format!("{dir}/status: {e}"))?;
    let stat = std::fs::read_to_string(format!("{dir}/stat")).map_err(|e| format!("{dir}/stat: {e}"))?;
    Ok(Sample { hwm_kb: status_kb(&status, "VmHWM:"), rss_kb: status_kb(&status, "VmRSS:"), cpu_s: stat_cpu(&stat)? })
}

fn status_kb(status: &str, key: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// utime + stime: fields 14 and 15 of `stat`, counted after the `(comm)`
/// field, which may itself hold spaces and parentheses.
fn stat_cpu(stat: &str) -> Result<f64, String> {
    let after = stat.rfind(')').and_then(|i| stat.get(i + 1..)).ok_or("no ')' in stat")?;
    // After comm: state is field 3, so utime (14) is index 11 here.
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).ok_or(format!("stat field {}", i + 3));
    Ok((tick(11)? + tick(12)?) as f64 / TICKS_PER_SECOND)
}

/// The 1-, 5- and 15-minute load averages.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_a_command_with_spaces() {
        let stat = "42 (my (odd) cmd) S 1 42 42 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0 10 1000 50";
        assert_eq!(stat_cpu(stat), Ok(3.25));
    }

    #[test]
    fn this_process_has_memory() {
        let s = sample(None).expect("own /proc");
        assert!(s.hwm_kb > 0 && s.rss_kb > 0 && s.hwm_kb >= s.rss_kb);
    }
}
