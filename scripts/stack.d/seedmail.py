#!/usr/bin/env python3
"""Realistic German demo mail for the sample company Bau-Firma (bau-firma.test), stdlib only.

  seedmail.py OUTDIR becker|info

Writes one mbox file per folder (OUTDIR/INBOX, OUTDIR/Archive, OUTDIR/Sent) for
`doveadm import`, as `scripts/stack seed` does. The From_ line's date becomes the IMAP
INTERNALDATE; Status/X-Status headers carry \\Seen, \\Answered and \\Flagged (Dovecot's mbox
reads them and does not show them as headers). The output is the same on every run.

What is in it, on purpose: customer enquiries about a bathroom renovation, supplier invoices
with (small, valid) PDF attachments, a quote, a reply thread of three with Message-ID,
In-Reply-To and References (INBOX -> Sent -> INBOX), RFC 2047 encoded umlaut subjects and
names, an ISO-8859-1 message with 8-bit body, an HTML-only message, a multipart/alternative
newsletter with List-Unsubscribe, a mailing-list message, an auto-reply (Auto-Submitted),
a forwarded message as message/rfc822, photos (PNG), a message without subject, and a
message flagged \\Seen and \\Flagged. Mail to becker arrives addressed to his company
address becker@bau-firma.test, forwarded to the hosted mailbox becker.bau-firma@handwerk.test.
"""
import base64, os, quopri, struct, sys, time, zlib
from datetime import datetime, timedelta, timezone
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr

CET = timezone(timedelta(hours=1))
HOSTED = {"becker": "becker.bau-firma@handwerk.test", "info": "info.bau-firma@handwerk.test"}
BECKER = ("Thomas Becker", "becker@bau-firma.test")
INFO = ("Bau-Firma GmbH – Büro", "info@bau-firma.test")
SIGNATURE = """--
Thomas Becker
Bau-Firma GmbH – Meisterbetrieb für Sanitär, Heizung und Fliesen
Musterstraße 12, 12345 Musterstadt
Tel. 01234 56789-0 · www.bau-firma.test
"""

# ---------------------------------------------------------------- building blocks


def when(month, day, hour, minute):
    return datetime(2025, month, day, hour, minute, tzinfo=CET)


def addr(person):
    return formataddr(person, charset="utf-8")


def hdr(text, charset="utf-8"):
    """RFC 2047 encode a header value when it is not plain ASCII."""
    try:
        text.encode("ascii")
        return text
    except UnicodeEncodeError:
        return Header(text, charset, maxlinelen=76).encode()


def text_part(text, charset="utf-8", subtype="plain"):
    data = quopri.encodestring(text.encode(charset)).decode("ascii")
    return (f"Content-Type: text/{subtype}; charset={charset}\n"
            f"Content-Transfer-Encoding: quoted-printable\n\n{data}")


def b64(data):
    s = base64.b64encode(data).decode("ascii")
    return "\n".join(s[i:i + 76] for i in range(0, len(s), 76)) + "\n"


def attachment(filename, ctype, data):
    return (f"Content-Type: {ctype}; name=\"{filename}\"\n"
            f"Content-Disposition: attachment; filename=\"{filename}\"\n"
            f"Content-Transfer-Encoding: base64\n\n{b64(data)}")


def multipart(subtype, parts, boundary):
    out = [f"Content-Type: multipart/{subtype};\n boundary=\"{boundary}\"\n\n"
           "This is a multi-part message in MIME format.\n"]
    for p in parts:
        out.append(f"--{boundary}\n{p}\n")
    out.append(f"--{boundary}--\n")
    return "".join(out)


