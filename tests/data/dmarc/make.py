#!/usr/bin/env python3
"""Writes the DMARC aggregate report corpus beside this script (python3, standard library only).

    python3 tests/data/dmarc/make.py

Each .eml is a report mail shaped as the receiver sends it (RFC 7489 section 7.2 and appendix C;
the XML as these receivers write it, element order and all): Google (zip attachment named
google.com!DOMAIN!BEGIN!END.zip), Microsoft (gzip, enterprise.protection.outlook.com!…xml.gz),
GMX (gzip), WEB.DE (plain XML attachment, several records of both paths and unknown senders),
and the broken ones: a truncated zip, an XML attachment that is no report (it comes with a
report's subject). The mails that are no DMARC report at all and must be passed over, not
listed as broken: `other-mail.eml` (an ordinary mail), `xrechnung.eml` (an invoice with its
XRechnung XML attached, as German trades businesses receive them) and `tls-report.eml` (an
SMTP TLS report, RFC 8460: a report-shaped subject, a gzipped JSON attachment). The output is deterministic (fixed
dates, zip and gzip timestamps), so running this again changes nothing.

The addresses match the integration test (tests/it/dmarc.rs): 127.0.0.1 is the relay (its host),
127.0.0.2 the company's own server (smtp.provider.test in the test zones), 192.0.2.25 a direct
address listed in doctor.direct_ips, anything else unknown. All reports are about 2026-12-01.
"""
import base64
import gzip
import io
import os
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
DOMAIN = "bau-firma.test"
BEGIN = 1796083200  # 2026-12-01 00:00:00 UTC
END = BEGIN + 86399

# (ip, count, disposition, dkim_aligned, spf_aligned, envelope_from, dkim results, spf result)
PASS = ("none", "pass", "pass")
FAIL = ("quarantine", "fail", "fail")


def record(ip, count, ev, env_from, dkim, spf, google=False):
    disposition, dkim_eval, spf_eval = ev
    dkim_xml = "".join(
        f"<dkim><domain>{d}</domain><selector>{s}</selector><result>{r}</result></dkim>" for d, s, r in dkim
    )
    scope = "<scope>mfrom</scope>" if google else ""
    return (
        "<record><row>"
        f"<source_ip>{ip}</source_ip><count>{count}</count>"
        f"<policy_evaluated><disposition>{disposition}</disposition><dkim>{dkim_eval}</dkim><spf>{spf_eval}</spf></policy_evaluated>"
        "</row><identifiers>"
        + ("" if google else f"<envelope_to>{'gmail.com' if google else 'example.net'}</envelope_to>")
        + f"<envelope_from>{env_from}</envelope_from><header_from>{DOMAIN}</header_from>"
        "</identifiers><auth_results>"
        f"{dkim_xml}<spf><domain>{env_from}</domain>{scope}<result>{spf}</result></spf>"
        "</auth_results></record>"
    )


def feedback(org, email, report_id, records, extra="", version=True):
    return (
        '<?xml version="1.0" encoding="UTF-8" ?>\n<feedback>'
        + ("<version>1.0</version>" if version else "")
        + f"<report_metadata><org_name>{org}</org_name><email>{email}</email>{extra}"
        f"<report_id>{report_id}</report_id><date_range><begin>{BEGIN}</begin><end>{END}</end></date_range></report_metadata>"
        f"<policy_published><domain>{DOMAIN}</domain><adkim>r</adkim><aspf>r</aspf><p>quarantine</p><sp>quarantine</sp><pct>100</pct><fo>0</fo></policy_published>"
        + "".join(records)
        + "</feedback>\n"
    )


def b64(data):
    s = base64.b64encode(data).decode()
    return "\r\n".join(s[i : i + 76] for i in range(0, len(s), 76))


def mail(sender, subject, msgid, date, part_type, filename, payload, text=True, body=None):
    """A multipart/mixed report mail with one base64 attachment."""
    boundary = "=_dmarc_" + msgid.split("@")[0].strip("<")
    lines = [
        f"From: {sender}",
        f"To: dmarc-reports@{DOMAIN}",
        f"Subject: {subject}",
        f"Date: {date}",
        f"Message-ID: {msgid}",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/mixed; boundary="{boundary}"',
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=utf-8",
        "",
        body or f"This is an aggregate report from {sender.split('@')[1]}.",
        "",
        f"--{boundary}",
        f'Content-Type: {part_type}; name="{filename}"',
        f'Content-Disposition: attachment; filename="{filename}"',
        "Content-Transfer-Encoding: base64",
        "",
        b64(payload),
        "",
        f"--{boundary}--",
        "",
    ]
    return "\r\n".join(lines).encode()


