//! Python 3.11 `str` methods and `repr(str)` on Rust `&str`, with Python's
//! char-based (not byte-based) indexing and ASCII fast paths.

use crate::text::{in_table, tables, PyErr};

// ---------------------------------------------------------------- helpers

/// Python's `str.isspace()` for one char.
pub fn py_isspace(c: char) -> bool {
    if c.is_ascii() {
        matches!(
            c,
            ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r' | '\x1c'..='\x1f'
        )
    } else {
        c.is_whitespace()
    }
}

/// Python's `str.isprintable()` for one char.
pub fn py_isprintable(c: char) -> bool {
    if c.is_ascii() {
        (' '..='~').contains(&c)
    } else {
        !in_table(tables::NON_PRINTABLE, c)
    }
}

/// Number of chars in `s` (Python's `len`).
pub fn char_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    }
}

/// Byte offset of char index `ci` (clamped to the end of the string).
fn byte_of(s: &str, ci: usize) -> usize {
    if s.is_ascii() {
        return ci.min(s.len());
    }
    s.char_indices().nth(ci).map_or(s.len(), |(b, _)| b)
}

/// Char index of byte offset `bi` (which must be a char boundary).
fn char_of(s: &str, bi: usize) -> usize {
    if s.is_ascii() {
        bi
    } else {
        s[..bi].chars().count()
    }
}

/// CPython's ADJUST_INDICES: returns (start, end) in chars; start may exceed len.
fn adjust(len: usize, start: Option<i64>, end: Option<i64>) -> (i64, i64) {
    let len = len as i64;
    let mut st = start.unwrap_or(0);
    let mut en = end.unwrap_or(i64::MAX);
    if en > len {
        en = len;
    } else if en < 0 {
        en = en.saturating_add(len).max(0);
    }
    if st < 0 {
        st = st.saturating_add(len).max(0);
    }
    (st, en)
}

fn check_size(n: usize) -> Result<(), PyErr> {
    if n > crate::text::format::MAX_FORMAT_LEN {
        Err(PyErr::memory())
    } else {
        Ok(())
    }
}

// ---------------------------------------------------------------- repr

/// Python's `repr(s)` for a str.
pub fn str_repr(s: &str) -> String {
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
            c if py_isprintable(c) => out.push(c),
            c => {
                let u = c as u32;
                if u <= 0xff {
                    out.push_str(&format!("\\x{u:02x}"));
                } else if u <= 0xffff {
                    out.push_str(&format!("\\u{u:04x}"));
                } else {
                    out.push_str(&format!("\\U{u:08x}"));
                }
            }
        }
    }
    out.push(quote);
    out
}

// ---------------------------------------------------------------- split

/// Python's `s.split(None, maxsplit)` (maxsplit < 0 means no limit).
pub fn split_whitespace(s: &str, maxsplit: i64) -> Vec<String> {
    let mut out = Vec::new();
    let mut maxcount = if maxsplit < 0 { i64::MAX } else { maxsplit };
    let mut it = s.char_indices().peekable();
    let n = s.len();
    let mut i = 0;
    while maxcount > 0 {
        while let Some(&(b, c)) = it.peek() {
            if !py_isspace(c) {
                break;
            }
            it.next();
            i = b + c.len_utf8();
        }
        let Some(&(j, _)) = it.peek() else {
            i = n;
            break;
        };
        while let Some(&(b, c)) = it.peek() {
            if py_isspace(c) {
                break;
            }
            it.next();
            i = b + c.len_utf8();
        }
        out.push(s[j..i].to_string());
        maxcount -= 1;
    }
    if i < n {
        let rest = lstrip(&s[i..], None);
        if !rest.is_empty() {
            out.push(rest);
        }
    }
    out
}

/// Python's `s.rsplit(None, maxsplit)`.
pub fn rsplit_whitespace(s: &str, maxsplit: i64) -> Vec<String> {
    let mut out = Vec::new();
    let mut maxcount = if maxsplit < 0 { i64::MAX } else { maxsplit };
    let mut it = s.char_indices().rev().peekable();
    let mut i = s.len(); // exclusive end of unprocessed prefix
    while maxcount > 0 {
        while let Some(&(b, c)) = it.peek() {
            if !py_isspace(c) {
                break;
            }
            it.next();
            i = b;
        }
        let Some(&(b0, c0)) = it.peek() else {
            i = 0;
            break;
        };
        let j = b0 + c0.len_utf8();
        while let Some(&(b, c)) = it.peek() {
            if py_isspace(c) {
                break;
            }
            it.next();
            i = b;
        }
        out.push(s[i..j].to_string());
        maxcount -= 1;
    }
    if i > 0 {
        let rest = rstrip(&s[..i], None);
        if !rest.is_empty() {
            out.push(rest);
        }
    }
    out.reverse();
    out
}