def pdf(title, lines):
    """A small but valid one-page PDF (Helvetica, WinAnsi) showing TITLE and LINES."""
    def esc(s):
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    ops = ["BT", "/F1 16 Tf", "56 780 Td", f"({esc(title)}) Tj", "/F1 11 Tf", "16 TL", "T*"]
    ops += [f"({esc(line)}) '" for line in lines]
    ops.append("ET")
    stream = "\n".join(ops).encode("cp1252")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        ("<< /Title (%s) /Producer (Bau-Firma Buchhaltung) >>" % esc(title)).encode("cp1252"),
    ]
    out, offsets = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"), []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def png(width, height, rgb):
    """A valid PNG of one colour with a darker diagonal, made with zlib only."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b""
    for y in range(height):
        row = bytearray(b"\x00")
        for x in range(width):
            row += bytes(c // 2 for c in rgb) if abs(x - y) < 2 else bytes(rgb)
        rows += bytes(row)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


class Msg:
    def __init__(self, folder, date, frm, to, subject, body, *, flags="", msgid, extra=(),
                 charset="utf-8", cc=None):
        self.folder, self.date, self.flags = folder, date, flags
        h = [("From", addr(frm) if isinstance(frm, tuple) else frm),
             ("To", ", ".join(addr(t) if isinstance(t, tuple) else t for t in to))]
        if cc:
            h.append(("Cc", ", ".join(addr(c) for c in cc)))
        if subject is not None:
            h.append(("Subject", hdr(subject, charset)))
        h += [("Date", format_datetime(date)), ("Message-ID", f"<{msgid}>")]
        h += list(extra)
        h.append(("MIME-Version", "1.0"))
        self.headers, self.body = h, body

    def mbox_entry(self, envelope_from):
        lines = [f"{k}: {v}" for k, v in self.headers]
        status = "RO" if "S" in self.flags else "O"
        xstatus = "".join(c for c in "AF" if c in self.flags)
        lines.append(f"Status: {status}")
        if xstatus:
            lines.append(f"X-Status: {xstatus}")
        body = self.body if isinstance(self.body, bytes) else self.body.encode("utf-8")
        # mbox: quote body lines that would look like a message separator
        body = b"\n".join(b">" + ln if ln.startswith(b"From ") else ln for ln in body.split(b"\n"))
        utc = time.asctime(self.date.astimezone(timezone.utc).timetuple())
        return (f"From {envelope_from} {utc}\n".encode() + "\n".join(lines).encode("ascii")
                + b"\n" + body.rstrip(b"\n") + b"\n\n")


def incoming(owner):
    """Headers a forwarded message picks up on its way to the hosted mailbox."""
    return [("Delivered-To", HOSTED[owner]), ("X-Original-To", f"{owner}@bau-firma.test")]


# ---------------------------------------------------------------- becker's mailbox


def becker():
    msgs = []
    M = lambda *a, **k: msgs.append(Msg(*a, **k))  # noqa: E731
    mueller = ("Sabine Müller", "sabine.mueller@kunde.test")
    schmidt = ("Jürgen Schmidt", "j.schmidt@mail-anbieter.test")
    richter = ("Sanitär-Großhandel Richter GmbH", "rechnung@richter-sanitaer.test")
    kaiser = ("Baustoffhandel Kaiser KG", "buchhaltung@kaiser-baustoffe.test")
    weber = ("Fliesen-Center Weber", "auftrag@fliesen-weber.test")
    lange = ("Architekturbüro Lange", "k.lange@lange-architekten.test")
    inc = incoming("becker")

    # -- the thread of three: enquiry (INBOX) -> quote (Sent) -> answer (INBOX)
    t1, t2, t3 = ("20250303081412.4711@kunde.test", "20250305173002.1@bau-firma.test",
                  "20250307112044.4712@kunde.test")
    M("INBOX", when(3, 3, 8, 14), mueller, [BECKER], "Anfrage: Badsanierung in unserem Einfamilienhaus",
      text_part("""Sehr geehrter Herr Becker,

wir möchten unser Badezimmer (ca. 8 m², Baujahr 1978) komplett sanieren lassen:
- Badewanne raus, bodengleiche Dusche mit Glasabtrennung rein
- neue Fliesen an Wand und Boden (gerne großformatig, hell)
- Wand-WC und ein Waschtisch mit Unterschrank
- Handtuchheizkörper

Wäre eine Besichtigung in der kommenden Woche möglich? Am besten nachmittags ab 15 Uhr.

Mit freundlichen Grüßen
Sabine Müller
Am Lindenhof 3, 12345 Musterstadt
Tel. 0170 1234567
"""), flags="SA", msgid=t1, extra=inc)
    M("Sent", when(3, 5, 17, 30), BECKER, [mueller], "Angebot für Badsanierung – Müller",
      multipart("mixed", [text_part(f"""Sehr geehrte Frau Müller,

vielen Dank für Ihre Anfrage und das freundliche Gespräch bei der Besichtigung.
Anbei erhalten Sie unser Angebot Nr. 2025-034 für die Sanierung Ihres Badezimmers.

Die Ausführung ist ab KW 16 möglich; die Bauzeit beträgt etwa drei Wochen.
Das Angebot ist vier Wochen gültig.

