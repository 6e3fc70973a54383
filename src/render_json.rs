//! The machine-readable report of `check --format json` and of `--out DIR/results.json`.
//!
//! One JSON object per file (printed one per line). The field names are part of the
//! command-line contract (`docs/cli.md`); `format_version` changes if they ever do.
//!
//! A checked file:
//! `{"format_version":1,"file":…,"valid":true|false|"unknown","model":…,"input_format":…,
//! "ops":…,"partitions":…,"states":…,"millis":…,"unknown_reason":…|null,"counterexample":{…}|null}`
//!
//! A file checked by a workload checker:
//! `{"format_version":1,"file":…,"valid":…,"workload":…,"input_format":…,"ops":…,"millis":…,
//! "unknown_reason":…,"anomalies":[…],"explanation":[…],"details":{…}}`.
//!
//! Either shape has `"nothing_succeeded":{"no_ok_at_all":…,"attempts":…,"kinds":[{"f":…,
//! "attempts":…,"fail":…,"info":…}],"errors":[{"error":…,"count":…}]}` when the verdict is
//! unknown because no client operation, or none of some kind, ever succeeded.
//!
//! A file that could not be read: `{"format_version":1,"file":…,"valid":null,
//! "error":{"line":…|null,"message":…}}`.

use checkers::history::Format;
use checkers::{CheckerKind, InputError, Report};
use serde_json::{json, Value};

/// The version of the JSON report's shape.
pub const FORMAT_VERSION: u64 = 1;

/// The report of one checked file, in the shape of its checker's kind (see above).
pub fn report(file: &str, format: Format, report: &Report) -> Value {
    let mut value = report_value(file, format, report);
    // Present only when the verdict is unknown because nothing (of some kind) succeeded.
    if let (Some(why), Some(obj)) = (&report.nothing_succeeded, value.as_object_mut()) {
        obj.insert(
            "nothing_succeeded".to_string(),
            serde_json::to_value(why).unwrap_or(Value::Null),
        );
    }
    value
}

fn report_value(file: &str, format: Format, report: &Report) -> Value {
    let millis = (report.stats.millis * 1000.0).round() / 1000.0;
    match report.kind {
        CheckerKind::Model => {
            let counterexample = match &report.counterexample {
                Some(c) => serde_json::to_value(c).unwrap_or(Value::Null),
                None => Value::Null,
            };
            let mut v = json!({
                "format_version": FORMAT_VERSION,
                "file": file,
                "valid": report.valid.to_json(),
                "model": report.checker,
                "input_format": format.name(),
                "ops": report.stats.ops,
                "partitions": report.stats.partitions,
                "states": report.stats.states,
                "millis": millis,
                "unknown_reason": report.unknown_reason,
                "counterexample": counterexample,
            });
            // Only when the keys came from Jepsen's independent [key value] tuples.
            if report.stats.tuples {
                v["independent_tuples"] = Value::Bool(true);
            }
            v
        }
        CheckerKind::Workload => json!({
            "format_version": FORMAT_VERSION,
            "file": file,
            "valid": report.valid.to_json(),
            "workload": report.checker,
            "input_format": format.name(),
            "ops": report.stats.ops,
            "millis": millis,
            "unknown_reason": report.unknown_reason,
            "anomalies": report.anomalies,
            "explanation": report.explanation,
            "details": report.details,
        }),
    }
}

/// The report of a file with bad input (exit 254). `line` is null when the problem is not tied
/// to one line (an unreadable file).
pub fn input_error(file: &str, error: &InputError) -> Value {
    json!({
        "format_version": FORMAT_VERSION,
        "file": file,
        "valid": Value::Null,
        "error": {
            "line": if error.line > 0 { Value::from(error.line) } else { Value::Null },
            "message": error.message,
        },
    })
}

/// The content of `results.json` in `--out DIR`: the overall verdict and every file's report.
pub fn results_file(exit_code: u8, files: Vec<Value>) -> Value {
    let valid = match exit_code {
        crate::exit::VALID => Value::Bool(true),
        crate::exit::INVALID => Value::Bool(false),
        crate::exit::UNKNOWN => Value::String("unknown".into()),
        _ => Value::Null,
    };
    json!({
        "format_version": FORMAT_VERSION,
        "valid": valid,
        "exit_code": exit_code,
        "results": files,
    })
}
