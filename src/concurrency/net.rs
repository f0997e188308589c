//! The simulated network: what `requests.get(url)` and aiohttp's `session.get(url)`
//! return inside gilsim, computed from the URL alone so that every run (and every
//! thread interleaving) sees the same pages after the same delays.
//!
//! Nothing here knows about the VM. The VM asks [`simulate`] (or, for loopback URLs,
//! [`fetch_loopback`]) for a response, waits `latency_s` *without* the GIL (a
//! blocking `requests.get` in a thread, or a timer on the event loop), and charges
//! [`decode_cost_iterations`] of CPU work *under* the GIL when the program reads
//! `.text`. So I/O overlaps across threads while decoding contends for the lock, as
//! in CPython.
//!
//! # The model
//!
//! The Python shims `shims/requests.py` and `shims/aiohttp.py` compute exactly the
//! same numbers so the same Toy program can be timed under CPython; any change here
//! must be made there too (`tests/net.rs` cross-checks them). All arithmetic is on
//! unsigned 64-bit integers with wrap-around (in Python: masked with `2**64 - 1`).
//!
//! - `fnv1a64(bytes)`: FNV-1a, offset basis `0xcbf29ce484222325`, prime
//!   `0x100000001b3`; for each byte `h = (h ^ byte) * prime`.
//! - `splitmix64(x)`: `z = x + 0x9e3779b97f4a7c15; z = (z ^ (z >> 30)) *
//!   0xbf58476d1ce4e5b9; z = (z ^ (z >> 27)) * 0x94d049bb133111eb; z ^ (z >> 31)`.
//! - `h = splitmix64(seed ^ fnv1a64(url as UTF-8))`.
//! - `latency = scale * (0.5 + (h % 1000) / 1000.0)` seconds (IEEE doubles, in that
//!   order), i.e. in `[0.5, 1.5) × scale`, where `scale` is the per-host override
//!   for the URL's host if there is one (the last matching entry wins), else
//!   `latency_s` (default 0.1 s).
//! - `status = 404` if the URL's path contains `"/404"`, else `500` if it contains
//!   `"/500"`, else `200`. The path is the part of the URL after the host and
//!   port that starts at the first `/`, up to (not including) any `?` or `#`.
//! - `body`: an ASCII HTML page of exactly `n = 2000 + splitmix64(h) % 8000` bytes:
//!   `s = splitmix64(h)`; the text `<html><head><title>{title}</title></head><body>`
//!   followed by lines `<p>{i} {s:016x}</p>\n` for `i = 0, 1, ...`, where before each
//!   line `s = splitmix64(s)`, generated until the text is at least `n - 14` bytes
//!   long, truncated to exactly `n - 14` bytes, then `</body></html>` (14 bytes).
//!   `{title}` is the URL with every character outside printable ASCII (`' '` to
//!   `'~'`) and every `<`, `>`, `&` replaced by `?`.
//! - Reading `.text` costs `len(body) // 4` simple loop iterations of CPU work (see
//!   [`decode_cost_iterations`]).
//!
//! # URLs
//!
//! A URL must start with `http://` or `https://` (any case) and have a non-empty
//! host; the host is the text after `://` up to the first `/`, `:`, `?` or `#`,
//! compared with host overrides case-insensitively. Otherwise [`NetError::InvalidUrl`]
//! carries the message requests would give:
//!
//! - a `:` in the URL and it does not start with `http` (`ftp://x`, `localhost:80`),
//!   or any other `scheme://`: `No connection adapters were found for 'URL'`
//!   (requests' `InvalidSchema`);
//! - `http:` / `https:` not followed by `//`, or an empty host:
//!   `Invalid URL 'URL': No host supplied` (`InvalidURL`);
//! - anything else: `Invalid URL 'URL': No scheme supplied. Perhaps you meant
//!   https://URL?` (`MissingSchema`).
//!
//! `'URL'` is Python's `repr` of the string. [`NetError::requests_exception`] names
//! the requests exception class for each error.
//!
//! # Configuration
//!
//! [`NetConfig::from_env`] reads the same environment variables as the shims:
//! `GILSIM_SEED` (decimal u64, default 0), `GILSIM_LATENCY` (a duration, default
//! `0.1`) and `GILSIM_HOST_LATENCY` (`host=duration,other=duration`). A duration is
//! a number of seconds, optionally followed by `s`, `ms`, `us` (or `µs`) or `ns`
//! (then divided by 1, 1000.0, 1e6 or 1e9).
//!
//! # Loopback
//!
//! `http://127.0.0.1:PORT/...` and `http://localhost:PORT/...` ([`is_loopback`]) can
//! be fetched for real with [`fetch_loopback`]: an HTTP/1.1 GET through the `ureq`
//! client with 10 s connect, read and write timeouts, so examples can talk to a
//! local server. No other host is ever contacted.

