//! REFERENCE.md documents every key the parser accepts (the parser's own "expected one of" lists).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

fn accepted_keys(table_header: &str) -> Vec<String> {
    let text = format!("{table_header}\nzzz_unknown = 1\n");
    let err = config::parse(&text, "t.toml").expect_err("unknown key");
    let msg = &err.diagnostics[0].message;
    // serde writes "expected `a`", "expected `a` or `b`" or "expected one of `a`, `b`, `c`".
    let list = msg.split("expected ").nth(1).unwrap_or_else(|| panic!("{msg}"));
    let list = list.trim_start_matches("one of ");
    list.split(", ").flat_map(|k| k.split(" or ")).map(|k| k.trim().trim_matches('`').to_string()).collect()
}

#[test]
fn every_key_is_in_the_reference() {
    let reference = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/REFERENCE.md")).unwrap();
    let tables = [
        "",
        "[global]",
        "[[peer]]",
        "[mesh]",
        "[[mesh.nodes]]",
        "[calico]",
        "[[calico.ip_pools]]",
        "[[calico.communities]]",
        "[[calico.prefix_advertisements]]",
        "[kernel]",
        "[control]",
        "[log]",
    ];
    let mut checked = 0;
    for t in tables {
        for key in accepted_keys(t) {
            let documented = if t.is_empty() {
                reference.contains(&format!("`[{key}]`")) || reference.contains(&format!("`[[{key}]]`"))
            } else {
                reference.contains(&format!("`{key}`"))
            };
            assert!(documented, "{t} key `{key}` missing from REFERENCE.md");
            checked += 1;
        }
    }
    assert!(checked > 60, "only {checked} keys found");
}
