//! Call variables and the tiny expression language of flows.
//!
//! - A **template** is text with `${name}` references: `"${account}"`, `"menu-${language}"`.
//! - A **sum** is `operand (+|- operand)*` on whole numbers: `"${tries} + 1"`. Operands are
//!   `${name}` or integer literals; a variable that is unset or not a whole number counts as 0, so
//!   a counter needs no initialisation.
//! - A **condition** is `operand OP operand` with OP one of `== != < <= > >=`; operands are
//!   `${name}`, integers or 'quoted text'. Two whole numbers compare as numbers, anything else as
//!   text.
//!
//! Everything is bounded: at most [`MAX_VARS`] variables per call, each value at most
//! [`MAX_VALUE_BYTES`] bytes (longer values are cut), names at most [`MAX_NAME_BYTES`] bytes, and
//! evaluation writes into fixed-size values, so it never allocates on the channel thread.

use std::fmt::Write as _;

use crate::fixed::FixedStr;

/// Variables one call can hold (built-ins included).
pub const MAX_VARS: usize = 32;
/// Longest variable value, in bytes.
pub const MAX_VALUE_BYTES: usize = 64;
/// Longest variable name, in bytes.
pub const MAX_NAME_BYTES: usize = 32;
/// Longest expression or template text in a flow file, so parsing is bounded.
pub const MAX_EXPR_CHARS: usize = 256;

/// Variables every call has from the start.
pub const BUILTIN_VARS: &[&str] = &["caller", "called", "channel", "call_id", "language", "digits"];

pub type Value = FixedStr<MAX_VALUE_BYTES>;
pub type VarName = FixedStr<MAX_NAME_BYTES>;

/// A call's variables: a fixed table, no heap.
#[derive(Clone)]
pub struct Vars {
    names: [VarName; MAX_VARS],
    values: [Value; MAX_VARS],
    len: usize,
}

impl Default for Vars {
    fn default() -> Self {
        Self {
            names: [VarName::new(); MAX_VARS],
            values: [Value::new(); MAX_VARS],
            len: 0,
        }
    }
}

impl Vars {
    /// The value of `name`; "" when unset.
    pub fn get(&self, name: &str) -> &str {
        self.names[..self.len]
            .iter()
            .position(|n| n.as_str() == name)
            .map_or("", |i| self.values[i].as_str())
    }

    /// Sets `name`; false when the table is full (the value is then dropped).
    pub fn set(&mut self, name: &str, value: &str) -> bool {
        let index = match self.names[..self.len].iter().position(|n| n.as_str() == name) {
            Some(index) => index,
            None if self.len < MAX_VARS => {
                self.names[self.len] = VarName::from_str_truncating(name);
                self.len += 1;
                self.len - 1
            }
            None => return false,
        };
        self.values[index] = Value::from_str_truncating(value);
        true
    }
}

/// Whether `name` can name a variable: `[A-Za-z_][A-Za-z0-9_.]*`, at most MAX_NAME_BYTES (dots for
/// lookup results: `cust.name`).
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok
        && name.len() <= MAX_NAME_BYTES
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    Var(String),
}

/// Text with `${name}` references, parsed once at load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, String> {
        check_length(text)?;
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("`${{` without a closing `}}` in {text:?}"))?;
            let name = &after[..end];
            if !valid_name(name) {
                return Err(format!(
                    "`${{{name}}}` is not a variable name: use letters, digits and _, at most \
                     {MAX_NAME_BYTES} bytes"
                ));
            }
            parts.push(Part::Var(name.to_owned()));
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Template { parts })
    }

    /// The text when it has no variables.
    pub fn as_static(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Text(text)] => Some(text),
            _ => None,
        }
    }

    pub fn var_names(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(name) => Some(name.as_str()),
            Part::Text(_) => None,
        })
    }

    /// Expands with `lookup` into a fixed-size value (cut at MAX_VALUE_BYTES).
    pub fn render_with<'v>(&self, lookup: impl Fn(&str) -> &'v str) -> Value {
        let mut out = Value::new();
        for part in &self.parts {
            let text = match part {
                Part::Text(text) => text.as_str(),
                Part::Var(name) => lookup(name),
            };
            for ch in text.chars() {
                if !out.push(ch) {
                    return out;
                }
            }
        }
        out
    }

    pub fn render(&self, vars: &Vars) -> Value {
        self.render_with(|name| vars.get(name))
    }
}