use std::fmt;
use std::fmt::Write as _;
use std::io::Read;
use std::time::{Duration, Instant};

/// The default latency scale, in seconds.
pub const DEFAULT_LATENCY_S: f64 = 0.1;

/// Connect, read and write timeout of [`fetch_loopback`].
pub const LOOPBACK_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest loopback response body accepted (bytes).
pub const LOOPBACK_MAX_BODY: usize = 64 << 20;

const BODY_SUFFIX: &str = "</body></html>";

/// How the simulated network behaves. The same config and URL always give the same
/// response.
#[derive(Debug, Clone, PartialEq)]
pub struct NetConfig {
    /// Mixed into every URL's hash: a different seed gives different latencies and
    /// pages.
    pub seed: u64,
    /// The latency scale in seconds: latencies fall in `[0.5, 1.5) × latency_s`.
    pub latency_s: f64,
    /// Per-host scale overrides `(host, seconds)`; hosts compare case-insensitively
    /// and the last matching entry wins.
    pub host_latency: Vec<(String, f64)>,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            seed: 0,
            latency_s: DEFAULT_LATENCY_S,
            host_latency: Vec::new(),
        }
    }
}

impl NetConfig {
    /// The latency scale for `host`: its override if any, else `latency_s`.
    pub fn scale_for(&self, host: &str) -> f64 {
        self.host_latency
            .iter()
            .rev()
            .find(|(h, _)| h.eq_ignore_ascii_case(host))
            .map_or(self.latency_s, |&(_, s)| s)
    }

    /// Builds a config from the shims' environment variables (`GILSIM_SEED`,
    /// `GILSIM_LATENCY`, `GILSIM_HOST_LATENCY`); unset or empty ones keep their
    /// defaults.
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Self::from_vars(
            var("GILSIM_SEED").as_deref(),
            var("GILSIM_LATENCY").as_deref(),
            var("GILSIM_HOST_LATENCY").as_deref(),
        )
    }

    /// Builds a config from the values of the three variables (see [`from_env`](Self::from_env)).
    pub fn from_vars(
        seed: Option<&str>,
        latency: Option<&str>,
        host_latency: Option<&str>,
    ) -> Result<Self, String> {
        let mut cfg = NetConfig::default();
        if let Some(s) = seed {
            cfg.seed = s
                .trim()
                .parse::<u64>()
                .map_err(|_| format!("GILSIM_SEED: expected an integer in 0..2**64, got {s:?}"))?;
        }
        if let Some(l) = latency {
            cfg.latency_s = parse_duration(l).map_err(|e| format!("GILSIM_LATENCY: {e}"))?;
        }
        if let Some(h) = host_latency {
            cfg.host_latency =
                parse_host_latency(h).map_err(|e| format!("GILSIM_HOST_LATENCY: {e}"))?;
        }
        Ok(cfg)
    }
}

