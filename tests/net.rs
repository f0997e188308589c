//! The simulated network (src/concurrency/net.rs) and the CPython shims that mirror
//! it (shims/requests.py, shims/aiohttp.py): the model's properties, the shims'
//! numbers against net.rs's, a real loopback fetch, and the shims under CPython.

use gilsim::concurrency::net::{
    decode_cost_iterations, fetch_loopback, fnv1a64, get, host_of, http_error_message, is_loopback,
    parse_duration, parse_host_latency, simulate, splitmix64, validate, NetConfig, NetError,
};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

fn cfg(seed: u64) -> NetConfig {
    NetConfig {
        seed,
        ..NetConfig::default()
    }
}

/// 50 varied URLs: hosts, ports, paths, queries, statuses, a non-ASCII one.
fn urls() -> Vec<String> {
    let mut v: Vec<String> = (0..38)
        .map(|i| match i % 6 {
            0 => format!("https://example.com/page/{i}"),
            1 => format!("http://api.test:8080/v1/items?id={i}"),
            2 => format!("https://slow.example.org/{i}/index.html"),
            3 => format!("http://Example.COM/a/b/c#{i}"),
            4 => format!("https://host{i}.net"),
            _ => format!("http://cdn.test/static/{i}.css?x=/404"),
        })
        .collect();
    v.extend(
        [
            "http://example.com/404",
            "https://example.com/x/500/y",
            "http://example.com/404/and/500",
            "http://example.com/500?q=/404",
            "https://example.com/caf\u{e9}/\u{65e5}\u{672c}",
            "https://example.com/<script>&amp;",
            "HTTPS://EXAMPLE.COM/UPPER",
            "http://example.com",
            "http://example.com/",
            "http://127.0.0.1:9/simulated",
            "https://a.b.c.d.example.com/deep/path/with/many/segments/and/a/long/tail",
            "http://x/",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    assert_eq!(v.len(), 50);
    v
}

#[test]
fn reference_hashes() {
    // The first output of the reference SplitMix64 seeded with 0, and FNV-1a's
    // published test vectors.
    assert_eq!(splitmix64(0), 0xe220_a839_7b1d_cdaf);
    assert_eq!(splitmix64(0x9e37_79b9_7f4a_7c15), 0x6e78_9e6a_a1b9_65f4);
    assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
}

#[test]
fn deterministic_and_seed_dependent() {
    for url in urls() {
        let a = simulate(&cfg(7), &url).unwrap();
        let b = simulate(&cfg(7), &url).unwrap();
        assert_eq!(a, b, "{url}");
        assert_eq!(a.url, url);
    }
    let differing = urls()
        .iter()
        .filter(|u| {
            let a = simulate(&cfg(1), u).unwrap();
            let b = simulate(&cfg(2), u).unwrap();
            a.latency_s != b.latency_s || a.body != b.body
        })
        .count();
    assert!(
        differing >= 48,
        "seeds barely matter: {differing}/50 differ"
    );
}

#[test]
fn latency_follows_the_model() {
    for seed in [0, 1, u64::MAX] {
        for scale in [0.1, 0.02, 1.0, 0.0] {
            let c = NetConfig {
                seed,
                latency_s: scale,
                host_latency: vec![],
            };
            for url in urls() {
                let r = simulate(&c, &url).unwrap();
                let h = splitmix64(seed ^ fnv1a64(url.as_bytes()));
                let expected = scale * (0.5 + (h % 1000) as f64 / 1000.0);
                assert_eq!(r.latency_s.to_bits(), expected.to_bits(), "{url}");
                assert!(r.latency_s >= 0.5 * scale && (r.latency_s < 1.5 * scale || scale == 0.0));
            }
        }
    }
    // Over many URLs the latencies spread across the whole range.
    let lats: Vec<f64> = (0..2000)
        .map(|i| {
            simulate(&NetConfig::default(), &format!("http://h/{i}"))
                .unwrap()
                .latency_s
        })
        .collect();
    let min = lats.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = lats.iter().cloned().fold(0.0, f64::max);
    assert!((0.05..0.052).contains(&min), "min {min}");
    assert!((0.148..0.15).contains(&max), "max {max}");
}

#[test]
fn status_codes() {
    let c = NetConfig::default();
    let status = |u: &str| simulate(&c, u).unwrap().status;
    assert_eq!(status("http://example.com/"), 200);
    assert_eq!(status("http://example.com"), 200);
    assert_eq!(status("http://example.com/404"), 404);
    assert_eq!(status("http://example.com/a/4040"), 404);
    assert_eq!(status("http://example.com/500"), 500);
    assert_eq!(status("https://example.com/x/500/y"), 500);
    assert_eq!(status("http://example.com/404/500"), 404);
    assert_eq!(status("http://example.com/500/404"), 404);
    // Only the path counts: not the host, port, query or fragment.
    assert_eq!(status("http://404.example.com/ok"), 200);
    assert_eq!(status("http://example.com:404/ok"), 200);
    assert_eq!(status("http://example.com/ok?next=/404"), 200);
    assert_eq!(status("http://example.com/ok#/500"), 200);
    assert_eq!(status("http://example.com?/500"), 200);
}

#[test]
fn body_has_the_exact_length_and_shape() {
    for seed in [0, 3, 12345] {
        for url in urls() {
            let r = simulate(&cfg(seed), &url).unwrap();
            let h = splitmix64(seed ^ fnv1a64(url.as_bytes()));
            let n = 2000 + (splitmix64(h) % 8000) as usize;
            assert_eq!(r.body.len(), n, "{url}");
            assert!((2000..10000).contains(&r.body.len()));
            assert!(r.body.is_ascii(), "{url}");
            assert!(r.body.starts_with("<html><head><title>"), "{url}");
            assert!(r.body.ends_with("</body></html>"), "{url}");
            // The first line after the head is `<p>0 {splitmix64(splitmix64(h)):016x}</p>`.
            let first = format!("<p>0 {:016x}</p>\n", splitmix64(splitmix64(h)));
            assert!(r.body.contains(&first), "{url}");
            assert_eq!(decode_cost_iterations(r.body.len()), (n / 4) as u64);
        }
    }
    let r = simulate(&cfg(0), "https://example.com/<b>&caf\u{e9}").unwrap();
    assert!(r
        .body
        .starts_with("<html><head><title>https://example.com/?b??caf?</title></head><body><p>0 "));
    // A URL longer than the page still gives exactly the page's length.
    let long = format!("http://example.com/{}", "a".repeat(20_000));
    let r = simulate(&cfg(0), &long).unwrap();
    let h = splitmix64(fnv1a64(long.as_bytes()));
    assert_eq!(r.body.len(), 2000 + (splitmix64(h) % 8000) as usize);
    assert!(r.body.ends_with("aaaa</body></html>"));
    assert_eq!(decode_cost_iterations(0), 0);
    assert_eq!(decode_cost_iterations(7), 1);
    assert_eq!(decode_cost_iterations(9999), 2499);
}

#[test]
fn invalid_urls_give_requests_messages() {
    let c = NetConfig::default();
    let cases = [
        (
            "x",
            "MissingSchema",
            "Invalid URL 'x': No scheme supplied. Perhaps you meant https://x?",
        ),
        (
            "example.com/page",
            "MissingSchema",
            "Invalid URL 'example.com/page': No scheme supplied. Perhaps you meant https://example.com/page?",
        ),
        (
            "",
            "MissingSchema",
            "Invalid URL '': No scheme supplied. Perhaps you meant https://?",
        ),
        (
            "it's",
            "MissingSchema",
            "Invalid URL \"it's\": No scheme supplied. Perhaps you meant https://it's?",
        ),
        (
            "ftp://example.com/f",
            "InvalidSchema",
            "No connection adapters were found for 'ftp://example.com/f'",
        ),
        (
            "localhost:8000/x",
            "InvalidSchema",
            "No connection adapters were found for 'localhost:8000/x'",
        ),
        (
            "httpx://example.com",
            "InvalidSchema",
            "No connection adapters were found for 'httpx://example.com'",
        ),
        ("http://", "InvalidURL", "Invalid URL 'http://': No host supplied"),
        ("https:///path", "InvalidURL", "Invalid URL 'https:///path': No host supplied"),
        ("http://:80/", "InvalidURL", "Invalid URL 'http://:80/': No host supplied"),
        ("http:/example.com", "InvalidURL", "Invalid URL 'http:/example.com': No host supplied"),
    ];
    for (url, class, message) in cases {
        let err = simulate(&c, url).unwrap_err();
        assert_eq!(err, NetError::InvalidUrl(message.to_string()), "{url:?}");
        assert_eq!(err.to_string(), message);
        assert_eq!(err.requests_exception(), class, "{url:?}");
        assert_eq!(validate(url), Err(err.clone()));
        assert_eq!(host_of(url), Err(err));
        assert!(!is_loopback(url));
    }
    assert_eq!(NetError::Timeout.requests_exception(), "Timeout");
    assert_eq!(
        NetError::Connection("refused".into()).requests_exception(),
        "ConnectionError"
    );
}

#[test]
fn hosts_and_overrides() {
    assert_eq!(host_of("http://example.com/a"), Ok("example.com"));
    assert_eq!(host_of("https://Example.com:8443/a"), Ok("Example.com"));
    assert_eq!(host_of("http://h?q"), Ok("h"));
    assert_eq!(host_of("http://h#f"), Ok("h"));
    assert_eq!(host_of("HTTP://h"), Ok("h"));

    let c = NetConfig {
        seed: 5,
        latency_s: 0.1,
        host_latency: vec![
            ("slow.example.org".into(), 2.0),
            ("fast.test".into(), 0.001),
            ("FAST.test".into(), 0.004),
        ],
    };
    let base = NetConfig {
        host_latency: vec![],
        ..c.clone()
    };
    for url in urls() {
        let host = host_of(&url).unwrap().to_ascii_lowercase();
        let r = simulate(&c, &url).unwrap();
        let plain = simulate(&base, &url).unwrap();
        // Overrides change only the latency, by exactly the scale ratio.
        assert_eq!(r.body, plain.body);
        assert_eq!(r.status, plain.status);
        let ratio = if host == "slow.example.org" {
            20.0
        } else {
            1.0
        };
        assert!(
            (r.latency_s - plain.latency_s * ratio).abs() < 1e-12,
            "{url}"
        );
    }
    // Case-insensitive host match; the last matching entry wins; the port does not
    // matter.
    for url in ["http://fast.test/a", "https://FAST.TEST:99/a"] {
        let r = simulate(&c, url).unwrap();
        assert!(
            r.latency_s >= 0.002 && r.latency_s < 0.006,
            "{url}: {}",
            r.latency_s
        );
    }
    assert_eq!(c.scale_for("Slow.Example.Org"), 2.0);
    assert_eq!(c.scale_for("other"), 0.1);
}

#[test]
fn configuration_parsing() {
    assert_eq!(parse_duration("0.1"), Ok(0.1));
    assert_eq!(parse_duration("2s"), Ok(2.0));
    assert_eq!(parse_duration(" 100ms "), Ok(0.1));
    assert_eq!(parse_duration("20ms"), Ok(0.02));
    assert_eq!(parse_duration("50us"), Ok(50.0 / 1e6));
    assert_eq!(parse_duration("50\u{b5}s"), Ok(50.0 / 1e6));
    assert_eq!(parse_duration("7ns"), Ok(7.0 / 1e9));
    assert_eq!(parse_duration("0"), Ok(0.0));
    for bad in ["", "ms", "-1", "fast", "inf", "nan", "1h", "1_000"] {
        assert!(parse_duration(bad).is_err(), "{bad:?}");
    }
    assert_eq!(
        parse_host_latency("host=0.2, Other=50ms,,"),
        Ok(vec![("host".into(), 0.2), ("other".into(), 0.05)])
    );
    assert!(parse_host_latency("host").is_err());
    assert!(parse_host_latency("=1").is_err());
    assert!(parse_host_latency("h=slow").is_err());

    let c = NetConfig::from_vars(Some("42"), Some("20ms"), Some("a=1")).unwrap();
    assert_eq!(
        c,
        NetConfig {
            seed: 42,
            latency_s: 0.02,
            host_latency: vec![("a".into(), 1.0)]
        }
    );
    assert_eq!(
        NetConfig::from_vars(None, None, None).unwrap(),
        NetConfig::default()
    );
    assert_eq!(NetConfig::default().latency_s, 0.1);
    assert!(NetConfig::from_vars(Some("-1"), None, None).is_err());
    assert!(NetConfig::from_vars(None, Some("x"), None).is_err());
}

#[test]
fn loopback_detection_and_error_messages() {
    assert!(is_loopback("http://127.0.0.1:8000/"));
    assert!(is_loopback("http://localhost:8000/a?b"));
    assert!(is_loopback("HTTP://LocalHost:1"));
    assert!(is_loopback("http://127.0.0.1/"));
    assert!(!is_loopback("https://127.0.0.1:8000/"));
    assert!(!is_loopback("http://127.0.0.2:8000/"));
    assert!(!is_loopback("http://localhost.example.com/"));
    assert!(!is_loopback("http://example.com/localhost"));
    assert!(matches!(
        fetch_loopback("http://example.com/"),
        Err(NetError::InvalidUrl(_))
    ));
    assert!(matches!(
        fetch_loopback("http://127.0.0.1:99999/"),
        Err(NetError::InvalidUrl(_))
    ));
    assert_eq!(
        http_error_message(404, "http://e/404").as_deref(),
        Some("404 Client Error: Not Found for url: http://e/404")
    );
    assert_eq!(
        http_error_message(500, "http://e/500").as_deref(),
        Some("500 Server Error: Internal Server Error for url: http://e/500")
    );
    assert_eq!(http_error_message(200, "http://e/"), None);
}

// ---------------------------------------------------------------- loopback

/// A tiny HTTP server on 127.0.0.1:0 answering one connection per canned response
/// (within 10 s); the thread returns the request heads it read.
fn serve(responses: Vec<Vec<u8>>) -> (u16, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let handle = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut heads = Vec::new();
        for response in responses {
            let mut stream = loop {
                match listener.accept() {
                    Ok((s, _)) => break s,
                    Err(_) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(2))
                    }
                    Err(e) => panic!("no client connected: {e}"),
                }
            };
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match stream.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            heads.push(String::from_utf8_lossy(&head).into_owned());
            stream.write_all(&response).unwrap();
        }
        heads
    });
    (port, handle)
}

