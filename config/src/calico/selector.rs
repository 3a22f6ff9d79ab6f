//! Calico's label selector language (libcalico-go `lib/selector`), as used by `BGPPeer.nodeSelector`,
//! `BGPPeer.peerSelector` and `IPPool.nodeSelector`.
//!
//! Grammar, lowest precedence first (Calico's parser: `||` over `&&` over a possibly negated
//! operation; parentheses group):
//!
//! ```text
//! or        := and ( "||" and )*
//! and       := operation ( "&&" operation )*
//! operation := "!"* ( "all()" | "global()" | "has(" label ")" | "(" or ")"
//!                    | label ( "==" | "!=" | "contains" | "starts with" | "ends with" ) string
//!                    | label ( "in" | "not in" ) "{" [ string ( "," string )* [","] ] "}" )
//! label     := [a-zA-Z0-9_./-]+
//! string    := "'" [^']* "'" | '"' [^"]* '"'     (no escapes)
//! ```
//!
//! Whitespace is spaces and tabs only. An empty selector selects everything, like `all()`.
//! `k != 'v'` and `k not in {…}` also match objects without label `k`; `global()` matches every
//! object (it only narrows namespaced selectors, and nodes are not namespaced).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::char;
use nom::combinator::{map, opt};
use nom::sequence::{delimited, preceded, terminated};
use nom::{IResult, Parser};

/// A parsed selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    root: Expr,
    text: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Expr {
    All,
    Global,
    Has(String),
    Eq(String, String),
    Ne(String, String),
    Contains(String, String),
    StartsWith(String, String),
    EndsWith(String, String),
    In(String, BTreeSet<String>),
    NotIn(String, BTreeSet<String>),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

/// Why a selector did not parse, and where: `column` counts characters from 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectorError {
    pub column: usize,
    pub message: String,
}

impl fmt::Display for SelectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column, self.message)
    }
}

impl std::error::Error for SelectorError {}

impl Selector {
    /// Parses `text`; an empty (or all-blank) selector is `all()`.
    pub fn parse(text: &str) -> Result<Selector, SelectorError> {
        let column_of = |rest: &str| text[..text.len() - rest.len()].chars().count() + 1;
        if text.trim_matches(is_blank).is_empty() {
            return Ok(Selector { root: Expr::All, text: text.to_string() });
        }
        let root = match or_expr(text) {
            Ok((rest, root)) => {
                if !rest.is_empty() {
                    return Err(SelectorError {
                        column: column_of(rest),
                        message: "unexpected content at end of selector".to_string(),
                    });
                }
                root
            }
            Err(nom::Err::Error(e) | nom::Err::Failure(e)) => {
                return Err(SelectorError { column: column_of(e.at), message: e.message.to_string() });
            }
            Err(nom::Err::Incomplete(_)) => {
                return Err(SelectorError { column: column_of(""), message: "unexpected end of selector".into() })
            }
        };
        Ok(Selector { root, text: text.to_string() })
    }

    /// The selector that matches everything.
    pub fn all() -> Selector {
        Selector { root: Expr::All, text: "all()".to_string() }
    }

    /// The text it was parsed from.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.root.eval(labels)
    }
}

impl Expr {
    fn eval(&self, labels: &BTreeMap<String, String>) -> bool {
        let get = |k: &String| labels.get(k).map(String::as_str);
        match self {
            Expr::All | Expr::Global => true,
            Expr::Has(k) => labels.contains_key(k),
            Expr::Eq(k, v) => get(k) == Some(v.as_str()),
            Expr::Ne(k, v) => get(k) != Some(v.as_str()),
            Expr::Contains(k, v) => get(k).is_some_and(|x| x.contains(v.as_str())),
            Expr::StartsWith(k, v) => get(k).is_some_and(|x| x.starts_with(v.as_str())),
            Expr::EndsWith(k, v) => get(k).is_some_and(|x| x.ends_with(v.as_str())),
            Expr::In(k, set) => get(k).is_some_and(|x| set.contains(x)),
            Expr::NotIn(k, set) => get(k).is_none_or(|x| !set.contains(x)),
            Expr::Not(e) => !e.eval(labels),
            Expr::And(es) => es.iter().all(|e| e.eval(labels)),
            Expr::Or(es) => es.iter().any(|e| e.eval(labels)),
        }
    }
}

/// Calico's canonical form (`String()` in libcalico-go): `&&`/`||` groups in parentheses,
/// values in double quotes unless they contain one.
impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.root)
    }
}

