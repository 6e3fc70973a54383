//! report.html as a browser shows it: each page is opened in headless Chromium (`--dump-dom`),
//! and the test reads the DOM the page's script produced — the counterexample's operations,
//! the nemesis fault windows, the operation bars. `scripts/test` installs Debian's `chromium`
//! and sets `FAULTLINE_REQUIRE_CHROMIUM=1`; without a browser (and without that variable)
//! these tests say so and pass.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn faultline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
}

fn fixture(name: &str) -> String {
    format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The browser, or `None` (after saying why) when there is none and none is required.
fn chromium() -> Option<PathBuf> {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
            let path = dir.join(name);
            if path.is_file() {
                return Some(path);
            }
        }
    }
    assert!(
        std::env::var_os("FAULTLINE_REQUIRE_CHROMIUM").is_none(),
        "FAULTLINE_REQUIRE_CHROMIUM is set but no chromium is installed"
    );
    eprintln!("skipped: no chromium on PATH (scripts/test installs it)");
    None
}

/// The DOM of `page` after its scripts ran, from headless Chromium (at most 90 s).
fn dump_dom(browser: &Path, page: &Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1400,900",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.canonicalize().unwrap().display()))
        .stdout(out.reopen().unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium failed: {status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::read_to_string(out.path()).unwrap()
}

/// The opening tags of the timeline's operation groups whose class list has `class`.
fn op_tags<'a>(dom: &'a str, class: &str) -> Vec<&'a str> {
    dom.split("<g ")
        .skip(1)
        .map(|rest| &rest[..rest.find('>').unwrap_or(rest.len())])
        .filter(|tag| {
            tag.split("class=\"")
                .nth(1)
                .and_then(|c| c.split('"').next())
                .is_some_and(|c| {
                    c.split(' ').next() == Some("op") && c.split(' ').any(|w| w == class)
                })
        })
        .collect()
}

/// `check --out DIR` on fixtures, returning DIR.
fn check_out(args: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let status = faultline()
        .arg("check")
        .args(args)
        .arg("--out")
        .arg(dir.path())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(
        status.code().is_some_and(|c| c <= 2),
        "check failed: {status}"
    );
    dir
}

#[test]
fn invalid_report_shows_the_counterexample_and_the_partition() {
    let Some(browser) = chromium() else { return };
    let dir = check_out(&["--model", "register", &fixture("register-stale-read.jsonl")]);
    let page = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    for external in ["<link", "src=\"http", "href=\"http", "@import", "url(http"] {
        assert!(
            !page.contains(external),
            "report.html is not self-contained: {external}"
        );
    }
    let dom = dump_dom(&browser, &dir.path().join("report.html"));
    assert!(dom.contains("INVALID"), "no verdict in the page");
    // The minimal failing sub-history is the three reads on lines 3, 8 and 10.
    let minimal = op_tags(&dom, "minimal");
    let mut lines: Vec<&str> = minimal
        .iter()
        .filter_map(|t| t.split("data-line=\"").nth(1)?.split('"').next())
        .collect();
    lines.sort();
    assert_eq!(lines, ["10", "3", "8"], "minimal ops drawn: {minimal:?}");
    assert_eq!(op_tags(&dom, "stuck").len(), 1, "the stuck read is marked");
    assert!(
        !op_tags(&dom, "lin").is_empty(),
        "the longest linearization is marked"
    );
    assert!(dom.contains("id=\"minimal\"") && dom.contains("id=\"longest-0\""));
    assert!(
        dom.contains("class=\"nemesis-window\" data-kind=\"partition\""),
        "the partition window is not shaded"
    );
}

#[test]
fn valid_report_shades_kill_and_pause_windows() {
    let Some(browser) = chromium() else { return };
    let dir = check_out(&[
        "--model",
        "cas-register",
        &fixture("cas-register-nemesis-valid.jsonl"),
    ]);
    let dom = dump_dom(&browser, &dir.path().join("report.html"));
    assert!(dom.contains("VALID"));
    assert!(dom.contains("class=\"nemesis-window\" data-kind=\"kill\""));
    assert!(dom.contains("class=\"nemesis-window\" data-kind=\"pause\""));
    assert_eq!(
        op_tags(&dom, "info").len(),
        1,
        "the timed-out cas is drawn as info"
    );
    assert_eq!(
        op_tags(&dom, "fail").len(),
        1,
        "the failed cas is drawn as fail"
    );
    assert!(
        op_tags(&dom, "minimal").is_empty(),
        "a valid history has no counterexample"
    );
    for plot in ["latency.svg", "rate.svg"] {
        let text = std::fs::read_to_string(dir.path().join(plot)).unwrap();
        roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{plot} is not XML: {e}"));
    }
}