def zipped(name, data):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo(name, date_time=(2026, 12, 2, 3, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, data)
    return buf.getvalue()


def gzipped(data):
    return gzip.compress(data, mtime=0)


def subject(submitter, report_id):
    return f"Report domain: {DOMAIN} Submitter: {submitter} Report-ID: {report_id}"


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


HOSTED = "handwerk.test"
SIG_OK = [(DOMAIN, "postbote", "pass")]
SIG_HOSTED = [(HOSTED, "hosted", "pass")]


def google():
    rid = "9476315829384757612"
    xml = feedback(
        "google.com",
        "noreply-dmarc-support@google.com",
        rid,
        [
            record("127.0.0.1", 120, PASS, DOMAIN, SIG_OK, "pass", google=True),
            # The company's own server: SPF aligned, not signed.
            record("127.0.0.2", 30, ("none", "fail", "pass"), DOMAIN, [], "pass", google=True),
            record("203.0.113.77", 4, FAIL, "spam.example", [], "fail", google=True),
        ],
        extra="<extra_contact_info>https://support.google.com/a/answer/2466580</extra_contact_info>",
        version=False,
    )
    fname = f"google.com!{DOMAIN}!{BEGIN}!{END}.zip"
    return mail(
        "noreply-dmarc-support@google.com",
        subject("google.com", rid),
        f"<{rid}@google.com>",
        "Wed, 02 Dec 2026 03:59:59 -0800",
        "application/zip",
        fname,
        zipped(fname[:-4] + ".xml", xml.encode()),
    )


def microsoft():
    rid = "0d3a2f6b7c1e4a58b9f0e2d4c6a8b1f3"
    xml = feedback(
        "Enterprise Outlook",
        "dmarcreport@microsoft.com",
        rid,
        [
            record("127.0.0.1", 50, PASS, DOMAIN, SIG_OK, "pass"),
            # Forwarded through the hosted server: the envelope sender is the hosted address.
            record("127.0.0.1", 7, FAIL, HOSTED, SIG_HOSTED, "pass"),
        ],
    )
    fname = f"enterprise.protection.outlook.com!{DOMAIN}!{BEGIN}!{END}.xml.gz"
    return mail(
        "DMARC Aggregate Report <dmarcreport@microsoft.com>",
        subject("enterprise.protection.outlook.com", rid),
        "<DM6PR11MB4593.namprd11.prod.outlook.com@microsoft.com>",
        "Wed, 2 Dec 2026 09:12:44 +0000",
        "application/gzip",
        fname,
        gzipped(xml.encode()),
    )


def gmx():
    rid = "1796169600.0412.gmx.net"
    xml = feedback(
        "GMX",
        "dmarc_support@gmx.net",
        rid,
        [
            record("127.0.0.1", 300, FAIL, HOSTED, SIG_HOSTED, "pass"),
            record("127.0.0.2", 12, PASS, DOMAIN, SIG_OK, "pass"),
        ],
    )
    fname = f"gmx.net!{DOMAIN}!{BEGIN}!{END}.xml.gz"
    return mail(
        "dmarc_support@gmx.net",
        subject("gmx.net", rid),
        "<dmarc-1796169600-0412@gmx.net>",
        "Wed, 2 Dec 2026 01:00:12 +0100",
        "application/gzip",
        fname,
        gzipped(xml.encode()),
    )


def webde():
    rid = "1796169600.7731.web.de"
    xml = feedback(
        "WEB.DE",
        "dmarc_support@web.de",
        rid,
        [
            record("127.0.0.1", 40, PASS, DOMAIN, SIG_OK, "pass"),
            record("127.0.0.2", 8, PASS, DOMAIN, SIG_OK, "pass"),
            record("192.0.2.25", 3, ("none", "fail", "pass"), DOMAIN, [], "pass"),
            record("127.0.0.1", 9, FAIL, HOSTED, SIG_HOSTED, "pass"),
            record("2001:db8::77", 2, FAIL, "spam.example", [("spam.example", "s1", "fail")], "softfail"),
        ],
    )
    fname = f"web.de!{DOMAIN}!{BEGIN}!{END}.xml"
    return mail(
        "dmarc_support@web.de",
        subject("web.de", rid),
        "<dmarc-1796169600-7731@web.de>",
        "Wed, 2 Dec 2026 01:03:40 +0100",
        "text/xml",
        fname,
        xml.encode(),
    )


def broken_zip():
    rid = "5512093348877612209"
    xml = feedback("google.com", "noreply-dmarc-support@google.com", rid, [record("127.0.0.1", 1, PASS, DOMAIN, SIG_OK, "pass")])
    fname = f"google.com!{DOMAIN}!{BEGIN}!{END}.zip"
    whole = zipped(fname[:-4] + ".xml", xml.encode())
    return mail(
        "noreply-dmarc-support@google.com",
        subject("google.com", rid),
        f"<{rid}@google.com>",
        "Wed, 02 Dec 2026 04:10:00 -0800",
        "application/zip",
        fname,
        whole[: len(whole) // 2],
    )


def not_a_report():
    invoice = b'<?xml version="1.0" encoding="UTF-8"?>\n<Invoice><ID>R-2026-118</ID><IssueDate>2026-12-01</IssueDate></Invoice>\n'
    return mail(
        "reports@dmarc.example.net",
        subject("dmarc.example.net", "42"),
        "<42.report@dmarc.example.net>",
        "Wed, 2 Dec 2026 06:00:00 +0000",
        "text/xml",
        "report.xml",
        invoice,
    )


def other_mail():
    return "\r\n".join(
        [
            "From: Kundin Meier <meier@example.net>",
            f"To: info@{DOMAIN}",
            "Subject: Anfrage Badsanierung",
            "Date: Wed, 2 Dec 2026 08:15:00 +0100",
            "Message-ID: <anfrage-bad-0815@example.net>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "",
            "Guten Tag, wann hätten Sie Zeit für ein Angebot?",
            "",
        ]
    ).encode()


def xrechnung():
    invoice = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ubl:Invoice xmlns:ubl="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" '
        'xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">'
        "<cbc:CustomizationID>urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0</cbc:CustomizationID>"
        "<cbc:ID>RE-2026-4711</cbc:ID><cbc:IssueDate>2026-12-01</cbc:IssueDate>"
        "<cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode><cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>"
        "</ubl:Invoice>\n"
    ).encode()
    return mail(
        "Baustoffhandel Krause <rechnung@baustoffe-krause.example>",
        "Rechnung RE-2026-4711 (XRechnung)",
        "<re-2026-4711@baustoffe-krause.example>",
        "Wed, 2 Dec 2026 07:30:00 +0100",
        "application/xml",
        "RE-2026-4711_XRechnung.xml",
        invoice,
        body="Sehr geehrte Damen und Herren, anbei unsere Rechnung RE-2026-4711 als XRechnung.",
    )


def tls_report():
    rid = "2026-12-01T00:00:00Z_bau-firma.test"
    report = (
        '{"organization-name":"Google Inc.","date-range":{"start-datetime":"2026-12-01T00:00:00Z",'
        '"end-datetime":"2026-12-01T23:59:59Z"},"contact-info":"smtp-tls-reporting@google.com",'
        f'"report-id":"{rid}","policies":[{{"policy":{{"policy-type":"no-policy-found",'
        f'"policy-domain":"{DOMAIN}"}},"summary":{{"total-successful-session-count":12,'
        '"total-failure-session-count":0}}]}'
    ).encode()
    fname = f"google.com!{DOMAIN}!20261201T000000Z!20261201T235959Z!001.json.gz"
    raw = mail(
        "noreply-smtp-tls-reporting@google.com",
        subject("google.com", rid),
        "<tlsrpt-20261201@google.com>",
        "Wed, 02 Dec 2026 05:00:00 -0800",
        "application/tlsrpt+gzip",
        fname,
        gzipped(report),
    )
    # RFC 8460 section 5.3: these headers name the report's domain and submitter.
    head = f"TLS-Report-Domain: {DOMAIN}\r\nTLS-Report-Submitter: google.com\r\n".encode()
    return head + raw


if __name__ == "__main__":
    write("google.eml", google())
    write("microsoft.eml", microsoft())
    write("gmx.eml", gmx())
    write("webde-mixed.eml", webde())
    write("broken-truncated-zip.eml", broken_zip())
    write("broken-not-a-report.eml", not_a_report())
    write("other-mail.eml", other_mail())
    write("xrechnung.eml", xrechnung())
    write("tls-report.eml", tls_report())
