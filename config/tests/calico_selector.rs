//! Calico's selector language, checked against the examples in Calico's documentation ("Selectors"
//! in the NetworkPolicy/BGPPeer references) and the cases libcalico-go's parser is known to accept
//! and reject.

use std::collections::BTreeMap;

use config::calico::Selector;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn check(sel: &str, matching: &[&[(&str, &str)]], not_matching: &[&[(&str, &str)]]) {
    let s = Selector::parse(sel).unwrap_or_else(|e| panic!("{sel:?} did not parse: {e}"));
    for l in matching {
        assert!(s.matches(&labels(l)), "{sel:?} should match {l:?}");
    }
    for l in not_matching {
        assert!(!s.matches(&labels(l)), "{sel:?} should not match {l:?}");
    }
    // The canonical form means the same thing.
    let canon = Selector::parse(&s.to_string()).unwrap_or_else(|e| panic!("canonical {s} did not parse: {e}"));
    for l in matching {
        assert!(canon.matches(&labels(l)), "canonical {s} should match {l:?}");
    }
    for l in not_matching {
        assert!(!canon.matches(&labels(l)), "canonical {s} should not match {l:?}");
    }
}

#[test]
fn documentation_match_operators() {
    // all(): match all in-scope resources; !all() matches none.
    check("all()", &[&[], &[("a", "b")]], &[]);
    check("!all()", &[], &[&[], &[("a", "b")]]);
    // global(): non-namespaced resources, i.e. every node.
    check("global()", &[&[], &[("a", "b")]], &[]);
    // k == 'v': resources with label k and value v.
    check("k == 'v'", &[&[("k", "v")], &[("k", "v"), ("x", "y")]], &[&[], &[("k", "w")], &[("x", "v")]]);
    // k != 'v': without label k, or with k and a value not equal to v.
    check("k != 'v'", &[&[], &[("k", "w")], &[("x", "v")]], &[&[("k", "v")]]);
    // has(k): label k independent of value; !has(k) for resources without it.
    check("has(k)", &[&[("k", "")], &[("k", "v")]], &[&[], &[("kk", "v")]]);
    check("!has(k)", &[&[], &[("kk", "v")]], &[&[("k", "v")]]);
    // k in { 'v1', 'v2' }: label k with a value in the set.
    check("k in { 'v1', 'v2' }", &[&[("k", "v1")], &[("k", "v2")]], &[&[], &[("k", "v3")]]);
    // k not in { 'v1', 'v2' }: without label k, or a value not in the set.
    check("k not in { 'v1', 'v2' }", &[&[], &[("k", "v3")]], &[&[("k", "v1")], &[("k", "v2")]]);
    // contains / starts with / ends with.
    check("k contains 's'", &[&[("k", "xsx")], &[("k", "s")]], &[&[], &[("k", "x")]]);
    check("k starts with 's'", &[&[("k", "sx")]], &[&[], &[("k", "xs")]]);
    check("k ends with 's'", &[&[("k", "xs")]], &[&[], &[("k", "sx")]]);
}

#[test]
fn documentation_precedence_example() {
    // "! has(my-label) || my-label starts with 'prod' && role in {'frontend','business'}" is
    // bracketed ((!has(my-label)) || ((my-label starts with 'prod') && (role in {...}))).
    let sel = "! has(my-label) || my-label starts with 'prod' && role in {'frontend','business'}";
    check(
        sel,
        &[
            &[],
            &[("role", "db")],
            &[("my-label", "production"), ("role", "frontend")],
            &[("my-label", "prod"), ("role", "business")],
        ],
        &[
            &[("my-label", "production")],
            &[("my-label", "test"), ("role", "frontend")],
            &[("my-label", "prod"), ("role", "db")],
        ],
    );
    let s = Selector::parse(sel).expect("parses");
    assert_eq!(
        s.to_string(),
        r#"(!has(my-label) || (my-label starts with "prod" && role in {"business", "frontend"}))"#
    );
}

#[test]
fn bgp_documentation_selectors() {
    // BGPPeer examples: a rack's nodes peer with their ToR; every node peers with the reflectors.
    check("rack == 'rack-1'", &[&[("rack", "rack-1")]], &[&[("rack", "rack-2")], &[]]);
    check("route-reflector == 'true'", &[&[("route-reflector", "true")]], &[&[("route-reflector", "false")], &[]]);
    check("has(route-reflector)", &[&[("route-reflector", "")]], &[&[]]);
    // Kubernetes-style label keys with dots and slashes.
    check(
        "kubernetes.io/hostname == 'node-1' && topology.kubernetes.io/zone in {\"eu-1a\"}",
        &[&[("kubernetes.io/hostname", "node-1"), ("topology.kubernetes.io/zone", "eu-1a")]],
        &[&[("kubernetes.io/hostname", "node-1")]],
    );
}

