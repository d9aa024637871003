//! The condition language of `[[rules]] when = "..."`: comparisons of named figures with numbers, joined by
//! and / or / not and parentheses. Text figures (an event's `event.kind`, `event.app`) compare with quoted
//! strings (`"oom_kill"` or `'oom_kill'`), with `==` and `!=` only. Numbers may carry a unit: `90%` is 90, `500ms` is 0.5, `2m` is 120 (figures
//! are in percent and seconds). Values may be added and subtracted (`log.db.attempt.total -
//! log.db.complete.total > 5`; a minus between names needs spaces, as names may contain '-'). A bare figure
//! is true when it is non-zero (`check.db.up`).
//!
//! The parser is generic over what a figure resolves to, so that it knows nothing of the collected model; the
//! resolver turns a name such as `host.close_wait[8080]` into the caller's figure type or says why it cannot.
//! Evaluation is three-valued: a figure missing from a collection makes its comparison unknown, and a rule
//! fires only on a definite true.

use std::fmt;

/// A parse error at a byte offset of the expression text.
#[derive(Debug, Clone, PartialEq)]
pub struct ExprError {
    pub offset: usize,
    pub message: String,
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at character {})", self.message, self.offset + 1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Cmp {
    fn apply(self, a: f64, b: f64) -> bool {
        match self {
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Eq => a == b,
            Cmp::Ne => a != b,
        }
    }
}

/// What a figure holds. Checked when the condition is read, so that `event.kind > 3` or
/// `jvm.heap_pct == "x"` is a configuration error and not a rule that is silently never true.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Num,
    Text,
}

/// What the parser asks of a figure: its type, and whether a string it is compared with can ever match
/// (so that `event.kind == "oom_kil"` is refused where it is written).
pub trait Typed {
    fn ty(&self) -> Type {
        Type::Num
    }
    fn check_text(&self, _literal: &str) -> Result<(), String> {
        Ok(())
    }
}

/// A figure's value in one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Num(f64),
    Text(String),
}

/// One side of a comparison: numbers and figures, added and subtracted, or a string.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand<F> {
    Num(f64),
    Str(String),
    /// A figure with the text it was written as, kept for the context given to actions.
    Fig(F, String),
    Add(Box<Operand<F>>, Box<Operand<F>>),
    Sub(Box<Operand<F>>, Box<Operand<F>>),
}

impl<F> Operand<F> {
    fn has_figure(&self) -> bool {
        match self {
            Operand::Num(_) | Operand::Str(_) => false,
            Operand::Fig(..) => true,
            Operand::Add(a, b) | Operand::Sub(a, b) => a.has_figure() || b.has_figure(),
        }
    }