Mit freundlichen Grüßen
{SIGNATURE}"""), attachment("Angebot_2025-034_Mueller.pdf", "application/pdf",
                            pdf("Angebot Nr. 2025-034", [
                                "Bau-Firma GmbH, Musterstrasse 12, 12345 Musterstadt",
                                "Kundin: Sabine Müller, Am Lindenhof 3, 12345 Musterstadt",
                                "Badsanierung, ca. 8 m²",
                                "Pos. 1  Rückbau Wanne und Fliesen ......  1.480,00 EUR",
                                "Pos. 2  Bodengleiche Dusche, Glaswand ...  3.950,00 EUR",
                                "Pos. 3  Fliesen Wand/Boden 60x60 ........  4.210,00 EUR",
                                "Pos. 4  Wand-WC, Waschtisch .............  2.640,00 EUR",
                                "Pos. 5  Handtuchheizkörper ..............    780,00 EUR",
                                "Summe netto 13.060,00 EUR, zzgl. 19 % MwSt.",
                                "Gesamt 15.541,40 EUR"]))], "=_angebot_2025_034"),
      flags="S", msgid=t2, extra=[("In-Reply-To", f"<{t1}>"), ("References", f"<{t1}>")])
    M("INBOX", when(3, 7, 11, 20), mueller, [BECKER], "Re: Angebot für Badsanierung – Müller",
      text_part("""Sehr geehrter Herr Becker,

vielen Dank für das Angebot. Wir sind grundsätzlich einverstanden.
Zwei Fragen noch:
1. Ist bei Pos. 2 die Duschrinne schon enthalten?
2. Können wir die Fliesen vorher im Fliesen-Center Weber ansehen?

Viele Grüße
Sabine Müller

Am 05.03.2025 um 17:30 schrieb Thomas Becker:
> Sehr geehrte Frau Müller,
>
> vielen Dank für Ihre Anfrage und das freundliche Gespräch bei der Besichtigung.
> Anbei erhalten Sie unser Angebot Nr. 2025-034 für die Sanierung Ihres Badezimmers.
"""), msgid=t3, extra=inc + [("In-Reply-To", f"<{t2}>"), ("References", f"<{t1}> <{t2}>")])

    # -- supplier invoices with PDFs
    M("INBOX", when(3, 4, 10, 2), richter, [BECKER], "Rechnung Nr. 2025-10381",
      multipart("mixed", [text_part("""Sehr geehrte Damen und Herren,

anbei erhalten Sie unsere Rechnung Nr. 2025-10381 vom 04.03.2025 als PDF.
Zahlbar innerhalb von 14 Tagen mit 2 % Skonto oder 30 Tagen netto.

Mit freundlichen Grüßen
Ihre Buchhaltung
Sanitär-Großhandel Richter GmbH
"""), attachment("Rechnung_2025-10381.pdf", "application/pdf",
                 pdf("Rechnung Nr. 2025-10381", ["Kunde 40815: Bau-Firma GmbH",
                                                "12 x Vorwandelement WC .......  2.148,00 EUR",
                                                "4 x Duschrinne 80 cm .........    596,00 EUR",
                                                "Summe brutto 3.265,36 EUR"]))], "=_richter_10381"),
      flags="S", msgid="re2025-10381.20250304100212@richter-sanitaer.test", extra=inc)
    M("INBOX", when(3, 5, 7, 55), kaiser, [BECKER], "Ihre Rechnung RE-55812 vom 04.03.2025",
      multipart("mixed", [text_part("""Guten Tag,

im Anhang finden Sie die Rechnung RE-55812 (Lieferung Fliesenkleber und Ausgleichsmasse,
Baustelle Lindenweg 7).

Freundliche Grüße
Baustoffhandel Kaiser KG
"""), attachment("RE-55812.pdf", "application/pdf",
                 pdf("Rechnung RE-55812", ["20 Sack Fliesenkleber flex C2TE ...  379,80 EUR",
                                          "10 Sack Ausgleichsmasse ...........  214,50 EUR",
                                          "Summe brutto 707,22 EUR"]))], "=_kaiser_55812"),
      msgid="RE-55812.1741157700@kaiser-baustoffe.test", extra=inc)
    M("INBOX", when(3, 10, 9, 30), weber, [BECKER], "Auftragsbestätigung 4471 – Feinsteinzeug 60x60 anthrazit",
      multipart("mixed", [text_part("""Sehr geehrter Herr Becker,

wir bestätigen Ihren Auftrag 4471 über 32 m² Feinsteinzeug 60x60 anthrazit matt.
Liefertermin: 18.03.2025, Anlieferung Baustelle Am Lindenhof 3.

