//! One test per RFC 7606 rule (and the RFC 6793 / RFC 8092 / RFC 9234 rules
//! it defers to): the action taken and the NOTIFICATION code, subcode and
//! data (RFC 4271 §6.3).

use bgp_proto::attribute::{decode_path_attributes, type_code, MpNlri};
use bgp_proto::error::{code, header_subcode, update_subcode as sub, ErrorAction};
use bgp_proto::update::{decode_update, Update};
use bgp_proto::{Context, DecodeError, Family, Nlri, UpdateError};
use ipnet::IpNet;

fn h(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

fn net(s: &str) -> IpNet {
    s.parse().expect("prefix")
}

/// ORIGIN IGP, AS_PATH [65001], NEXT_HOP 192.0.2.1.
const MANDATORY: &str = "40 01 01 00  40 02 06 02 01 0000fde9  40 03 04 c0000201";
/// NLRI 198.51.100.0/24.
const NLRI: &str = "18 c63364";

/// An UPDATE body from its three fields (hex).
fn body(withdrawn: &str, attrs: &str, nlri: &str) -> Vec<u8> {
    let (w, a, n) = (h(withdrawn), h(attrs), h(nlri));
    let mut b = (w.len() as u16).to_be_bytes().to_vec();
    b.extend(&w);
    b.extend((a.len() as u16).to_be_bytes());
    b.extend(&a);
    b.extend(&n);
    b
}

fn decode(b: &[u8]) -> Result<Update, UpdateError> {
    decode_update(b, &Context::default())
}

fn reset(r: Result<Update, UpdateError>) -> DecodeError {
    match r {
        Err(UpdateError::SessionReset(e)) => e,
        other => panic!("expected session reset, got {other:?}"),
    }
}

fn withdraw(r: Result<Update, UpdateError>) -> (Vec<(Family, Nlri)>, DecodeError) {
    match r {
        Err(UpdateError::TreatAsWithdraw { withdrawn, error }) => (withdrawn, error),
        other => panic!("expected treat-as-withdraw, got {other:?}"),
    }
}

/// Attribute discard: the update stands, with one issue for `code`.
fn discarded(r: Result<Update, UpdateError>, type_code: u8) -> (Update, DecodeError) {
    let u = r.unwrap_or_else(|e| panic!("expected attribute discard, got {e:?}"));
    assert_eq!(u.discarded.len(), 1, "{:?}", u.discarded);
    let issue = &u.discarded[0];
    assert_eq!((issue.type_code, issue.action), (type_code, ErrorAction::AttributeDiscard));
    let e = issue.error.clone();
    (u, e)
}

fn notif(e: &DecodeError) -> (u8, u8, Vec<u8>) {
    (e.code, e.subcode, e.data.to_vec())
}

/// Treat-as-withdraw of the standard UPDATE with `bad` added to its
/// attributes, checking subcode and data.
fn assert_withdraw_with(bad: &str, subcode: u8, data: Vec<u8>) {
    let (w, e) = withdraw(decode(&body("", &format!("{MANDATORY} {bad}"), NLRI)));
    assert_eq!(w, vec![(Family::IPV4_UNICAST, Nlri::new(net("198.51.100.0/24")))]);
    assert_eq!(notif(&e), (code::UPDATE_MESSAGE, subcode, data));
}

/// Attribute discard of `bad` added to the standard UPDATE.
fn assert_discard_with(bad: &str, type_code: u8, subcode: u8) {
    let (u, e) = discarded(decode(&body("", &format!("{MANDATORY} {bad}"), NLRI)), type_code);
    assert_eq!(u.nlri, vec![Nlri::new(net("198.51.100.0/24"))]);
    assert_eq!(notif(&e), (code::UPDATE_MESSAGE, subcode, h(bad)));
}

#[test]
fn a_clean_update_decodes_without_issues() {
    let u = decode(&body("", MANDATORY, NLRI)).expect("valid");
    assert!(u.discarded.is_empty());
    assert_eq!(u.nlri.len(), 1);
}

// --- RFC 7606 §3 b / RFC 4271 §6.3: field lengths inconsistent with the message.

#[test]
fn s3b_withdrawn_routes_length_too_large_resets() {
    let mut b = body("10 0a01", MANDATORY, NLRI);
    b[1] = 0xf0;
    assert_eq!(notif(&reset(decode(&b))), (3, sub::MALFORMED_ATTRIBUTE_LIST, vec![]));
}

#[test]
fn s3b_total_attribute_length_too_large_resets() {
    let mut b = body("", MANDATORY, "");
    b[3] += 1;
    assert_eq!(notif(&reset(decode(&b))), (3, sub::MALFORMED_ATTRIBUTE_LIST, vec![]));
}

#[test]
fn rfc4271_6_1_update_shorter_than_23_octets_is_a_header_error() {
    let e = reset(decode(&[0, 0, 0]));
    assert_eq!(notif(&e), (code::MESSAGE_HEADER, header_subcode::BAD_MESSAGE_LENGTH, vec![0, 22]));
}

// --- §3 c: Optional/Transitive flags in conflict → the attribute's own action.

#[test]
fn s3c_flags_conflict_on_a_treat_as_withdraw_attribute() {
    // ORIGIN marked optional.
    let attrs = "c0 01 01 00  40 02 06 02 01 0000fde9  40 03 04 c0000201";
    let (_, e) = withdraw(decode(&body("", attrs, NLRI)));
    assert_eq!(notif(&e), (3, sub::ATTRIBUTE_FLAGS_ERROR, h("c0 01 01 00")));
    // MED marked transitive.
    assert_withdraw_with("c0 04 04 00000001", sub::ATTRIBUTE_FLAGS_ERROR, h("c0 04 04 00000001"));
}

#[test]
fn s3c_flags_conflict_on_an_attribute_discard_attribute() {
    // AGGREGATOR marked well-known, ATOMIC_AGGREGATE marked optional.
    assert_discard_with("40 07 08 0000fde9 c0000201", type_code::AGGREGATOR, sub::ATTRIBUTE_FLAGS_ERROR);
    assert_discard_with("c0 06 00", type_code::ATOMIC_AGGREGATE, sub::ATTRIBUTE_FLAGS_ERROR);
}

#[test]
fn s3c_flags_conflict_on_mp_reach_resets() {
    let attrs = format!("{MANDATORY} c0 0e 15 0002 01 10 20010db8000000000000000000000001 00");
    let e = reset(decode(&body("", &attrs, "")));
    assert_eq!(e.subcode, sub::ATTRIBUTE_FLAGS_ERROR);
}

#[test]
fn partial_bit_on_a_well_known_attribute_is_not_an_error() {
    // RFC 7606 §3 c speaks of the Optional and Transitive bits only.
    let attrs = "60 01 01 00  40 02 06 02 01 0000fde9  40 03 04 c0000201";
    let u = decode(&body("", attrs, NLRI)).expect("valid");
    assert!(u.discarded.is_empty());
}

// --- §3 d: missing well-known mandatory attributes → treat-as-withdraw.

#[test]
fn s3d_missing_origin_as_path_or_next_hop() {
    for (attrs, missing) in [
        ("40 02 06 02 01 0000fde9  40 03 04 c0000201", type_code::ORIGIN),
        ("40 01 01 00  40 03 04 c0000201", type_code::AS_PATH),
        ("40 01 01 00  40 02 06 02 01 0000fde9", type_code::NEXT_HOP),
    ] {
        let (w, e) = withdraw(decode(&body("10 0a01", attrs, NLRI)));
        assert_eq!(notif(&e), (3, sub::MISSING_WELL_KNOWN_ATTRIBUTE, vec![missing]));
        // Every NLRI of the message: withdrawn routes and NLRI.
        assert_eq!(
            w,
            vec![
                (Family::IPV4_UNICAST, Nlri::new(net("10.1.0.0/16"))),
                (Family::IPV4_UNICAST, Nlri::new(net("198.51.100.0/24")))
            ]
        );
    }
}

#[test]
fn s3d_update_with_nlri_and_no_attributes_is_treat_as_withdraw() {
    let (w, e) = withdraw(decode(&body("", "", NLRI)));
    assert_eq!(w.len(), 1);
    assert_eq!(notif(&e), (3, sub::MISSING_WELL_KNOWN_ATTRIBUTE, vec![type_code::ORIGIN]));
}

#[test]
fn s3d_next_hop_not_needed_with_mp_reach_only() {
    let attrs = "80 0e 1a 0002 01 10 20010db8000000000000000000000001 00 20 20010db8
                 40 01 01 00  40 02 06 02 01 0000fde9";
    let u = decode(&body("", attrs, "")).expect("valid");
    assert!(u.attributes.next_hop.is_none());
    // But ORIGIN is: the MP_REACH prefixes are withdrawn.
    let attrs = "80 0e 1a 0002 01 10 20010db8000000000000000000000001 00 20 20010db8  40 02 06 02 01 0000fde9";
    let (w, e) = withdraw(decode(&body("", attrs, "")));
    assert_eq!(w, vec![(Family::IPV6_UNICAST, Nlri::new(net("2001:db8::/32")))]);
    assert_eq!(notif(&e), (3, sub::MISSING_WELL_KNOWN_ATTRIBUTE, vec![type_code::ORIGIN]));
}

#[test]
fn s3d_nothing_is_mandatory_for_withdrawals_only() {
    let u = decode(&body("10 0a01", "", "")).expect("valid");
    assert_eq!(u.withdrawn.len(), 1);
    let u = decode(&body("", "80 0f 08 0002 01 20 20010db8", "")).expect("valid");
    assert!(u.attributes.mp_unreach.is_some());
}

// --- §3 h: the strongest action wins.

#[test]
fn s3h_session_reset_beats_an_earlier_treat_as_withdraw() {
    let attrs = format!("40 01 01 07 {MANDATORY} 80 0f 03 0002 01 80 0f 03 0002 01");
    // ORIGIN 7 is treat-as-withdraw, the second ORIGIN a duplicate, and the
    // repeated MP_UNREACH_NLRI a session reset.
    let e = reset(decode(&body("", &attrs, NLRI)));
    assert_eq!(notif(&e), (3, sub::MALFORMED_ATTRIBUTE_LIST, vec![]));
}

// --- §3 g: duplicates.

#[test]
fn s3g_duplicate_mp_reach_or_mp_unreach_resets() {
    let reach = "80 0e 1a 0002 01 10 20010db8000000000000000000000001 00 20 20010db8";
    let e = reset(decode(&body("", &format!("{reach} {reach} {MANDATORY}"), "")));
    assert_eq!(notif(&e), (3, sub::MALFORMED_ATTRIBUTE_LIST, vec![]));
    let unreach = "80 0f 03 0002 01";
    let e = reset(decode(&body("", &format!("{unreach} {unreach}"), "")));
    assert_eq!(notif(&e), (3, sub::MALFORMED_ATTRIBUTE_LIST, vec![]));
}

#[test]
fn s3g_other_duplicates_keep_the_first() {
    let r = decode(&body("", &format!("{MANDATORY} 80 04 04 00000001 80 04 04 00000002"), NLRI));
    let (u, e) = discarded(r, type_code::MULTI_EXIT_DISC);
    assert_eq!(u.attributes.med, Some(1));
    assert_eq!(notif(&e), (3, sub::MALFORMED_ATTRIBUTE_LIST, vec![]));
    // Unknown attributes too.
    let r = decode(&body("", &format!("{MANDATORY} c0 63 01 01 c0 63 01 02"), NLRI));
    let (u, _) = discarded(r, 99);
    assert_eq!(&u.attributes.unknown[0].value[..], &[1]);
}

// --- §4: attribute lengths and the Total Attribute Length.

#[test]
fn s4_attribute_overrunning_the_section_is_treat_as_withdraw() {
    // The last attribute claims 8 octets, 4 are there; NLRI still located.
    let attrs = format!("{MANDATORY} c0 08 08 fde80001");
    let (w, e) = withdraw(decode(&body("", &attrs, NLRI)));
    assert_eq!(w, vec![(Family::IPV4_UNICAST, Nlri::new(net("198.51.100.0/24")))]);
    assert_eq!(notif(&e), (3, sub::ATTRIBUTE_LENGTH_ERROR, h("c0 08 08 fde80001")));
}

#[test]
fn s4_too_few_octets_for_an_attribute_header_is_treat_as_withdraw() {
    for tail in ["40", "40 01", "50 01 00"] {
        let (w, e) = withdraw(decode(&body("", &format!("{MANDATORY} {tail}"), NLRI)));
        assert_eq!(w.len(), 1);
        assert_eq!(notif(&e), (3, sub::MALFORMED_ATTRIBUTE_LIST, vec![]));
    }
}

#[test]
fn s4_mp_reach_overrunning_the_section_resets() {
    let attrs = format!("{MANDATORY} 80 0e 30 0002 01 10 20010db8");
    let e = reset(decode(&body("", &attrs, "")));
    assert_eq!(e.subcode, sub::ATTRIBUTE_LENGTH_ERROR);
}

// --- §5.2: errors in an UPDATE without reachable NLRI.

#[test]
fn s5_2_error_without_reachable_nlri_resets() {
    // Withdrawn routes only, plus a malformed MED: cannot be sure the NLRI
    // were parsed correctly.
    let e = reset(decode(&body("10 0a01", "80 04 03 000001", "")));
    assert_eq!(notif(&e), (3, sub::ATTRIBUTE_LENGTH_ERROR, h("80 04 03 000001")));
    // An attribute-discard problem stays a discard.
    let (u, _) = discarded(decode(&body("10 0a01", "40 06 01 00", "")), type_code::ATOMIC_AGGREGATE);
    assert_eq!(u.withdrawn.len(), 1);
}

// --- §5.3: NLRI and Withdrawn Routes syntax → session reset.

#[test]
fn s5_3_bad_nlri_or_withdrawn_routes_reset() {
    for (w, n) in [("", "21 0a000000 00"), ("", "18 c633"), ("21 0a000000 00", ""), ("18 0a", "")] {
        let e = reset(decode(&body(w, MANDATORY, n)));
        assert_eq!(notif(&e), (3, sub::INVALID_NETWORK_FIELD, vec![]), "{w} / {n}");
    }
}

#[test]
fn s5_3_host_bits_beyond_the_length_are_masked_not_an_error() {
    // RFC 4271 §4.3: "the value of trailing bits is irrelevant".
    let u = decode(&body("", MANDATORY, "17 c63365")).expect("valid");
    assert_eq!(u.nlri, vec![Nlri::new(net("198.51.100.0/23"))]);
}

// --- §7: per attribute.

#[test]
fn s7_1_origin() {
    let attrs = |o: &str| format!("{o} 40 02 06 02 01 0000fde9  40 03 04 c0000201");
    let (_, e) = withdraw(decode(&body("", &attrs("40 01 01 03"), NLRI)));
    assert_eq!(notif(&e), (3, sub::INVALID_ORIGIN_ATTRIBUTE, h("40 01 01 03")));
    let (_, e) = withdraw(decode(&body("", &attrs("40 01 02 0000"), NLRI)));
    assert_eq!(notif(&e), (3, sub::ATTRIBUTE_LENGTH_ERROR, h("40 01 02 0000")));
}

#[test]
fn s7_2_malformed_as_path() {
    for path in [
        "40 02 04 05 01 fde9",        // unknown segment type
        "40 02 02 02 00",             // zero-length segment
        "40 02 06 02 02 0000fde9",    // segment overrun
        "40 02 07 02 01 0000fde9 02", // lone trailing octet
    ] {
        let attrs = format!("40 01 01 00 {path} 40 03 04 c0000201");
        let (w, e) = withdraw(decode(&body("", &attrs, NLRI)));
        assert_eq!(w.len(), 1);
        // RFC 4271 §6.3: Malformed AS_PATH carries no data.
        assert_eq!(notif(&e), (3, sub::MALFORMED_AS_PATH, vec![]), "{path}");
    }
    // 2-octet width: 6 octets hold 2 ASes, not one 4-octet AS... and the
    // same bytes as 4-octet overrun.
    let r =
        decode_update(&body("", "40 01 01 00 40 02 06 02 02 fde9 fdea 40 03 04 c0000201", NLRI), &Context::legacy());
    assert!(r.is_ok());
}

#[test]
fn s7_3_to_7_5_next_hop_med_local_pref_length() {
    let attrs = "40 01 01 00  40 02 06 02 01 0000fde9  40 03 05 c000020100";
    let (_, e) = withdraw(decode(&body("", attrs, NLRI)));
    assert_eq!(notif(&e), (3, sub::ATTRIBUTE_LENGTH_ERROR, h("40 03 05 c000020100")));
    assert_withdraw_with("80 04 03 000001", sub::ATTRIBUTE_LENGTH_ERROR, h("80 04 03 000001"));
    assert_withdraw_with("40 05 00", sub::ATTRIBUTE_LENGTH_ERROR, h("40 05 00"));
}

#[test]
fn s7_6_atomic_aggregate_length_is_discard() {
    assert_discard_with("40 06 01 00", type_code::ATOMIC_AGGREGATE, sub::ATTRIBUTE_LENGTH_ERROR);
}

#[test]
fn s7_7_aggregator_length_is_discard() {
    assert_discard_with("c0 07 07 00fde9c0000201", type_code::AGGREGATOR, sub::ATTRIBUTE_LENGTH_ERROR);
    // 6 octets is the 2-octet form: wrong on a 4-octet session.
    assert_discard_with("c0 07 06 fde9c0000201", type_code::AGGREGATOR, sub::ATTRIBUTE_LENGTH_ERROR);
}

#[test]
fn s7_8_communities_length() {
    assert_withdraw_with("c0 08 00", sub::ATTRIBUTE_LENGTH_ERROR, h("c0 08 00"));
    assert_withdraw_with("c0 08 05 fde8000101", sub::ATTRIBUTE_LENGTH_ERROR, h("c0 08 05 fde8000101"));
}

#[test]
fn s7_9_s7_10_originator_id_and_cluster_list_length() {
    assert_withdraw_with("80 09 03 0a0000", sub::ATTRIBUTE_LENGTH_ERROR, h("80 09 03 0a0000"));
    assert_withdraw_with("80 0a 06 0a0000010a00", sub::ATTRIBUTE_LENGTH_ERROR, h("80 0a 06 0a0000010a00"));
    assert_withdraw_with("80 0a 00", sub::ATTRIBUTE_LENGTH_ERROR, h("80 0a 00"));
}

#[test]
fn s7_11_malformed_mp_reach_or_mp_unreach_resets() {
    for attr in [
        // IPv6 next hop of 5 octets.
        "80 0e 0f 0002 01 05 2001db8000 00 20 20010db8",
        // Too short for AFI/SAFI.
        "80 0e 02 0002",
        // Next hop runs past the attribute.
        "80 0e 05 0002 01 10 20",
        // No reserved octet.
        "80 0e 14 0002 01 10 20010db8000000000000000000000001",
        // NLRI with a prefix length of 129.
        "80 0e 16 0002 01 10 20010db8000000000000000000000001 00 81",
        // MP_UNREACH_NLRI too short, and with a truncated prefix.
        "80 0f 02 0002",
        "80 0f 05 0002 01 20 20",
    ] {
        let e = reset(decode(&body("", &format!("{attr} {MANDATORY}"), "")));
        assert_eq!(notif(&e), (3, sub::OPTIONAL_ATTRIBUTE_ERROR, h(attr)), "{attr}");
    }
}

#[test]
fn s7_11_other_families_are_carried_not_refused() {
    // AFI 25 (L2VPN) / SAFI 70 (EVPN): opaque.
    let attrs = format!("80 0e 0e 0019 46 04 c0000201 00 02 03 aabbcc {MANDATORY}");
    let u = decode(&body("", &attrs, "")).expect("valid");
    let reach = u.attributes.mp_reach.expect("MP_REACH_NLRI");
    assert_eq!(reach.nlri, MpNlri::Opaque(h("02 03 aabbcc").into()));
}

#[test]
fn s7_14_extended_communities_length() {
    assert_withdraw_with("c0 10 07 00020000000000", sub::ATTRIBUTE_LENGTH_ERROR, h("c0 10 07 00020000000000"));
    assert_withdraw_with("c0 10 00", sub::ATTRIBUTE_LENGTH_ERROR, h("c0 10 00"));
}

#[test]
fn rfc6793_6_malformed_as4_path_or_as4_aggregator_is_discarded() {
    let ctx = Context::legacy();
    let base = "40 01 01 00  40 02 04 02 01 5ba0  40 03 04 c0000201";
    for (bad, tc) in [
        ("c0 11 02 02 00", type_code::AS4_PATH),
        ("c0 11 05 02 01 000111", type_code::AS4_PATH),
        ("c0 12 06 5ba0c0000201", type_code::AS4_AGGREGATOR),
    ] {
        let (u, e) = discarded(decode_update(&body("", &format!("{base} {bad}"), NLRI), &ctx), tc);
        assert_eq!(e.data.to_vec(), h(bad));
        assert!(u.attributes.as4_path.is_none() && u.attributes.as4_aggregator.is_none());
    }
}

#[test]
fn rfc8092_6_large_community_length() {
    assert_withdraw_with(
        "c0 20 0d 0000fde8000000010000000200",
        sub::ATTRIBUTE_LENGTH_ERROR,
        h("c0 20 0d 0000fde8000000010000000200"),
    );
}

#[test]
fn rfc9234_5_otc_length() {
    assert_withdraw_with("c0 23 03 00fde8", sub::ATTRIBUTE_LENGTH_ERROR, h("c0 23 03 00fde8"));
}

#[test]
fn unrecognized_well_known_attribute_is_treat_as_withdraw() {
    assert_withdraw_with("40 63 01 00", sub::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE, h("40 63 01 00"));
}

#[test]
fn treat_as_withdraw_lists_every_nlri_of_the_message() {
    let attrs = format!(
        "80 0e 1a 0002 01 10 20010db8000000000000000000000001 00 20 20010db8
         80 0f 0a 0002 01 30 20010db80001
         {MANDATORY} 80 04 00"
    );
    // MED of length 0: treat-as-withdraw.
    let (w, _) = withdraw(decode(&body("10 0a01", &attrs, NLRI)));
    assert_eq!(
        w,
        vec![
            (Family::IPV4_UNICAST, Nlri::new(net("10.1.0.0/16"))),
            (Family::IPV4_UNICAST, Nlri::new(net("198.51.100.0/24"))),
            (Family::IPV6_UNICAST, Nlri::new(net("2001:db8:1::/48"))),
            (Family::IPV6_UNICAST, Nlri::new(net("2001:db8::/32"))),
        ]
    );
}

#[test]
fn decode_path_attributes_alone_withdraws_the_mp_prefixes() {
    let attrs = h("80 0e 1a 0002 01 10 20010db8000000000000000000000001 00 20 20010db8  40 01 01 00 40 02 00 80 04 00");
    match decode_path_attributes(&attrs, &Context::default(), None) {
        Err(UpdateError::TreatAsWithdraw { withdrawn, error }) => {
            assert_eq!(withdrawn, vec![(Family::IPV6_UNICAST, Nlri::new(net("2001:db8::/32")))]);
            assert_eq!(notif(&error), (3, sub::ATTRIBUTE_LENGTH_ERROR, h("80 04 00")));
        }
        other => panic!("{other:?}"),
    }
    // An MRT RIB entry needs no mandatory attribute.
    let (a, issues) = decode_path_attributes(
        &h("80 0e 11 10 20010db8000000000000000000000001"),
        &Context::default(),
        Some(Family::IPV6_UNICAST),
    )
    .expect("valid");
    assert!(issues.is_empty() && a.origin.is_none());
}