fn quoted(s: &str) -> String {
    if s.contains('"') {
        format!("'{s}'")
    } else {
        format!("\"{s}\"")
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |s: &BTreeSet<String>| s.iter().map(|v| quoted(v)).collect::<Vec<_>>().join(", ");
        let group = |f: &mut fmt::Formatter<'_>, es: &[Expr], op: &str| {
            let parts: Vec<String> = es.iter().map(|e| e.to_string()).collect();
            write!(f, "({})", parts.join(op))
        };
        match self {
            Expr::All => f.write_str("all()"),
            Expr::Global => f.write_str("global()"),
            Expr::Has(k) => write!(f, "has({k})"),
            Expr::Eq(k, v) => write!(f, "{k} == {}", quoted(v)),
            Expr::Ne(k, v) => write!(f, "{k} != {}", quoted(v)),
            Expr::Contains(k, v) => write!(f, "{k} contains {}", quoted(v)),
            Expr::StartsWith(k, v) => write!(f, "{k} starts with {}", quoted(v)),
            Expr::EndsWith(k, v) => write!(f, "{k} ends with {}", quoted(v)),
            Expr::In(k, s) => write!(f, "{k} in {{{}}}", set(s)),
            Expr::NotIn(k, s) => write!(f, "{k} not in {{{}}}", set(s)),
            Expr::Not(e) => write!(f, "!{e}"),
            Expr::And(es) => group(f, es, " && "),
            Expr::Or(es) => group(f, es, " || "),
        }
    }
}

/// A parse failure: the input where it happened and what was expected there.
#[derive(Debug)]
struct PErr<'a> {
    at: &'a str,
    message: &'static str,
}

impl<'a> nom::error::ParseError<&'a str> for PErr<'a> {
    fn from_error_kind(input: &'a str, _kind: nom::error::ErrorKind) -> Self {
        PErr { at: input, message: "unexpected input" }
    }

    fn append(_input: &'a str, _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

type Res<'a, T> = IResult<&'a str, T, PErr<'a>>;

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn ws(i: &str) -> Res<'_, &str> {
    take_while(is_blank)(i)
}

/// A committed error at `at`: alternatives are not tried after it.
fn fail<'a, T>(at: &'a str, message: &'static str) -> Res<'a, T> {
    Err(nom::Err::Failure(PErr { at, message }))
}

/// A recoverable error: the caller may try something else.
fn miss<'a, T>(at: &'a str, message: &'static str) -> Res<'a, T> {
    Err(nom::Err::Error(PErr { at, message }))
}

fn is_label_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-')
}

fn label(i: &str) -> Res<'_, &str> {
    match take_while1::<_, _, PErr<'_>>(is_label_char)(i) {
        Ok(r) => Ok(r),
        Err(_) => miss(i, "expected a label name"),
    }
}

fn string_literal(i: &str) -> Res<'_, String> {
    let (i, _) = ws(i)?;
    let quote = match i.chars().next() {
        Some(q @ ('\'' | '"')) => q,
        _ => return fail(i, "expected a quoted string"),
    };
    let body = &i[1..];
    match body.find(quote) {
        Some(end) => Ok((&body[end + 1..], body[..end].to_string())),
        None => fail(i, "unterminated string"),
    }
}

fn set_literal(i: &str) -> Res<'_, BTreeSet<String>> {
    let (i, _) = ws(i)?;
    let Ok((mut i, _)) = char::<_, PErr<'_>>('{')(i) else {
        return fail(i, "expected set literal '{'");
    };
    let mut values = BTreeSet::new();
    loop {
        let (rest, _) = ws(i)?;
        if rest.starts_with('\'') || rest.starts_with('"') {
            let (rest, v) = string_literal(rest)?;
            values.insert(v);
            let (rest, _) = ws(rest)?;
            match rest.strip_prefix(',') {
                Some(after) => i = after,
                None => {
                    i = rest;
                    break;
                }
            }
        } else {
            i = rest;
            break;
        }
    }
    let (i, _) = ws(i)?;
    match i.strip_prefix('}') {
        Some(rest) => Ok((rest, values)),
        None => fail(i, "expected '}' or a quoted string"),
    }
}

/// `has(label)`, `all()`, `global()` — the name and its `(` must touch, as in Calico.
fn function(i: &str) -> Res<'_, Expr> {
    if let Some(rest) = i.strip_prefix("has(") {
        let (rest, _) = ws(rest)?;
        let (rest, name) = match label(rest) {
            Ok(r) => r,
            Err(_) => return fail(rest, "expected a label name in has()"),
        };
        let (rest, _) = ws(rest)?;
        return match rest.strip_prefix(')') {
            Some(rest) => Ok((rest, Expr::Has(name.to_string()))),
            None => fail(rest, "expected ')' after has(label"),
        };
    }
    for (name, expr) in [("all(", Expr::All), ("global(", Expr::Global)] {
        if let Some(rest) = i.strip_prefix(name) {
            let (rest, _) = ws(rest)?;
            return match rest.strip_prefix(')') {
                Some(rest) => Ok((rest, expr)),
                None => fail(rest, "expected ')'"),
            };
        }
    }
    miss(i, "expected an expression")
}