Mit freundlichen Grüßen
Fliesen-Center Weber
"""), attachment("Auftragsbestaetigung_4471.pdf", "application/pdf",
                 pdf("Auftragsbestätigung 4471", ["32 m² Feinsteinzeug 60x60 anthrazit matt",
                                                  "Liefertermin 18.03.2025"]))], "=_weber_4471"),
      msgid="ab4471.20250310093011@fliesen-weber.test", extra=inc)
    M("INBOX", when(3, 11, 10, 10), richter, [BECKER], "Zahlungserinnerung Rechnung 2025-10211",
      multipart("mixed", [text_part("""Sehr geehrte Damen und Herren,

sicher ist es Ihrer Aufmerksamkeit entgangen: Die Rechnung 2025-10211 vom 10.02.2025
über 1.284,50 EUR ist noch offen. Bitte überweisen Sie den Betrag bis zum 21.03.2025.

Mit freundlichen Grüßen
Sanitär-Großhandel Richter GmbH
"""), attachment("Rechnung_2025-10211.pdf", "application/pdf",
                 pdf("Rechnung Nr. 2025-10211", ["Offener Betrag 1.284,50 EUR"]))], "=_richter_10211"),
      msgid="mahnung.2025-10211.20250311101003@richter-sanitaer.test", extra=inc)

    # -- ISO-8859-1 with an 8-bit body, as an old mail program sends it
    kuehn_body = ("Hallo Herr Becker,\n\nunsere Heizung ist seit heute früh aus, im Display steht "
                  "Störung F28.\nKönnen Sie bitte so schnell wie möglich zurückrufen? "
                  "Tel. 01234 98765.\n\nGruß\nHerbert Kühn\nGartenstraße 21\n")
    M("INBOX", when(3, 4, 16, 40), formataddr(("Herbert Kühn", "h.kuehn@alt-provider.test"), charset="iso-8859-1"),
      [BECKER], "Rückruf wegen Heizungsausfall",
      "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\n".encode("ascii")
      + kuehn_body.encode("iso-8859-1"),
      charset="iso-8859-1", msgid="000801d78a2b$4f1e2c30$0200a8c0@kuehnpc",
      extra=inc + [("X-Mailer", "Microsoft Outlook Express 6.00.2900.5512")])

    # -- seen and flagged: the appointment that must not be forgotten
    M("INBOX", when(3, 5, 12, 30), lange, [BECKER], "Terminbestätigung: Baubesprechung Neubau Lindenweg 7",
      text_part("""Hallo Herr Becker,

hiermit bestätige ich die Baubesprechung am Dienstag, 11.03.2025, 9:00 Uhr auf der Baustelle
Lindenweg 7. Themen: Installationsschächte, Lage der Verteiler, Terminplan Estrich.

Beste Grüße
Katrin Lange, Dipl.-Ing. Architektin
"""), flags="SAF", msgid="a3f0c2e1-77b9-4c51-9d1e-2f0c3a9e1b11@lange-architekten.test", extra=inc)
    M("Sent", when(3, 5, 14, 2), BECKER, [lange], "Re: Terminbestätigung: Baubesprechung Neubau Lindenweg 7",
      text_part(f"""Hallo Frau Lange,

danke, ich bin dabei und bringe den Terminplan für die Sanitärrohinstallation mit.

Viele Grüße
{SIGNATURE}"""), flags="S", msgid="20250305140211.2@bau-firma.test",
      extra=[("In-Reply-To", "<a3f0c2e1-77b9-4c51-9d1e-2f0c3a9e1b11@lange-architekten.test>"),
             ("References", "<a3f0c2e1-77b9-4c51-9d1e-2f0c3a9e1b11@lange-architekten.test>")])

    # -- newsletter (bulk, List-Unsubscribe, multipart/alternative)
    M("INBOX", when(3, 6, 9, 15), ("Richter Sanitär Newsletter", "newsletter@richter-sanitaer.test"),
      [BECKER], "Frühjahrsaktion: 15 % auf Vorwandelemente und Duschrinnen",
      multipart("alternative", [
          text_part("""Frühjahrsaktion bei Richter Sanitär

Nur bis 31.03.: 15 % auf alle Vorwandelemente und Duschrinnen.
Jetzt im Fachmarkt oder online bestellen: https://richter-sanitaer.test/aktion

Abmelden: https://richter-sanitaer.test/newsletter/abmelden?id=40815
"""),
          text_part("""<html><body><h1>Frühjahrsaktion</h1>