#[test]
fn run_store_directory_report_draws_only_a_window_of_a_large_history() {
    let Some(browser) = chromium() else { return };
    let store = tempfile::tempdir().unwrap();
    let junit = store.path().join("junit.xml");
    let status = faultline()
        .args([
            "run",
            "--target",
            "local",
            "--time-limit",
            "1",
            "--ops",
            "5000",
            "--store",
        ])
        .arg(store.path())
        .arg("--junit")
        .arg(&junit)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let junit = std::fs::read_to_string(&junit).unwrap();
    let junit = roxmltree::Document::parse(&junit).expect("run --junit writes XML");
    assert_eq!(junit.root_element().attribute("tests"), Some("1"));
    assert_eq!(junit.root_element().attribute("failures"), Some("0"));
    let run = store.path().join("latest");
    for name in [
        "history.jsonl",
        "results.json",
        "report.html",
        "latency.svg",
        "rate.svg",
    ] {
        assert!(
            run.join(name).is_file(),
            "{name} missing from the store directory"
        );
    }
    let dom = dump_dom(&browser, &run.join("report.html"));
    assert!(dom.contains("VALID"));
    let drawn = op_tags(&dom, "ok").len() + op_tags(&dom, "fail").len();
    assert!(drawn > 0, "no operation drawn");
    assert!(
        drawn <= 3000,
        "{drawn} bars in the DOM: the page must draw only a window"
    );
}

#[test]
fn several_files_get_an_index_and_a_page_each() {
    let Some(browser) = chromium() else { return };
    let dir = check_out(&[
        "--model",
        "register",
        &fixture("register-valid.jsonl"),
        &fixture("register-stale-read.jsonl"),
    ]);
    let index = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(index.contains("report-2-register-stale-read.html"));
    let dom = dump_dom(
        &browser,
        &dir.path().join("report-2-register-stale-read.html"),
    );
    assert_eq!(op_tags(&dom, "minimal").len(), 3);
}

#[test]
fn transactional_cycle_is_drawn_with_its_labelled_edges() {
    let Some(browser) = chromium() else { return };
    let dir = check_out(&[
        "--workload",
        "list-append",
        "--consistency",
        "snapshot-isolation",
        &fixture("txn-list-append-g-single.jsonl"),
    ]);
    let dom = dump_dom(&browser, &dir.path().join("report.html"));
    assert!(dom.contains("INVALID"));
    assert!(dom.contains("id=\"cycle-0\""), "no cycle drawn");
    let labels: Vec<&str> = dom
        .split("class=\"edge-label\"")
        .skip(1)
        .filter_map(|rest| rest.split('>').nth(1)?.split('<').next())
        .collect();
    assert_eq!(labels, ["wr \"x\"", "wr \"y\"", "rw \"x\""], "edge labels");
    assert_eq!(
        op_tags(&dom, "minimal").len(),
        3,
        "the cycle's transactions are outlined"
    );
}

/// Issue 22: a two-transaction cycle was one straight line with both arrows and both labels on
/// top of each other (`rw "3"` over `wr "2"`), keys quoted although the history wrote integers.
#[test]
fn two_transaction_cycle_draws_each_edge_label_apart() {
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    // G-single (read skew): T2 sees T1's append to key 2 but not its append to key 3.
    let history = dir.path().join("g-single.jsonl");
    std::fs::write(
        &history,
        [
            r#"{"process":0,"type":"invoke","f":"txn","value":[["append",2,1],["append",3,1]]}"#,
            r#"{"process":1,"type":"invoke","f":"txn","value":[["r",2,null],["r",3,null]]}"#,
            r#"{"process":0,"type":"ok","f":"txn","value":[["append",2,1],["append",3,1]]}"#,
            r#"{"process":1,"type":"ok","f":"txn","value":[["r",2,[1]],["r",3,[]]]}"#,
            "",
        ]
        .join("\n"),
    )
    .unwrap();
    let out = check_out(&[
        "--workload",
        "list-append",
        "--consistency",
        "serializable",
        history.to_str().unwrap(),
    ]);
    // The page as shipped, plus a script run after the page's own that records where the
    // browser laid out each edge label.
    let page = std::fs::read_to_string(out.path().join("report.html")).unwrap();
    let measure = "<script>var boxes = [];\
        document.querySelectorAll('svg.cycle .edge-label').forEach(function (t) {\
        var b = t.getBoundingClientRect(); boxes.push([t.textContent, b.left, b.top, b.right, b.bottom]); });\
        document.body.setAttribute('data-label-boxes', JSON.stringify(boxes));</script></body>";
    assert!(page.contains("</body>"));
    let measured = out.path().join("measured.html");
    std::fs::write(&measured, page.replacen("</body>", measure, 1)).unwrap();
    let dom = dump_dom(&browser, &measured);
    let attr = dom
        .split("data-label-boxes=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the measuring script ran")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    let boxes: Vec<(String, f64, f64, f64, f64)> = serde_json::from_str(&attr).unwrap();
    assert_eq!(boxes.len(), 2, "one label per edge: {boxes:?}");
    let mut labels: Vec<&str> = boxes.iter().map(|b| b.0.as_str()).collect();
    labels.sort();
    // Integer keys as the history wrote them, without quotes.
    assert_eq!(labels, ["rw 3", "wr 2"], "{boxes:?}");
    let (a, b) = (&boxes[0], &boxes[1]);
    for x in [a, b] {
        assert!(x.3 > x.1 && x.4 > x.2, "label {x:?} has no size");
    }
    let overlap = a.1 < b.3 && b.1 < a.3 && a.2 < b.4 && b.2 < a.4;
    assert!(!overlap, "the edge labels overlap: {a:?} and {b:?}");
    // Two curves, not one line drawn twice.
    let paths = dom.matches("class=\"edge\"").count();
    assert_eq!(paths, 2, "two edges drawn");
    assert!(!dom.contains("<line class=\"edge\""), "edges are curves");
}