fn check_length(text: &str) -> Result<(), String> {
    if text.chars().count() > MAX_EXPR_CHARS {
        return Err(format!("longer than {MAX_EXPR_CHARS} characters"));
    }
    Ok(())
}

/// One side of a sum or comparison.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operand {
    Int(i64),
    Text(String),
    Var(String),
}

impl Operand {
    fn parse(token: &str, allow_text: bool) -> Result<Operand, String> {
        if let Some(name) = token.strip_prefix("${").and_then(|t| t.strip_suffix('}')) {
            if valid_name(name) {
                return Ok(Operand::Var(name.to_owned()));
            }
        }
        if let Ok(value) = token.parse::<i64>() {
            return Ok(Operand::Int(value));
        }
        let quoted = token.len() >= 2 && token.starts_with('\'') && token.ends_with('\'');
        if allow_text && quoted {
            return Ok(Operand::Text(token[1..token.len() - 1].to_owned()));
        }
        let kinds = if allow_text {
            "${name}, a whole number or 'text'"
        } else {
            "${name} or a whole number"
        };
        Err(format!("`{token}` is not an operand: expected {kinds}"))
    }

    fn var(&self) -> Option<&str> {
        match self {
            Operand::Var(name) => Some(name),
            _ => None,
        }
    }

    fn text<'a>(&'a self, vars: &'a Vars) -> &'a str {
        match self {
            Operand::Var(name) => vars.get(name),
            Operand::Text(text) => text,
            Operand::Int(_) => "",
        }
    }

    fn int(&self, vars: &Vars) -> Option<i64> {
        match self {
            Operand::Int(value) => Some(*value),
            Operand::Var(name) => vars.get(name).trim().parse().ok(),
            Operand::Text(text) => text.parse().ok(),
        }
    }
}

/// The value of a `set` entry: a template, or a sum when the text is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    Template(Template),
    Sum(Vec<(i64, Operand)>),
}

impl Expr {
    pub fn parse(text: &str) -> Result<Expr, String> {
        check_length(text)?;
        match parse_sum(text) {
            Some(terms) => Ok(Expr::Sum(terms)),
            None => Template::parse(text).map(Expr::Template),
        }
    }

    pub fn var_names(&self) -> Vec<&str> {
        match self {
            Expr::Template(template) => template.var_names().collect(),
            Expr::Sum(terms) => terms.iter().filter_map(|(_, o)| o.var()).collect(),
        }
    }

    pub fn eval(&self, vars: &Vars) -> Value {
        match self {
            Expr::Template(template) => template.render(vars),
            Expr::Sum(terms) => {
                let total = terms.iter().fold(0i64, |acc, (sign, operand)| {
                    acc.saturating_add(sign.saturating_mul(operand.int(vars).unwrap_or(0)))
                });
                let mut out = Value::new();
                // An i64 is at most 20 characters: it always fits.
                let _ = write!(FixedWriter(&mut out), "{total}");
                out
            }
        }
    }
}

/// `a + b - c` with at least one operator, or None when the text is not a sum.
fn parse_sum(text: &str) -> Option<Vec<(i64, Operand)>> {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    if tokens.len() < 3 || tokens.len() % 2 == 0 {
        return None;
    }
    let mut terms = vec![(1, Operand::parse(tokens[0], false).ok()?)];
    for pair in tokens[1..].chunks(2) {
        let sign = match pair[0] {
            "+" => 1,
            "-" => -1,
            _ => return None,
        };
        terms.push((sign, Operand::parse(pair[1], false).ok()?));
    }
    Some(terms)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// `lhs OP rhs`, as in a `branch` arm's `if`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cond {
    lhs: Operand,
    op: CmpOp,
    rhs: Operand,
}