<p>Nur bis 31.03.: <b>15 %</b> auf alle Vorwandelemente und Duschrinnen.</p>
<p><a href="https://richter-sanitaer.test/aktion">Jetzt bestellen</a></p>
<p style="font-size:small"><a href="https://richter-sanitaer.test/newsletter/abmelden?id=40815">Newsletter abbestellen</a></p>
</body></html>
""", subtype="html")], "=_newsletter_2025_03"),
      msgid="nl-2025-03.40815@mailer.richter-sanitaer.test",
      extra=inc + [("List-Unsubscribe", "<mailto:abmelden@richter-sanitaer.test?subject=unsubscribe-40815>, "
                                        "<https://richter-sanitaer.test/newsletter/abmelden?id=40815>"),
                   ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
                   ("Precedence", "bulk"), ("List-Id", "Richter Sanitaer Newsletter <newsletter.richter-sanitaer.test>")])

    # -- mailing list
    M("INBOX", when(3, 6, 14, 5), ("Martin Vogel", "m.vogel@vogel-shk.test"),
      ["Handwerkerforum <handwerkerforum@lists.innung-musterstadt.test>"],
      "Re: [Handwerkerforum] Abdichtung nach DIN 18534 im bodengleichen Duschbereich",
      text_part("""Moin zusammen,

bei bodengleichen Duschen nehmen wir grundsätzlich W2-I und ein Dichtband mit
Systemzulassung; die Rinne wird mit der Manschette des Herstellers eingebunden.

Gruß Martin
_______________________________________________
Handwerkerforum mailing list
handwerkerforum@lists.innung-musterstadt.test
https://lists.innung-musterstadt.test/listinfo/handwerkerforum
"""), msgid="7c1e9f2a.5d3b@vogel-shk.test",
      extra=inc + [("In-Reply-To", "<b81f2c.9a@fliesen-profi.test>"), ("References", "<b81f2c.9a@fliesen-profi.test>"),
                   ("List-Id", "Handwerkerforum der Innung Musterstadt <handwerkerforum.lists.innung-musterstadt.test>"),
                   ("List-Post", "<mailto:handwerkerforum@lists.innung-musterstadt.test>"),
                   ("List-Unsubscribe", "<mailto:handwerkerforum-leave@lists.innung-musterstadt.test>"),
                   ("List-Archive", "<https://lists.innung-musterstadt.test/pipermail/handwerkerforum/>"),
                   ("Precedence", "list"), ("Sender", "handwerkerforum-bounces@lists.innung-musterstadt.test")])

    # -- photos from a customer's phone
    M("INBOX", when(3, 7, 15, 48), schmidt, [BECKER], "Fotos vom alten Bad",
      multipart("mixed", [text_part("""Hallo Herr Becker,

wie besprochen hier zwei Fotos vom jetzigen Zustand (Gäste-WC im Erdgeschoss).
Die Fliesen sollen raus, das WC bleibt an seinem Platz.

Gruß J. Schmidt

Von meinem iPhone gesendet
"""), attachment("IMG_4711.png", "image/png", png(48, 32, (176, 196, 222))),
          attachment("IMG_4712.png", "image/png", png(48, 32, (222, 205, 170)))], "Apple-Mail-7A1F-4711"),
      msgid="F2B1C3D4-5E6F-4A7B-8C9D-0E1F2A3B4C5D@mail-anbieter.test",
      extra=inc + [("X-Mailer", "iPhone Mail (21D61)")])

    # -- HTML only, from the web site's contact form
    M("INBOX", when(3, 10, 8, 1), ("Kontaktformular bau-firma.test", "noreply@bau-firma.test"), [BECKER],
      "Neue Anfrage über das Kontaktformular: Fliesenarbeiten Gäste-WC",
      text_part("""<html><body>
<h2>Neue Anfrage über www.bau-firma.test</h2>
<table>
<tr><td>Name:</td><td>Petra Wagner</td></tr>
<tr><td>E-Mail:</td><td>petra.wagner@kunde.test</td></tr>
<tr><td>Telefon:</td><td>0151 2345678</td></tr>
<tr><td>Nachricht:</td><td>Guten Tag, wir suchen jemanden, der in unserem Gäste-WC (ca. 3 m²)
neue Wandfliesen verlegt. Wann hätten Sie Zeit für ein Angebot?</td></tr>
</table></body></html>
""", subtype="html"), msgid="form.20250310080112.93@bau-firma.test",
      extra=inc + [("Reply-To", addr(("Petra Wagner", "petra.wagner@kunde.test")))])

    # -- an auto-reply to becker's order (must never be answered automatically)
    M("Sent", when(3, 10, 13, 10), BECKER, [("Richter Bestellannahme", "bestellung@richter-sanitaer.test")],
      "Bestellung Vorwandelemente Baustelle Am Lindenhof 3",
      text_part(f"""Guten Tag,

