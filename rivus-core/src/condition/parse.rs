//! The condition parser: tokens into the tree that [`Condition`](super::Condition) evaluates.
//!
//! ```text
//! or         := and ("or" and)*
//! and        := unary ("and" unary)*
//! unary      := "not" unary | comparison
//! comparison := "(" or ")"
//!             | "exists" "(" field ")"
//!             | operand [ ("==" | "!=" | "<" | "<=" | ">" | ">=" | "contains") operand
//!                       | ("=~" | "!~") string
//!                       | ["not"] "in" "[" literal ("," literal)* "]" ]
//! operand    := field | string | number | true | false | null
//! ```

use regex::Regex;

use super::ConditionError;
use super::eval::{Cmp, Field, Node, Operand};
use super::lex::{Spanned, Tok};
use crate::value::{Number, Value};

/// A recursive-descent parser over the tokens; `end` is the column just past the text (for "expected … at the
/// end").
pub(super) struct Parser {
    tokens: Vec<Spanned>,
    at: usize,
    end: usize,
}

/// How deep parentheses and `not`s may nest (a bound, so hostile input cannot overflow the stack).
const MAX_DEPTH: usize = 64;

impl Parser {
    pub(super) fn new(tokens: Vec<Spanned>, end: usize) -> Self {
        Self { tokens, at: 0, end }
    }

    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.at).map(|(t, _)| t)
    }

    fn column(&self) -> usize {
        self.tokens.get(self.at).map_or(self.end, |(_, c)| *c)
    }

    fn next(&mut self) -> Option<Spanned> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn unexpected(&self, expected: &str) -> ConditionError {
        let found = self
            .peek()
            .map_or_else(|| "the end".to_owned(), Tok::describe);
        ConditionError::new(self.column(), format!("expected {expected}, found {found}"))
    }

    fn expect(&mut self, tok: &Tok, expected: &str) -> Result<(), ConditionError> {
        if self.peek() == Some(tok) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.unexpected(expected))
        }
    }

    /// The whole condition.
    pub(super) fn parse(mut self) -> Result<Node, ConditionError> {
        if self.tokens.is_empty() {
            return Err(ConditionError::new(1, "the condition is empty"));
        }
        let node = self.or(0)?;
        if self.peek().is_some() {
            return Err(self.unexpected("`and`, `or` or the end"));
        }
        Ok(node)
    }

    fn or(&mut self, depth: usize) -> Result<Node, ConditionError> {
        let mut items = vec![self.and(depth)?];
        while self.peek() == Some(&Tok::Or) {
            self.at += 1;
            items.push(self.and(depth)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Node::Or(items)
        })
    }

    fn and(&mut self, depth: usize) -> Result<Node, ConditionError> {
        let mut items = vec![self.unary(depth)?];
        while self.peek() == Some(&Tok::And) {
            self.at += 1;
            items.push(self.unary(depth)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Node::And(items)
        })
    }

    fn unary(&mut self, depth: usize) -> Result<Node, ConditionError> {
        if depth > MAX_DEPTH {
            return Err(ConditionError::new(
                self.column(),
                format!("the condition nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        if self.peek() == Some(&Tok::Not) {
            self.at += 1;
            return Ok(Node::Not(Box::new(self.unary(depth + 1)?)));
        }
        self.comparison(depth)
    }

    fn comparison(&mut self, depth: usize) -> Result<Node, ConditionError> {
        match self.peek() {
            Some(Tok::LParen) => {
                self.at += 1;
                let inner = self.or(depth + 1)?;
                self.expect(&Tok::RParen, "`)`")?;
                return Ok(inner);
            }
            Some(Tok::Exists) => {
                self.at += 1;
                self.expect(&Tok::LParen, "`(` after `exists`")?;
                let column = self.column();
                let field = match self.next() {
                    Some((Tok::Field(path), _)) => Field::new(path),
                    _ => {
                        self.at -= 1;
                        return Err(ConditionError::new(
                            column,
                            self.unexpected("a field name").message,
                        ));
                    }
                };
                self.expect(&Tok::RParen, "`)`")?;
                return Ok(Node::Exists(field));
            }
            _ => {}
        }
        let left = self.operand()?;
        let column = self.column();
        let cmp = match self.peek() {
            Some(Tok::Op("==")) => Cmp::Eq,
            Some(Tok::Op("!=")) => Cmp::Ne,
            Some(Tok::Op("<")) => Cmp::Lt,
            Some(Tok::Op("<=")) => Cmp::Le,
            Some(Tok::Op(">")) => Cmp::Gt,
            Some(Tok::Op(">=")) => Cmp::Ge,
            Some(Tok::Contains) => Cmp::Contains,
            Some(Tok::Op(op @ ("=~" | "!~"))) => {
                let negated = *op == "!~";
                self.at += 1;
                return self.regex(left, negated);
            }
            Some(Tok::In) => {
                self.at += 1;
                return Ok(Node::In {
                    operand: left,
                    set: self.list()?,
                    negated: false,
                });
            }
            Some(Tok::Not) if self.tokens.get(self.at + 1).map(|(t, _)| t) == Some(&Tok::In) => {
                self.at += 2;
                return Ok(Node::In {
                    operand: left,
                    set: self.list()?,
                    negated: true,
                });
            }
            _ => {
                // A bare operand: a boolean field, or `true`/`false`.
                return match left {
                    Operand::Field(_) | Operand::Literal(Value::Bool(_)) => Ok(Node::Truthy(left)),
                    Operand::Literal(_) | Operand::Number(..) => Err(ConditionError::new(
                        column,
                        self.unexpected("a comparison (`==`, `>`, `in`, …)").message,
                    )),
                };
            }
        };
        self.at += 1;
        let right = self.operand()?;
        Ok(Node::Compare { left, cmp, right })
    }

    fn regex(&mut self, operand: Operand, negated: bool) -> Result<Node, ConditionError> {
        let column = self.column();
        match self.next() {
            Some((Tok::Str(pattern), _)) => {
                let re = Regex::new(&pattern).map_err(|e| {
                    let text = e.to_string();
                    let last = text.lines().last().unwrap_or("invalid").trim().to_owned();
                    ConditionError::new(column, format!("bad regular expression: {last}"))
                })?;
                Ok(Node::Regex {
                    operand,
                    re,
                    negated,
                })
            }
            _ => {
                self.at -= 1;
                Err(self.unexpected("a regular expression in quotes"))
            }
        }
    }

    fn list(&mut self) -> Result<Vec<Value>, ConditionError> {
        self.expect(&Tok::LBracket, "`[` (a list of values)")?;
        let mut items = Vec::new();
        if self.peek() == Some(&Tok::RBracket) {
            self.at += 1;
            return Ok(items);
        }
        loop {
            let column = self.column();
            match self.operand()? {
                Operand::Literal(v) | Operand::Number(_, v) => items.push(v),
                Operand::Field(_) => {
                    return Err(ConditionError::new(
                        column,
                        "a list holds values, not fields (quote strings: 'paid')",
                    ));
                }
            }
            match self.next() {
                Some((Tok::Comma, _)) if self.peek() == Some(&Tok::RBracket) => {
                    self.at += 1;
                    return Ok(items);
                }
                Some((Tok::Comma, _)) => {}
                Some((Tok::RBracket, _)) => return Ok(items),
                _ => {
                    self.at -= 1;
                    return Err(self.unexpected("`,` or `]`"));
                }
            }
        }
    }

    fn operand(&mut self) -> Result<Operand, ConditionError> {
        let literal = match self.peek() {
            Some(Tok::Field(path)) => {
                let field = Field::new(path.clone());
                self.at += 1;
                return Ok(Operand::Field(field));
            }
            Some(Tok::Str(s)) => Value::from(s.as_str()),
            Some(Tok::Num(n)) => {
                let value = number(n).ok_or_else(|| {
                    ConditionError::new(self.column(), format!("`{n}` is not a number"))
                })?;
                let float = n.parse::<f64>().unwrap_or(f64::NAN);
                self.at += 1;
                return Ok(Operand::Number(float, value));
            }
            Some(Tok::Bool(b)) => Value::Bool(*b),
            Some(Tok::Null) => Value::Null,
            _ => return Err(self.unexpected("a field or a value")),
        };
        self.at += 1;
        Ok(Operand::Literal(literal))
    }
}

/// A number literal as a JSON number (integers stay integers).
fn number(text: &str) -> Option<Value> {
    Number::from_text(text).map(Value::Number).or_else(|| {
        text.parse::<f64>()
            .ok()
            .and_then(|f| Number::from_f64(f).map(Value::Number))
    })
}
