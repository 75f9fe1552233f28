//! The condition tree and its evaluation on a record.

use std::cmp::Ordering;

use regex::Regex;

use crate::value::{Record, Value, kind_of};

/// A field, by its path: `status` (one step, the common case) or `customer.country` (into nested objects).
#[derive(Debug, Clone)]
pub(crate) struct Field {
    path: Vec<String>,
}

impl Field {
    pub(crate) fn new(path: Vec<String>) -> Self {
        Self { path }
    }

    /// The field's value in `record`; `None` when absent (null counts as absent where it is used).
    #[inline]
    fn get<'a>(&self, record: &'a Record) -> Option<&'a Value> {
        let (first, rest) = self.path.split_first()?;
        let mut value = record.get(first)?;
        for step in rest {
            value = value.as_object()?.get(step)?;
        }
        Some(value)
    }

    fn name(&self) -> String {
        self.path.join(".")
    }

    /// The field's name when its path is one step (a top-level field).
    pub(crate) fn single(&self) -> Option<&str> {
        match self.path.as_slice() {
            [name] => Some(name),
            _ => None,
        }
    }

    /// The top-level field the path starts at: the one a record must hold for the path to resolve.
    fn top(&self) -> Option<&str> {
        self.path.first().map(String::as_str)
    }
}

/// One side of a comparison.
#[derive(Debug, Clone)]
pub(crate) enum Operand {
    /// A field of the record.
    Field(Field),
    /// A number literal, as `f64` (numbers compare as numbers) and as written (for messages).
    Number(f64, Value),
    /// Any other literal.
    Literal(Value),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
}

impl Cmp {
    /// Whether two values in `order` compare so; `None` for `contains`, which is no ordering.
    #[inline]
    fn holds(self, order: Ordering) -> Option<bool> {
        Some(match self {
            Self::Eq => order == Ordering::Equal,
            Self::Ne => order != Ordering::Equal,
            Self::Lt => order == Ordering::Less,
            Self::Le => order != Ordering::Greater,
            Self::Gt => order == Ordering::Greater,
            Self::Ge => order != Ordering::Less,
            Self::Contains => return None,
        })
    }
}

/// The compiled condition.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Compare {
        left: Operand,
        cmp: Cmp,
        right: Operand,
    },
    In {
        operand: Operand,
        set: Vec<Value>,
        negated: bool,
    },
    Regex {
        operand: Operand,
        re: Regex,
        negated: bool,
    },
    Exists(Field),
    Truthy(Operand),
}