    fn walk<'a>(&'a self, f: &mut dyn FnMut(&'a F, &'a str)) {
        match self {
            Operand::Num(_) | Operand::Str(_) => {}
            Operand::Fig(x, s) => f(x, s),
            Operand::Add(a, b) | Operand::Sub(a, b) => {
                a.walk(f);
                b.walk(f);
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr<F> {
    Cmp(Operand<F>, Cmp, Operand<F>),
    /// A value on its own: true when non-zero.
    Truthy(Operand<F>),
    Not(Box<Expr<F>>),
    And(Box<Expr<F>>, Box<Expr<F>>),
    Or(Box<Expr<F>>, Box<Expr<F>>),
}

impl<F> Expr<F> {
    /// Kleene logic: None is "unknown" (a figure was missing).
    pub fn eval(&self, get: &mut dyn FnMut(&F) -> Option<Value>) -> Option<bool> {
        match self {
            Expr::Cmp(a, op, b) => match (a, b) {
                (Operand::Str(_), _)
                | (_, Operand::Str(_))
                | (Operand::Fig(..), Operand::Fig(..)) => match (text(a, get)?, text(b, get)?) {
                    (Value::Text(a), Value::Text(b)) => match op {
                        Cmp::Eq => Some(a == b),
                        Cmp::Ne => Some(a != b),
                        _ => None,
                    },
                    (Value::Num(a), Value::Num(b)) => Some(op.apply(a, b)),
                    _ => None,
                },
                _ => Some(op.apply(operand(a, get)?, operand(b, get)?)),
            },
            Expr::Truthy(o) => operand(o, get).map(|v| v != 0.0),
            Expr::Not(e) => e.eval(get).map(|b| !b),
            Expr::And(a, b) => match (a.eval(get), b.eval(get)) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
            Expr::Or(a, b) => match (a.eval(get), b.eval(get)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
        }
    }

    /// Every figure the expression reads, with the text it was written as.
    pub fn figures(&self) -> Vec<(&F, &str)> {
        let mut out = Vec::new();
        self.walk(&mut |f, s| out.push((f, s)));
        out
    }

    fn walk<'a>(&'a self, f: &mut dyn FnMut(&'a F, &'a str)) {
        match self {
            Expr::Cmp(a, _, b) => {
                a.walk(f);
                b.walk(f);
            }
            Expr::Truthy(o) => o.walk(f),
            Expr::Not(e) => e.walk(f),
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.walk(f);
                b.walk(f);
            }
        }
    }
}

/// A side that may be text: a string, a figure of either type, or a number.
fn text<F>(o: &Operand<F>, get: &mut dyn FnMut(&F) -> Option<Value>) -> Option<Value> {
    match o {
        Operand::Str(s) => Some(Value::Text(s.clone())),
        Operand::Fig(f, _) => match get(f)? {
            Value::Num(n) => n.is_finite().then_some(Value::Num(n)),
            t => Some(t),
        },
        _ => operand(o, get).map(Value::Num),
    }
}

fn operand<F>(o: &Operand<F>, get: &mut dyn FnMut(&F) -> Option<Value>) -> Option<f64> {
    let v = match o {
        Operand::Num(n) => *n,
        // The parser keeps text out of arithmetic; a resolver that breaks that gets "unknown".
        Operand::Str(_) => return None,
        Operand::Fig(f, _) => match get(f)? {
            Value::Num(n) => n,
            Value::Text(_) => return None,
        },
        Operand::Add(a, b) => operand(a, get)? + operand(b, get)?,
        Operand::Sub(a, b) => operand(a, get)? - operand(b, get)?,
    };
    v.is_finite().then_some(v)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Str(String),
    /// A dotted name and its optional `[argument]`.
    Name(String, Option<String>),
    Op(Cmp),
    Plus,
    Minus,
    And,
    Or,
    Not,
    LParen,
    RParen,
}

/// Resolves a figure name (and its `[argument]`) to the caller's figure type.
pub type Resolver<'a, F> = dyn Fn(&str, Option<&str>) -> Result<F, String> + 'a;

/// Longest accepted expression: a rule is one line an operator writes, not a program.
const MAX_LEN: usize = 4096;
/// Nesting bound, so that "((((...": is an error and not a stack overflow.
const MAX_DEPTH: usize = 64;

pub fn parse<F: Typed>(text: &str, resolve: &Resolver<'_, F>) -> Result<Expr<F>, ExprError> {
    if text.len() > MAX_LEN {
        return Err(ExprError {
            offset: 0,
            message: format!("the condition is longer than {MAX_LEN} characters"),
        });
    }
    let toks = lex(text)?;
    if toks.is_empty() {
        return Err(ExprError {
            offset: 0,
            message: "an empty condition; write e.g. \"jvm.heap_pct > 90%\"".into(),
        });
    }
    let mut p = Parser {
        toks,
        pos: 0,
        end: text.len(),
        resolve,
        depth: 0,
    };
    let e = p.or()?;
    if let Some((off, t)) = p.toks.get(p.pos) {
        return Err(ExprError {
            offset: *off,
            message: format!("expected \"and\", \"or\" or the end, found {}", describe(t)),
        });
    }
    Ok(e)
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Num(n) => format!("the number {n}"),
        Tok::Str(s) => format!("the string \"{s}\""),
        Tok::Name(n, _) => format!("\"{n}\""),
        Tok::Op(_) => "a comparison".into(),
        Tok::Plus => "\"+\"".into(),
        Tok::Minus => "\"-\"".into(),
        Tok::And => "\"and\"".into(),
        Tok::Or => "\"or\"".into(),
        Tok::Not => "\"not\"".into(),
        Tok::LParen => "\"(\"".into(),
        Tok::RParen => "\")\"".into(),
    }
}

fn lex(s: &str) -> Result<Vec<(usize, Tok)>, ExprError> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |offset, message: String| ExprError { offset, message };
    while i < b.len() {
        let c = b[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'(' => {
                out.push((start, Tok::LParen));
                i += 1;
            }
            b')' => {
                out.push((start, Tok::RParen));
                i += 1;
            }
            b'>' | b'<' | b'=' | b'!' => {
                let two = b.get(i + 1) == Some(&b'=');
                let tok = match (c, two) {
                    (b'>', true) => Tok::Op(Cmp::Ge),
                    (b'>', false) => Tok::Op(Cmp::Gt),
                    (b'<', true) => Tok::Op(Cmp::Le),
                    (b'<', false) => Tok::Op(Cmp::Lt),
                    (b'=', true) => Tok::Op(Cmp::Eq),
                    (b'!', true) => Tok::Op(Cmp::Ne),
                    (b'!', false) => Tok::Not,
                    _ => {
                        return Err(err(
                            start,
                            "\"=\" alone is not a comparison; write \"==\"".into(),
                        ));
                    }
                };
                i += if two { 2 } else { 1 };
                out.push((start, tok));
            }
            b'&' | b'|' => {
                if b.get(i + 1) != Some(&c) {
                    return Err(err(
                        start,
                        format!(
                            "write \"{0}{0}\" or \"{1}\"",
                            c as char,
                            if c == b'&' { "and" } else { "or" }
                        ),
                    ));
                }
                out.push((start, if c == b'&' { Tok::And } else { Tok::Or }));
                i += 2;
            }
            // A string ends at the same quote it began with; no escapes (use the other quote inside).
            b'"' | b'\'' => {
                let close = s[i + 1..]
                    .find(c as char)
                    .map(|p| p + i + 1)
                    .ok_or_else(|| err(start, "a string without its closing quote".into()))?;
                out.push((start, Tok::Str(s[i + 1..close].to_string())));
                i = close + 1;
            }
            b'+' => {
                out.push((start, Tok::Plus));
                i += 1;
            }
            // A minus after a value subtracts; anywhere else it signs a number.
            b'-' if matches!(
                out.last(),
                Some((_, Tok::Num(_) | Tok::Name(..) | Tok::RParen))
            ) || !matches!(b.get(i + 1), Some(b'0'..=b'9' | b'.')) =>
            {
                out.push((start, Tok::Minus));
                i += 1;
            }
            b'0'..=b'9' | b'.' | b'-' => {
                i += 1;
                while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                    i += 1;
                }
                let num = &s[start..i];
                let n: f64 = num
                    .parse()
                    .map_err(|_| err(start, format!("\"{num}\" is not a number")))?;
                let ustart = i;
                while i < b.len() && (b[i].is_ascii_alphabetic() || b[i] == b'%') {
                    i += 1;
                }
                let mult = match &s[ustart..i] {
                    "" | "%" => 1.0,
                    "ms" => 0.001,
                    "s" => 1.0,
                    "m" => 60.0,
                    "h" => 3600.0,
                    "d" => 86400.0,
                    u => {
                        return Err(err(
                            ustart,
                            format!("unknown unit \"{u}\" (units: %, ms, s, m, h, d)"),
                        ));
                    }
                };
                out.push((start, Tok::Num(n * mult)));
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b'.' | b'-'))
                {
                    i += 1;
                }
                let word = &s[start..i];
                match word.to_ascii_lowercase().as_str() {
                    "and" => out.push((start, Tok::And)),
                    "or" => out.push((start, Tok::Or)),
                    "not" => out.push((start, Tok::Not)),
                    _ => {
                        let mut arg = None;
                        if b.get(i) == Some(&b'[') {
                            let close = s[i..]
                                .find(']')
                                .map(|p| p + i)
                                .ok_or_else(|| err(i, "\"[\" without its \"]\"".into()))?;
                            arg = Some(s[i + 1..close].trim().to_string());
                            i = close + 1;
                        }
                        out.push((start, Tok::Name(word.to_string(), arg)));
                    }
                }
            }
            _ => {
                let ch = s[start..].chars().next().unwrap_or('?');
                return Err(err(start, format!("unexpected character '{ch}'")));
            }
        }
    }
    Ok(out)
}