fn empty_sep() -> PyErr {
    PyErr::value("empty separator")
}

/// Python's `s.split(sep, maxsplit)`.
pub fn split_sep(s: &str, sep: &str, maxsplit: i64) -> Result<Vec<String>, PyErr> {
    if sep.is_empty() {
        return Err(empty_sep());
    }
    Ok(if maxsplit < 0 {
        s.split(sep).map(str::to_string).collect()
    } else {
        let n = usize::try_from(maxsplit)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        s.splitn(n, sep).map(str::to_string).collect()
    })
}

/// Python's `s.rsplit(sep, maxsplit)`.
pub fn rsplit_sep(s: &str, sep: &str, maxsplit: i64) -> Result<Vec<String>, PyErr> {
    if sep.is_empty() {
        return Err(empty_sep());
    }
    let mut v: Vec<String> = if maxsplit < 0 {
        s.rsplit(sep).map(str::to_string).collect()
    } else {
        let n = usize::try_from(maxsplit)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        s.rsplitn(n, sep).map(str::to_string).collect()
    };
    v.reverse();
    Ok(v)
}

fn is_linebreak(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r'
            | '\x0b'
            | '\x0c'
            | '\x1c'
            | '\x1d'
            | '\x1e'
            | '\u{85}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

/// Python's `s.splitlines(keepends)`.
pub fn splitlines(s: &str, keepends: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut it = s.char_indices().peekable();
    while let Some((b, c)) = it.next() {
        if is_linebreak(c) {
            let mut end = b + c.len_utf8();
            if c == '\r' && matches!(it.peek(), Some(&(_, '\n'))) {
                it.next();
                end += 1;
            }
            out.push(s[start..if keepends { end } else { b }].to_string());
            start = end;
        }
    }
    if start < s.len() {
        out.push(s[start..].to_string());
    }
    out
}

/// Python's `s.partition(sep)`.
pub fn partition(s: &str, sep: &str) -> Result<(String, String, String), PyErr> {
    if sep.is_empty() {
        return Err(empty_sep());
    }
    Ok(match s.find(sep) {
        Some(i) => (
            s[..i].to_string(),
            sep.to_string(),
            s[i + sep.len()..].to_string(),
        ),
        None => (s.to_string(), String::new(), String::new()),
    })
}

/// Python's `s.rpartition(sep)`.
pub fn rpartition(s: &str, sep: &str) -> Result<(String, String, String), PyErr> {
    if sep.is_empty() {
        return Err(empty_sep());
    }
    Ok(match s.rfind(sep) {
        Some(i) => (
            s[..i].to_string(),
            sep.to_string(),
            s[i + sep.len()..].to_string(),
        ),
        None => (String::new(), String::new(), s.to_string()),
    })
}

// ---------------------------------------------------------------- strip

fn strip_pred(chars: Option<&str>) -> impl Fn(char) -> bool + '_ {
    move |c| match chars {
        None => py_isspace(c),
        Some(set) => set.contains(c),
    }
}

/// Python's `s.strip(chars)`.
pub fn strip(s: &str, chars: Option<&str>) -> String {
    s.trim_matches(strip_pred(chars)).to_string()
}

/// Python's `s.lstrip(chars)`.
pub fn lstrip(s: &str, chars: Option<&str>) -> String {
    s.trim_start_matches(strip_pred(chars)).to_string()
}

/// Python's `s.rstrip(chars)`.
pub fn rstrip(s: &str, chars: Option<&str>) -> String {
    s.trim_end_matches(strip_pred(chars)).to_string()
}

// ---------------------------------------------------------------- find

/// Byte range of the char range [st, en) (both already within 0..=len, st <= en).
fn byte_range(s: &str, st: i64, en: i64) -> (usize, usize) {
    let bs = byte_of(s, st as usize);
    let be = if s.is_ascii() {
        en as usize
    } else {
        bs + byte_of(&s[bs..], (en - st) as usize)
    };
    (bs, be)
}