#[test]
fn loopback_fetch_over_a_real_socket() {
    let body = "hello from the loopback server\n";
    let responses = vec![
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n"
            .to_vec(),
        b"HTTP/1.0 404 Not Found\r\n\r\nno such page".to_vec(),
    ];
    let (port, server) = serve(responses);

    let url = format!("http://127.0.0.1:{port}/hello?x=1#frag");
    let r = fetch_loopback(&url).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, body);
    assert_eq!(r.url, url);
    assert!(r.latency_s >= 0.0 && r.latency_s < 10.0);

    let r = get(
        &NetConfig::default(),
        &format!("http://localhost:{port}/chunked"),
    )
    .unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "hello, world"));

    let r = fetch_loopback(&format!("http://127.0.0.1:{port}/missing")).unwrap();
    assert_eq!((r.status, r.body.as_str()), (404, "no such page"));

    let heads = server.join().unwrap();
    assert_eq!(heads.len(), 3);
    assert!(
        heads[0].starts_with("GET /hello?x=1 HTTP/1.1\r\n"),
        "{}",
        heads[0]
    );
    assert!(heads[0].contains(&format!("\r\nHost: 127.0.0.1:{port}\r\n")));
    assert!(heads[1].starts_with("GET /chunked HTTP/1.1\r\n"));
    assert!(heads[1].contains(&format!("\r\nHost: localhost:{port}\r\n")));
}