/// Parses a duration in seconds: `0.1`, `2s`, `100ms`, `50us`, `50µs`, `10ns`.
/// Must be finite and not negative.
pub fn parse_duration(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let units: [(&str, f64); 5] = [
        ("ns", 1e9),
        ("us", 1e6),
        ("µs", 1e6),
        ("ms", 1000.0),
        ("s", 1.0),
    ];
    let (num, div) = units
        .iter()
        .find_map(|&(suffix, div)| t.strip_suffix(suffix).map(|n| (n.trim(), div)))
        .unwrap_or((t, 1.0));
    let ok = !num.is_empty()
        && num
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    let value = if ok { num.parse::<f64>().ok() } else { None };
    match value {
        Some(v) if v.is_finite() && v >= 0.0 => Ok(v / div),
        _ => Err(format!(
            "invalid duration {text:?} (expected seconds like 0.1, 100ms, 50us)"
        )),
    }
}

/// Parses per-host overrides: `host=duration,other=duration` (spaces allowed,
/// empty items ignored, hosts lower-cased).
pub fn parse_host_latency(text: &str) -> Result<Vec<(String, f64)>, String> {
    let mut out = Vec::new();
    for item in text.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let Some((host, dur)) = item.split_once('=') else {
            return Err(format!("expected host=duration, got {item:?}"));
        };
        let host = host.trim();
        if host.is_empty() {
            return Err(format!("empty host in {item:?}"));
        }
        out.push((host.to_ascii_lowercase(), parse_duration(dur)?));
    }
    Ok(out)
}

/// One response.
#[derive(Debug, Clone, PartialEq)]
pub struct SimResponse {
    pub url: String,
    pub status: u16,
    pub body: String,
    /// Seconds: the simulated delay, or the measured one for a loopback fetch.
    pub latency_s: f64,
}

/// Why a GET failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetError {
    /// The URL is malformed; the message is the one requests gives (see
    /// [`NetError::requests_exception`] for the class).
    InvalidUrl(String),
    /// A loopback connection failed (refused, reset, malformed response).
    Connection(String),
    /// A loopback connect or read took longer than [`LOOPBACK_TIMEOUT`].
    Timeout,
}

impl NetError {
    /// The name of the requests exception class for this error: `MissingSchema`,
    /// `InvalidSchema`, `InvalidURL`, `ConnectionError` or `Timeout` (all subclasses
    /// of `requests.exceptions.RequestException`).
    pub fn requests_exception(&self) -> &'static str {
        match self {
            NetError::InvalidUrl(m) if m.contains("No scheme supplied") => "MissingSchema",
            NetError::InvalidUrl(m) if m.starts_with("No connection adapters") => "InvalidSchema",
            NetError::InvalidUrl(_) => "InvalidURL",
            NetError::Connection(_) => "ConnectionError",
            NetError::Timeout => "Timeout",
        }
    }
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetError::InvalidUrl(m) | NetError::Connection(m) => f.write_str(m),
            NetError::Timeout => f.write_str("Read timed out."),
        }
    }
}

impl std::error::Error for NetError {}

/// SplitMix64's output function (one step from state `x`).
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// 64-bit FNV-1a.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The CPU work (simple loop iterations, run under the GIL) that reading a
/// response's `.text` costs: `body_len / 4`. It stands for CPython decoding the
/// bytes, so threads that fetch in parallel still contend for the lock when they
/// read what they fetched. The shims run a loop of exactly this many iterations.
pub fn decode_cost_iterations(body_len: usize) -> u64 {
    body_len as u64 / 4
}

/// Python's `repr` of a str (enough for messages: quotes, backslashes, controls).
fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// A checked URL's parts.
struct Parts<'a> {
    host: &'a str,
    /// After the host: `:port`, path, query, fragment (possibly empty).
    rest: &'a str,
    https: bool,
}

fn parse(url: &str) -> Result<Parts<'_>, NetError> {
    let lower = url.to_ascii_lowercase();
    let no_host =
        || NetError::InvalidUrl(format!("Invalid URL {}: No host supplied", py_repr(url)));
    let (after, https) = if lower.starts_with("http://") {
        (&url[7..], false)
    } else if lower.starts_with("https://") {
        (&url[8..], true)
    } else if (url.contains(':') && !lower.starts_with("http")) || url.contains("://") {
        return Err(NetError::InvalidUrl(format!(
            "No connection adapters were found for {}",
            py_repr(url)
        )));
    } else if lower.starts_with("http:") || lower.starts_with("https:") {
        return Err(no_host());
    } else {
        return Err(NetError::InvalidUrl(format!(
            "Invalid URL {}: No scheme supplied. Perhaps you meant https://{url}?",
            py_repr(url)
        )));
    };
    let end = after.find(['/', ':', '?', '#']).unwrap_or(after.len());
    let host = &after[..end];
    if host.is_empty() {
        return Err(no_host());
    }
    Ok(Parts {
        host,
        rest: &after[end..],
        https,
    })
}