/// Python's `s.find(sub, start, end)`: char index or -1.
pub fn find(s: &str, sub: &str, start: Option<i64>, end: Option<i64>) -> i64 {
    let len = char_len(s);
    let (st, en) = adjust(len, start, end);
    let sublen = char_len(sub) as i64;
    if en - st < sublen {
        return -1;
    }
    if sub.is_empty() {
        return st;
    }
    let (bs, be) = byte_range(s, st, en);
    match s[bs..be].find(sub) {
        Some(b) => st + char_of(&s[bs..], b) as i64,
        None => -1,
    }
}

/// Python's `s.rfind(sub, start, end)`: char index or -1.
pub fn rfind(s: &str, sub: &str, start: Option<i64>, end: Option<i64>) -> i64 {
    let len = char_len(s);
    let (st, en) = adjust(len, start, end);
    let sublen = char_len(sub) as i64;
    if en - st < sublen {
        return -1;
    }
    if sub.is_empty() {
        return en;
    }
    let (bs, be) = byte_range(s, st, en);
    match s[bs..be].rfind(sub) {
        Some(b) => st + char_of(&s[bs..], b) as i64,
        None => -1,
    }
}

/// Python's `s.count(sub, start, end)` (non-overlapping).
pub fn count(s: &str, sub: &str, start: Option<i64>, end: Option<i64>) -> i64 {
    let len = char_len(s);
    let (st, en) = adjust(len, start, end);
    let sublen = char_len(sub) as i64;
    if en - st < sublen {
        return 0;
    }
    if sub.is_empty() {
        return en - st + 1;
    }
    let (bs, be) = byte_range(s, st, en);
    s[bs..be].matches(sub).count() as i64
}

/// Python's `s.startswith(prefix, start, end)` for a single prefix.
pub fn startswith(s: &str, prefix: &str, start: Option<i64>, end: Option<i64>) -> bool {
    let len = char_len(s);
    let (st, en) = adjust(len, start, end);
    let plen = char_len(prefix) as i64;
    if en - plen < st || st > len as i64 {
        return false;
    }
    if prefix.is_empty() {
        return true;
    }
    let (bs, be) = byte_range(s, st, en);
    s[bs..be].starts_with(prefix)
}

/// Python's `s.endswith(suffix, start, end)` for a single suffix.
pub fn endswith(s: &str, suffix: &str, start: Option<i64>, end: Option<i64>) -> bool {
    let len = char_len(s);
    let (st, en) = adjust(len, start, end);
    let plen = char_len(suffix) as i64;
    if en - plen < st || st > len as i64 {
        return false;
    }
    if suffix.is_empty() {
        return true;
    }
    let (bs, be) = byte_range(s, st, en);
    s[bs..be].ends_with(suffix)
}

/// Python's `s.replace(old, new, count)` (count < 0 means all).
pub fn replace(s: &str, old: &str, new: &str, count: i64) -> String {
    if count < 0 {
        s.replace(old, new)
    } else {
        s.replacen(old, new, usize::try_from(count).unwrap_or(usize::MAX))
    }
}

// ---------------------------------------------------------------- case

fn title_char(c: char, out: &mut String) {
    if c.is_ascii() {
        out.push(c.to_ascii_uppercase());
        return;
    }
    let cu = c as u32;
    if let Ok(i) = tables::TITLE.binary_search_by_key(&cu, |&(k, _)| k) {
        out.push_str(tables::TITLE[i].1);
    } else {
        out.extend(c.to_uppercase());
    }
}

fn is_titlecase(c: char) -> bool {
    !c.is_ascii() && in_table(tables::TITLECASE_LT, c)
}

fn is_cased(c: char) -> bool {
    c.is_lowercase() || c.is_uppercase() || is_titlecase(c)
}

/// Python's `s.upper()`.
pub fn upper(s: &str) -> String {
    if s.is_ascii() {
        s.to_ascii_uppercase()
    } else {
        s.to_uppercase()
    }
}

/// Python's `s.lower()`.
pub fn lower(s: &str) -> String {
    if s.is_ascii() {
        s.to_ascii_lowercase()
    } else {
        s.to_lowercase()
    }
}

