//! `ternctl selector` run as a user would: the built binary, its output and exit status.

use std::process::{Command, Output};

fn ternctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ternctl")).args(args).output().expect("ternctl runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn matching_labels_exit_zero() {
    let out = ternctl(&[
        "selector",
        "rack == 'rack-1' && has(route-reflector)",
        "--labels",
        r#"{"rack":"rack-1","route-reflector":""}"#,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "selector: (rack == \"rack-1\" && has(route-reflector))\nmatches\n");
}

#[test]
fn non_matching_labels_exit_one() {
    let out = ternctl(&["selector", "rack in {'rack-1', 'rack-2'}", "--labels", r#"{"rack":"rack-3"}"#]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).ends_with("does not match\n"), "{}", text(&out.stdout));
    // No --labels: an object without labels; `!=` matches it.
    let out = ternctl(&["selector", "rack != 'rack-1'"]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn parse_error_names_the_column() {
    let out = ternctl(&["selector", "rack = 'rack-1'"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.starts_with("ternctl: selector: column 6: expected an operator"), "{err}");
    assert!(err.contains("\n  rack = 'rack-1'\n       ^\n"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_labels_are_refused() {
    let out = ternctl(&["selector", "all()", "--labels", r#"{"a":1}"#]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("the value of \"a\" is not a string"));
    let out = ternctl(&["selector", "all()", "--labels", "[1]"]);
    assert_eq!(out.status.code(), Some(2));
}