/// The URL's host (see the module docs), or the error requests would raise.
pub fn host_of(url: &str) -> Result<&str, NetError> {
    parse(url).map(|p| p.host)
}

/// Checks a URL as [`simulate`] does, without computing a response.
pub fn validate(url: &str) -> Result<(), NetError> {
    parse(url).map(|_| ())
}

/// The path (from the first `/` after the host, up to `?` or `#`).
fn path_of(rest: &str) -> &str {
    let rest = &rest[..rest.find(['?', '#']).unwrap_or(rest.len())];
    rest.find('/').map_or("", |i| &rest[i..])
}

/// The status the model gives a path.
fn status_for(path: &str) -> u16 {
    if path.contains("/404") {
        404
    } else if path.contains("/500") {
        500
    } else {
        200
    }
}

/// The page for `url` whose hash is `h` (see the module docs).
fn body_for(url: &str, h: u64) -> String {
    let mut s = splitmix64(h);
    let len = 2000 + (s % 8000) as usize;
    let keep = len - BODY_SUFFIX.len();
    let mut out = String::with_capacity(len + 64);
    out.push_str("<html><head><title>");
    out.extend(url.chars().map(|c| {
        if (' '..='~').contains(&c) && !matches!(c, '<' | '>' | '&') {
            c
        } else {
            '?'
        }
    }));
    out.push_str("</title></head><body>");
    let mut i = 0u64;
    while out.len() < keep {
        s = splitmix64(s);
        let _ = writeln!(out, "<p>{i} {s:016x}</p>");
        i += 1;
    }
    out.truncate(keep);
    out.push_str(BODY_SUFFIX);
    out
}

/// The simulated response to `GET url`. Deterministic: the same `(cfg, url)` always
/// gives the same response. Never touches the network.
pub fn simulate(cfg: &NetConfig, url: &str) -> Result<SimResponse, NetError> {
    let parts = parse(url)?;
    let h = splitmix64(cfg.seed ^ fnv1a64(url.as_bytes()));
    let scale = cfg.scale_for(parts.host);
    let latency_s = scale * (0.5 + (h % 1000) as f64 / 1000.0);
    Ok(SimResponse {
        url: url.to_string(),
        status: status_for(path_of(parts.rest)),
        body: body_for(url, h),
        latency_s,
    })
}

/// Whether `url` is `http://127.0.0.1[:PORT]/...` or `http://localhost[:PORT]/...`
/// (scheme and host in any case), which [`fetch_loopback`] fetches for real.
pub fn is_loopback(url: &str) -> bool {
    match parse(url) {
        Ok(p) => !p.https && (p.host == "127.0.0.1" || p.host.eq_ignore_ascii_case("localhost")),
        Err(_) => false,
    }
}

/// A loopback URL if [`is_loopback`], else [`simulate`]: what a GET in gilsim does.
pub fn get(cfg: &NetConfig, url: &str) -> Result<SimResponse, NetError> {
    if is_loopback(url) {
        fetch_loopback(url)
    } else {
        simulate(cfg, url)
    }
}

fn io_err(host: &str, port: u16, e: std::io::Error) -> NetError {
    use std::io::ErrorKind::{TimedOut, WouldBlock};
    match e.kind() {
        TimedOut | WouldBlock => NetError::Timeout,
        _ => NetError::Connection(format!(
            "HTTPConnectionPool(host={}, port={port}): {e}",
            py_repr(host)
        )),
    }
}