/// Python's `s.casefold()`.
pub fn casefold(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match tables::CASEFOLD.binary_search_by_key(&(c as u32), |&(k, _)| k) {
            Ok(i) => out.push_str(tables::CASEFOLD[i].1),
            Err(_) => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// Python's `s.capitalize()`: first char title-cased, the rest lower-cased.
pub fn capitalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    if let Some(c) = it.next() {
        title_char(c, &mut out);
        out.push_str(&lower(it.as_str()));
    }
    out
}

fn case_ignorable(c: char) -> bool {
    matches!(
        c,
        '\'' | '.' | ':' | '^' | '`' | '\u{b7}' | '\u{2019}' | '\u{300}'..='\u{36f}'
    )
}

/// Lower-case `chars[i]` into `out`, applying Python's final-sigma rule.
fn lower_at(chars: &[char], i: usize, out: &mut String) {
    let c = chars[i];
    if c != '\u{3a3}' {
        out.extend(c.to_lowercase());
        return;
    }
    let before = chars[..i]
        .iter()
        .rev()
        .find(|&&x| !case_ignorable(x))
        .is_some_and(|&x| is_cased(x));
    let after = chars[i + 1..]
        .iter()
        .find(|&&x| !case_ignorable(x))
        .is_some_and(|&x| is_cased(x));
    out.push(if before && !after {
        '\u{3c2}'
    } else {
        '\u{3c3}'
    });
}

/// Python's `s.title()`.
pub fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_cased = false;
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if prev_cased {
            lower_at(&chars, i, &mut out);
        } else {
            title_char(c, &mut out);
        }
        prev_cased = is_cased(c);
    }
    out
}

/// Python's `s.swapcase()`.
pub fn swapcase(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            lower_at(&chars, i, &mut out);
        } else if c.is_lowercase() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------- predicates

fn all_nonempty(s: &str, f: impl Fn(char) -> bool) -> bool {
    !s.is_empty() && s.chars().all(f)
}

/// Python's `s.isdecimal()`.
pub fn isdecimal(s: &str) -> bool {
    all_nonempty(s, |c| crate::text::decimal_value(c).is_some())
}

/// Python's `s.isdigit()`.
pub fn isdigit(s: &str) -> bool {
    all_nonempty(s, |c| c.is_ascii_digit() || in_table(tables::DIGIT, c))
}

/// Python's `s.isnumeric()`.
pub fn isnumeric(s: &str) -> bool {
    all_nonempty(s, |c| c.is_ascii_digit() || in_table(tables::NUMERIC, c))
}

fn alpha_char(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphabetic()
    } else {
        in_table(tables::ALPHA, c)
    }
}

/// Python's `s.isalpha()`.
pub fn isalpha(s: &str) -> bool {
    all_nonempty(s, alpha_char)
}

/// Python's `s.isalnum()`.
pub fn isalnum(s: &str) -> bool {
    all_nonempty(s, |c| {
        c.is_ascii_alphanumeric()
            || alpha_char(c)
            || in_table(tables::NUMERIC, c)
            || in_table(tables::DIGIT, c)
    })
}

/// Python's `s.isspace()`.
pub fn isspace(s: &str) -> bool {
    all_nonempty(s, py_isspace)
}

/// Python's `s.isprintable()` (True for the empty string).
pub fn isprintable(s: &str) -> bool {
    s.chars().all(py_isprintable)
}

/// Python's `s.isascii()`.
pub fn isascii(s: &str) -> bool {
    s.is_ascii()
}

/// Python's `s.isupper()`.
pub fn isupper(s: &str) -> bool {
    let mut cased = false;
    for c in s.chars() {
        if c.is_lowercase() || is_titlecase(c) {
            return false;
        }
        if c.is_uppercase() {
            cased = true;
        }
    }
    cased
}

/// Python's `s.islower()`.
pub fn islower(s: &str) -> bool {
    let mut cased = false;
    for c in s.chars() {
        if c.is_uppercase() || is_titlecase(c) {
            return false;
        }
        if c.is_lowercase() {
            cased = true;
        }
    }
    cased
}

/// Python's `s.istitle()`.
pub fn istitle(s: &str) -> bool {
    let mut cased = false;
    let mut prev = false;
    for c in s.chars() {
        if c.is_uppercase() || is_titlecase(c) {
            if prev {
                return false;
            }
            prev = true;
            cased = true;
        } else if c.is_lowercase() {
            if !prev {
                return false;
            }
            prev = true;
            cased = true;
        } else {
            prev = false;
        }
    }
    cased
}

