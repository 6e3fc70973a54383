//! `faultline serve`: a small web server over the store directory — the way to look at the
//! "report" step's output (report.html, plots, histories) of every run in a browser.
//!
//! `/` lists the runs (every directory under the store holding a results.json) with their
//! verdicts; `/runs.json` is the same list as JSON; every other path is a file or directory
//! inside the store. No path may leave the store: a path with a `..`, `.` or empty segment
//! (also when percent-encoded), a backslash or a NUL is refused with 400, and a path whose
//! real location (after following symlinks) is outside the store is refused with 403. Binds
//! 127.0.0.1 unless told otherwise. Slow, greedy or oversized requests are bounded by
//! [`guard`] (header timeout, head size, no bodies, connection cap).

mod guard;
mod paths;

use crate::cli::ServeArgs;
use crate::report::html::escape;
use anyhow::Result;
use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use paths::safe_relative;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Runs `faultline serve` until interrupted. A store that is not a directory or an address
/// that cannot be bound is bad usage (exit 254).
pub fn run(args: ServeArgs) -> Result<u8> {
    let store = match args.store.canonicalize() {
        Ok(dir) if dir.is_dir() => dir,
        _ => {
            eprintln!(
                "faultline serve: --store {}: not a directory",
                args.store.display()
            );
            return Ok(crate::exit::BAD_INPUT);
        }
    };
    let runtime = crate::run::runtime()?;
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind((args.bind, args.port)).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!(
                    "faultline serve: cannot listen on {}:{}: {e}",
                    args.bind, args.port
                );
                return Ok(crate::exit::BAD_INPUT);
            }
        };
        let addr = listener.local_addr()?;
        crate::exit::print(
            format!(
                "faultline serve: http://{addr}/ (store {})\n",
                store.display()
            )
            .as_bytes(),
        )?;
        guard::serve(listener, router(store), async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
        Ok(crate::exit::VALID)
    })
}

/// The routes over the (canonical) store directory.
fn router(store: PathBuf) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/runs.json", get(runs_json))
        .fallback(get(file))
        .with_state(Arc::new(store))
}

/// One run found in the store.
struct RunEntry {
    /// Its directory relative to the store, with `/` separators.
    path: String,
    /// results.json's content.
    results: Value,
}

/// Every directory under the store (up to three levels, not following symlinks) holding a
/// results.json, newest path first.
fn runs(store: &Path) -> Vec<RunEntry> {
    let mut found = Vec::new();
    let mut stack = vec![(store.to_path_buf(), 0)];
    while let Some((dir, depth)) = stack.pop() {
        let results = dir.join("results.json");
        if results.is_file() {
            let value = std::fs::read(&results)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or(Value::Null);
            let rel = dir.strip_prefix(store).unwrap_or(&dir);
            found.push(RunEntry {
                path: rel.to_string_lossy().replace('\\', "/"),
                results: value,
            });
        }
        if depth >= 3 {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push((entry.path(), depth + 1));
            }
        }
    }
    found.sort_by(|a, b| b.path.cmp(&a.path));
    found
}

/// The verdict word of a results.json.
fn verdict(results: &Value) -> &'static str {
    match results.get("valid") {
        Some(Value::Bool(true)) => "valid",
        Some(Value::Bool(false)) => "invalid",
        Some(Value::String(s)) if s == "unknown" => "unknown",
        _ => "error",
    }
}

/// The checker named in a results.json.
fn checker(results: &Value) -> String {
    let first = results.pointer("/results/0");
    first
        .and_then(|r| r.get("model").or_else(|| r.get("workload")))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// `/`: the run list.
async fn index(State(store): State<Arc<PathBuf>>) -> Response {
    let mut page = String::from(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>faultline store</title>\
         <style>body{font:14px system-ui,sans-serif;margin:16px}td,th{padding:3px 10px;text-align:left}\
         .valid{color:#2e7d32}.invalid{color:#c62828}.unknown{color:#8d6e00}.error{color:#555}\
         tr:nth-child(even){background:#f4f4f4}</style></head><body><h1>faultline runs</h1>",
    );
    page.push_str(&format!(
        "<p>store: {}</p>",
        escape(&store.display().to_string())
    ));
    let list = runs(&store);
    if list.is_empty() {
        page.push_str("<p>No runs yet: <code>faultline run</code> or <code>faultline demo</code> writes them here.</p>");
    }
    page.push_str(
        "<table id=\"runs\"><tr><th>run</th><th>verdict</th><th>checker</th><th>files</th></tr>",
    );
    for run in &list {
        let v = verdict(&run.results);
        let href = |name: &str| format!("/{}/{name}", escape(&run.path));
        let mut files = String::new();
        for name in [
            "report.html",
            "latency.svg",
            "rate.svg",
            "history.jsonl",
            "results.json",
            "run.log",
        ] {
            if store.join(&run.path).join(name).is_file() {
                files.push_str(&format!("<a href=\"{}\">{name}</a> ", href(name)));
            }
        }
        page.push_str(&format!(
            "<tr class=\"run\"><td><a href=\"/{0}/\">{0}</a></td><td class=\"{v}\">{v}</td><td>{1}</td><td>{files}</td></tr>",
            escape(&run.path),
            escape(&checker(&run.results)),
        ));
    }
    page.push_str("</table></body></html>\n");
    html(page)
}

/// `/runs.json`: the run list as JSON.
async fn runs_json(State(store): State<Arc<PathBuf>>) -> Response {
    let list: Vec<Value> = runs(&store)
        .iter()
        .map(|r| json!({"path": r.path, "valid": r.results.get("valid"), "checker": checker(&r.results)}))
        .collect();
    (
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "runs": list }).to_string(),
    )
        .into_response()
}

/// Any other path: a file or directory listing inside the store.
async fn file(State(store): State<Arc<PathBuf>>, uri: Uri) -> Response {
    let relative = match safe_relative(uri.path()) {
        Ok(p) => p,
        Err(why) => return (StatusCode::BAD_REQUEST, format!("refused: {why}\n")).into_response(),
    };
    let Ok(real) = store.join(&relative).canonicalize() else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    if !real.starts_with(store.as_path()) {
        return (StatusCode::FORBIDDEN, "refused: outside the store\n").into_response();
    }
    if real.is_dir() {
        return listing(&store, &real);
    }
    match std::fs::read(&real) {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, content_type(&real)),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

/// A directory's entries as links.
fn listing(store: &Path, dir: &Path) -> Response {
    let rel = dir.strip_prefix(store).unwrap_or(Path::new(""));
    let base = rel.to_string_lossy().replace('\\', "/");
    let mut names: Vec<(String, bool)> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().to_string(),
                        e.path().is_dir(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut page = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{0}</title></head>\
         <body style=\"font:14px system-ui,sans-serif\"><h1>/{0}</h1><p><a href=\"/\">all runs</a></p><ul>",
        escape(&base)
    );
    for (name, is_dir) in names {
        let slash = if is_dir { "/" } else { "" };
        let href = if base.is_empty() {
            format!("/{name}{slash}")
        } else {
            format!("/{base}/{name}{slash}")
        };
        page.push_str(&format!(
            "<li><a href=\"{}\">{}{slash}</a></li>",
            escape(&href),
            escape(&name)
        ));
    }
    page.push_str("</ul></body></html>\n");
    html(page)
}

/// An HTML response.
fn html(page: String) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

/// The content type of a store file, by extension.
fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "json" => "application/json",
        "jsonl" | "log" | "txt" | "edn" | "dot" | "xml" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
