//! Matching behaviour through the daemon's own path: `Matcher::compile`, `ItemText::from_fields`
//! and `match_item`, as a table of named cases (hits and decoys), plus properties.

use feedwatch::matcher::{
    Field, ItemText, Matcher, MatcherError, TermPattern, TermSpec, WatchlistSpec,
};
use feedwatch::text::html_to_text;
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Table of cases
// ---------------------------------------------------------------------------------------------

/// A term as written in a case.
#[derive(Clone, Copy)]
enum T {
    /// Default phrase.
    P(&'static str),
    /// Case-sensitive phrase.
    Cs(&'static str),
    /// Accent-sensitive phrase.
    As(&'static str),
    /// Regex.
    Rx(&'static str),
}

fn spec(t: T) -> TermSpec {
    match t {
        T::P(s) => TermSpec::phrase(s),
        T::Cs(s) => TermSpec {
            case_sensitive: true,
            ..TermSpec::phrase(s)
        },
        T::As(s) => TermSpec {
            accent_sensitive: true,
            ..TermSpec::phrase(s)
        },
        T::Rx(s) => TermSpec {
            pattern: TermPattern::Regex(s.to_owned()),
            case_sensitive: false,
            accent_sensitive: false,
        },
    }
}

struct Case {
    name: &'static str,
    list: WatchlistSpec,
    item: Vec<(Field, &'static str)>,
    alerts: bool,
    /// Expected `marked_text` of the first hit's snippet.
    marked: Option<&'static str>,
}

/// One watchlist with the given terms, an item with the given title.
fn case(name: &'static str, terms: &[T], title: &'static str, alerts: bool) -> Case {
    Case {
        name,
        list: WatchlistSpec {
            name: "wl".to_owned(),
            terms: terms.iter().copied().map(spec).collect(),
            require: Vec::new(),
            exclude: Vec::new(),
            fields: Vec::new(),
        },
        item: vec![(Field::Title, title)],
        alerts,
        marked: None,
    }
}

fn hit(name: &'static str, term: &'static str, title: &'static str) -> Case {
    case(name, &[T::P(term)], title, true)
}

fn decoy(name: &'static str, term: &'static str, title: &'static str) -> Case {
    case(name, &[T::P(term)], title, false)
}

impl Case {
    fn marked(mut self, m: &'static str) -> Case {
        self.marked = Some(m);
        self
    }
    fn require(mut self, group: &[T]) -> Case {
        self.list
            .require
            .push(group.iter().copied().map(spec).collect());
        self
    }
    fn exclude(mut self, terms: &[T]) -> Case {
        self.list.exclude.extend(terms.iter().copied().map(spec));
        self
    }
    fn fields(mut self, fields: &[Field]) -> Case {
        self.list.fields = fields.to_vec();
        self
    }
    fn also(mut self, field: Field, text: &'static str) -> Case {
        self.item.push((field, text));
        self
    }
}

fn cases() -> Vec<Case> {
    use T::*;
    vec![
        // --- Rule 1: case-insensitive, full Unicode folding -------------------------------
        hit("lowercase text", "Interpol", "interpol raids").marked("**interpol** raids"),
        hit("uppercase text", "Interpol", "INTERPOL RAIDS"),
        hit("mixed case term", "iNtErPoL", "Interpol raids"),
        hit("sharp s folds to ss", "Strasse", "Große Straße gesperrt"),
        hit("uppercase STRASSE vs ß", "straße", "STRASSE GESPERRT"),
        hit("Cyrillic case", "Путин", "ПУТИН заявил"),
        hit(
            "Greek case and final sigma",
            "ΟΔΥΣΣΕΥΣ",
            "ο οδυσσευς επεστρεψε",
        ),
        hit(
            "Turkish dotted capital I",
            "istanbul",
            "İSTANBUL'da protesto",
        ),
        hit("full-width letters", "ISIS", "ＩＳＩＳ claims attack")
            .marked("**ＩＳＩＳ** claims attack"),
        hit(
            "ligature fi",
            "Financial Times",
            "Report in the ﬁnancial times",
        ),
        // --- Rule 2: diacritics ------------------------------------------------------------
        hit(
            "plain term, accented text",
            "Zurich",
            "Summit in Zürich ends",
        )
        .marked("Summit in **Zürich** ends"),
        hit(
            "accented term, plain text",
            "Zürich",
            "Summit in Zurich ends",
        ),
        hit(
            "decomposed umlaut in text",
            "Zurich",
            "Summit in Zu\u{0308}rich ends",
        )
        .marked("Summit in **Zu\u{0308}rich** ends"),
        hit(
            "decomposed umlaut in term",
            "Zu\u{0308}rich",
            "Summit in Zürich ends",
        ),
        hit(
            "French accents",
            "Francois Hollande",
            "François Hollande s'exprime",
        ),
        hit("Spanish tilde", "Pena Nieto", "Enrique Peña Nieto"),
        hit(
            "Vietnamese stacked marks",
            "Nguyen Phu Trong",
            "Nguyễn Phú Trọng qua đời",
        ),
        hit("Polish ogonek and acute", "Lodz", "Łódź"),
        hit("Greek tonos ignored", "Αθηνα", "Διαδήλωση στην Αθήνα"),
        hit("Cyrillic yo matches ye", "Фёдоров", "Министр Федоров"),
        hit("Arabic harakat ignored", "محمد", "قال مُحَمَّد"),
        hit("Hebrew points ignored", "ירושלים", "יְרוּשָׁלַיִם היום"),
        case(
            "accent-sensitive keeps distinction",
            &[As("Müller")],
            "Muller wins",
            false,
        ),
        case(
            "accent-sensitive still matches same accent",
            &[As("Müller")],
            "MÜLLER wins",
            true,
        ),
        case(
            "accent-sensitive decomposed text",
            &[As("Müller")],
            "Mu\u{0308}ller wins",
            true,
        ),
        // --- Rule 3: whole words -----------------------------------------------------------
        decoy("ISIS not in crisis", "ISIS", "The crisis deepens"),
        decoy(
            "Interpol not in Interpolated",
            "Interpol",
            "Interpolated values",
        ),
        decoy("Kiev not in Kievan", "Kiev", "Kievan Rus history"),
        decoy("Hamas not in Bahamas", "Hamas", "Holiday in the Bahamas"),
        decoy("Iran not in Tirana", "Iran", "Protest in Tirana"),
        decoy("digits continue a word", "G7", "G77 summit"),
        hit(
            "possessive with apostrophe",
            "Interpol",
            "Interpol's new chief",
        )
        .marked("**Interpol**'s new chief"),
        hit(
            "possessive with typographic apostrophe",
            "Interpol",
            "Interpol’s new chief",
        ),
        hit(
            "followed by punctuation",
            "Kiev",
            "Fighting near Kiev, officials say",
        ),
        hit("in parentheses", "ISIS", "the group (ISIS) said"),
        hit("at end of text", "Kiev", "Kiev"),
        hit("quoted", "Hamas", "\u{201C}Hamas\u{201D} statement"),
        decoy("Cyrillic word boundary", "Путин", "путинизм растёт"),
        hit("Cyrillic with punctuation", "Путин", "Сказал Путин."),
        decoy("Arabic word boundary", "داعش", "الداعشي"),
        decoy("Greek word boundary", "Αθηνα", "Αθηναϊκός"),
        // --- Rule 4: separators --------------------------------------------------------------
        hit("ISIS-K with space", "ISIS-K", "ISIS K claims attack"),
        hit("ISIS-K with en dash", "ISIS-K", "ISIS–K claims attack"),
        hit("ISIS-K with em dash", "ISIS-K", "ISIS—K claims attack"),
        hit("ISIS-K lowercase hyphen", "ISIS-K", "isis-k claims attack"),
        hit(
            "ISIS-K non-breaking hyphen",
            "ISIS-K",
            "ISIS\u{2011}K claims attack",
        ),
        hit("space term, hyphen text", "ISIS K", "ISIS-K claims attack"),
        decoy(
            "ISIS-K not in ISIS-Kurdistan",
            "ISIS-K",
            "ISIS-Kurdistan link",
        ),
        hit("ISIS inside ISIS-K", "ISIS", "ISIS-K claims attack"),
        hit("double space", "John Kirby", "John  Kirby said"),
        hit("newline", "John Kirby", "John\nKirby said"),
        hit("tab", "John Kirby", "John\tKirby said"),
        hit("vertical tab", "John Kirby", "John\u{0B}Kirby said"),
        hit("nbsp character", "John Kirby", "John\u{00A0}Kirby said"),
        hit("nbsp entity", "John Kirby", "John&nbsp;Kirby said").marked("**John Kirby** said"),
        hit(
            "bold-tag split phrase",
            "John Kirby",
            "<b>John</b> Kirby said",
        )
        .marked("**John Kirby** said"),
        hit("tag inside word", "Kirby", "Jo<i>hn</i> Kir<b>by</b>"),
        hit(
            "phrase across paragraphs",
            "John Kirby",
            "<p>John</p><p>Kirby</p>",
        ),
        decoy("no match across fields", "John Kirby", "John").also(Field::Summary, "Kirby said"),
        decoy("words in other order", "John Kirby", "Kirby John"),
        decoy("intervening word", "John Kirby", "John F. Kirby"),
        hit("ideographic space", "Xi Jinping", "Xi\u{3000}Jinping"),
        // --- HTML and entities -----------------------------------------------------------
        hit("named entity", "Zurich", "Z&uuml;rich"),
        hit("double-escaped entity", "Zurich", "Z&amp;uuml;rich"),
        hit("double-escaped amp", "AT&T", "AT&amp;amp;T outage"),
        hit("numeric entities", "ISIS", "&#73;&#x53;&#73;&#x53; claims"),
        hit(
            "soft hyphen inside word",
            "Interpol",
            "Inter\u{00AD}pol raids",
        )
        .marked("**Inter\u{00AD}pol** raids"),
        hit("soft hyphen entity", "Interpol", "Inter&shy;pol raids"),
        hit(
            "zero-width space inside word",
            "Interpol",
            "Inter\u{200B}pol raids",
        ),
        hit("BOM at start", "Interpol", "\u{FEFF}Interpol raids"),
        hit(
            "bidi marks around name",
            "Kirby",
            "\u{200F}Kirby\u{200E} said",
        ),
        hit("Arabic tatweel", "محمد", "قال محـــمد"),
        hit(
            "typographic apostrophe inside name",
            "O'Brien",
            "Mr O’Brien said",
        ),
        hit("modifier letter apostrophe", "O'Brien", "Mr Oʼbrien said"),
        decoy(
            "script content ignored",
            "ISIS",
            "<script>var ISIS = 1;</script>news",
        ),
        decoy("comment ignored", "ISIS", "<!-- ISIS -->news"),
        decoy("attribute ignored", "ISIS", "<a title=\"ISIS\">news</a>"),
        hit(
            "escaped markup",
            "John Kirby",
            "&lt;b&gt;John&lt;/b&gt; Kirby",
        ),
        // --- Rule 5: scripts without spaces --------------------------------------------------
        hit("Chinese substring", "习近平", "国家主席习近平今天表示")
            .marked("国家主席**习近平**今天表示"),
        hit("Chinese traditional", "台灣", "今日台灣新聞"),
        hit("Japanese katakana", "プーチン", "プーチン大統領が発表"),
        hit("Japanese hiragana context", "東京", "きょうは東京で"),
        hit("Thai substring", "กรุงเทพ", "ข่าวกรุงเทพวันนี้"),
        hit("Latin term next to Han", "ISIS", "ISIS发动袭击"),
        decoy("Chinese different name", "习近平", "国家主席胡锦涛"),
        hit("full-width Han punctuation", "北京", "（北京）消息"),
        hit(
            "Latin name inside Japanese",
            "Trump",
            "トランプ(Trump)大統領",
        ),
        hit("Korean name with particle", "서울", "서울에서 열린 회의"),
        hit("Khmer substring", "ភ្នំពេញ", "នៅភ្នំពេញថ្ងៃនេះ"),
        // --- Rule 6: case-sensitive -------------------------------------------------------
        case(
            "case-sensitive US hit",
            &[Cs("US")],
            "US troops leave",
            true,
        ),
        case(
            "case-sensitive US not 'us'",
            &[Cs("US")],
            "tell us more",
            false,
        ),
        case("case-sensitive US not USA", &[Cs("US")], "USA today", false),
        case(
            "case-sensitive full-width",
            &[Cs("US")],
            "ＵＳ troops",
            true,
        ),
        case(
            "case-sensitive still separator-tolerant",
            &[Cs("ISIS-K")],
            "ISIS–K",
            true,
        ),
        case(
            "case-sensitive still accent-insensitive",
            &[Cs("Zurich")],
            "Zürich",
            true,
        ),
        case(
            "case-sensitive accent-sensitive both",
            &[Cs("Zürich")],
            "zürich",
            false,
        ),
        case(
            "case-sensitive and plain together",
            &[Cs("WHO"), P("Tedros")],
            "who said Tedros",
            true,
        ),
        // --- Rule 7: regex -----------------------------------------------------------------
        case("regex hit", &[Rx(r"\bIS-?K(P)?\b")], "ISKP claims", true),
        case(
            "regex is case-sensitive",
            &[Rx(r"\bISKP\b")],
            "iskp claims",
            false,
        ),
        case(
            "regex with (?i)",
            &[Rx(r"(?i)\biskp\b")],
            "ISKP claims",
            true,
        ),
        case(
            "regex sees unified separators",
            &[Rx(r"ISIS K")],
            "ISIS–K claims",
            true,
        ),
        case(
            "regex sees NFKC text",
            &[Rx(r"\bISIS\b")],
            "ＩＳＩＳ claims",
            true,
        ),
        case("regex miss", &[Rx(r"\d{3}-\d{4}")], "no numbers", false),
        // --- Watchlist rules ----------------------------------------------------------------
        case(
            "ISIS-K aliases: ISKP",
            &[P("ISIS-K"), P("ISKP"), P("Islamic State Khorasan")],
            "ISKP claims Kabul attack",
            true,
        ),
        case(
            "ISIS-K aliases: long name",
            &[P("ISIS-K"), P("ISKP"), P("Islamic State Khorasan")],
            "Islamic State–Khorasan Province",
            true,
        ),
        case(
            "aliases: none",
            &[P("ISIS-K"), P("ISKP"), P("Islamic State Khorasan")],
            "A crisis in Khorasan",
            false,
        ),
        case("require met", &[P("Kirby")], "Kirby on Ukraine", true)
            .require(&[P("Ukraine"), P("Kyiv")]),
        case("require missing", &[P("Kirby")], "Kirby on Gaza", false)
            .require(&[P("Ukraine"), P("Kyiv")]),
        case(
            "require met in other field",
            &[P("Kirby")],
            "Kirby speaks",
            true,
        )
        .require(&[P("Kyiv")])
        .also(Field::Content, "<p>In Kyiv today</p>"),
        case(
            "two require groups, one missing",
            &[P("Kirby")],
            "Kirby in Kyiv",
            false,
        )
        .require(&[P("Kyiv")])
        .require(&[P("aid")]),
        case(
            "two require groups met",
            &[P("Kirby")],
            "Kirby in Kyiv announces aid",
            true,
        )
        .require(&[P("Kyiv")])
        .require(&[P("aid")]),
        case(
            "require alone is not a trigger",
            &[P("Kirby")],
            "Kyiv news",
            false,
        )
        .require(&[P("Kyiv")]),
        case(
            "exclude suppresses",
            &[P("Jaguar")],
            "Jaguar unveils new car",
            false,
        )
        .exclude(&[P("car")]),
        case(
            "exclude absent",
            &[P("Jaguar")],
            "Jaguar spotted in Brazil",
            true,
        )
        .exclude(&[P("car")]),
        case(
            "exclude is whole-word",
            &[P("Jaguar")],
            "Jaguar spotted near cargo ship",
            true,
        )
        .exclude(&[P("car")]),
        case(
            "exclude in another field",
            &[P("Jaguar")],
            "Jaguar news",
            false,
        )
        .exclude(&[P("motor show")])
        .also(Field::Categories, "Motor Show, Cars"),
        case("fields limit terms", &[P("Kirby")], "Nothing here", false)
            .fields(&[Field::Title])
            .also(Field::Content, "Kirby said"),
        case(
            "fields allow listed field",
            &[P("Kirby")],
            "Nothing here",
            true,
        )
        .fields(&[Field::Content])
        .also(Field::Content, "Kirby said"),
        case(
            "fields limit exclude",
            &[P("Jaguar")],
            "Jaguar spotted",
            true,
        )
        .fields(&[Field::Title])
        .exclude(&[P("car")])
        .also(Field::Content, "a car"),
        case("fields limit require", &[P("Kirby")], "Kirby speaks", false)
            .fields(&[Field::Title])
            .require(&[P("Kyiv")])
            .also(Field::Content, "Kyiv"),
        case("author field", &[P("Jane Doe")], "Story", true)
            .also(Field::Author, "Jane Doe, John Roe"),
        hit(
            "underscore in a hashtag",
            "Boko Haram",
            "#boko_haram trends again",
        ),
        hit(
            "underscore in Arabic script",
            "بوكو حرام",
            "وسم #بوكو_حرام يتصدر",
        ),
        hit(
            "transliteration marks as apostrophes",
            "'Asa'ib Ahl al-Haq",
            "\u{02BF}Asa\u{02BE}ib Ahl al-Haq fighters",
        ),
        hit(
            "backtick as apostrophe",
            "'Asa'ib Ahl al-Haq",
            "`Asa`ib Ahl al-Haq",
        ),
        hit("dotless i", "Kirsehir", "Kırşehir'de patlama"),
        hit("dotless i with a suffix", "Agri", "Ağrı'da çatışma"),
        hit("Hebrew gershayim", "צה\"ל", "דובר צה\u{05F4}ל אמר"),
        hit(
            "Persian kāf in an Arabic text",
            "کابل",
            "انفجار في كابل اليوم",
        ),
        hit(
            "tā' marbūṭa, hā' and hamza carriers",
            "الدولة الإسلامية",
            "بيان الدوله الاسلاميه",
        ),
        hit("Persian yā'", "ولایت خراسان", "ولايت خراسان"),
        hit(
            "a name right after an emoji",
            "Kabul",
            "\u{2708}\u{FE0F}Kabul flights resume",
        ),
        hit(
            "a footnote mark after a name",
            "Interpol",
            "Interpol\u{00B9} said",
        ),
        hit(
            "a trade mark after a name",
            "Acme",
            "Acme\u{2122} recalls cars",
        ),
        hit(
            "half-width katakana with voiced marks",
            "ソフトバンク",
            "\u{FF7F}\u{FF8C}\u{FF84}\u{FF8A}\u{FF9E}\u{FF9D}\u{FF78}が発表",
        ),
        hit(
            "ZWNJ matches the alias with a space",
            "حزب الله",
            "بیانیه حزب\u{200C}الله",
        ),
        hit(
            "ZWNJ matches the alias written solid",
            "حزبالله",
            "بیانیه حزب\u{200C}الله",
        ),
        hit(
            "a solid compound matches the alias with a space",
            "حزب الله",
            "بیانیه حزبالله",
        ),
        hit(
            "a compound with a space matches the alias with a space",
            "حزب الله",
            "بیانیه حزب الله",
        ),
        case(
            "a word hyphenated at a line end",
            &[P("Interpol")],
            "Police news",
            true,
        )
        .also(Field::Content, "Officers from Inter-\npol arrived"),
        decoy(
            "a hyphen at a line end before a capital",
            "AlShabaab",
            "Al-\nShabaab claims",
        ),
        case(
            "a name in a photo's alt text",
            &[P("ISIS-K")],
            "Photo of the day",
            true,
        )
        .also(
            Field::Content,
            "<p>Checkpoint</p><img src=\"x.jpg\" alt=\"ISIS-K fighters near Jalalabad\">",
        ),
        case(
            "a name in a figure caption",
            &[P("ISIS-K")],
            "Photo of the day",
            true,
        )
        .also(
            Field::Content,
            "<figure><img src=\"x.jpg\"><figcaption>ISIS-K fighters</figcaption></figure>",
        ),
        hit(
            "decomposed Hangul",
            "서울",
            "\u{1109}\u{1165}\u{110B}\u{116E}\u{11AF}에서 회담",
        ),
        hit(
            "a footnote tag after a name",
            "Interpol",
            "Interpol<sup>2</sup> said",
        ),
        hit(
            "a name after a mark on a symbol",
            "Kabul",
            "\u{260E}\u{20DD}Kabul hotline",
        ),
    ]
}

#[test]
fn table_of_cases() {
    let cases = cases();
    assert!(cases.len() >= 80, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let matcher = match Matcher::compile(std::slice::from_ref(&c.list)) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{}: compile failed: {e}", c.name));
                continue;
            }
        };
        let text = ItemText::from_fields(&c.item);
        let matches = matcher.match_item(&text, |_| true);
        if matches.is_empty() == c.alerts {
            let explain = matcher.explain(&text, |_| true);
            failures.push(format!(
                "{}: expected alert={} ; normalized title {:?}; {}",
                c.name,
                c.alerts,
                text.normalized(Field::Title),
                explain.first().map_or("", |e| e.reason.as_str())
            ));
            continue;
        }
        if let Some(expected) = c.marked {
            let got = matches
                .first()
                .and_then(|m| m.hits.first())
                .map(|h| h.snippet.marked_text());
            if got.as_deref() != Some(expected) {
                failures.push(format!(
                    "{}: snippet {got:?}, expected {expected:?}",
                    c.name
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Focused tests
// ---------------------------------------------------------------------------------------------

fn list(name: &str, terms: &[&str]) -> WatchlistSpec {
    WatchlistSpec {
        name: name.to_owned(),
        terms: terms.iter().map(|t| TermSpec::phrase(t)).collect(),
        require: Vec::new(),
        exclude: Vec::new(),
        fields: Vec::new(),
    }
}

#[test]
fn overlapping_terms_in_different_watchlists_both_alert() {
    let lists = [
        list("long", &["Islamic State Khorasan"]),
        list("short", &["Islamic State"]),
        list("same", &["islamic state"]),
    ];
    let m = Matcher::compile(&lists).expect("compiles");
    let text = ItemText::from_fields(&[(Field::Title, "Islamic State Khorasan claims attack")]);
    let got: Vec<_> = m
        .match_item(&text, |_| true)
        .into_iter()
        .map(|w| w.name)
        .collect();
    assert_eq!(got, ["long", "short", "same"]);
}

#[test]
fn longer_term_rejected_does_not_hide_shorter() {
    // "isis k" fails the whole-word check in "isis kurdistan", "isis" must still be found.
    let lists = [list("a", &["ISIS K"]), list("b", &["ISIS"])];
    let m = Matcher::compile(&lists).expect("compiles");
    let text = ItemText::from_fields(&[(Field::Title, "ISIS Kurdistan")]);
    let got: Vec<_> = m
        .match_item(&text, |_| true)
        .into_iter()
        .map(|w| w.name)
        .collect();
    assert_eq!(got, ["b"]);
}

#[test]
fn hits_are_distinct_first_occurrences_in_field_order() {
    let lists = [list("wl", &["Kirby", "Kyiv"])];
    let m = Matcher::compile(&lists).expect("compiles");
    let text = ItemText::from_fields(&[
        (Field::Content, "Kirby again, and Kirby once more"),
        (Field::Title, "Kyiv: Kirby visits"),
    ]);
    let matches = m.match_item(&text, |_| true);
    let hits: Vec<_> = matches[0]
        .hits
        .iter()
        .map(|h| (h.term.as_str(), h.field))
        .collect();
    assert_eq!(hits, [("Kyiv", Field::Title), ("Kirby", Field::Title)]);
}

#[test]
fn applies_filters_watchlists() {
    let lists = [list("a", &["Kirby"]), list("b", &["Kirby"])];
    let m = Matcher::compile(&lists).expect("compiles");
    let text = ItemText::from_fields(&[(Field::Title, "Kirby")]);
    let got: Vec<_> = m
        .match_item(&text, |i| i == 1)
        .into_iter()
        .map(|w| w.watchlist)
        .collect();
    assert_eq!(got, [1]);
    let explain = m.explain(&text, |i| i == 1);
    assert!(!explain[0].alerted && explain[0].reason.contains("not in scope"));
    assert!(explain[1].alerted);
}

#[test]
fn explain_names_failed_require_and_exclude() {
    let mut a = list("a", &["Kirby"]);
    a.require = vec![vec![TermSpec::phrase("Kyiv"), TermSpec::phrase("Kiev")]];
    let mut b = list("b", &["Kirby"]);
    b.exclude = vec![TermSpec::phrase("Gaza")];
    let c = list("c", &["Blinken"]);
    let m = Matcher::compile(&[a, b, c]).expect("compiles");
    let text = ItemText::from_fields(&[(Field::Title, "Kirby on Gaza")]);
    let e = m.explain(&text, |_| true);
    assert!(
        !e[0].alerted && e[0].reason.contains("require group 1"),
        "{}",
        e[0].reason
    );
    assert!(e[0].reason.contains("\"Kiev\""), "{}", e[0].reason);
    assert!(
        !e[1].alerted && e[1].reason.contains("exclude term \"Gaza\" hit in title"),
        "{}",
        e[1].reason
    );
    assert_eq!(e[1].hits.len(), 2);
    assert!(
        !e[2].alerted && e[2].reason.contains("none of the terms"),
        "{}",
        e[2].reason
    );
    assert!(m.match_item(&text, |_| true).is_empty());
}

#[test]
fn snippet_is_cut_and_marked() {
    let long = format!(
        "{} John Kirby said {}",
        "lorem ipsum ".repeat(40),
        "dolor sit ".repeat(40)
    );
    let m = Matcher::compile(&[list("wl", &["john kirby"])]).expect("compiles");
    let text = ItemText::from_fields(&[(Field::Content, &long)]);
    let matches = m.match_item(&text, |_| true);
    let s = &matches[0].hits[0].snippet;
    assert_eq!(&s.text[s.mark_start..s.mark_end], "John Kirby");
    assert!(s.text.chars().count() <= 170, "{}", s.text);
    assert!(s.marked_html().contains("<mark>John Kirby</mark>"));
}

#[test]
fn counts_and_errors() {
    let mut a = list("a", &["x", "y"]);
    a.require = vec![vec![TermSpec::phrase("z")]];
    a.exclude = vec![TermSpec::phrase("w")];
    let m = Matcher::compile(&[a, list("b", &["x"])]).expect("compiles");
    assert_eq!((m.watchlist_count(), m.term_count()), (2, 5));

    let bad_regex = WatchlistSpec {
        terms: vec![TermSpec {
            pattern: TermPattern::Regex("(unclosed".to_owned()),
            case_sensitive: false,
            accent_sensitive: false,
        }],
        ..list("rx", &[])
    };
    let err = Matcher::compile(&[bad_regex]).expect_err("fails");
    assert!(matches!(err, MatcherError::InvalidRegex { .. }));
    let msg = err.to_string();
    assert!(msg.contains("\"rx\"") && msg.contains("(unclosed"), "{msg}");

    let empty_rx = WatchlistSpec {
        terms: vec![TermSpec {
            pattern: TermPattern::Regex("a*".to_owned()),
            case_sensitive: false,
            accent_sensitive: false,
        }],
        ..list("rx", &[])
    };
    assert!(matches!(
        Matcher::compile(&[empty_rx]),
        Err(MatcherError::RegexMatchesEmpty { .. })
    ));
    assert!(matches!(
        Matcher::compile(&[list("e", &[" \u{00AD}- "])]),
        Err(MatcherError::EmptyTerm { .. })
    ));
    assert!(matches!(
        Matcher::compile(&[list("n", &[])]),
        Err(MatcherError::NoTerms { .. })
    ));
    let mut g = list("g", &["x"]);
    g.require = vec![vec![]];
    assert!(matches!(
        Matcher::compile(&[g]),
        Err(MatcherError::EmptyRequireGroup { group: 1, .. })
    ));
}

#[test]
fn terms_of_all_sensitivities_in_one_matcher() {
    let sensitive = |s: &str, case_sensitive, accent_sensitive| TermSpec {
        case_sensitive,
        accent_sensitive,
        ..TermSpec::phrase(s)
    };
    let lists = [
        list("default", &["zurich"]),
        WatchlistSpec {
            terms: vec![sensitive("US", true, false)],
            ..list("case", &[])
        },
        WatchlistSpec {
            terms: vec![sensitive("Müller", false, true)],
            ..list("accent", &[])
        },
        WatchlistSpec {
            terms: vec![sensitive("Zürich", true, true)],
            ..list("exact", &[])
        },
    ];
    let m = Matcher::compile(&lists).expect("compiles");
    let names = |title: &str| -> Vec<String> {
        let text = ItemText::from_fields(&[(Field::Title, title)]);
        m.match_item(&text, |_| true)
            .into_iter()
            .map(|w| w.name)
            .collect()
    };
    assert_eq!(
        names("US envoy meets MÜLLER in Zürich"),
        ["default", "case", "accent", "exact"]
    );
    assert_eq!(names("us envoy meets Muller in ZURICH"), ["default"]);
    assert_eq!(names("nothing"), Vec::<String>::new());
}

#[test]
fn from_item_uses_every_field() {
    let item = feedwatch::model::Item {
        title: "Daily brief".to_owned(),
        summary: "<p>Talks in <b>Gen&egrave;ve</b></p>".to_owned(),
        content: "<div>Long story</div>".to_owned(),
        author: "Jane Doe".to_owned(),
        categories: "World, Diplomacy".to_owned(),
        ..Default::default()
    };
    let text = ItemText::from_item(&item);
    assert_eq!(text.plain(Field::Summary), "Talks in Genève");
    assert_eq!(text.normalized(Field::Summary), "talks in geneve");
    let m = Matcher::compile(&[
        list("a", &["Geneve"]),
        list("b", &["diplomacy"]),
        list("c", &["Doe"]),
    ])
    .expect("compiles");
    let got: Vec<_> = m
        .match_item(&text, |_| true)
        .into_iter()
        .map(|w| (w.name, w.hits[0].field))
        .collect();
    assert_eq!(
        got,
        [
            ("a".to_owned(), Field::Summary),
            ("b".to_owned(), Field::Categories),
            ("c".to_owned(), Field::Author)
        ]
    );
}

#[test]
fn explain_agrees_with_match_item() {
    let mut a = list("a", &["Kirby", "Pentagon"]);
    a.require = vec![vec![TermSpec::phrase("Kyiv")]];
    let m = Matcher::compile(&[a, list("b", &["Blinken"])]).expect("compiles");
    let text = ItemText::from_fields(&[
        (Field::Title, "Pentagon: Kirby in Kyiv"),
        (Field::Content, "Kirby said"),
    ]);
    let e = m.explain(&text, |_| true);
    let matched = m.match_item(&text, |_| true);
    assert_eq!(matched.len(), 1);
    assert!(e[0].alerted && !e[1].alerted);
    assert_eq!(
        e[0].reason,
        "alerts: term hit: \"Pentagon\" (title), \"Kirby\" (title); require group 1 satisfied by \"Kyiv\" (title)"
    );
    let labels: Vec<_> = matched[0].hits.iter().map(|h| h.term.as_str()).collect();
    assert_eq!(labels, ["Pentagon", "Kirby", "Kyiv"]);
}

#[test]
fn matcher_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Matcher>();
    check::<ItemText>();
}

#[test]
fn html_to_text_for_display() {
    assert_eq!(
        html_to_text("<p>Caf&eacute;&nbsp;<b>Z&amp;uuml;rich</b></p><p>2nd</p>"),
        "Café Zürich\n2nd"
    );
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

/// Characters that exercise every normalization step (no `&` or `<`, which HTML would consume).
const ALPHABET: &[char] = &[
    'a', 'B', 'z', 'Z', 'é', 'Ü', 'u', '\u{0308}', '\u{0301}', 'ß', 'İ', 'ı', 'ﬁ', 'Ａ', '５', ' ',
    '\u{00A0}', '\n', '-', '–', '—', '\u{2011}', '\u{00AD}', '\u{200B}', '\u{FEFF}', '’', '“',
    '\'', '.', 'Ж', 'ё', 'Σ', 'ς', 'ά', 'م', 'ُ', '中', '国', 'カ', 'ก', '่', '1',
];

fn text_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(ALPHABET), 0..40)
        .prop_map(|v| v.into_iter().collect())
}

const WORDS: &[&str] = &[
    "john",
    "Kirby",
    "ISIS",
    "Zürich",
    "crisis",
    "Путин",
    "Αθήνα",
    "state",
    "al",
    "K",
];

fn matches_phrase(phrase: &str, raw: &str) -> bool {
    let m = Matcher::compile(&[list("p", &[phrase])]).expect("phrase compiles");
    !m.match_item(&ItemText::from_fields(&[(Field::Content, raw)]), |_| true)
        .is_empty()
}

proptest! {
    #[test]
    fn normalization_is_idempotent(s in text_strategy()) {
        let once = ItemText::from_fields(&[(Field::Title, &s)]).normalized(Field::Title).to_owned();
        let twice = ItemText::from_fields(&[(Field::Title, &once)]).normalized(Field::Title).to_owned();
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn normalization_is_idempotent_on_any_text(s in "[^<&]{0,40}") {
        let once = ItemText::from_fields(&[(Field::Title, &s)]).normalized(Field::Title).to_owned();
        let twice = ItemText::from_fields(&[(Field::Title, &once)]).normalized(Field::Title).to_owned();
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn every_term_finds_itself_in_a_sentence(
        term in "[^<&]{1,20}",
        case_sensitive in any::<bool>(),
        accent_sensitive in any::<bool>(),
    ) {
        let spec = WatchlistSpec {
            terms: vec![TermSpec { case_sensitive, accent_sensitive, ..TermSpec::phrase(&term) }],
            ..list("self", &[])
        };
        // Terms with nothing matchable are rejected at compile time; all others must be found.
        if let Ok(m) = Matcher::compile(&[spec]) {
            let raw = format!("<p>Report: {term} today</p>");
            let text = ItemText::from_fields(&[(Field::Content, &raw)]);
            prop_assert!(
                !m.match_item(&text, |_| true).is_empty(),
                "{:?} not found in {:?}", term, text.normalized(Field::Content)
            );
        }
    }

    #[test]
    fn markup_and_spacing_do_not_change_matches(
        words in prop::collection::vec(prop::sample::select(WORDS), 1..8),
        phrase_at in 0usize..8,
        phrase_len in 1usize..3,
        wraps in prop::collection::vec(0u8..3, 8),
        seps in prop::collection::vec(0u8..5, 8),
        decoy_phrase in any::<bool>(),
    ) {
        let plain = words.join(" ");
        let start = phrase_at % words.len();
        let end = (start + phrase_len).min(words.len());
        let phrase = if decoy_phrase { "Kirby john".to_owned() } else { words[start..end].join(" ") };
        let mut variant = String::new();
        for (i, w) in words.iter().enumerate() {
            if i > 0 {
                variant.push_str(match seps[i % seps.len()] {
                    0 => " ",
                    1 => "&nbsp;",
                    2 => "\u{00A0}",
                    3 => "\n",
                    _ => " <br> ",
                });
            }
            match wraps[i % wraps.len()] {
                0 => variant.push_str(w),
                1 => variant.push_str(&format!("<b>{w}</b>")),
                _ => variant.push_str(&format!("<span class=\"x\">{w}</span>")),
            }
        }
        let expected = matches_phrase(&phrase, &plain);
        if !decoy_phrase {
            prop_assert!(expected, "{:?} should match {:?}", phrase, plain);
        }
        prop_assert_eq!(matches_phrase(&phrase, &variant), expected, "{:?} in {:?}", phrase, variant);
    }

    #[test]
    fn variation_selectors_anywhere_never_change_a_match(
        words in prop::collection::vec(prop::sample::select(WORDS), 1..6),
        phrase_at in 0usize..6,
        at in prop::collection::vec(0usize..64, 1..4),
    ) {
        let plain = words.join(" ");
        let start = phrase_at % words.len();
        let phrase = words[start];
        let mut chars: Vec<char> = plain.chars().collect();
        for a in at {
            let pos = a % (chars.len() + 1);
            chars.insert(pos, '\u{FE0F}');
        }
        let variant: String = chars.into_iter().collect();
        prop_assert_eq!(
            matches_phrase(phrase, &variant),
            matches_phrase(phrase, &plain),
            "{:?} in {:?}", phrase, variant
        );
    }

    #[test]
    fn nfkc_of_the_whole_input_never_changes_a_match(
        s in text_strategy(),
        word in prop::sample::select(WORDS),
    ) {
        use unicode_normalization::UnicodeNormalization;
        let raw = format!("{s} {word} {s}");
        let composed: String = raw.nfkc().collect();
        prop_assert_eq!(
            matches_phrase(word, &composed),
            matches_phrase(word, &raw),
            "{:?} in {:?}", word, raw
        );
    }

    #[test]
    fn a_footnote_after_a_term_never_breaks_it(
        words in prop::collection::vec(prop::sample::select(WORDS), 1..6),
        phrase_at in 0usize..6,
        mark in prop::sample::select(&["<sup>1</sup>", "<sup>[2]</sup>", "\u{00B9}", "\u{2122}"][..]),
    ) {
        let end = phrase_at % words.len() + 1;
        let phrase = words[end - 1];
        let plain = words.join(" ");
        let variant = format!("{}{mark} {}", words[..end].join(" "), words[end..].join(" "));
        if matches_phrase(phrase, &plain) {
            prop_assert!(matches_phrase(phrase, &variant), "{:?} in {:?}", phrase, variant);
        }
    }

    #[test]
    fn arbitrary_input_never_panics(raw in "\\PC{0,200}", term in "\\PC{1,12}") {
        if let Ok(m) = Matcher::compile(&[list("any", &[&term])]) {
            let text = ItemText::from_fields(&[(Field::Title, &raw), (Field::Content, &raw)]);
            for w in m.match_item(&text, |_| true) {
                for h in w.hits {
                    let _ = h.snippet.marked_text();
                    let _ = h.snippet.marked_html();
                }
            }
            let _ = m.explain(&text, |_| true);
        }
    }
}