/// The reason phrase of common statuses (as requests reports them).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// The message of the `HTTPError` that requests' `raise_for_status()` raises, or
/// `None` for a status below 400: `404 Client Error: Not Found for url: URL`.
pub fn http_error_message(status: u16, url: &str) -> Option<String> {
    let kind = match status {
        400..=499 => "Client",
        500..=599 => "Server",
        _ => return None,
    };
    Some(format!(
        "{status} {kind} Error: {} for url: {url}",
        reason_phrase(status)
    ))
}

/// A real `GET` of a loopback URL (see [`is_loopback`]; anything else is an
/// `InvalidUrl` error) over a plain HTTP/1.1 connection to 127.0.0.1, with
/// [`LOOPBACK_TIMEOUT`] for connecting, writing and each read. Understands
/// `Content-Length`, chunked transfer encoding and read-to-close bodies; the body
/// is decoded as UTF-8 (invalid bytes become U+FFFD). `latency_s` is the measured
/// time from connecting to the end of the body.
pub fn fetch_loopback(url: &str) -> Result<SimResponse, NetError> {
    let parts = parse(url)?;
    if !is_loopback(url) {
        return Err(NetError::InvalidUrl(format!(
            "Not a loopback URL: {} (only http://127.0.0.1 and http://localhost are fetched for real)",
            py_repr(url)
        )));
    }
    let host = parts.host;
    let rest = parts.rest;
    let rest = &rest[..rest.find('#').unwrap_or(rest.len())];
    let (port_text, target) = match rest.strip_prefix(':') {
        Some(r) => {
            let end = r.find(['/', '?']).unwrap_or(r.len());
            (Some(&r[..end]), &r[end..])
        }
        None => (None, rest),
    };
    let port = match port_text {
        None | Some("") => 80,
        Some(p) => p.parse::<u16>().map_err(|_| {
            NetError::InvalidUrl(format!(
                "Failed to parse: {}: invalid port {}",
                py_repr(url),
                py_repr(p)
            ))
        })?,
    };
    let target = if target.starts_with('/') {
        target.to_string()
    } else {
        format!("/{target}")
    };

    // The request itself goes through ureq (a small blocking HTTP client); we
    // always connect to 127.0.0.1, whatever loopback name the URL used.
    let start = Instant::now();
    let real_url = format!("http://127.0.0.1:{port}{target}");
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(LOOPBACK_TIMEOUT)
        .timeout_read(LOOPBACK_TIMEOUT)
        .timeout_write(LOOPBACK_TIMEOUT)
        .redirects(0)
        .build();
    let host_header = match port_text {
        Some(p) if !p.is_empty() => format!("{host}:{p}"),
        _ => host.to_string(),
    };
    let request = agent
        .get(&real_url)
        .set("Host", &host_header)
        .set("User-Agent", "gilsim");
    let response = match request.call() {
        Ok(r) => r,
        // 4xx and 5xx are responses too (requests does not raise for them)
        Err(ureq::Error::Status(_, r)) => r,
        Err(ureq::Error::Transport(t)) => {
            let e = match t.kind() {
                ureq::ErrorKind::Io => {
                    std::io::Error::new(std::io::ErrorKind::ConnectionRefused, t.to_string())
                }
                _ => std::io::Error::other(t.to_string()),
            };
            let timed_out = t.to_string().to_ascii_lowercase().contains("timed out");
            return Err(if timed_out {
                NetError::Timeout
            } else {
                io_err(host, port, e)
            });
        }
    };
    let status = response.status();
    let mut body = Vec::new();
    response
        .into_reader()
        .take(LOOPBACK_MAX_BODY as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| io_err(host, port, e))?;
    if body.len() > LOOPBACK_MAX_BODY {
        return Err(NetError::Connection(format!(
            "HTTPConnectionPool(host={}, port={port}): malformed response: body too large",
            py_repr(host)
        )));
    }
    Ok(SimResponse {
        url: url.to_string(),
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
        latency_s: start.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_values() {
        // SplitMix64 from state 0 (the reference generator's first output).
        assert_eq!(splitmix64(0), 0xe220_a839_7b1d_cdaf);
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
