//! Syntax errors produced by the lexer and parser, and their Python-style rendering.

/// Which Python exception class a syntax error corresponds to.
#[derive(Debug, Clone, PartialEq)]
pub enum SyntaxErrorKind {
    /// `SyntaxError`
    Syntax,
    /// `IndentationError`
    Indentation,
    /// `TabError`
    Tab,
    /// The tree would be too deep: `RecursionError` during compilation.
    TooDeep,
}

/// A syntax error at a 1-based line and 1-based column (in characters).
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub kind: SyntaxErrorKind,
    pub msg: String,
    pub line: u32,
    pub col: u32,
}

impl SyntaxError {
    /// A plain `SyntaxError`.
    pub fn syntax(msg: impl Into<String>, line: u32, col: u32) -> Self {
        SyntaxError {
            kind: SyntaxErrorKind::Syntax,
            msg: msg.into(),
            line,
            col,
        }
    }

    /// An `IndentationError`.
    pub fn indentation(msg: impl Into<String>, line: u32, col: u32) -> Self {
        SyntaxError {
            kind: SyntaxErrorKind::Indentation,
            msg: msg.into(),
            line,
            col,
        }
    }

    /// The error for a tree nested too deeply.
    pub fn too_deep(line: u32, col: u32) -> Self {
        SyntaxError {
            kind: SyntaxErrorKind::TooDeep,
            msg: "maximum recursion depth exceeded during compilation".to_string(),
            line,
            col,
        }
    }
}

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (line {}, column {})", self.msg, self.line, self.col)
    }
}

impl std::error::Error for SyntaxError {}

/// Splits source into lines the way the lexer does (`\r\n`, `\r` and `\n` end a line).
fn source_line(src: &str, line: u32) -> Option<String> {
    let mut current = 1u32;
    let mut buf = String::new();
    let mut chars = src.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\n' || c == '\r' {
            if c == '\r' && chars.peek() == Some(&'\n') {
                chars.next();
            }
            if current == line {
                return Some(buf);
            }
            current += 1;
            buf.clear();
        } else if current == line {
            buf.push(c);
        }
    }
    if current == line {
        Some(buf)
    } else {
        None
    }
}

/// Python-style report, e.g.
///
/// ```text
///   File "prog.toy", line 3, column 9
///     x = (1 +
///         ^
/// SyntaxError: '(' was never closed
/// ```
///
/// The source line is shown with its leading whitespace stripped and the caret placed
/// under the column accordingly. For `TooDeep` the report is just the `RecursionError`
/// line. The result always ends with a newline.
pub fn render(err: &SyntaxError, filename: &str, src: &str) -> String {
    let class = match err.kind {
        SyntaxErrorKind::Syntax => "SyntaxError",
        SyntaxErrorKind::Indentation => "IndentationError",
        SyntaxErrorKind::Tab => "TabError",
        SyntaxErrorKind::TooDeep => {
            return "RecursionError: maximum recursion depth exceeded during compilation\n"
                .to_string()
        }
    };
    let mut out = format!(
        "  File \"{}\", line {}, column {}\n",
        filename, err.line, err.col
    );
    if let Some(text) = source_line(src, err.line) {
        let stripped: Vec<char> = text
            .chars()
            .skip_while(|c| matches!(c, ' ' | '\t' | '\x0c'))
            .collect();
        let removed = text.chars().count() - stripped.len();
        let shown: String = stripped.iter().collect::<String>().trim_end().to_string();
        if !shown.is_empty() {
            let shown_len = shown.chars().count();
            let col = (err.col.max(1) as usize - 1)
                .saturating_sub(removed)
                .min(shown_len);
            out.push_str("    ");
            out.push_str(&shown);
            out.push('\n');
            out.push_str("    ");
            out.push_str(&" ".repeat(col));
            out.push_str("^\n");
        }
    }
    out.push_str(class);
    out.push_str(": ");
    out.push_str(&err.msg);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_example() {
        let src = "a = 1\nb = 2\n    x = (1 +\n";
        let err = SyntaxError::syntax("'(' was never closed", 3, 9);
        assert_eq!(
            render(&err, "prog.toy", src),
            "  File \"prog.toy\", line 3, column 9\n    x = (1 +\n        ^\nSyntaxError: '(' was never closed\n"
        );
    }

    #[test]
    fn renders_kinds_and_missing_lines() {
        let mut err = SyntaxError::indentation("unexpected indent", 7, 1);
        assert_eq!(
            render(&err, "f", "x\r\ny\r\n"),
            "  File \"f\", line 7, column 1\nIndentationError: unexpected indent\n"
        );
        err.kind = SyntaxErrorKind::Tab;
        err.line = 2;
        assert!(
            render(&err, "f", "x\ry\n").ends_with("    y\n    ^\nTabError: unexpected indent\n")
        );
        let deep = SyntaxError::too_deep(1, 1);
        assert_eq!(
            render(&deep, "f", "x"),
            "RecursionError: maximum recursion depth exceeded during compilation\n"
        );
    }

    #[test]
    fn caret_is_clamped() {
        let err = SyntaxError::syntax("m", 1, 99);
        assert_eq!(
            render(&err, "f", "ab"),
            "  File \"f\", line 1, column 99\n    ab\n      ^\nSyntaxError: m\n"
        );
    }
}