struct Parser<'r, 'a, F> {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    end: usize,
    resolve: &'r Resolver<'a, F>,
    depth: usize,
}

impl<F: Typed> Parser<'_, '_, F> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }

    fn offset(&self) -> usize {
        self.toks.get(self.pos).map(|(o, _)| *o).unwrap_or(self.end)
    }

    fn or(&mut self) -> Result<Expr<F>, ExprError> {
        let mut e = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr<F>, ExprError> {
        let mut e = self.not()?;
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            e = Expr::And(Box::new(e), Box::new(self.not()?));
        }
        Ok(e)
    }

    fn not(&mut self) -> Result<Expr<F>, ExprError> {
        if self.peek() == Some(&Tok::Not) {
            self.pos += 1;
            self.nest()?;
            let e = self.not();
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(e?)));
        }
        self.atom()
    }

    fn nest(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ExprError {
                offset: self.offset(),
                message: format!("nested deeper than {MAX_DEPTH} levels"),
            });
        }
        Ok(())
    }

    fn atom(&mut self) -> Result<Expr<F>, ExprError> {
        if self.peek() == Some(&Tok::LParen) {
            let open = self.offset();
            self.pos += 1;
            self.nest()?;
            let e = self.or();
            self.depth -= 1;
            let e = e?;
            if self.peek() != Some(&Tok::RParen) {
                return Err(ExprError {
                    offset: self.offset(),
                    message: format!("\"(\" at character {} is not closed", open + 1),
                });
            }
            self.pos += 1;
            return Ok(e);
        }
        let at = self.offset();
        let left = self.sum()?;
        if let Some(Tok::Op(op)) = self.peek().cloned() {
            let op_at = self.offset();
            self.pos += 1;
            let rat = self.offset();
            let right = self.sum()?;
            if !left.has_figure() && !right.has_figure() {
                return Err(ExprError {
                    offset: at,
                    message: "a comparison of two values; one side must be a figure".into(),
                });
            }
            typecheck(&left, at, op, op_at, &right, rat)?;
            return Ok(Expr::Cmp(left, op, right));
        }
        if let Some(name) = text_name(&left) {
            return Err(ExprError {
                offset: at,
                message: format!(
                    "{name} is text, not a condition; compare it with a string, e.g. {name} == \"...\""
                ),
            });
        }
        if matches!(left, Operand::Str(_)) {
            return Err(ExprError {
                offset: at,
                message: "a string alone is not a condition; compare a figure with it, e.g. event.kind == \"oom_kill\"".into(),
            });
        }
        if !left.has_figure() {
            return Err(ExprError {
                offset: at,
                message: "a number alone is not a condition; compare a figure with it, e.g. \"jvm.heap_pct > 90%\"".into(),
            });
        }
        Ok(Expr::Truthy(left))
    }

    /// Values added and subtracted, left to right.
    fn sum(&mut self) -> Result<Operand<F>, ExprError> {
        let first = self.offset();
        let mut v = self.operand()?;
        let mut terms = 1;
        while let Some(t @ (Tok::Plus | Tok::Minus)) = self.peek().cloned() {
            if terms == 1 {
                no_text_in_sum(&v, first)?;
            }
            terms += 1;
            if terms > MAX_DEPTH {
                return Err(ExprError {
                    offset: self.offset(),
                    message: format!("more than {MAX_DEPTH} terms"),
                });
            }
            self.pos += 1;
            let rat = self.offset();
            let r = self.operand()?;
            no_text_in_sum(&r, rat)?;
            v = if t == Tok::Plus {
                Operand::Add(Box::new(v), Box::new(r))
            } else {
                Operand::Sub(Box::new(v), Box::new(r))
            };
        }
        Ok(v)
    }

    fn operand(&mut self) -> Result<Operand<F>, ExprError> {
        let at = self.offset();
        match self.toks.get(self.pos).map(|(_, t)| t.clone()) {
            Some(Tok::Num(n)) => {
                self.pos += 1;
                Ok(Operand::Num(n))
            }
            Some(Tok::Str(s)) => {
                self.pos += 1;
                Ok(Operand::Str(s))
            }
            Some(Tok::Name(name, arg)) => {
                self.pos += 1;
                let f = (self.resolve)(&name, arg.as_deref()).map_err(|message| ExprError {
                    offset: at,
                    message,
                })?;
                let text = match &arg {
                    Some(a) => format!("{name}[{a}]"),
                    None => name,
                };
                Ok(Operand::Fig(f, text))
            }
            Some(t) => Err(ExprError {
                offset: at,
                message: format!("expected a figure or a number, found {}", describe(&t)),
            }),
            None => Err(ExprError {
                offset: at,
                message: "the condition ends too early: expected a figure or a number".into(),
            }),
        }
    }
}