bitte liefern Sie zur Baustelle Am Lindenhof 3, 12345 Musterstadt, bis 17.03.2025:
- 1 x Vorwandelement WC, Bauhöhe 112 cm
- 1 x Vorwandelement Waschtisch
- 1 x Duschrinne 80 cm, Edelstahl

Kundennummer 40815.

Mit freundlichen Grüßen
{SIGNATURE}"""), flags="S", msgid="20250310131044.3@bau-firma.test")
    M("INBOX", when(3, 10, 13, 12), ("Richter Bestellannahme", "bestellung@richter-sanitaer.test"), [BECKER],
      "Automatische Antwort: Bestellung Vorwandelemente Baustelle Am Lindenhof 3",
      text_part("""Vielen Dank für Ihre Nachricht.

Ich bin bis einschließlich 14.03.2025 nicht im Büro. Ihre Bestellung wird von
meinen Kolleginnen und Kollegen bearbeitet (Tel. 01234 111-0).

Mit freundlichen Grüßen
Stefan Richter
"""), msgid="autoreply.20250310131211@richter-sanitaer.test",
      extra=inc + [("Auto-Submitted", "auto-replied"), ("X-Auto-Response-Suppress", "All"),
                   ("In-Reply-To", "<20250310131044.3@bau-firma.test>")])

    # -- forwarded by the office, as an attached message (message/rfc822)
    fwd = ("From: " + addr(("Hausverwaltung Schulze & Partner", "verwaltung@schulze-partner.test")) + "\n"
           "To: " + addr(INFO) + "\n"
           "Subject: Anfrage Heizungswartung Mehrfamilienhaus\n"
           "Date: Mon, 03 Mar 2025 09:00:12 +0100\n"
           "Message-ID: <hv-2025-0312@schulze-partner.test>\n"
           "MIME-Version: 1.0\n"
           + text_part("""Sehr geehrte Damen und Herren,

für unser Objekt Bahnhofstraße 40 (12 Wohneinheiten, Gas-Brennwert 120 kW) suchen wir
einen Betrieb für die jährliche Wartung. Bitte senden Sie uns ein Angebot.

Mit freundlichen Grüßen
Hausverwaltung Schulze & Partner
"""))
    M("INBOX", when(3, 11, 7, 45), INFO, [BECKER], "WG: Anfrage Heizungswartung Mehrfamilienhaus",
      multipart("mixed", [text_part("""Hallo Thomas,

kannst du dir das bitte ansehen? Die Hausverwaltung wartet auf einen Termin.

Gruß aus dem Büro
Anja
"""), "Content-Type: message/rfc822\nContent-Disposition: attachment; filename=\"Anfrage Heizungswartung.eml\"\n\n" + fwd],
          "=_fwd_hv_0312"),
      msgid="20250311074501.7@bau-firma.test", extra=inc)

    # -- from a phone, without subject
    M("INBOX", when(3, 11, 18, 22), schmidt, [BECKER], None,
      text_part("Passt Donnerstag 8 Uhr? Schlüssel liegt beim Nachbarn (Nr. 9).\n\nVon meinem iPhone gesendet\n"),
      msgid="8A7B6C5D-4E3F-4210-9ABC-DEF012345678@mail-anbieter.test", extra=inc)

    M("INBOX", when(3, 12, 6, 58), ("Familie Yılmaz", "yilmaz.familie@mail-anbieter.test"), [BECKER],
      "Rückfrage zum Angebot 2025-029: Duschrinne oder Punktablauf?",
      text_part("""Guten Morgen Herr Becker,

in Ihrem Angebot steht eine Duschrinne. Unser Nachbar hat einen Punktablauf – was ist
der Unterschied, und ändert sich der Preis?

