//! The one-time link as a QR code: in the terminal (Unicode half blocks, two rows of modules
//! per line, light on dark so that a dark terminal shows a scannable code) and as SVG (for
//! the console). The payload is the link's URL as it is.

use qrcode::render::{svg, unicode};
use qrcode::{EcLevel, QrCode};

#[derive(Debug, thiserror::Error)]
#[error("the link does not fit in a QR code: {0}")]
pub struct QrError(String);

fn code(text: &str) -> Result<QrCode, QrError> {
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).map_err(|e| QrError(e.to_string()))
}

/// The code in Unicode half blocks, with its quiet zone, one string of lines.
pub fn terminal(text: &str) -> Result<String, QrError> {
    Ok(code(text)?
        .render::<unicode::Dense1x2>()
        .dark_color(unicode::Dense1x2::Light)
        .light_color(unicode::Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

/// The code as an SVG document, at least 240 px square.
pub fn svg(text: &str) -> Result<String, QrError> {
    Ok(code(text)?.render::<svg::Color<'_>>().min_dimensions(240, 240).quiet_zone(true).build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_renderings() {
        let url = "https://mail.bau-firma.de/setup/Abcdefghijklmnopqrstuvwxyz0123456789-_ABCDEFG";
        let t = terminal(url).unwrap();
        let lines: Vec<&str> = t.lines().collect();
        let width = lines[0].chars().count();
        assert!(width >= 29 + 8, "at least version 3 and its quiet zone: {width}");
        assert!(lines.iter().all(|l| l.chars().count() == width));
        assert_eq!(lines.len(), width.div_ceil(2), "two rows of modules per line");
        assert!(t.chars().all(|c| matches!(c, ' ' | '█' | '▀' | '▄' | '\n')));
        let s = svg(url).unwrap();
        assert!(s.starts_with("<?xml") && s.contains("<svg") && s.trim_end().ends_with("</svg>"));
        super::super::xml::read::parse(&s).expect("well-formed SVG");
    }
}
