//! The condition language of `[[rules]] when = "..."`: comparisons of named figures with numbers, joined by
//! and / or / not and parentheses. Numbers may carry a unit: `90%` is 90, `500ms` is 0.5, `2m` is 120 (figures
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

/// One side of a comparison: numbers and figures, added and subtracted.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand<F> {
    Num(f64),
    /// A figure with the text it was written as, kept for the context given to actions.
    Fig(F, String),
    Add(Box<Operand<F>>, Box<Operand<F>>),
    Sub(Box<Operand<F>>, Box<Operand<F>>),
}

impl<F> Operand<F> {
    fn has_figure(&self) -> bool {
        match self {
            Operand::Num(_) => false,
            Operand::Fig(..) => true,
            Operand::Add(a, b) | Operand::Sub(a, b) => a.has_figure() || b.has_figure(),
        }
    }

    fn walk<'a>(&'a self, f: &mut dyn FnMut(&'a F, &'a str)) {
        match self {
            Operand::Num(_) => {}
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
    pub fn eval(&self, get: &mut dyn FnMut(&F) -> Option<f64>) -> Option<bool> {
        match self {
            Expr::Cmp(a, op, b) => {
                let a = operand(a, get)?;
                let b = operand(b, get)?;
                Some(op.apply(a, b))
            }
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

fn operand<F>(o: &Operand<F>, get: &mut dyn FnMut(&F) -> Option<f64>) -> Option<f64> {
    let v = match o {
        Operand::Num(n) => *n,
        Operand::Fig(f, _) => get(f)?,
        Operand::Add(a, b) => operand(a, get)? + operand(b, get)?,
        Operand::Sub(a, b) => operand(a, get)? - operand(b, get)?,
    };
    v.is_finite().then_some(v)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
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

pub fn parse<F>(text: &str, resolve: &Resolver<'_, F>) -> Result<Expr<F>, ExprError> {
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

impl<F> Parser<'_, '_, F> {
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
            self.pos += 1;
            let right = self.sum()?;
            if !left.has_figure() && !right.has_figure() {
                return Err(ExprError {
                    offset: at,
                    message: "a comparison of two numbers; one side must be a figure".into(),
                });
            }
            return Ok(Expr::Cmp(left, op, right));
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
        let mut v = self.operand()?;
        let mut terms = 1;
        while let Some(t @ (Tok::Plus | Tok::Minus)) = self.peek().cloned() {
            terms += 1;
            if terms > MAX_DEPTH {
                return Err(ExprError {
                    offset: self.offset(),
                    message: format!("more than {MAX_DEPTH} terms"),
                });
            }
            self.pos += 1;
            let r = self.operand()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn names(name: &str, arg: Option<&str>) -> Result<String, String> {
        match name {
            "a" | "b" | "jvm.heap_pct" | "log.cat-out.oom" => Ok(name.to_string()),
            "host.close_wait" => Ok(format!("cw{}", arg.unwrap_or(""))),
            _ => Err(format!("unknown figure \"{name}\"")),
        }
    }

    fn p(s: &str) -> Result<Expr<String>, ExprError> {
        parse(s, &names)
    }

    fn ev(s: &str, a: Option<f64>, b: Option<f64>) -> Option<bool> {
        p(s).unwrap().eval(&mut |f: &String| match f.as_str() {
            "a" => a,
            "b" => b,
            _ => None,
        })
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
                let _ = e.eval(&mut |_| Some(1.0));
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
    }
}