#[test]
fn loopback_connection_refused() {
    // A port that was free a moment ago: nothing listens there now.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = fetch_loopback(&format!("http://127.0.0.1:{port}/")).unwrap_err();
    assert!(matches!(err, NetError::Connection(_)), "{err:?}");
    assert_eq!(err.requests_exception(), "ConnectionError");
    assert!(err
        .to_string()
        .contains("HTTPConnectionPool(host='127.0.0.1'"));
}

// ---------------------------------------------------------------- CPython shims

fn shims() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("shims")
}

fn have_python() -> bool {
    let ok = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("note: python3 not found; skipping the CPython shim checks");
    }
    ok
}

/// Runs `python3 -c script` with shims/ on PYTHONPATH, the given environment and
/// `args`; returns stdout (panics with stderr on failure).
fn python(script: &str, env: &[(&str, &str)], args: &[&str]) -> String {
    let mut cmd = Command::new("python3");
    cmd.arg("-c")
        .arg(script)
        .args(args)
        .env("PYTHONPATH", shims())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("GILSIM_SEED")
        .env_remove("GILSIM_LATENCY")
        .env_remove("GILSIM_HOST_LATENCY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "python3 failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("gilsim-net-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn shims_say_they_mirror_net_rs() {
    for name in ["requests.py", "aiohttp.py"] {
        let text = std::fs::read_to_string(shims().join(name)).unwrap();
        let head: String = text.lines().take(3).collect::<Vec<_>>().join("\n");
        assert!(
            head.starts_with('#')
                && head.contains("mirrors src/concurrency/net.rs")
                && head.contains("in sync"),
            "{name} must open with a comment saying it mirrors net.rs:\n{head}"
        );
    }
}

const CROSS_CHECK: &str = r#"
import sys, requests
for url in open(sys.argv[1], encoding="utf-8").read().split("\n"):
    try:
        status, latency, body = requests._simulate(url)
    except requests.RequestException as e:
        print("ERR\t%s\t%s" % (type(e).__name__, e))
        continue
    print("%d\t%r\t%d\t%d\t%d" % (status, latency, len(body),
          requests._fnv1a64(body.encode("ascii")), requests._decode_cost_iterations(len(body))))
"#;

#[test]
fn shims_compute_the_same_numbers() {
    if !have_python() {
        return;
    }
    let mut all = urls();
    let invalid = [
        "x",
        "ftp://a/b",
        "http://",
        "http:/x",
        "localhost:1",
        "it's",
    ];
    all.extend(invalid.iter().map(|s| s.to_string()));
    let file = temp_file("urls.txt", &all.join("\n"));
    let file_arg = file.to_str().unwrap();
    let runs: [(u64, &str, &str, NetConfig); 3] = [
        (0, "", "", NetConfig::default()),
        (
            42,
            "20ms",
            "",
            NetConfig {
                seed: 42,
                latency_s: 0.02,
                host_latency: vec![],
            },
        ),
        (
            u64::MAX,
            "0.25",
            "slow.example.org=2s, api.test=50us",
            NetConfig {
                seed: u64::MAX,
                latency_s: 0.25,
                host_latency: vec![("slow.example.org".into(), 2.0), ("api.test".into(), 50e-6)],
            },
        ),
    ];
    for (seed, latency, hosts, c) in runs {
        let seed_text = seed.to_string();
        let mut env = vec![("GILSIM_SEED", seed_text.as_str())];
        if !latency.is_empty() {
            env.push(("GILSIM_LATENCY", latency));
        }
        if !hosts.is_empty() {
            env.push(("GILSIM_HOST_LATENCY", hosts));
        }
        let out = python(CROSS_CHECK, &env, &[file_arg]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), all.len(), "{out}");
        for (url, line) in all.iter().zip(lines) {
            let f: Vec<&str> = line.split('\t').collect();
            match simulate(&c, url) {
                Ok(r) => {
                    assert_eq!(f.len(), 5, "{url}: {line}");
                    assert_eq!(f[0], r.status.to_string(), "status of {url}");
                    let py_latency: f64 = f[1].parse().unwrap();
                    assert_eq!(
                        py_latency.to_bits(),
                        r.latency_s.to_bits(),
                        "latency of {url} (seed {seed}): python {py_latency}, rust {}",
                        r.latency_s
                    );
                    assert_eq!(f[2], r.body.len().to_string(), "body length of {url}");
                    assert_eq!(
                        f[3],
                        fnv1a64(r.body.as_bytes()).to_string(),
                        "body of {url}"
                    );
                    assert_eq!(
                        f[4],
                        decode_cost_iterations(r.body.len()).to_string(),
                        "decode cost of {url}"
                    );
                }
                Err(e) => {
                    assert_eq!(f, ["ERR", e.requests_exception(), &e.to_string()], "{url}");
                }
            }
        }
    }
    let _ = std::fs::remove_file(file);
}

const SHIM_PROGRAM: &str = r#"
import asyncio, sys, time
from concurrent.futures import ThreadPoolExecutor
import aiohttp, requests

urls = sys.argv[1:]

def fetch(url):
    with requests.Session() as session:
        with session.get(url) as res:
            res.raise_for_status()
            assert res.ok and res.status_code == 200 and res.url == url
            return len(res.text)

t0 = time.perf_counter()
with ThreadPoolExecutor(max_workers=len(urls)) as pool:
    lengths = list(pool.map(fetch, urls))
threads = time.perf_counter() - t0
print("threads", *lengths)

async def get(session, url):
    async with session.get(url) as res:
        assert res.status == 200
        return len(await res.text())

async def main():
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        return await asyncio.gather(*(get(session, u) for u in urls))

t0 = time.perf_counter()
lengths = asyncio.run(main())
elapsed = time.perf_counter() - t0
print("async", *lengths)
print("elapsed", repr(threads), repr(elapsed))

try:
    requests.get("http://example.com/404").raise_for_status()
except requests.exceptions.HTTPError as e:
    print("error", e)
"#;

#[test]
fn shims_run_threads_and_asyncio_under_cpython() {
    if !have_python() {
        return;
    }
    let urls: Vec<String> = (0..5)
        .map(|i| format!("https://example.com/item/{i}"))
        .collect();
    let c = NetConfig::from_vars(None, Some("20ms"), None).unwrap();
    let expected: Vec<String> = urls
        .iter()
        .map(|u| simulate(&c, u).unwrap().body.len().to_string())
        .collect();
    let max_latency = urls
        .iter()
        .map(|u| simulate(&c, u).unwrap().latency_s)
        .fold(0.0, f64::max);
    assert!(max_latency < 0.03);

    let args: Vec<&str> = urls.iter().map(String::as_str).collect();
    let out = python(SHIM_PROGRAM, &[("GILSIM_LATENCY", "20ms")], &args);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(lines[0], format!("threads {}", expected.join(" ")));
    assert_eq!(lines[1], format!("async {}", expected.join(" ")));
    let times: Vec<f64> = lines[2]
        .strip_prefix("elapsed ")
        .unwrap()
        .split(' ')
        .map(|t| t.parse().unwrap())
        .collect();
    // Each request sleeps its latency, so neither can be faster than the slowest;
    // and both overlap their waits, so neither takes anywhere near the sum.
    for t in &times {
        assert!(*t >= max_latency * 0.99, "{t} < {max_latency}");
    }
    assert!(
        times[1] < 10.0 * max_latency,
        "asyncio.gather took {}s for a max latency of {max_latency}s",
        times[1]
    );
    assert_eq!(
        lines[3],
        "error 404 Client Error: Not Found for url: http://example.com/404"
    );
}

#[test]
fn requests_shim_fetches_loopback_for_real() {
    if !have_python() {
        return;
    }
    let responses = vec![
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello".to_vec(),
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\nConnection: close\r\n\r\ngone".to_vec(),
    ];
    let (port, server) = serve(responses);
    let script = r#"
import asyncio, sys, requests, aiohttp
r = requests.get(sys.argv[1])
print(r.status_code, r.text)
async def main():
    async with aiohttp.ClientSession() as s:
        async with s.get(sys.argv[2]) as res:
            print(res.status, await res.text())
asyncio.run(main())
"#;
    let a = format!("http://127.0.0.1:{port}/a");
    let b = format!("http://localhost:{port}/b");
    let out = python(script, &[], &[&a, &b]);
    assert_eq!(out, "200 hello\n404 gone\n");
    let heads = server.join().unwrap();
    assert!(heads[0].starts_with("GET /a HTTP/1.1\r\n"), "{}", heads[0]);
    assert!(heads[1].starts_with("GET /b HTTP/1.1\r\n"), "{}", heads[1]);
}

/// `--no-loopback` (what `gilsim serve` passes to every run): a program's GET of
/// a loopback URL is simulated and never connects; without it the same GET
/// reaches the real server.
#[test]
fn no_loopback_keeps_programs_off_the_machines_own_services() {
    let program = |port: u16| {
        format!(
            "import requests\nr = requests.get('http://127.0.0.1:{port}/secret')\nprint(r.status_code, 'real body' in r.text)\n"
        )
    };
    let run = |args: &[&str], src: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_gilsim"))
            .arg("run")
            .args(args)
            .args(["-c", src])
            .output()
            .expect("gilsim runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let out = run(&["--no-loopback", "--latency", "1ms"], &program(port));
    assert_eq!(out.trim(), "200 False", "a simulated answer");
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the program connected to the loopback server: {other:?}"),
    }
    drop(listener);

    let body = "real body";
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (port, server) = serve(vec![response.into_bytes()]);
    let out = run(&[], &program(port));
    assert_eq!(out.trim(), "200 True", "the real server's answer");
    assert_eq!(server.join().unwrap().len(), 1);
}
