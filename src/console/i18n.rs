//! The console's two languages. German is the default; English comes from `Accept-Language`
//! or the switch in the page's header (a `lang` cookie). Every word a page shows is a
//! [`Words`] pair, so a page cannot have one language and forget the other.

/// A language the console speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    De,
    En,
}

/// One text in both languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Words {
    pub de: &'static str,
    pub en: &'static str,
}

/// A pair of texts (a `const` constructor for the catalog).
pub const fn w(de: &'static str, en: &'static str) -> Words {
    Words { de, en }
}

impl Lang {
    /// The text in this language.
    pub fn t(self, w: Words) -> &'static str {
        match self {
            Lang::De => w.de,
            Lang::En => w.en,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::De => "de",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s.trim().to_ascii_lowercase().as_str() {
            "de" => Some(Lang::De),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The language of a request: the `lang` cookie if set, else the first of German or
    /// English in `Accept-Language` by its weight, else German.
    pub fn choose(cookie: Option<&str>, accept_language: Option<&str>) -> Lang {
        if let Some(l) = cookie.and_then(Lang::parse) {
            return l;
        }
        let mut best: Option<(f32, Lang)> = None;
        for item in accept_language.unwrap_or("").split(',') {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts.find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or("");
            if let Some(l) = Lang::parse(primary)
                && q > 0.0
                && best.is_none_or(|(bq, _)| q > bq)
            {
                best = Some((q, l));
            }
        }
        best.map_or(Lang::De, |(_, l)| l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_then_accept_language_then_german() {
        assert_eq!(Lang::choose(Some("en"), Some("de-DE")), Lang::En);
        assert_eq!(Lang::choose(None, Some("en-GB,en;q=0.9,de;q=0.8")), Lang::En);
        assert_eq!(Lang::choose(None, Some("fr-FR,de;q=0.5,en;q=0.4")), Lang::De);
        assert_eq!(Lang::choose(None, Some("en;q=0.2, de;q=0.9")), Lang::De);
        assert_eq!(Lang::choose(None, Some("fr")), Lang::De);
        assert_eq!(Lang::choose(Some("xx"), None), Lang::De);
        assert_eq!(Lang::choose(None, Some("en;q=0")), Lang::De);
    }
}