Viele Grüße
Ayşe Yılmaz
"""), msgid="b41c2d9e.20250312065811@mail-anbieter.test", extra=inc)

    # -- Archive: older, done
    M("Archive", when(1, 14, 11, 0), richter, [BECKER], "Rechnung Nr. 2025-10012",
      multipart("mixed", [text_part("Sehr geehrte Damen und Herren,\n\nanbei die Rechnung Nr. 2025-10012.\n\n"
                                    "Mit freundlichen Grüßen\nSanitär-Großhandel Richter GmbH\n"),
                          attachment("Rechnung_2025-10012.pdf", "application/pdf",
                                     pdf("Rechnung Nr. 2025-10012", ["Summe brutto 842,10 EUR", "Bezahlt am 20.01.2025"]))],
                "=_richter_10012"),
      flags="S", msgid="re2025-10012.20250114110002@richter-sanitaer.test", extra=inc)
    M("Archive", when(1, 20, 19, 41), ("Klaus Hoffmann", "k.hoffmann@kunde.test"), [BECKER],
      "Vielen Dank für die schnelle Reparatur",
      text_part("Hallo Herr Becker,\n\ndie Spülung läuft wieder einwandfrei. Vielen Dank für den schnellen Einsatz "
                "am Sonntag!\n\nKlaus Hoffmann\n"),
      flags="S", msgid="5c2e1a.20250120194102@kunde.test", extra=inc)
    M("Archive", when(2, 3, 16, 12), BECKER, [("Klaus Hoffmann", "k.hoffmann@kunde.test")],
      "Abnahmeprotokoll Bad Hoffmann",
      multipart("mixed", [text_part(f"Sehr geehrter Herr Hoffmann,\n\nanbei das unterschriebene Abnahmeprotokoll.\n\n"
                                    f"Mit freundlichen Grüßen\n{SIGNATURE}"),
                          attachment("Abnahmeprotokoll_Hoffmann.pdf", "application/pdf",
                                     pdf("Abnahmeprotokoll", ["Bauvorhaben: Bad Hoffmann",
                                                              "Abnahme ohne Mängel am 03.02.2025"]))],
                "=_abnahme_hoffmann"),
      flags="S", msgid="20250203161200.9@bau-firma.test")
    return msgs


# ---------------------------------------------------------------- the shared office mailbox


def info():
    msgs = []
    M = lambda *a, **k: msgs.append(Msg(*a, **k))  # noqa: E731
    inc = incoming("info")
    hv = ("Hausverwaltung Schulze & Partner", "verwaltung@schulze-partner.test")
    M("INBOX", when(3, 3, 9, 0), hv, [INFO], "Anfrage Heizungswartung Mehrfamilienhaus",
      text_part("""Sehr geehrte Damen und Herren,

für unser Objekt Bahnhofstraße 40 (12 Wohneinheiten, Gas-Brennwert 120 kW) suchen wir
einen Betrieb für die jährliche Wartung. Bitte senden Sie uns ein Angebot.

Mit freundlichen Grüßen
Hausverwaltung Schulze & Partner
"""), flags="SA", msgid="hv-2025-0312@schulze-partner.test", extra=inc)
    M("Sent", when(3, 3, 14, 20), INFO, [hv], "Re: Anfrage Heizungswartung Mehrfamilienhaus",
      text_part("""Sehr geehrte Damen und Herren,

vielen Dank für Ihre Anfrage. Herr Becker meldet sich bis Ende der Woche mit einem
Terminvorschlag für die Besichtigung der Heizungsanlage.

Mit freundlichen Grüßen
Anja Neumann, Büro
Bau-Firma GmbH
"""), flags="S", msgid="20250303142011.5@bau-firma.test",
      extra=[("In-Reply-To", "<hv-2025-0312@schulze-partner.test>"),
             ("References", "<hv-2025-0312@schulze-partner.test>")])
    M("INBOX", when(3, 4, 11, 11), ("Leon Krüger", "leon.krueger@mail-anbieter.test"), [INFO],
      "Bewerbung als Anlagenmechaniker SHK – Leon Krüger",
      multipart("mixed", [text_part("""Sehr geehrte Damen und Herren,

hiermit bewerbe ich mich um die ausgeschriebene Stelle als Anlagenmechaniker für
Sanitär-, Heizungs- und Klimatechnik. Meinen Lebenslauf finden Sie im Anhang.

Mit freundlichen Grüßen
Leon Krüger
"""), attachment("Lebenslauf_Leon_Krueger.pdf", "application/pdf",
                 pdf("Lebenslauf Leon Krüger", ["Geselle Anlagenmechaniker SHK (2022)",
                                                "Führerschein Klasse B"]))], "=_bewerbung_krueger"),
      msgid="c0ffee12.20250304111101@mail-anbieter.test", extra=inc)
    M("INBOX", when(3, 5, 14, 0), ("Familie Yılmaz", "yilmaz.familie@mail-anbieter.test"), [INFO],
      "Terminanfrage: Besichtigung Badsanierung",
      text_part("""Guten Tag,

wir würden gerne einen Termin für die Besichtigung unseres Badezimmers vereinbaren.
Wir sind werktags ab 16 Uhr zu Hause.

