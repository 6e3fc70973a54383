//! faultline's own encoding: one JSON object per event, one event per line.
//!
//! Reading the written lines back with the JSON-lines reader gives the same events (only
//! [`Event::line`] changes, to the line in the new file).

use super::{Event, History, Process};
use serde_json::{Map, Value};
use std::io::Write;

/// The JSON object for one event: `index`, `time`, `process`, `type`, `f`, `key`, `value`,
/// `error` in that order (absent optional fields are omitted; `value` is always written),
/// followed by the event's extra fields in their original order.
pub fn write_event_json(event: &Event) -> Value {
    let mut map = Map::new();
    if let Some(index) = event.index {
        map.insert("index".into(), index.into());
    }
    if let Some(time) = event.time {
        map.insert("time".into(), time.into());
    }
    match &event.process {
        Some(Process::Client(n)) => {
            map.insert("process".into(), (*n).into());
        }
        Some(Process::Named(name)) => {
            map.insert("process".into(), name.clone().into());
        }
        None => {}
    }
    map.insert("type".into(), event.kind.name().into());
    if let Some(f) = &event.f {
        map.insert("f".into(), f.clone().into());
    }
    if let Some(key) = &event.key {
        map.insert("key".into(), key.clone());
    }
    map.insert("value".into(), event.value.clone());
    if let Some(error) = &event.error {
        map.insert("error".into(), error.clone());
    }
    for (k, v) in &event.extra {
        if !map.contains_key(k) {
            map.insert(k.clone(), v.clone());
        }
    }
    Value::Object(map)
}

/// Writes every event of `history` as one JSON line (one event per line, in history order).
pub fn write_json_lines(history: &History, out: &mut impl Write) -> std::io::Result<()> {
    for event in &history.events {
        serde_json::to_writer(&mut *out, &write_event_json(event))?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{read_history, EventType, Format};
    use serde_json::json;

    fn event() -> Event {
        let mut extra = Map::new();
        extra.insert("op-index".into(), json!(7));
        extra.insert("time".into(), json!(1.5));
        Event {
            line: 9,
            index: Some(2),
            time: None,
            process: Some(Process::Named("nemesis".into())),
            kind: EventType::Info,
            f: Some("start".into()),
            key: Some(json!("k")),
            value: json!({"a": [1, null]}),
            error: Some(json!(["timeout", null])),
            extra,
        }
    }

    #[test]
    fn field_order_and_omissions() {
        let text = write_event_json(&event()).to_string();
        assert_eq!(
            text,
            r#"{"index":2,"process":"nemesis","type":"info","f":"start","key":"k","value":{"a":[1,null]},"error":["timeout",null],"op-index":7,"time":1.5}"#
        );
        let bare = Event {
            line: 1,
            index: None,
            time: Some(5),
            process: Some(Process::Client(3)),
            kind: EventType::Ok,
            f: None,
            key: None,
            value: Value::Null,
            error: None,
            extra: Map::new(),
        };
        assert_eq!(
            write_event_json(&bare).to_string(),
            r#"{"time":5,"process":3,"type":"ok","value":null}"#
        );
    }

    #[test]
    fn round_trip() {
        let history = History {
            source: "x".into(),
            format: Format::Edn,
            events: vec![event(), {
                let mut e = event();
                e.process = Some(Process::Client(-1));
                e.key = Some(Value::Null);
                e.time = Some(i64::MAX);
                e.extra = Map::new();
                e
            }],
        };
        let mut out = Vec::new();
        write_json_lines(&history, &mut out).unwrap();
        let back = read_history("y", &out, None).unwrap();
        assert_eq!(back.format, Format::JsonLines);
        assert_eq!(back.events.len(), 2);
        for (i, (a, b)) in history.events.iter().zip(&back.events).enumerate() {
            let mut a = a.clone();
            a.line = i + 1;
            assert_eq!(&a, b);
        }
    }
}