/// A resolved operand: absent (or null), or a value, with numbers already as `f64`.
#[derive(Clone, Copy)]
enum Val<'a> {
    Missing,
    Num(f64, &'a Value),
    Str(&'a str),
    Bool(bool),
    Other(&'a Value),
}

impl<'a> Val<'a> {
    #[inline]
    fn of(value: Option<&'a Value>) -> Self {
        match value {
            None | Some(Value::Null) => Self::Missing,
            // An integer or a float is held unboxed: no text to parse.
            Some(v @ Value::Number(n)) => n.as_f64().map_or(Self::Other(v), |f| Self::Num(f, v)),
            Some(Value::String(s)) => Self::Str(s),
            Some(Value::Bool(b)) => Self::Bool(*b),
            Some(other) => Self::Other(other),
        }
    }

    fn describe(self) -> String {
        match self {
            Self::Missing => "absent".into(),
            Self::Num(_, v) | Self::Other(v) => format!("{} ({v})", kind_of(v)),
            Self::Str(s) => format!("a string ({})", Value::from(s)),
            Self::Bool(b) => format!("a boolean ({b})"),
        }
    }

    /// Equality where values of different kinds are simply unequal (for `in`).
    fn loosely_equals(self, other: &Value) -> bool {
        match (self, Val::of(Some(other))) {
            (Self::Num(a, _), Val::Num(b, _)) => a == b,
            (Self::Str(a), Val::Str(b)) => a == b,
            (Self::Bool(a), Val::Bool(b)) => a == b,
            (Self::Other(a), Val::Other(b)) => a == b,
            (Self::Missing, Val::Missing) => true,
            _ => false,
        }
    }
}

/// Why a condition could not be decided for a record: values of kinds that do not compare.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(String);

impl Operand {
    #[inline]
    fn resolve<'a>(&'a self, record: &'a Record) -> Val<'a> {
        match self {
            Self::Field(f) => Val::of(f.get(record)),
            Self::Number(n, v) => Val::Num(*n, v),
            Self::Literal(v) => Val::of(Some(v)),
        }
    }

    fn name(&self) -> String {
        match self {
            Self::Field(f) => format!("field `{}`", f.name()),
            Self::Number(..) | Self::Literal(_) => "the value".into(),
        }
    }
}

fn mismatch(left: &Operand, l: Val<'_>, r: Val<'_>) -> EvalError {
    EvalError(format!(
        "{} is {}, which cannot be compared with {}",
        left.name(),
        l.describe(),
        r.describe()
    ))
}

impl Operand {
    fn field(&self) -> Option<&Field> {
        match self {
            Self::Field(f) => Some(f),
            Self::Number(..) | Self::Literal(_) => None,
        }
    }
}

impl Node {
    /// Adds the top-level fields the node reads to `out`, each once.
    pub(crate) fn top_fields<'a>(&'a self, out: &mut Vec<&'a str>) {
        let mut add = |field: Option<&'a Field>| {
            if let Some(name) = field.and_then(Field::top)
                && !out.contains(&name)
            {
                out.push(name);
            }
        };
        match self {
            Self::And(items) | Self::Or(items) => {
                for item in items {
                    item.top_fields(out);
                }
            }
            Self::Not(inner) => inner.top_fields(out),
            Self::Compare { left, right, .. } => {
                add(left.field());
                add(right.field());
            }
            Self::In { operand, .. } | Self::Regex { operand, .. } | Self::Truthy(operand) => {
                add(operand.field());
            }
            Self::Exists(field) => add(Some(field)),
        }
    }

    /// The field, when the node is `field <cmp> number` on a top-level field (`amount > 10`): what
    /// [`number_shortcut`](Self::number_shortcut) decides.
    pub(crate) fn number_comparison_field(&self) -> Option<&str> {
        match self {
            Self::Compare {
                left: Operand::Field(field),
                cmp,
                right: Operand::Number(..),
            } if *cmp != Cmp::Contains => field.single(),
            _ => None,
        }
    }

    /// For `field <cmp> number`, the result on a record whose field holds `value` when it is a number, as
    /// [`eval`](Self::eval) gives it, with one comparison; `None` for anything else (absent, null, another kind,
    /// a number with no `f64`), which `eval` decides.
    #[inline]
    pub(crate) fn number_shortcut(&self, value: Option<&Value>) -> Option<bool> {
        let Self::Compare {
            left: Operand::Field(_),
            cmp,
            right: Operand::Number(number, _),
        } = self
        else {
            return None;
        };
        let Some(Value::Number(value)) = value else {
            return None;
        };
        let order = value.as_f64()?.partial_cmp(number)?;
        cmp.holds(order)
    }

    /// Whether the node holds for `record`.
    pub(crate) fn eval(&self, record: &Record) -> Result<bool, EvalError> {
        match self {
            Self::Compare { left, cmp, right } => compare(left, *cmp, right, record),
            Self::And(items) => {
                for item in items {
                    if !item.eval(record)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Self::Or(items) => {
                for item in items {
                    if item.eval(record)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Self::Not(inner) => Ok(!inner.eval(record)?),
            Self::Exists(field) => Ok(!matches!(Val::of(field.get(record)), Val::Missing)),
            Self::In {
                operand,
                set,
                negated,
            } => {
                let v = operand.resolve(record);
                let found =
                    !matches!(v, Val::Missing) && set.iter().any(|item| v.loosely_equals(item));
                Ok(found != *negated)
            }
            Self::Regex {
                operand,
                re,
                negated,
            } => match operand.resolve(record) {
                Val::Missing => Ok(*negated),
                Val::Str(s) => Ok(re.is_match(s) != *negated),
                other => Err(EvalError(format!(
                    "{} is {}, but `=~` matches strings",
                    operand.name(),
                    other.describe()
                ))),
            },
            Self::Truthy(operand) => match operand.resolve(record) {
                Val::Missing => Ok(false),
                Val::Bool(b) => Ok(b),
                other => Err(EvalError(format!(
                    "{} is {}, not a boolean (compare it: `==`, `>`, `in`, …)",
                    operand.name(),
                    other.describe()
                ))),
            },
        }
    }
}

#[inline]
fn compare(left: &Operand, cmp: Cmp, right: &Operand, record: &Record) -> Result<bool, EvalError> {
    let (l, r) = (left.resolve(record), right.resolve(record));
    if cmp == Cmp::Contains {
        return match (l, r) {
            (Val::Missing, _) => Ok(false),
            (Val::Str(a), Val::Str(b)) => Ok(a.contains(b)),
            (Val::Other(Value::Array(items)), r) if !matches!(r, Val::Missing) => {
                Ok(items.iter().any(|item| r.loosely_equals(item)))
            }
            _ => Err(mismatch(left, l, r)),
        };
    }
    let order = match (l, r) {
        (Val::Missing, Val::Missing) => {
            return Ok(cmp == Cmp::Eq);
        }
        (Val::Missing, _) | (_, Val::Missing) => return Ok(cmp == Cmp::Ne),
        (Val::Num(a, _), Val::Num(b, _)) => a.partial_cmp(&b),
        (Val::Str(a), Val::Str(b)) => Some(a.cmp(b)),
        (Val::Bool(a), Val::Bool(b)) => Some(a.cmp(&b)),
        (Val::Other(a), Val::Other(b))
            if matches!(cmp, Cmp::Eq | Cmp::Ne) && kind_of(a) == kind_of(b) =>
        {
            return Ok((a == b) == (cmp == Cmp::Eq));
        }
        _ => None,
    };
    let Some(order) = order else {
        return Err(mismatch(left, l, r));
    };
    Ok(cmp.holds(order).unwrap_or(false))
}