#[derive(Clone, Copy)]
enum Op {
    Eq,
    Ne,
    Contains,
    StartsWith,
    EndsWith,
    In,
    NotIn,
}

fn two_words<'a>(first: &'static str, second: &'static str) -> impl FnMut(&'a str) -> Res<'a, &'a str> {
    preceded(terminated(tag(first), ws), tag(second))
}

fn operator(i: &str) -> Res<'_, Op> {
    let (i, _) = ws(i)?;
    let r = alt((
        map(tag("=="), |_| Op::Eq),
        map(tag("!="), |_| Op::Ne),
        map(tag("contains"), |_| Op::Contains),
        map(two_words("starts", "with"), |_| Op::StartsWith),
        map(two_words("ends", "with"), |_| Op::EndsWith),
        map(two_words("not", "in"), |_| Op::NotIn),
        map(tag("in"), |_| Op::In),
    ))
    .parse(i);
    match r {
        Ok(r) => Ok(r),
        Err(_) => fail(i, "expected an operator (==, !=, in, not in, contains, starts with, ends with)"),
    }
}

fn comparison(i: &str) -> Res<'_, Expr> {
    let (i, name) = label(i)?;
    let name = name.to_string();
    let (i, op) = operator(i)?;
    Ok(match op {
        Op::In => {
            let (i, s) = set_literal(i)?;
            (i, Expr::In(name, s))
        }
        Op::NotIn => {
            let (i, s) = set_literal(i)?;
            (i, Expr::NotIn(name, s))
        }
        Op::Eq | Op::Ne | Op::Contains | Op::StartsWith | Op::EndsWith => {
            let (i, v) = string_literal(i)?;
            let e = match op {
                Op::Eq => Expr::Eq(name, v),
                Op::Ne => Expr::Ne(name, v),
                Op::Contains => Expr::Contains(name, v),
                Op::StartsWith => Expr::StartsWith(name, v),
                _ => Expr::EndsWith(name, v),
            };
            (i, e)
        }
    })
}

fn parenthesized(i: &str) -> Res<'_, Expr> {
    let (after, _) = char('(')(i)?;
    let (after, inner) = match or_expr(after) {
        Ok(r) => r,
        Err(nom::Err::Error(e)) => return Err(nom::Err::Failure(e)),
        Err(e) => return Err(e),
    };
    let (after, _) = ws(after)?;
    match after.strip_prefix(')') {
        Some(rest) => Ok((rest, inner)),
        None => fail(after, "expected ')'"),
    }
}

fn operation(i: &str) -> Res<'_, Expr> {
    let (mut i, _) = ws(i)?;
    let mut negated = false;
    // `!` collapses, but `!=` is an operator and never a negation.
    while let Some(rest) = i.strip_prefix('!').filter(|r| !r.starts_with('=')) {
        negated = !negated;
        i = ws(rest)?.0;
    }
    let (rest, e) = match alt((function, parenthesized, comparison)).parse(i) {
        Ok(r) => r,
        Err(nom::Err::Error(_)) if i.is_empty() => return fail(i, "unexpected end of selector"),
        Err(nom::Err::Error(_)) => return fail(i, "expected an expression"),
        Err(e) => return Err(e),
    };
    Ok((rest, if negated { Expr::Not(Box::new(e)) } else { e }))
}

fn joined<'a>(
    i: &'a str,
    sep: &'static str,
    item: fn(&'a str) -> Res<'a, Expr>,
    wrap: fn(Vec<Expr>) -> Expr,
) -> Res<'a, Expr> {
    let (mut i, first) = item(i)?;
    let mut items = vec![first];
    while let Ok((rest, _)) = delimited(ws, tag::<_, _, PErr<'_>>(sep), ws).parse(i) {
        let (rest, next) = item(rest)?;
        items.push(next);
        i = rest;
    }
    let e = if items.len() == 1 { items.pop().map_or(Expr::All, |e| e) } else { wrap(items) };
    Ok((i, e))
}

fn and_expr(i: &str) -> Res<'_, Expr> {
    joined(i, "&&", operation, Expr::And)
}

fn or_expr(i: &str) -> Res<'_, Expr> {
    let (i, e) = joined(i, "||", and_expr, Expr::Or)?;
    let (i, _) = opt(ws).parse(i)?;
    Ok((i, e))
}
