//! Which request paths `faultline serve` accepts: the guard that keeps every request inside
//! the store directory (the store browser of the "report" step). The server also checks the
//! real location of what a path names after following symlinks; this is the first line.

use std::path::PathBuf;

/// The store-relative path of a request path, or why it is refused: percent-decoded, split
/// on `/`, with no `..`, `.` or empty segment (a trailing `/` aside), backslash or NUL.
pub fn safe_relative(raw: &str) -> Result<PathBuf, &'static str> {
    let decoded = percent_decode(raw).ok_or("malformed percent-encoding")?;
    let trimmed = decoded.strip_prefix('/').unwrap_or(&decoded);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    let mut path = PathBuf::new();
    for segment in trimmed.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err("the path has an empty, `.` or `..` segment");
        }
        if segment.contains(['\\', '\0', '%']) {
            return Err("the path has a backslash, NUL or doubly encoded character");
        }
        path.push(segment);
    }
    Ok(path)
}

/// Decodes `%XX` escapes; `None` for a malformed escape or a result that is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_relative_paths_are_accepted() {
        assert_eq!(
            safe_relative("/a/b/report.html"),
            Ok(PathBuf::from("a/b/report.html"))
        );
        assert_eq!(safe_relative("/a/b/"), Ok(PathBuf::from("a/b")));
        assert_eq!(safe_relative("/a%20b"), Ok(PathBuf::from("a b")));
    }

    #[test]
    fn paths_leaving_the_store_are_refused_however_encoded() {
        for path in [
            "/..",
            "/../x",
            "/a/../../x",
            "/%2e%2e/x",
            "/%2E%2e/x",
            "/.%2e/x",
            "/a/..%2f..%2fx",
            "/a/..%2F..%2Fx",
            "/%252e%252e/x",
            "/..%5cx",
            "/a%5c..%5c..%5cx",
            "//x",
            "/%2fx",
            "/./x",
            "/a/%00",
            "/%zz",
            "/%c0%ae%c0%ae/x",
        ] {
            assert!(safe_relative(path).is_err(), "{path} was accepted");
        }
    }
}