#[test]
fn libcalico_parser_cases() {
    check(r#"a == "b""#, &[&[("a", "b")], &[("a", "b"), ("c", "d")]], &[&[], &[("a", "c")], &[("c", "d")]]);
    check(r#"a == "b" && c == "d""#, &[&[("a", "b"), ("c", "d")]], &[&[], &[("a", "b"), ("c", "e")], &[("a", "b")]]);
    check(r#"a == "b" || c == "d""#, &[&[("a", "b")], &[("c", "d")]], &[&[], &[("a", "e"), ("c", "e")]]);
    // Either quote may hold the other.
    check(r#"a in {"'", '"', "c"}"#, &[&[("a", "c")], &[("a", "\"")], &[("a", "'")]], &[&[], &[("a", "e")]]);
    check(r#"a not in {"'", '"', "c"}"#, &[&[], &[("a", "e")]], &[&[("a", "c")], &[("a", "'")]]);
    // `!` binds to one operation and collapses.
    check(r#"!a in {"a"}"#, &[&[("a", "b")]], &[&[("a", "a")]]);
    check("!!has(b)", &[&[("b", "x")]], &[&[("a", "b")]]);
    check("!! ! has(a)", &[&[]], &[&[("a", "b")]]);
    check("!a == 'a1' && b == 'b1'", &[&[("b", "b1")]], &[&[("a", "a1"), ("b", "b1")]]);
    check("!(!has(a) || has(b))", &[&[("a", "a")]], &[&[("a", "a"), ("b", "b")]]);
    check("! a == 'a1' || ! b == 'b1'", &[&[("a", "a1")]], &[&[("a", "a1"), ("b", "b1")]]);
    // Empty sets and a trailing comma are accepted by Calico's parser.
    check("a in {}", &[], &[&[], &[("a", "")]]);
    check("a not in {'x',}", &[&[("a", "y")]], &[&[("a", "x")]]);
    // An empty selector selects everything.
    check("", &[&[], &[("a", "b")]], &[]);
    check(" \t", &[&[]], &[]);
    // Operators written without blanks, and "startswith"/"notin" as Calico's tokenizer allows.
    check("a!='\"'", &[&[("a", "x")]], &[&[("a", "\"")]]);
    check("a startswith 'x'", &[&[("a", "xy")]], &[&[("a", "yx")]]);
    check("a notin {'x'}", &[&[("a", "y")]], &[&[("a", "x")]]);
    check("( all() )", &[&[]], &[]);
}

#[test]
fn canonical_forms() {
    for (input, canon) in [
        ("", "all()"),
        (" (all() )", "all()"),
        ("! (has( b)||! has(a ))", "!(has(b) || !has(a))"),
        (r#"! (a == "b"&&! c != "d")"#, r#"!(a == "b" && !c != "d")"#),
        (r#"a == '"'"#, r#"a == '"'"#),
        (r#"a in {"z", "z", "x", "y", "x", "a"}"#, r#"a in {"a", "x", "y", "z"}"#),
    ] {
        let s = Selector::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        let shown = s.to_string();
        // "" and "(all())" print as all(); the rest as Calico prints them.
        assert_eq!(shown, canon, "canonical form of {input:?}");
    }
}

#[test]
fn bad_selectors_name_the_column() {
    for (sel, column) in [
        ("b == b", 6),
        ("b contains b", 12),
        ("'b1' == b", 1),
        ("b", 2),
        ("a b", 3),
        ("!", 2),
        (r#"foo == "bar" &"#, 14),
        (r#"foo == "bar" |"#, 14),
        ("foo != ||", 8),
        (r#"foo in {"", ||"#, 13),
        (r#"foo in """#, 8),
        (r#""FOO"#, 1),
        (r#"a == "FOO'"#, 6),
        ("'FOO", 1),
        ("(", 2),
        (r#"(a == "foo""#, 12),
        (")", 1),
        ("()", 2),
        ("%", 1),
        (r#"a == "b" && %"#, 13),
        (r#"a == "b" || %"#, 13),
        ("a ", 3),
        ("has(foo) &&", 12),
        ("has (a)", 5),
        ("has()", 5),
        ("all(x)", 5),
        ("a in {'x' 'y'}", 11),
    ] {
        match Selector::parse(sel) {
            Ok(s) => panic!("{sel:?} parsed as {s}"),
            Err(e) => {
                assert_eq!(e.column, column, "{sel:?}: {e}");
                assert!(!e.message.is_empty());
            }
        }
    }
}

#[test]
fn error_messages_say_what_was_expected() {
    let e = Selector::parse("rack = 'a'").expect_err("single = is not an operator");
    assert_eq!(e.column, 6);
    assert!(e.message.contains("operator"), "{e}");
    let e = Selector::parse("rack == 'a").expect_err("unterminated");
    assert_eq!((e.column, e.message.as_str()), (9, "unterminated string"));
    let e = Selector::parse("a == 'b' c").expect_err("trailing");
    assert_eq!((e.column, e.message.as_str()), (10, "unexpected content at end of selector"));
    // Columns count characters, not bytes.
    let e = Selector::parse("é == 'x'").expect_err("non-ASCII label");
    assert_eq!(e.column, 1);
    let e = Selector::parse("a == 'é' && ?").expect_err("bad second term");
    assert_eq!(e.column, 13);
}