Viele Grüße
Ayşe Yılmaz
"""), msgid="a51b7c.20250305140003@mail-anbieter.test", extra=inc)
    M("INBOX", when(3, 6, 9, 15), ("Innung SHK Musterstadt", "info@innung-musterstadt.test"), [INFO],
      "Innungsnachrichten März 2025",
      multipart("alternative", [
          text_part("Innungsnachrichten März 2025\n\n- Neue Preise für die Gesellenprüfung\n"
                    "- Seminar Trinkwasserhygiene am 27.03.\n\nAbmelden: https://innung-musterstadt.test/abmelden\n"),
          text_part("<html><body><h1>Innungsnachrichten März 2025</h1><ul><li>Neue Preise für die Gesellenprüfung</li>"
                    "<li>Seminar Trinkwasserhygiene am 27.03.</li></ul></body></html>\n", subtype="html")],
                "=_innung_2025_03"),
      msgid="news-2025-03@innung-musterstadt.test",
      extra=inc + [("List-Unsubscribe", "<https://innung-musterstadt.test/abmelden?m=info%40bau-firma.test>"),
                   ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"), ("Precedence", "bulk")])
    M("INBOX", when(3, 6, 10, 20), ("Telefonanbieter Rechnungsservice", "rechnung@telefon-anbieter.test"), [INFO],
      "Ihre Rechnung für März 2025",
      multipart("mixed", [text_part("Guten Tag,\n\nIhre Rechnung für März 2025 steht bereit: 89,90 EUR.\n"
                                    "Der Betrag wird am 15.03.2025 abgebucht.\n"),
                          attachment("Rechnung_2025_03.pdf", "application/pdf",
                                     pdf("Rechnung März 2025", ["Business-Anschluss", "Summe 89,90 EUR"]))],
                "=_telefon_2025_03"),
      msgid="inv-2025-03-771234@telefon-anbieter.test", extra=inc)
    M("INBOX", when(3, 7, 8, 45), ("Gerda Brandt", "gerda.brandt@kunde.test"), [INFO],
      "Reklamation: tropfender Wasserhahn nach Reparatur",
      text_part("""Guten Tag,

Ihr Monteur war am Montag da und hat den Wasserhahn in der Küche repariert.
Seit gestern tropft er wieder. Bitte kommen Sie noch einmal vorbei.

Mit freundlichen Grüßen
Gerda Brandt
Eichenweg 5
"""), flags="F", msgid="d2a9.20250307084512@kunde.test", extra=inc)
    M("INBOX", when(3, 10, 12, 0), ("Baustoffhandel Kaiser KG", "versand@kaiser-baustoffe.test"), [INFO],
      "Lieferavis: Ihre Lieferung kommt am 12.03.2025",
      text_part("Guten Tag,\n\nIhre Lieferung (Auftrag 98123, 3 Paletten) kommt am 12.03.2025 zwischen "
                "7 und 10 Uhr an die Baustelle Lindenweg 7.\n\nBaustoffhandel Kaiser KG – Versand\n"),
      msgid="avis-98123@kaiser-baustoffe.test", extra=inc)
    M("INBOX", when(3, 11, 16, 30), ("Innung SHK Musterstadt", "info@innung-musterstadt.test"), [INFO],
      "Einladung zur Innungsversammlung am 02.04.2025",
      text_part("Sehr geehrte Mitglieder,\n\nwir laden Sie herzlich zur Innungsversammlung am 02.04.2025, "
                "19 Uhr, im Gasthof Krone ein.\n\nMit freundlichen Grüßen\nDer Vorstand\n"),
      msgid="versammlung-2025-04@innung-musterstadt.test", extra=inc)
    M("Archive", when(2, 10, 9, 30), ("Baustoffhandel Kaiser KG", "buchhaltung@kaiser-baustoffe.test"), [INFO],
      "Rechnung RE-55201 – bezahlt, vielen Dank",
      text_part("Guten Tag,\n\nwir bestätigen den Zahlungseingang zu RE-55201. Vielen Dank.\n\n"
                "Baustoffhandel Kaiser KG\n"),
      flags="S", msgid="RE-55201.paid@kaiser-baustoffe.test", extra=inc)
    return msgs


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in ("becker", "info"):
        sys.exit(__doc__)
    out, who = sys.argv[1], sys.argv[2]
    msgs = becker() if who == "becker" else info()
    os.makedirs(out, exist_ok=True)
    for folder in ("INBOX", "Archive", "Sent"):
        with open(os.path.join(out, folder), "wb") as f:
            for m in sorted((m for m in msgs if m.folder == folder), key=lambda m: m.date):
                f.write(m.mbox_entry(parseaddr(m.headers[0][1])[1]))
    print(f"seedmail: {len(msgs)} messages for {who}", file=sys.stderr)


if __name__ == "__main__":
    main()