/// Python's `s.isidentifier()`.
pub fn isidentifier(s: &str) -> bool {
    let mut it = s.chars();
    match it.next() {
        None => false,
        Some(c) => {
            let ok = if c.is_ascii() {
                c == '_' || c.is_ascii_alphabetic()
            } else {
                in_table(tables::XID_START, c)
            };
            ok && it.all(|c| {
                if c.is_ascii() {
                    c == '_' || c.is_ascii_alphanumeric()
                } else {
                    in_table(tables::XID_CONTINUE, c)
                }
            })
        }
    }
}

// ---------------------------------------------------------------- padding

fn pad(s: &str, left: usize, right: usize, fill: char) -> String {
    let mut out = String::with_capacity(s.len() + (left + right) * fill.len_utf8());
    out.extend(std::iter::repeat_n(fill, left));
    out.push_str(s);
    out.extend(std::iter::repeat_n(fill, right));
    out
}

fn margin(s: &str, width: i64) -> Result<Option<usize>, PyErr> {
    let len = char_len(s) as i64;
    if width <= len {
        return Ok(None);
    }
    let w = usize::try_from(width).map_err(|_| PyErr::memory())?;
    check_size(w)?;
    Ok(Some((width - len) as usize))
}

/// Python's `s.center(width, fill)`.
pub fn center(s: &str, width: i64, fill: char) -> Result<String, PyErr> {
    Ok(match margin(s, width)? {
        None => s.to_string(),
        Some(m) => {
            let left = m / 2 + (m & (width as usize) & 1);
            pad(s, left, m - left, fill)
        }
    })
}

/// Python's `s.ljust(width, fill)`.
pub fn ljust(s: &str, width: i64, fill: char) -> Result<String, PyErr> {
    Ok(match margin(s, width)? {
        None => s.to_string(),
        Some(m) => pad(s, 0, m, fill),
    })
}

/// Python's `s.rjust(width, fill)`.
pub fn rjust(s: &str, width: i64, fill: char) -> Result<String, PyErr> {
    Ok(match margin(s, width)? {
        None => s.to_string(),
        Some(m) => pad(s, m, 0, fill),
    })
}

/// Python's `s.zfill(width)`.
pub fn zfill(s: &str, width: i64) -> Result<String, PyErr> {
    Ok(match margin(s, width)? {
        None => s.to_string(),
        Some(m) => {
            let mut out = pad(s, m, 0, '0');
            if let Some(c @ ('+' | '-')) = s.chars().next() {
                out.replace_range(..m + 1, "");
                out.insert(0, c);
                out.insert_str(1, &"0".repeat(m));
            }
            out
        }
    })
}

