//! Python 3.11-exact text algorithms for the gilsim VM: float repr/parsing/rounding,
//! int parsing and conversion, the format-spec mini-language, and `str` methods.

pub mod float;
pub mod format;
pub mod int;
pub mod strings;
pub mod tables;

/// A Python exception: `kind` is the exception class name, `msg` CPython's exact message.
#[derive(Debug, Clone, PartialEq)]
pub struct PyErr {
    pub kind: &'static str,
    pub msg: String,
}

impl PyErr {
    /// Build an error of the given kind with a message.
    pub fn new(kind: &'static str, msg: impl Into<String>) -> PyErr {
        PyErr {
            kind,
            msg: msg.into(),
        }
    }

    /// `ValueError(msg)`.
    pub fn value(msg: impl Into<String>) -> PyErr {
        PyErr::new("ValueError", msg)
    }

    /// `MemoryError()` used instead of allocating absurdly large results.
    pub fn memory() -> PyErr {
        PyErr::new("MemoryError", "")
    }
}

/// Look up `c` in a sorted table of inclusive ranges.
pub(crate) fn in_table(table: &[(u32, u32)], c: char) -> bool {
    let c = c as u32;
    table
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                std::cmp::Ordering::Less
            } else if lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Value of a Unicode decimal digit (Python `str.isdecimal`), if `c` is one.
pub(crate) fn decimal_value(c: char) -> Option<u32> {
    if c.is_ascii_digit() {
        return Some(c as u32 - '0' as u32);
    }
    if (c as u32) < 0x660 {
        return None;
    }
    let cu = c as u32;
    let idx = tables::DECIMAL.partition_point(|&(_, hi)| hi < cu);
    match tables::DECIMAL.get(idx) {
        Some(&(lo, _)) if lo <= cu => Some((cu - lo) % 10),
        _ => None,
    }
}