impl Cond {
    pub fn parse(text: &str) -> Result<Cond, String> {
        check_length(text)?;
        let tokens: Vec<&str> = text.split_whitespace().collect();
        let [lhs, op, rhs] = tokens.as_slice() else {
            return Err(format!(
                "{text:?} is not a comparison: write `A OP B` with spaces, OP one of == != < <= > >=, \
                 e.g. \"${{tries}} > 3\""
            ));
        };
        let op = match *op {
            "==" => CmpOp::Eq,
            "!=" => CmpOp::Ne,
            "<" => CmpOp::Lt,
            "<=" => CmpOp::Le,
            ">" => CmpOp::Gt,
            ">=" => CmpOp::Ge,
            other => return Err(format!("`{other}` is not a comparison: use == != < <= > >=")),
        };
        let lhs = Operand::parse(lhs, true)?;
        let rhs = Operand::parse(rhs, true)?;
        Ok(Cond { lhs, op, rhs })
    }

    pub fn var_names(&self) -> impl Iterator<Item = &str> {
        self.lhs.var().into_iter().chain(self.rhs.var())
    }

    pub fn eval(&self, vars: &Vars) -> bool {
        let ordering = match (self.lhs.int(vars), self.rhs.int(vars)) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => self.lhs.text(vars).cmp(self.rhs.text(vars)),
        };
        match self.op {
            CmpOp::Eq => ordering.is_eq(),
            CmpOp::Ne => ordering.is_ne(),
            CmpOp::Lt => ordering.is_lt(),
            CmpOp::Le => ordering.is_le(),
            CmpOp::Gt => ordering.is_gt(),
            CmpOp::Ge => ordering.is_ge(),
        }
    }
}

/// `fmt::Write` into a fixed value, cutting what does not fit.
struct FixedWriter<'a>(&'a mut Value);

impl std::fmt::Write for FixedWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        for ch in s.chars() {
            self.0.push(ch);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        let mut vars = Vars::default();
        for (name, value) in pairs {
            assert!(vars.set(name, value));
        }
        vars
    }

    #[test]
    fn templates_expand_and_unset_is_empty() {
        let t = Template::parse("menu-${language}-${nope}!").unwrap();
        assert_eq!(t.render(&vars(&[("language", "zh")])).as_str(), "menu-zh-!");
        assert_eq!(Template::parse("plain").unwrap().as_static(), Some("plain"));
        assert!(Template::parse("${oops").is_err());
        assert!(Template::parse("${1x}").is_err());
    }

    #[test]
    fn sums_count_unset_as_zero_and_saturate() {
        let v = vars(&[("tries", "2"), ("big", "9223372036854775807")]);
        assert_eq!(Expr::parse("${tries} + 1").unwrap().eval(&v).as_str(), "3");
        assert_eq!(Expr::parse("${none} - 4 + 1").unwrap().eval(&v).as_str(), "-3");
        assert_eq!(
            Expr::parse("${big} + 1").unwrap().eval(&v).as_str(),
            "9223372036854775807"
        );
        assert_eq!(Expr::parse("zh").unwrap().eval(&v).as_str(), "zh");
        assert_eq!(
            Expr::parse("a + b").unwrap().eval(&v).as_str(),
            "a + b",
            "not a sum: text"
        );
    }

    #[test]
    fn conditions_compare_numbers_as_numbers_and_text_as_text() {
        let v = vars(&[("n", "10"), ("lang", "zh")]);
        assert!(Cond::parse("${n} > 9").unwrap().eval(&v));
        assert!(!Cond::parse("${n} < 9").unwrap().eval(&v));
        assert!(Cond::parse("${lang} == 'zh'").unwrap().eval(&v));
        assert!(Cond::parse("${lang} != 'en'").unwrap().eval(&v));
        assert!(Cond::parse("${n} => 1").is_err());
        assert!(Cond::parse("${n}>1").is_err());
    }

    #[test]
    fn the_table_is_bounded() {
        let mut v = Vars::default();
        for i in 0..MAX_VARS {
            assert!(v.set(&format!("v{i}"), "x"));
        }
        assert!(!v.set("one_more", "x"));
        assert!(v.set("v0", &"y".repeat(100)), "overwriting needs no new slot");
        assert_eq!(v.get("v0").len(), MAX_VALUE_BYTES);
    }
}
