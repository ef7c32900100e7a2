//! The DATA reader: the bytes after `354` up to the line that holds a single dot, as a pure
//! state machine fed whatever the socket delivered (tested without I/O).
//!
//! A line ends at LF; a CR before it is part of the ending, and a bare LF ending is taken as
//! CRLF, so the message always comes out with CRLF line ends (the outbox sends it on that
//! way, so no other server ever sees an ambiguous line end from us). The end of the data is
//! a line that is exactly "." (RFC 5321 §4.1.1.4); any other line starting with a dot loses
//! that dot (§4.5.2, transparency). The size cap counts the unstuffed bytes: past it the
//! reader keeps reading to the final dot but keeps nothing, so the server can answer 552 and
//! the connection stays usable. The reader stops right after the final dot's line, so
//! commands a pipelining client sent behind it stay in the caller's buffer.

/// Reads one message's DATA.
#[derive(Debug)]
pub struct DataReader {
    max: usize,
    out: Vec<u8>,
    /// The current line, without its ending, while it has no LF yet.
    line: Vec<u8>,
    /// Bytes seen in all (unstuffed), also past the cap.
    size: usize,
    /// Past the cap: bytes of the current line (which is not kept whole).
    line_seen: usize,
    too_big: bool,
    done: bool,
}

/// What the reader made of the DATA.
#[derive(Debug, PartialEq, Eq)]
pub enum Data {
    /// The message, CRLF line ends, dots unstuffed.
    Message(Vec<u8>),
    /// More than the cap: at least this many bytes.
    TooBig { size: usize },
}

impl DataReader {
    pub fn new(max: usize) -> DataReader {
        DataReader { max, out: Vec::new(), line: Vec::new(), size: 0, line_seen: 0, too_big: false, done: false }
    }

    /// Feed bytes from the client; returns how many were taken. Fewer than given only when
    /// the final dot was reached: the rest belongs to the commands after DATA.
    pub fn feed(&mut self, input: &[u8]) -> usize {
        let mut taken = 0;
        while !self.done && taken < input.len() {
            let rest = &input[taken..];
            match memchr_lf(rest) {
                Some(i) => {
                    self.push_partial(&rest[..i]);
                    taken += i + 1;
                    self.end_line();
                }
                None => {
                    self.push_partial(rest);
                    taken += rest.len();
                }
            }
        }
        taken
    }

    /// Whether the final dot was read.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The message (or that it was too big). Call once [`DataReader::is_done`].
    pub fn finish(self) -> Data {
        if self.too_big { Data::TooBig { size: self.size } } else { Data::Message(self.out) }
    }

    fn push_partial(&mut self, bytes: &[u8]) {
        if self.too_big {
            // Only the first two bytes matter for the final dot: keep the line short.
            let keep = 3usize.saturating_sub(self.line.len()).min(bytes.len());
            self.line.extend_from_slice(&bytes[..keep]);
            self.line_seen += bytes.len();
            return;
        }
        self.line.extend_from_slice(bytes);
        if self.out.len() + self.line.len() > self.max + 2 {
            self.over();
        }
    }

    fn end_line(&mut self) {
        let mut line = std::mem::take(&mut self.line);
        let seen = std::mem::take(&mut self.line_seen);
        if line.last() == Some(&b'\r') && (!self.too_big || line.len() == seen) {
            line.pop();
        }
        if line == b"." {
            self.done = true;
            return;
        }
        let body = if line.first() == Some(&b'.') { &line[1..] } else { &line[..] };
        if self.too_big {
            self.size += seen + 2;
            return;
        }
        self.out.extend_from_slice(body);
        self.out.extend_from_slice(b"\r\n");
        self.size = self.out.len();
        if self.out.len() > self.max {
            self.over();
        }
    }

    fn over(&mut self) {
        if !self.too_big {
            self.size = self.out.len() + self.line.len();
            self.too_big = true;
            self.out = Vec::new();
            self.line_seen = self.line.len();
            self.line.truncate(3);
        }
    }
}

