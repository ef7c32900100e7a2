//! DMARC aggregate reports: how long reading 1,000 report mails takes (`bench/dmarc.sh`).
//!
//! The mails are the corpus of `tests/data/dmarc/` in turn (Google's zip, Microsoft's and GMX's
//! gzip, WEB.DE's plain XML), each read as the collector reads it: `mail-auth` parses the mail
//! and unpacks the attachment, the records are summed per day (and classified by path, as the
//! figures are when read back, so the time includes that too). Then the
//! same 1,000 readings (each under its own report id) are kept in a fresh store, one transaction
//! each, as the collector keeps them. Prints both times; the target for reading is under 2 s.

use std::time::Instant;

use postbote::deliverability::aggregate::{Block, PathBlocks, classify_rows};
use postbote::deliverability::reports::read_mail;
use postbote::store::Store;
use postbote::store::dmarc::Reading;

const FILES: [&str; 4] = ["google.eml", "microsoft.eml", "gmx.eml", "webde-mixed.eml"];

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/dmarc");
    let mails: Vec<Vec<u8>> = FILES.iter().map(|f| std::fs::read(dir.join(f)).expect("corpus")).collect();
    let ip = |s: &str| Block::host(s.parse().unwrap());
    let blocks = PathBlocks {
        direct: vec![ip("127.0.0.2"), ip("192.0.2.25")],
        relay: vec![ip("127.0.0.1")],
        ..PathBlocks::default()
    };

    let start = Instant::now();
    let mut readings = Vec::with_capacity(n);
    let mut records = 0;
    for i in 0..n {
        match read_mail(&mails[i % mails.len()]) {
            Some(Reading::Report { head, mut rows }) => {
                classify_rows(&mut rows, &blocks);
                records += head.records;
                readings.push(Reading::Report { head, rows });
            }
            other => panic!("{} is no report: {other:?}", FILES[i % mails.len()]),
        }
    }
    let read = start.elapsed();

    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("bench.sqlite")).unwrap();
    store.ensure_accounts(["info"]).unwrap();
    let start = Instant::now();
    for (i, mut r) in readings.into_iter().enumerate() {
        if let Reading::Report { head, .. } = &mut r {
            head.report_id = format!("{}-{i}", head.report_id);
        }
        store.dmarc().keep("info", i as i64 + 1, None, &r).unwrap();
    }
    let kept = start.elapsed();

    let bytes: usize = (0..n).map(|i| mails[i % mails.len()].len()).sum();
    println!("read {n} report mails ({} KB, {records} records): {:.3} s", bytes / 1024, read.as_secs_f64());
    println!("kept them in the store (one transaction each): {:.3} s", kept.as_secs_f64());
    println!("target for reading: under 2 s -> {}", if read.as_secs_f64() < 2.0 { "met" } else { "MISSED" });

    // A big receiver's day: one report of 10,000 records, 2,500 source addresses.
    let big = big_report(10_000);
    let start = Instant::now();
    let Some(Reading::Report { mut rows, .. }) = read_mail(&big) else { panic!("the big report is no report") };
    classify_rows(&mut rows, &blocks);
    println!(
        "one report of 10,000 records ({} KB): {:.3} s, {} day rows",
        big.len() / 1024,
        start.elapsed().as_secs_f64(),
        rows.len()
    );
}

/// A plain-XML report mail with `records` records.
fn big_report(records: usize) -> Vec<u8> {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<feedback><version>1.0</version><report_metadata>\
         <org_name>Big Receiver</org_name><email>dmarc@big.example</email><report_id>big-1</report_id>\
         <date_range><begin>1796083200</begin><end>1796169599</end></date_range></report_metadata>\
         <policy_published><domain>bau-firma.test</domain><adkim>r</adkim><aspf>r</aspf><p>quarantine</p>\
         <sp>quarantine</sp><pct>100</pct></policy_published>",
    );
    for i in 0..records {
        let pass = if i % 5 == 0 { "fail" } else { "pass" };
        xml.push_str(&format!(
            "<record><row><source_ip>10.{}.{}.{}</source_ip><count>{}</count><policy_evaluated>\
             <disposition>none</disposition><dkim>{pass}</dkim><spf>{pass}</spf></policy_evaluated></row>\
             <identifiers><header_from>bau-firma.test</header_from></identifiers><auth_results>\
             <dkim><domain>bau-firma.test</domain><result>{pass}</result></dkim>\
             <spf><domain>bau-firma.test</domain><result>{pass}</result></spf></auth_results></record>",
            (i % 2500) / 250,
            (i % 250) / 10,
            i % 10,
            1 + i % 7
        ));
    }
    xml.push_str("</feedback>\n");
    format!(
        "From: dmarc@big.example\r\nTo: dmarc@bau-firma.test\r\nSubject: Report domain: bau-firma.test \
         Submitter: big.example Report-ID: big-1\r\nMessage-ID: <big-1@big.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/xml; name=\"big.example!bau-firma.test!1796083200!1796169599.xml\"\r\n\
         Content-Disposition: attachment; filename=\"big.example!bau-firma.test!1796083200!1796169599.xml\"\r\n\r\n{xml}"
    )
    .into_bytes()
}
