//! The sender's address tables: SRS decoding, reading a `Return-Path`, the addresses of an
//! address list, and which local parts are machines or lists rather than people.

use crate::autoreply::decide::{self, decode_srs, emails_in, parse_return_path, system_sender};

#[test]
fn srs_and_return_paths() {
    let cases: &[(&str, Option<&str>)] = &[
        ("SRS0=HHH=TT=example.org=user@forwarder.test", Some("user@example.org")),
        ("srs0+abcd=xy=kunde.test=a.b@fw.test", Some("a.b@kunde.test")),
        ("SRS0=HHH=TT=example.org=us=er@forwarder.test", Some("us=er@example.org")),
        ("SRS1=HHH=first.test==HHH=TT=example.org=user@second.test", Some("user@example.org")),
        ("user@example.org", None),
        ("SRS0=broken@forwarder.test", None),
        ("srsuser@example.org", None),
    ];
    for (a, want) in cases {
        assert_eq!(decode_srs(a).as_deref(), *want, "{a}");
    }
    assert_eq!(parse_return_path(" <> "), decide::ReturnPath::Null);
    assert_eq!(parse_return_path("<@relay.test:user@example.org>").address(), Some("user@example.org"));
    assert_eq!(parse_return_path("User@Example.ORG (comment)").address(), Some("user@example.org"));
    assert!(matches!(parse_return_path("<not an address>"), decide::ReturnPath::Invalid(_)));
    assert_eq!(emails_in("A <a@x.test>, \"B, C\" <b@y.test>"), vec!["a@x.test", "b@y.test"]);
    assert_eq!(emails_in("a@x.test, b@y.test (c)"), vec!["a@x.test", "b@y.test"]);
}

#[test]
fn system_senders() {
    for a in [
        "MAILER-DAEMON@x.test",
        "postmaster@x.test",
        "listserv@x.test",
        "Majordomo@x.test",
        "owner-list@x.test",
        "list-request@x.test",
        "noreply@x.test",
        "no-reply@x.test",
        "no_reply+123@x.test",
        "donotreply@x.test",
        "do-not-reply@x.test",
        "info-noreply@x.test",
        "bounces+abc=x.test@esp.test",
        "nicht-antworten@x.test",
    ] {
        assert!(system_sender(a).is_some(), "{a} should be a system sender");
    }
    for a in ["mueller@kunde.test", "reply@kunde.test", "norbert@kunde.test", "info@kunde.test", "owner@kunde.test"] {
        assert!(system_sender(a).is_none(), "{a} is a person");
    }
}