fn memchr_lf(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

/// What a client does before sending (RFC 5321 §4.5.2): CRLF at the end if missing, a dot
/// before every line that starts with one, then the final dot. For tests and the benchmark.
pub fn stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 8);
    let mut at_start = true;
    for &c in message {
        if at_start && c == b'.' {
            out.push(b'.');
        }
        out.push(c);
        at_start = c == b'\n';
    }
    if !message.is_empty() && !message.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read(max: usize, chunks: &[&[u8]]) -> (Data, Vec<u8>) {
        let mut r = DataReader::new(max);
        let mut rest = Vec::new();
        for c in chunks {
            let n = r.feed(c);
            rest.extend_from_slice(&c[n..]);
        }
        assert!(r.is_done(), "no final dot");
        (r.finish(), rest)
    }

    #[test]
    fn dots_are_unstuffed_and_the_rest_stays_for_the_next_command() {
        let (d, rest) = read(1000, &[b"Subject: x\r\n\r\n..leading\r\n.\r", b"\nQUIT\r\n"]);
        assert_eq!(d, Data::Message(b"Subject: x\r\n\r\n.leading\r\n".to_vec()));
        assert_eq!(rest, b"QUIT\r\n");
        // A dot that is not alone on its line is content.
        let (d, _) = read(1000, &[b"a\r\n.b\r\n. \r\n.\r\n"]);
        assert_eq!(d, Data::Message(b"a\r\nb\r\n \r\n".to_vec()));
    }

    #[test]
    fn bare_lf_ends_a_line_and_comes_out_as_crlf() {
        let (d, rest) = read(1000, &[b"a\nb\r\n.\nNOOP\r\n"]);
        assert_eq!(d, Data::Message(b"a\r\nb\r\n".to_vec()));
        assert_eq!(rest, b"NOOP\r\n");
        // A bare CR is content, not a line end.
        let (d, _) = read(1000, &[b"a\rb\r\n.\r\n"]);
        assert_eq!(d, Data::Message(b"a\rb\r\n".to_vec()));
    }

    #[test]
    fn the_cap_is_enforced_while_reading_and_the_end_is_still_found() {
        let mut r = DataReader::new(10);
        let long = vec![b'x'; 100_000];
        for _ in 0..50 {
            assert_eq!(r.feed(&long), long.len());
        }
        assert!(r.out.is_empty() && r.line.len() <= 3, "nothing past the cap is kept");
        r.feed(b"\r\nmore\r\n");
        let n = r.feed(b".\r\nRSET\r\n");
        assert_eq!(n, 3);
        assert!(matches!(r.finish(), Data::TooBig { size } if size > 5_000_000));
        // Exactly at the cap is fine; one byte over is not.
        assert_eq!(read(6, &[b"12345\r\n.\r\n"]).0, Data::TooBig { size: 7 });
        assert_eq!(read(7, &[b"12345\r\n.\r\n"]).0, Data::Message(b"12345\r\n".to_vec()));
    }

    #[test]
    fn an_empty_message_is_empty() {
        assert_eq!(read(10, &[b".\r\n"]).0, Data::Message(Vec::new()));
    }

    proptest! {
        /// Any message with CRLF line ends survives a client's dot-stuffing and our reading
        /// byte for byte, however the bytes are cut into reads.
        #[test]
        fn stuffing_then_reading_gives_the_message_back(
            lines in proptest::collection::vec("[.a-z \\t\\r]{0,12}", 0..20),
            cuts in proptest::collection::vec(1usize..7, 1..40),
        ) {
            let lines: Vec<String> = lines.into_iter().map(|l| l.trim_end_matches('\r').to_string()).collect();
            let message: Vec<u8> = lines.iter().flat_map(|l| format!("{l}\r\n").into_bytes()).collect();
            let wire = stuff(&message);
            let mut r = DataReader::new(1 << 20);
            let mut at = 0;
            let mut cut = cuts.iter().cycle();
            while at < wire.len() && !r.is_done() {
                let end = (at + cut.next().unwrap()).min(wire.len());
                let n = r.feed(&wire[at..end]);
                at += n;
                prop_assert!(n == end - (at - n) || r.is_done());
            }
            prop_assert!(r.is_done());
            prop_assert_eq!(at, wire.len());
            prop_assert_eq!(r.finish(), Data::Message(message));
        }
    }
}
