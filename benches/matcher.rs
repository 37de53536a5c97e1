//! Matcher throughput and compile time on a generated, deterministic workload: 10,000 watch
//! terms (names, organisations, phrases; some Cyrillic, Arabic and CJK) in 1,000 watchlists, and
//! 1,000 HTML items of 2–4 KB, a tenth of which mention a watched name.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use feedwatch::matcher::{Field, ItemText, Matcher, TermSpec, WatchlistSpec};
use feedwatch::model::Item;

/// Deterministic xorshift generator, so every run measures the same workload.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const FIRST: &[&str] = &[
    "John",
    "Maria",
    "Ahmed",
    "Olena",
    "François",
    "José",
    "Li",
    "Yuki",
    "Sergei",
    "Fatima",
    "Pieter",
    "Zoë",
    "Björn",
    "Ana",
    "Mohammed",
    "Giulia",
    "Lars",
    "Aisha",
    "Tomás",
    "Ingrid",
    "Nikolai",
    "Chen",
    "Hannah",
    "Omar",
    "Sven",
    "Élodie",
    "Raúl",
    "Kenji",
    "Anya",
    "Dmitri",
];
const LAST: &[&str] = &[
    "Kirby",
    "Müller",
    "Haddad",
    "Kovalenko",
    "Dubois",
    "García",
    "Wei",
    "Tanaka",
    "Ivanov",
    "Rahman",
    "de Vries",
    "Søndergaard",
    "Lindqvist",
    "Silva",
    "Al-Sayed",
    "Rossi",
    "Nilsson",
    "Okafor",
    "O'Brien",
    "Johansson",
    "Petrov",
    "Zhang",
    "Schmidt",
    "Khalil",
    "Berg",
    "Lefèvre",
    "Fernández",
    "Sato",
    "Volkova",
    "Smirnov",
];
const ORG_HEAD: &[&str] = &[
    "Ministry of",
    "Bank of",
    "Institute for",
    "Council of",
    "Agency for",
    "Front for",
    "Movement for",
    "Office of",
];
const ORG_TAIL: &[&str] = &[
    "Defence",
    "Energy",
    "Foreign Affairs",
    "Reconstruction",
    "Liberation",
    "Maritime Security",
    "Strategic Studies",
    "Digital Affairs",
    "Public Health",
    "Mineral Resources",
];
const CYRILLIC: &[&str] = &["Алексей", "Мария", "Сергей", "Ольга", "Иван", "Наталья"];
const CYRILLIC_LAST: &[&str] = &[
    "Навальный",
    "Шойгу",
    "Лавров",
    "Медведев",
    "Кузнецова",
    "Попов",
];
const ARABIC: &[&str] = &["محمد", "أحمد", "فاطمة", "علي", "حسن", "خالد"];
const ARABIC_LAST: &[&str] = &["العلي", "حداد", "الحسيني", "منصور", "يوسف", "سليمان"];
const CJK: &[&str] = &["习", "王", "李", "張", "田中", "佐藤", "陈", "刘"];
const CJK_LAST: &[&str] = &["近平", "毅", "强", "偉", "太郎", "花子", "明", "洋"];
const FILLER: &[&str] = &[
    "the",
    "government",
    "said",
    "on",
    "Tuesday",
    "that",
    "talks",
    "would",
    "continue",
    "in",
    "capital",
    "officials",
    "according",
    "to",
    "a",
    "statement",
    "released",
    "after",
    "meeting",
    "with",
    "representatives",
    "of",
    "several",
    "countries",
    "crisis",
    "security",
    "forces",
    "reported",
    "new",
    "developments",
    "near",
    "border",
    "region",
    "while",
    "analysts",
    "warned",
    "about",
    "escalation",
    "economic",
    "sanctions",
    "negotiations",
    "spokesperson",
    "declined",
    "comment",
    "further",
    "details",
    "are",
    "expected",
    "later",
    "this",
    "week",
    "interpolated",
    "markets",
    "reacted",
    "calmly",
    "election",
    "parliament",
    "minister",
];

/// One watch term; the `i`th term is distinct for every `i` below 10,000.
fn term(rng: &mut Rng, i: usize) -> String {
    let serial = i / 100;
    match i % 10 {
        0..=4 => format!("{} {} {}", rng.pick(FIRST), rng.pick(LAST), suffix(serial)),
        5 | 6 => format!(
            "{} {} {}",
            rng.pick(ORG_HEAD),
            rng.pick(ORG_TAIL),
            suffix(serial)
        ),
        7 => format!(
            "{} {}{}",
            rng.pick(CYRILLIC),
            rng.pick(CYRILLIC_LAST),
            cyr_suffix(serial)
        ),
        8 => format!("{} {} {}", rng.pick(ARABIC), rng.pick(ARABIC_LAST), serial),
        _ => format!("{}{}{}", rng.pick(CJK), rng.pick(CJK_LAST), serial),
    }
}

/// A letter suffix that keeps generated names distinct without digits in Latin names.
fn suffix(serial: usize) -> String {
    let a = (b'a' + (serial % 26) as u8) as char;
    let b = (b'a' + (serial / 26 % 26) as u8) as char;
    format!("{a}{b}ville")
}