/// Python's `s.expandtabs(tabsize)`.
pub fn expandtabs(s: &str, tabsize: i64) -> Result<String, PyErr> {
    let mut out = String::with_capacity(s.len());
    let mut col: i64 = 0;
    let mut total: usize = 0;
    for c in s.chars() {
        if c == '\t' {
            if tabsize > 0 {
                let incr = tabsize - col % tabsize;
                col += incr;
                total = total.saturating_add(incr as usize);
                check_size(total)?;
                out.extend(std::iter::repeat_n(' ', incr as usize));
            }
        } else {
            col += 1;
            total += 1;
            out.push(c);
            if c == '\n' || c == '\r' {
                col = 0;
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- slicing

/// Python's `PySlice_Unpack` + `PySlice_AdjustIndices`: returns
/// (start, stop, step, slicelength).
pub fn slice_indices(
    len: i64,
    start: Option<i64>,
    stop: Option<i64>,
    step: Option<i64>,
) -> Result<(i64, i64, i64, i64), PyErr> {
    let step = step.unwrap_or(1);
    if step == 0 {
        return Err(PyErr::value("slice step cannot be zero"));
    }
    let step = step.max(-i64::MAX) as i128;
    let len = len.max(0) as i128;
    let mut st = match start {
        Some(v) => v as i128,
        None => {
            if step < 0 {
                i64::MAX as i128
            } else {
                0
            }
        }
    };
    let mut sp = match stop {
        Some(v) => v as i128,
        None => {
            if step < 0 {
                i64::MIN as i128
            } else {
                i64::MAX as i128
            }
        }
    };
    let fix = |v: &mut i128| {
        if *v < 0 {
            *v += len;
            if *v < 0 {
                *v = if step < 0 { -1 } else { 0 };
            }
        } else if *v >= len {
            *v = if step < 0 { len - 1 } else { len };
        }
    };
    fix(&mut st);
    fix(&mut sp);
    // Both bounds now lie in [-1, len], so the length is computed in i64 (an
    // i128 division is a slow library call), without dividing for the
    // commonest steps.
    let (st, sp, step) = (st as i64, sp as i64, step as i64);
    Ok((st, sp, step, slice_len(st, sp, step)))
}

/// How many items a slice from `st` towards `sp` by `step` takes, for bounds
/// already normalised (in [-1, len]) and a non-zero step; without a division
/// for the commonest steps.
#[inline]
pub fn slice_len(st: i64, sp: i64, step: i64) -> i64 {
    match step {
        1 => (sp - st).max(0),
        -1 => (st - sp).max(0),
        _ if step < 0 && sp < st => (st - sp - 1) / (-step) + 1,
        _ if step > 0 && st < sp => (sp - st - 1) / step + 1,
        _ => 0,
    }
}

/// `s[start:stop:step]` for indices already normalised by [`slice_indices`].
pub fn char_slice(s: &str, start: i64, stop: i64, step: i64) -> String {
    if step == 0 {
        return String::new();
    }
    let (st, sp, stp) = (start as i128, stop as i128, step as i128);
    let n = if stp < 0 {
        if sp < st {
            (st - sp - 1) / (-stp) + 1
        } else {
            0
        }
    } else if st < sp {
        (sp - st - 1) / stp + 1
    } else {
        0
    };
    if n <= 0 {
        return String::new();
    }
    if s.is_ascii() {
        let b = s.as_bytes();
        let len = b.len() as i128;
        if stp == 1 {
            let lo = st.clamp(0, len) as usize;
            let hi = sp.clamp(0, len) as usize;
            return s.get(lo..hi).unwrap_or("").to_string();
        }
        let mut out = String::with_capacity(n.min(len) as usize);
        let mut i = st;
        for _ in 0..n {
            if (0..len).contains(&i) {
                out.push(b[i as usize] as char);
            } else {
                break;
            }
            i += stp;
        }
        return out;
    }
    let chars: Vec<char> = s.chars().collect();
    let len = chars.len() as i128;
    let mut out = String::new();
    let mut i = st;
    for _ in 0..n {
        if (0..len).contains(&i) {
            out.push(chars[i as usize]);
        } else {
            break;
        }
        i += stp;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::slice_indices;

    /// The slice's indices, found the slow way: every index of the sequence that
    /// the slice's walk visits, as Python's `range(len)[slice]` would list them.
    fn walk(len: i64, start: Option<i64>, stop: Option<i64>, step: i64) -> Vec<i64> {
        let norm = |v: i64| if v < 0 { v + len } else { v };
        let (lo, hi) = if step > 0 { (0, len) } else { (-1, len - 1) };
        let st = start.map_or(if step > 0 { 0 } else { len - 1 }, |v| {
            norm(v).clamp(lo, hi)
        });
        let sp = stop.map_or(if step > 0 { len } else { -1 }, |v| norm(v).clamp(lo, hi));
        let mut out = vec![];
        let mut i = st;
        while (step > 0 && i < sp) || (step < 0 && i > sp) {
            out.push(i);
            i += step;
        }
        out
    }

    #[test]
    fn slice_lengths_match_the_walk() {
        let bounds = [
            None,
            Some(-12),
            Some(-5),
            Some(-1),
            Some(0),
            Some(1),
            Some(3),
            Some(7),
            Some(40),
        ];
        for len in 0..9 {
            for start in bounds {
                for stop in bounds {
                    for step in [-4, -2, -1, 1, 2, 3, 9] {
                        let (st, _, stp, n) =
                            slice_indices(len, start, stop, Some(step)).expect("step is not zero");
                        let got: Vec<i64> = (0..n).map(|k| st + k * stp).collect();
                        assert_eq!(
                            got,
                            walk(len, start, stop, step),
                            "{len} {start:?} {stop:?} {step}"
                        );
                    }
                }
            }
        }
        let (_, _, _, n) =
            slice_indices(5, Some(i64::MIN), Some(i64::MAX), Some(i64::MIN)).expect("ok");
        assert_eq!(n, 0);
        let (st, _, _, n) = slice_indices(5, None, None, Some(i64::MIN)).expect("ok");
        assert_eq!((st, n), (4, 1));
        assert!(slice_indices(5, None, None, Some(0)).is_err());
    }
}
