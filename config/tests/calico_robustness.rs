//! Whatever etcd or a user hands over, parsing ends in a value or a classified error, never a
//! panic.

use config::calico::{parse_kv, Datastore, Selector, TranslateOptions};
use proptest::prelude::*;

/// Text built from the selector language's own pieces, so that most cases get deep into the parser.
fn selector_text() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "a",
        "k8s.io/x",
        "==",
        "!=",
        "!",
        "&&",
        "||",
        "(",
        ")",
        "{",
        "}",
        ",",
        "'v'",
        "\"w\"",
        "'",
        "\"",
        "in",
        "not in",
        "has(",
        "all()",
        "global()",
        "contains",
        "starts with",
        "ends with",
        " ",
        "\t",
        "é",
        "%",
        "=",
    ]);
    prop::collection::vec(piece, 0..16).prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn selector_parse_never_panics(text in selector_text()) {
        match Selector::parse(&text) {
            Ok(s) => {
                // The canonical form parses to the same meaning on an empty label set.
                let again = Selector::parse(&s.to_string()).expect("canonical form parses");
                let none = Default::default();
                prop_assert_eq!(s.matches(&none), again.matches(&none));
            }
            Err(e) => prop_assert!(e.column >= 1 && e.column <= text.chars().count() + 1),
        }
    }

    #[test]
    fn selector_parse_arbitrary_strings(text in ".{0,40}") {
        let _ = Selector::parse(&text);
    }

    #[test]
    fn parse_kv_never_panics(
        kind in prop::sample::select(vec!["nodes", "bgppeers", "bgpconfigurations", "ippools"]),
        value in prop::collection::vec(any::<u8>(), 0..64),
        json_ish in r#"\{"spec":\{"(peerIP|asNumber|cidr|bgp|nodeSelector|maxRestartTime)":("[^"]{0,12}"|[0-9]{1,12}|\{\}|null)\}\}"#,
        block in "[0-9a-f:.]{0,20}-[0-9]{0,3}",
    ) {
        let key = format!("/calico/resources/v3/projectcalico.org/{kind}/x");
        let _ = parse_kv(&key, &value);
        let _ = parse_kv(&key, json_ish.as_bytes());
        let _ = parse_kv(&format!("/calico/ipam/v2/host/n/ipv4/block/{block}"), b"");
        // A snapshot of such objects still translates (or says why not).
        let ds = Datastore::from_kvs([(key.as_str(), json_ish.as_bytes())]);
        let _ = ds.desired_state("x", &TranslateOptions::default());
    }
}