fn cyr_suffix(serial: usize) -> String {
    let letters: Vec<char> = "абвгдежзиклмнопрстуфхцчшэюя".chars().collect();
    let a = letters[serial % letters.len()];
    let b = letters[serial / letters.len() % letters.len()];
    format!(" {a}{b}")
}

fn watchlists() -> (Vec<WatchlistSpec>, Vec<String>) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut all = Vec::new();
    let mut lists = Vec::new();
    let mut i = 0;
    for w in 0..1000 {
        let mut spec = WatchlistSpec {
            name: format!("list {w}"),
            terms: Vec::new(),
            require: Vec::new(),
            exclude: Vec::new(),
            fields: Vec::new(),
        };
        for _ in 0..8 {
            let t = term(&mut rng, i);
            i += 1;
            spec.terms.push(TermSpec::phrase(&t));
            all.push(t);
        }
        let r = term(&mut rng, i);
        i += 1;
        let x = term(&mut rng, i);
        i += 1;
        if w % 3 == 0 {
            spec.require.push(vec![TermSpec::phrase(&r)]);
        } else {
            spec.terms.push(TermSpec::phrase(&r));
        }
        spec.exclude.push(TermSpec::phrase(&x));
        if w % 5 == 0 {
            spec.fields = vec![Field::Title, Field::Summary];
        }
        lists.push(spec);
    }
    (lists, all)
}

fn paragraph(rng: &mut Rng, words: usize, mention: Option<&str>) -> String {
    let mut p = String::from("<p>");
    let at = rng.below(words);
    for j in 0..words {
        if j > 0 {
            p.push(' ');
        }
        if Some(j) == mention.map(|_| at) {
            p.push_str("<b>");
            p.push_str(mention.unwrap_or_default());
            p.push_str("</b>&#8217;s");
            continue;
        }
        match rng.below(40) {
            0 => p.push_str("<a href=\"https://example.org/story?id=42&amp;ref=rss\">report</a>"),
            1 => p.push_str("&amp;"),
            2 => p.push_str("&nbsp;&mdash;"),
            3 => p.push_str("<em>exclusive</em>"),
            _ => p.push_str(rng.pick(FILLER)),
        }
    }
    p.push_str(".</p>\n");
    p
}

fn items(terms: &[String]) -> Vec<Item> {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    (0..1000)
        .map(|n| {
            let mention = (n % 10 == 0).then(|| terms[rng.below(terms.len())].as_str());
            let mut content = String::new();
            let target = 2000 + rng.below(2000);
            let mut k = 0;
            while content.len() < target {
                let m = if k == 1 { mention } else { None };
                let words = 30 + rng.below(30);
                content.push_str(&paragraph(&mut rng, words, m));
                k += 1;
            }
            Item {
                key: feedwatch::model::ItemKey::new(
                    feedwatch::model::KeySource::Guid,
                    &format!("item-{n}"),
                ),
                title: format!(
                    "{} {} {}",
                    rng.pick(FILLER),
                    rng.pick(FILLER),
                    rng.pick(FILLER)
                ),
                summary: paragraph(&mut rng, 25, None),
                content,
                author: format!("{} {}", rng.pick(FIRST), rng.pick(LAST)),
                categories: "World, Politics".to_owned(),
                ..Item::default()
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let (lists, terms) = watchlists();
    let items = items(&terms);
    let bytes: usize = items
        .iter()
        .map(|i| Field::ALL.iter().map(|&f| i.field(f).len()).sum::<usize>())
        .sum();

    let started = Instant::now();
    let matcher = Matcher::compile(&lists).expect("generated watchlists compile");
    let compile = started.elapsed();
    let alerts: usize = items
        .iter()
        .map(|i| matcher.match_item(&ItemText::from_item(i), |_| true).len())
        .sum();
    eprintln!(
        "workload: {} watchlists, {} terms, {} items, {} bytes; first compile {:.1} ms; \
         automaton memory {:.1} MiB; {} alerts",
        matcher.watchlist_count(),
        matcher.term_count(),
        items.len(),
        bytes,
        compile.as_secs_f64() * 1000.0,
        matcher.memory_usage() as f64 / (1024.0 * 1024.0),
        alerts
    );

    // The same work timed in CPU time of this thread, which other processes on a busy machine
    // do not inflate the way they inflate criterion's wall-clock numbers.
    let mut best = u64::MAX;
    for _ in 0..5 {
        let t = cpu_ns();
        for i in &items {
            black_box(matcher.match_item(&ItemText::from_item(i), |_| true));
        }
        best = best.min(cpu_ns().saturating_sub(t));
    }
    if best > 0 && best != u64::MAX {
        eprintln!(
            "cpu time for all items: {:.1} ms => {:.1} MB/s",
            best as f64 / 1e6,
            bytes as f64 / (best as f64 / 1e9) / 1e6
        );
    }
    let mut group = c.benchmark_group("matcher");
    group.sample_size(10);
    group.bench_function("compile_10k_terms", |b| {
        b.iter(|| Matcher::compile(black_box(&lists)))
    });
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("from_item_and_match_1000_items", |b| {
        b.iter(|| {
            let mut n = 0;
            for item in &items {
                let text = ItemText::from_item(black_box(item));
                n += matcher.match_item(&text, |_| true).len();
            }
            n
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

/// CPU time of this thread in nanoseconds, so a loaded machine does not distort the numbers.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}
