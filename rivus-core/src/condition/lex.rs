//! The condition lexer: the text of a condition as tokens, each with the column it starts at.

use super::ConditionError;

/// One token of a condition.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    /// A field name: `status`, `customer.country`, or `` `odd name` ``.
    Field(Vec<String>),
    /// A string literal, `'…'` or `"…"`.
    Str(String),
    /// A number literal, as written.
    Num(String),
    /// `true`, `false`.
    Bool(bool),
    /// `null`.
    Null,
    And,
    Or,
    Not,
    In,
    Contains,
    Exists,
    /// `==`, `!=`, `<`, `<=`, `>`, `>=`, `=~`, `!~`.
    Op(&'static str),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
}

impl Tok {
    /// How the token is shown in an error.
    pub(super) fn describe(&self) -> String {
        match self {
            Self::Field(path) => format!("field `{}`", path.join(".")),
            Self::Str(s) => format!("string '{s}'"),
            Self::Num(n) => format!("number {n}"),
            Self::Bool(b) => format!("`{b}`"),
            Self::Null => "`null`".into(),
            Self::And => "`and`".into(),
            Self::Or => "`or`".into(),
            Self::Not => "`not`".into(),
            Self::In => "`in`".into(),
            Self::Contains => "`contains`".into(),
            Self::Exists => "`exists`".into(),
            Self::Op(op) => format!("`{op}`"),
            Self::LParen => "`(`".into(),
            Self::RParen => "`)`".into(),
            Self::LBracket => "`[`".into(),
            Self::RBracket => "`]`".into(),
            Self::Comma => "`,`".into(),
        }
    }
}

/// A token and its 1-based column (in characters).
pub(super) type Spanned = (Tok, usize);

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Splits `text` into tokens.
pub(super) fn lex(text: &str) -> Result<Vec<Spanned>, ConditionError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        let op = ["==", "!=", "<=", ">=", "=~", "!~"]
            .into_iter()
            .find(|op| *op == two);
        if let Some(op) = op {
            out.push((Tok::Op(op), column));
            i += 2;
            continue;
        }
        let single = match c {
            '<' => Some(Tok::Op("<")),
            '>' => Some(Tok::Op(">")),
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '[' => Some(Tok::LBracket),
            ']' => Some(Tok::RBracket),
            ',' => Some(Tok::Comma),
            _ => None,
        };
        if let Some(tok) = single {
            out.push((tok, column));
            i += 1;
            continue;
        }
        if c == '\'' || c == '"' {
            let (s, next) = string(&chars, i)?;
            out.push((Tok::Str(s), column));
            i = next;
            continue;
        }
        if c == '`' {
            let end = (i + 1..chars.len())
                .find(|&j| chars[j] == '`')
                .ok_or_else(|| {
                    ConditionError::new(column, "a field name in backticks is not closed")
                })?;
            let name: String = chars[i + 1..end].iter().collect();
            if name.is_empty() {
                return Err(ConditionError::new(column, "empty field name"));
            }
            out.push((Tok::Field(vec![name]), column));
            i = end + 1;
            continue;
        }
        let negative_number = c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        if c.is_ascii_digit() || negative_number {
            let mut j = i + 1;
            while j < chars.len()
                && (chars[j].is_ascii_digit()
                    || chars[j] == '.'
                    || chars[j] == 'e'
                    || chars[j] == 'E'
                    || ((chars[j] == '-' || chars[j] == '+') && matches!(chars[j - 1], 'e' | 'E')))
            {
                j += 1;
            }
            let n: String = chars[i..j].iter().collect();
            if n.parse::<f64>().is_err() {
                return Err(ConditionError::new(
                    column,
                    format!("`{n}` is not a number"),
                ));
            }
            out.push((Tok::Num(n), column));
            i = j;
            continue;
        }
        if is_ident_start(c) {
            let mut path = Vec::new();
            let mut j = i;
            loop {
                let start = j;
                while j < chars.len() && is_ident(chars[j]) {
                    j += 1;
                }
                path.push(chars[start..j].iter().collect::<String>());
                // `a.b`: a nested field; the dot must be followed by a name.
                if j + 1 < chars.len() && chars[j] == '.' && is_ident_start(chars[j + 1]) {
                    j += 1;
                } else {
                    break;
                }
            }
            let tok = match (path.len(), path[0].as_str()) {
                (1, "and") => Tok::And,
                (1, "or") => Tok::Or,
                (1, "not") => Tok::Not,
                (1, "in") => Tok::In,
                (1, "contains") => Tok::Contains,
                (1, "exists") => Tok::Exists,
                (1, "true") => Tok::Bool(true),
                (1, "false") => Tok::Bool(false),
                (1, "null") => Tok::Null,
                _ => Tok::Field(path),
            };
            out.push((tok, column));
            i = j;
            continue;
        }
        let hint = match c {
            '&' => " (write `and`)",
            '|' => " (write `or`)",
            '!' => " (write `not`, or `!=`)",
            '=' => " (write `==`)",
            _ => "",
        };
        return Err(ConditionError::new(
            column,
            format!("unexpected `{c}`{hint}"),
        ));
    }
    Ok(out)
}

/// A string literal starting at `chars[start]` (its quote); gives the text and the index after it.
fn string(chars: &[char], start: usize) -> Result<(String, usize), ConditionError> {
    let quote = chars[start];
    let mut s = String::new();
    let mut j = start + 1;
    while j < chars.len() {
        match chars[j] {
            c if c == quote => return Ok((s, j + 1)),
            '\\' => {
                let Some(&next) = chars.get(j + 1) else { break };
                match next {
                    'n' => s.push('\n'),
                    't' => s.push('\t'),
                    '\\' | '\'' | '"' => s.push(next),
                    // Anything else keeps its backslash: regex escapes (`\d`, `\.`) pass through.
                    other => {
                        s.push('\\');
                        s.push(other);
                    }
                }
                j += 2;
            }
            c => {
                s.push(c);
                j += 1;
            }
        }
    }
    Err(ConditionError::new(start + 1, "the string is not closed"))
}