/// The written name of a text figure standing alone.
fn text_name<F: Typed>(o: &Operand<F>) -> Option<&str> {
    match o {
        Operand::Fig(f, name) if f.ty() == Type::Text => Some(name),
        _ => None,
    }
}

fn no_text_in_sum<F: Typed>(o: &Operand<F>, at: usize) -> Result<(), ExprError> {
    let what = match (o, text_name(o)) {
        (_, Some(name)) => name.to_string(),
        (Operand::Str(_), _) => "a string".into(),
        _ => return Ok(()),
    };
    Err(ExprError {
        offset: at,
        message: format!("{what} is text: it cannot be added or subtracted"),
    })
}

/// Text compares with text, with == and != only; a string compared with a figure must be one it can hold.
fn typecheck<F: Typed>(
    left: &Operand<F>,
    lat: usize,
    op: Cmp,
    op_at: usize,
    right: &Operand<F>,
    rat: usize,
) -> Result<(), ExprError> {
    let ty = |o: &Operand<F>| match o {
        Operand::Str(_) => Type::Text,
        Operand::Fig(f, _) => f.ty(),
        _ => Type::Num,
    };
    let (lt, rt) = (ty(left), ty(right));
    let e = |offset, message| Err(ExprError { offset, message });
    if lt != rt {
        // Point at the side that is not what the other side is: the text figure's partner, or the string.
        let (fig, other, at) = match (left, right) {
            (Operand::Fig(..), _) => (left, right, rat),
            (_, Operand::Fig(..)) => (right, left, lat),
            _ => (left, right, rat),
        };
        let name = match fig {
            Operand::Fig(_, n) => n.as_str(),
            _ => "it",
        };
        return match (ty(fig), other) {
            (Type::Text, _) => e(
                at,
                format!("{name} is text: compare it with a string, e.g. {name} == \"...\""),
            ),
            (Type::Num, Operand::Str(s)) => e(
                at,
                format!("{name} is a number: compare it with a number, not the string \"{s}\""),
            ),
            _ => e(at, "a number compared with text".into()),
        };
    }
    if lt == Type::Text {
        if !matches!(op, Cmp::Eq | Cmp::Ne) {
            return e(op_at, "text compares only with == and !=".into());
        }
        for (fig, lit, at) in [(left, right, rat), (right, left, lat)] {
            if let (Operand::Fig(f, _), Operand::Str(s)) = (fig, lit) {
                f.check_text(s).map_err(|message| ExprError {
                    offset: at,
                    message,
                })?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test figures: names starting with "t." are text; "t.kind" holds only "x" or "y".
    impl Typed for String {
        fn ty(&self) -> Type {
            if self.starts_with("t.") {
                Type::Text
            } else {
                Type::Num
            }
        }
        fn check_text(&self, lit: &str) -> Result<(), String> {
            if self == "t.kind" && !matches!(lit, "x" | "y") {
                return Err(format!("unknown kind \"{lit}\""));
            }
            Ok(())
        }
    }

    fn names(name: &str, arg: Option<&str>) -> Result<String, String> {
        match name {
            "a" | "b" | "jvm.heap_pct" | "log.cat-out.oom" | "t.kind" | "t.app" => {
                Ok(name.to_string())
            }
            "host.close_wait" => Ok(format!("cw{}", arg.unwrap_or(""))),
            _ => Err(format!("unknown figure \"{name}\"")),
        }
    }

    fn p(s: &str) -> Result<Expr<String>, ExprError> {
        parse(s, &names)
    }

    fn ev(s: &str, a: Option<f64>, b: Option<f64>) -> Option<bool> {
        p(s).unwrap().eval(&mut |f: &String| match f.as_str() {
            "a" => a.map(Value::Num),
            "b" => b.map(Value::Num),
            _ => None,
        })
    }

    /// Evaluates with text figures t.kind and t.app (None: no event) and a = 1.
    fn evt(s: &str, kind: Option<&str>, app: Option<&str>) -> Option<bool> {
        p(s).unwrap_or_else(|e| panic!("{s}: {e}"))
            .eval(&mut |f: &String| match f.as_str() {
                "a" => Some(Value::Num(1.0)),
                "t.kind" => kind.map(|k| Value::Text(k.into())),
                "t.app" => app.map(|k| Value::Text(k.into())),
                _ => None,
            })
    }

    #[test]
    fn strings_compare_with_text_figures() {
        let s = r#"t.kind == "x" && t.app == 'shop'"#;
        assert_eq!(evt(s, Some("x"), Some("shop")), Some(true));
        assert_eq!(evt(s, Some("x"), Some("orders")), Some(false));
        assert_eq!(evt(s, Some("y"), None), Some(false), "false and unknown");
        assert_eq!(evt(s, None, None), None, "no event: unknown, never true");
        assert_eq!(evt(r#""x" == t.kind"#, Some("x"), None), Some(true));
        assert_eq!(evt(r#"t.kind != "x" or a > 0"#, None, None), Some(true));
        assert_eq!(evt(r#"!(t.kind == "x")"#, Some("y"), None), Some(true));
        assert_eq!(evt(r#"t.app == t.app"#, None, Some("a b")), Some(true));
        // A string may hold what names cannot: spaces, dots, the other quote.
        assert_eq!(
            evt(r#"t.app == "it's a-b.c""#, None, Some("it's a-b.c")),
            Some(true)
        );
        assert_eq!(evt(r#"t.app == ''"#, None, Some("")), Some(true));
    }

    #[test]
    fn text_type_errors_point_at_the_offending_side() {
        let err = |s: &str| p(s).unwrap_err();
        let e = err(r#"a > 1 and t.kind == "oom""#);
        assert_eq!(e.offset, 20, "{e}");
        assert!(e.message.contains("unknown kind"), "{e}");
        let e = err(r#"t.kind > "x""#);
        assert_eq!(
            (e.offset, e.message.as_str()),
            (7, "text compares only with == and !=")
        );
        let e = err("t.kind == 3");
        assert_eq!(e.offset, 10, "{e}");
        assert!(e.message.contains("t.kind is text"), "{e}");
        let e = err("3 == t.app");
        assert_eq!(e.offset, 0, "{e}");
        let e = err("a == \"x\"");
        assert_eq!(e.offset, 5, "{e}");
        assert!(e.message.contains("a is a number"), "{e}");
        let e = err("t.app");
        assert!(e.message.contains("t.app is text"), "{e}");
        let e = err("\"x\"");
        assert!(e.message.contains("a string alone"), "{e}");
        let e = err("\"x\" == \"x\"");
        assert!(e.message.contains("one side must be a figure"), "{e}");
        let e = err("a + t.app > 1");
        assert_eq!(e.offset, 4, "{e}");
        let e = err("t.app - a > 1");
        assert_eq!(e.offset, 0, "{e}");
        let e = err("a == \"x");
        assert_eq!(e.offset, 5, "{e}");
        assert!(e.message.contains("closing quote"), "{e}");
    }

    #[test]
    fn comparisons_units_and_precedence() {
        assert_eq!(ev("a > 90%", Some(91.0), None), Some(true));
        assert_eq!(ev("a >= 2m", Some(120.0), None), Some(true));
        assert_eq!(ev("a < 500ms", Some(0.4), None), Some(true));
        assert_eq!(ev("90 < a", Some(91.0), None), Some(true));
        // and binds tighter than or.
        assert_eq!(
            ev("a > 1 or a > 5 and b > 5", Some(2.0), Some(0.0)),
            Some(true)
        );
        assert_eq!(
            ev("(a > 1 or a > 5) and b > 5", Some(2.0), Some(0.0)),
            Some(false)
        );
        assert_eq!(ev("not a > 1", Some(0.0), None), Some(true));
        assert_eq!(ev("!(a > 1) && b", Some(0.0), Some(3.0)), Some(true));
        assert_eq!(ev("a == -1 || a != 2", Some(-1.0), None), Some(true));
        // Sums and differences; a minus after a value subtracts, elsewhere it signs.
        assert_eq!(ev("a - b > 5", Some(10.0), Some(4.0)), Some(true));
        assert_eq!(ev("a - b > 5", Some(10.0), Some(5.0)), Some(false));
        assert_eq!(ev("a -1 > 5", Some(7.0), None), Some(true));
        assert_eq!(ev("a + b + 1 >= 3", Some(1.0), Some(1.0)), Some(true));
        assert_eq!(ev("a - b", Some(1.0), Some(1.0)), Some(false));
        assert_eq!(ev("a - b > 0", Some(1.0), None), None);
        assert!(p("1 - 2 > 0").is_err());
    }

    #[test]
    fn missing_figures_are_unknown_not_false() {
        assert_eq!(ev("a > 1", None, None), None);
        assert_eq!(ev("not a > 1", None, None), None);
        assert_eq!(ev("a > 1 and b > 1", None, Some(0.0)), Some(false));
        assert_eq!(ev("a > 1 or b > 1", None, Some(2.0)), Some(true));
        assert_eq!(ev("a > 1 or b > 1", None, Some(0.0)), None);
    }

    #[test]
    fn names_with_dashes_and_arguments() {
        let e = p("log.cat-out.oom > 0 and host.close_wait[8080] > 100").unwrap();
        let figs: Vec<&str> = e.figures().into_iter().map(|(_, s)| s).collect();
        assert_eq!(figs, ["log.cat-out.oom", "host.close_wait[8080]"]);
    }

    #[test]
    fn errors_point_at_the_offending_token() {
        let e = p("jvm.heap_pct > 90 and jvm.heap_pcx > 1").unwrap_err();
        assert_eq!(e.offset, 22, "{e}");
        assert!(e.message.contains("unknown figure"), "{e}");
        assert_eq!(p("a > 90x").unwrap_err().offset, 6);
        assert_eq!(p("a > ").unwrap_err().offset, 4);
        assert_eq!(p("(a > 1").unwrap_err().offset, 6);
        assert_eq!(p("a > 1 b").unwrap_err().offset, 6);
        assert_eq!(p("a = 1").unwrap_err().offset, 2);
        assert_eq!(p("a > 1 $").unwrap_err().offset, 6);
        assert!(p("90 > 1").is_err());
        assert!(p("90").is_err());
        assert!(p("").is_err());
        assert!(p("a > 1 > 2").is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let s = format!("{}a > 1{}", "(".repeat(1000), ")".repeat(1000));
        assert!(p(&s).unwrap_err().message.contains("nested"));
        let s = format!("{}a > 1", "not ".repeat(1000));
        assert!(p(&s).is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,80}") {
            if let Ok(e) = p(&s) {
                let _ = e.eval(&mut |_| Some(Value::Num(1.0)));
            }
        }

        #[test]
        fn never_panics_on_near_misses(s in "[ab()<>=!&|. 0-9%msnotadr\\[\\]+-]{0,60}") {
            if let Ok(e) = p(&s) {
                let _ = e.eval(&mut |_| None);
            } else if let Err(e) = p(&s) {
                proptest::prop_assert!(e.offset <= s.len());
            }
        }

        #[test]
        fn never_panics_on_strings(s in "(t\\.kind|t\\.app|a|\"x\"|'y'|\"|'|==|!=|>|&&|\\|\\||!|\\(|\\)|-|\\+| |1|é){0,24}") {
            match p(&s) {
                Ok(e) => {
                    let _ = e.eval(&mut |f: &String| Some(if f.starts_with("t.") {
                        Value::Text("x".into())
                    } else {
                        Value::Num(1.0)
                    }));
                    // A type slip a resolver might make is "unknown", never a panic.
                    let _ = e.eval(&mut |_| Some(Value::Text("é".into())));
                    let _ = e.eval(&mut |_| Some(Value::Num(f64::NAN)));
                }
                Err(e) => {
                    proptest::prop_assert!(e.offset <= s.len());
                    proptest::prop_assert!(s.is_char_boundary(e.offset));
                }
            }
        }
    }
}
