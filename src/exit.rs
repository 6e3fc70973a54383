//! Exit codes: the part of the command-line contract scripts and CI jobs rely on.
//!
//! They follow Jepsen's convention (see `docs/cli.md`): 0 valid, 1 invalid, 2 unknown, 254 bad
//! usage or bad input, 255 internal error. When several files are checked, the overall code is
//! the most serious one, in the order 254 > 1 > 2 > 0 ([`combine`]).

use checkers::Validity;

/// Every checked history is valid.
pub const VALID: u8 = 0;
/// At least one history is invalid.
pub const INVALID: u8 = 1;
/// None invalid, but at least one unknown (a budget ran out, or nothing could be judged).
pub const UNKNOWN: u8 = 2;
/// Bad usage or bad input: unknown flag or model, unreadable or malformed file.
pub const BAD_INPUT: u8 = 254;
/// Internal error: a bug in faultline (a panic).
pub const INTERNAL: u8 = 255;

/// The exit code of one verdict.
pub fn of_validity(v: Validity) -> u8 {
    match v {
        Validity::Valid => VALID,
        Validity::Invalid => INVALID,
        Validity::Unknown => UNKNOWN,
    }
}

/// How serious a code is when several files are combined: bad input beats invalid, which beats
/// unknown, which beats valid.
fn rank(code: u8) -> u8 {
    match code {
        VALID => 0,
        UNKNOWN => 1,
        INVALID => 2,
        BAD_INPUT => 3,
        _ => 4,
    }
}

/// The overall exit code for several per-file codes (valid when there are none).
pub fn combine(codes: impl IntoIterator<Item = u8>) -> u8 {
    codes.into_iter().max_by_key(|&c| rank(c)).unwrap_or(VALID)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combination_order() {
        assert_eq!(combine([]), VALID);
        assert_eq!(combine([VALID, UNKNOWN]), UNKNOWN);
        assert_eq!(combine([UNKNOWN, INVALID, VALID]), INVALID);
        assert_eq!(combine([INVALID, BAD_INPUT, UNKNOWN]), BAD_INPUT);
        assert_eq!(combine([VALID, VALID]), VALID);
    }
}
