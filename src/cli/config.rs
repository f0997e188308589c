//! Settings of one run, independent of how they were given.

use crate::heap::RefcountMode;

/// Where the program text comes from.
#[derive(Debug, Clone)]
pub enum Source {
    File(String),
    /// `-c CODE`
    Code(String),
    /// `-`: standard input
    Stdin,
}

#[derive(Debug, Clone)]
pub struct RunConfig {
    pub source: Source,
    /// Arguments after the program, for `sys.argv[1:]`.
    pub args: Vec<String>,
    pub audit: bool,
    pub max_heap: u64,
    pub refcount: RefcountMode,
    /// `--gil on|off`
    pub gil: bool,
    /// `--switch-interval`, seconds
    pub switch_interval: f64,
    /// `--stats`: print the table to stderr at exit
    pub stats: bool,
    /// `--stats-json FILE`
    pub stats_json: Option<String>,
    /// `--timeline FILE.svg`, or `-` to draw it in the terminal
    pub timeline: Option<String>,
    /// `--trace-events FILE.json` (Chrome's Trace Event Format)
    pub trace_events: Option<String>,
    /// `--seed` and `--latency`: the simulated network
    pub seed: u64,
    pub latency: f64,
    /// `--on-corruption continue`: count simulated memory errors and raise
    /// MemoryCorruptionError instead of stopping with a crash report.
    pub continue_on_corruption: bool,
    /// `--max-threads N`: threads besides the main thread alive at once;
    /// starting one more raises RuntimeError. None: no cap but the OS's.
    pub max_threads: Option<usize>,
    /// `--no-loopback`: simulate loopback URLs instead of fetching them.
    pub no_loopback: bool,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            source: Source::Code(String::new()),
            args: vec![],
            audit: false,
            max_heap: 4 << 30,
            refcount: RefcountMode::Plain,
            gil: true,
            switch_interval: 0.005,
            stats: false,
            stats_json: None,
            timeline: None,
            trace_events: None,
            seed: 0,
            latency: 0.1,
            continue_on_corruption: false,
            max_threads: None,
            no_loopback: false,
        }
    }
}

/// "4G", "512M", "64k", "1000" (bytes) -> bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => {
            let unit = t[i..].to_ascii_lowercase();
            let m: u64 = match unit.trim_end_matches("ib").trim_end_matches('b') {
                "" => 1,
                "k" => 1 << 10,
                "m" => 1 << 20,
                "g" => 1 << 30,
                "t" => 1 << 40,
                _ => return Err(format!("unknown size unit in '{s}' (use k, M, G)")),
            };
            (&t[..i], m)
        }
        None => (t, 1),
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a size (examples: 512M, 4G)"))?;
    if !(n.is_finite() && n > 0.0) {
        return Err(format!("'{s}' must be a positive size"));
    }
    Ok((n * mult as f64).min(u64::MAX as f64) as u64)
}

/// "5ms", "100us", "1s", "0.005" (seconds) -> seconds.
pub fn parse_duration(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let split = t
        .char_indices()
        .find(|(_, c)| c.is_ascii_alphabetic() || *c == 'µ')
        .map(|(i, _)| i)
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (examples: 5ms, 100us, 1s)"))?;
    let mult = match unit {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "ns" => 1e-9,
        _ => {
            return Err(format!(
                "unknown unit '{unit}' in '{s}' (use s, ms, us, ns)"
            ))
        }
    };
    let v = n * mult;
    if !(v.is_finite() && v >= 0.0) {
        return Err(format!("'{s}' must be a non-negative duration"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("4G"), Ok(4 << 30));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("64kB"), Ok(64 << 10));
        assert!(parse_size("x").is_err());
        assert!(parse_size("-1G").is_err());
        assert_eq!(parse_duration("5ms"), Ok(0.005));
        assert!((parse_duration("100us").unwrap_or(0.0) - 1e-4).abs() < 1e-12);
        assert!(parse_duration("5 parsecs").is_err());
    }
}
