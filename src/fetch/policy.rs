//! Where a fetch may go: no redirect from `https://` to `http://` unless the feed allows it, and
//! no link-local or cloud metadata address unless the feed's configured URL is on one itself.
//!
//! Owns these decisions as pure functions over addresses and URLs, so every case is tested
//! without a network. Must never do I/O: the resolver ([`super::resolve`]) applies them to the
//! addresses a name resolves to at connect time, and the redirect loop to each hop's URL.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

use crate::config::FeedConfig;

/// IPv4 addresses of cloud instance metadata services, which hand out credentials: AWS, Azure,
/// Google Cloud, Oracle Cloud, OpenStack and DigitalOcean (169.254.169.254), AWS ECS task
/// credentials (169.254.170.2), Alibaba Cloud (100.100.100.200, outside link-local space).
const METADATA_V4: [Ipv4Addr; 3] = [
    Ipv4Addr::new(169, 254, 169, 254),
    Ipv4Addr::new(169, 254, 170, 2),
    Ipv4Addr::new(100, 100, 100, 200),
];

/// IPv6 addresses of cloud instance metadata services: AWS (fd00:ec2::254).
const METADATA_V6: [Ipv6Addr; 1] = [Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)];

/// The NAT64 well-known prefix, 64:ff9b::/96: its last 32 bits are an IPv4 address a
/// translator connects to.
const NAT64_PREFIX: [u16; 6] = [0x64, 0xff9b, 0, 0, 0, 0];

/// The kind of an address, as far as the connect policy cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressClass {
    /// Anything else: public, loopback, private (RFC 1918, unique local). Intranet feeds are
    /// real, so these stay reachable.
    Ordinary,
    /// Link-local: 169.254.0.0/16, fe80::/10.
    LinkLocal,
    /// A cloud instance metadata service.
    Metadata,
}

impl AddressClass {
    /// The class of `ip`; IPv4 addresses embedded in IPv6 ones (mapped, compatible, NAT64)
    /// count as the IPv4 address they lead to.
    pub fn of(ip: IpAddr) -> AddressClass {
        match ip {
            IpAddr::V4(v4) => Self::of_v4(v4),
            IpAddr::V6(v6) => embedded_v4(v6).map_or_else(|| Self::of_v6(v6), Self::of_v4),
        }
    }

    /// The class of the host a URL names: an address literal's own class. A host name is
    /// `Ordinary` whatever it resolves to today: DNS is the site's to change, so a name earns
    /// no exemption.
    pub fn of_url_host(url: &Url) -> AddressClass {
        literal_addr(url).map_or(AddressClass::Ordinary, Self::of)
    }

    fn of_v4(ip: Ipv4Addr) -> AddressClass {
        if METADATA_V4.contains(&ip) {
            AddressClass::Metadata
        } else if ip.is_link_local() {
            AddressClass::LinkLocal
        } else {
            AddressClass::Ordinary
        }
    }

    fn of_v6(ip: Ipv6Addr) -> AddressClass {
        if METADATA_V6.contains(&ip) {
            AddressClass::Metadata
        } else if ip.is_unicast_link_local() {
            AddressClass::LinkLocal
        } else {
            AddressClass::Ordinary
        }
    }
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressClass::Ordinary => "ordinary address",
            AddressClass::LinkLocal => "link-local address",
            AddressClass::Metadata => "cloud metadata service",
        })
    }
}

/// The address a URL's host is written as, if it is an address and not a name.
fn literal_addr(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        Host::Domain(_) => None,
    }
}

/// The IPv4 address an IPv6 address stands for, if it embeds one a connection would reach.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    if s[..6] == NAT64_PREFIX {
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        return Some(Ipv4Addr::new(a, b, c, d));
    }
    // Mapped (::ffff:a.b.c.d) and the deprecated compatible form (::a.b.c.d); `::` and `::1`
    // come out as 0.0.0.0 and 0.0.0.1, which stay ordinary.
    ip.to_ipv4()
}

/// Whether a fetch for a feed whose configured host is of class `configured` may connect to
/// `addr`. Ordinary addresses always; a link-local or metadata address only when the
/// configured URL is itself an address of that class (a device on the local link, say).
pub fn may_connect(addr: IpAddr, configured: AddressClass) -> bool {
    match AddressClass::of(addr) {
        AddressClass::Ordinary => true,
        class => class == configured,
    }
}

/// What one feed's fetches may do, from its configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Reach {
    /// The class of the feed's configured host.
    pub configured: AddressClass,
    /// Whether a redirect from `https://` to `http://` is followed.
    pub allow_insecure_redirect: bool,
}

impl Reach {
    /// The reach of `feed`.
    pub fn of(feed: &FeedConfig) -> Reach {
        Reach {
            configured: AddressClass::of_url_host(&feed.url),
            allow_insecure_redirect: feed.allow_insecure_redirect,
        }
    }
}

/// Why a redirect is not followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// From `https://` to `http://`, and the feed does not allow it.
    Downgrade,
    /// To an address literal the feed may not reach.
    Address(IpAddr, AddressClass),
}

/// Decides whether to follow a redirect from `from` to `to`.
///
/// Address literals are checked here because the HTTP client connects to them without asking
/// the resolver; names are checked by the resolver when the connection is made. The configured
/// URL is never refused: its class is the feed's own.
pub fn check_redirect(from: &Url, to: &Url, reach: Reach) -> Result<(), Refusal> {
    if from.scheme() == "https" && to.scheme() == "http" && !reach.allow_insecure_redirect {
        return Err(Refusal::Downgrade);
    }
    match literal_addr(to) {
        Some(addr) if !may_connect(addr, reach.configured) => {
            Err(Refusal::Address(addr, AddressClass::of(addr)))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    use AddressClass::{LinkLocal, Metadata, Ordinary};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    const CLASSES: [AddressClass; 3] = [Ordinary, LinkLocal, Metadata];

    #[test]
    fn ipv4_addresses_are_classified() {
        for (addr, class) in [
            ("169.254.0.0", LinkLocal),
            ("169.254.0.1", LinkLocal),
            ("169.254.1.10", LinkLocal),
            ("169.254.169.253", LinkLocal),
            ("169.254.255.255", LinkLocal),
            ("169.254.169.254", Metadata),
            ("169.254.170.2", Metadata),
            ("100.100.100.200", Metadata),
            ("169.253.255.255", Ordinary),
            ("169.255.0.0", Ordinary),
            ("100.100.100.201", Ordinary),
            ("127.0.0.1", Ordinary),
            ("10.0.0.2", Ordinary),
            ("172.16.5.4", Ordinary),
            ("192.168.1.1", Ordinary),
            ("100.64.0.1", Ordinary),
            ("0.0.0.0", Ordinary),
            ("255.255.255.255", Ordinary),
            ("93.184.215.14", Ordinary),
        ] {
            assert_eq!(AddressClass::of(ip(addr)), class, "{addr}");
        }
    }

    #[test]
    fn ipv6_addresses_are_classified() {
        for (addr, class) in [
            ("fe80::", LinkLocal),
            ("fe80::1", LinkLocal),
            ("fe80::a9fe:a9fe", LinkLocal),
            ("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", LinkLocal),
            ("fd00:ec2::254", Metadata),
            ("fd00:ec2::253", Ordinary),
            ("fd00:ec2::1:254", Ordinary),
            ("fe7f:ffff::1", Ordinary),
            ("fec0::1", Ordinary),
            ("fd12:3456::1", Ordinary),
            ("::1", Ordinary),
            ("::", Ordinary),
            ("2001:db8::1", Ordinary),
            ("ff02::1", Ordinary),
        ] {
            assert_eq!(AddressClass::of(ip(addr)), class, "{addr}");
        }
    }

    #[test]
    fn ipv4_inside_ipv6_counts_as_the_ipv4_address() {
        for (addr, class) in [
            ("::ffff:169.254.169.254", Metadata),
            ("::ffff:a9fe:a9fe", Metadata),
            ("::ffff:169.254.1.1", LinkLocal),
            ("::ffff:100.100.100.200", Metadata),
            ("::ffff:127.0.0.1", Ordinary),
            ("::ffff:10.1.2.3", Ordinary),
            ("::169.254.169.254", Metadata),
            ("::169.254.7.7", LinkLocal),
            ("64:ff9b::169.254.169.254", Metadata),
            ("64:ff9b::a9fe:101", LinkLocal),
            ("64:ff9b::8.8.8.8", Ordinary),
            ("64:ff9b:1::169.254.169.254", Ordinary),
        ] {
            assert_eq!(AddressClass::of(ip(addr)), class, "{addr}");
        }
    }

    #[test]
    fn ordinary_addresses_are_reachable_from_every_feed() {
        for addr in [
            "127.0.0.1",
            "::1",
            "10.0.0.5",
            "192.168.0.10",
            "fd12::7",
            "1.1.1.1",
        ] {
            for configured in CLASSES {
                assert!(
                    may_connect(ip(addr), configured),
                    "{addr} from {configured}"
                );
            }
        }
    }

    #[test]
    fn link_local_and_metadata_need_a_feed_configured_on_their_class() {
        let table = [
            ("169.254.1.10", LinkLocal),
            ("fe80::1", LinkLocal),
            ("::ffff:169.254.1.10", LinkLocal),
            ("169.254.169.254", Metadata),
            ("fd00:ec2::254", Metadata),
            ("::ffff:169.254.169.254", Metadata),
            ("64:ff9b::a9fe:a9fe", Metadata),
        ];
        for (addr, class) in table {
            for configured in CLASSES {
                assert_eq!(
                    may_connect(ip(addr), configured),
                    configured == class,
                    "{addr} from a feed on a {configured}"
                );
            }
        }
    }

    #[test]
    fn a_configured_url_is_classed_by_its_address_literal_never_by_its_name() {
        for (configured, class) in [
            ("https://feeds.example.org/rss", Ordinary),
            ("http://metadata.google.internal/x", Ordinary),
            ("http://localhost:8080/rss", Ordinary),
            ("http://10.0.0.7/rss", Ordinary),
            ("http://169.254.1.10/rss", LinkLocal),
            ("http://[fe80::1]/rss", LinkLocal),
            ("http://169.254.169.254/latest/meta-data/", Metadata),
            ("http://[fd00:ec2::254]/latest/", Metadata),
            ("http://[::ffff:169.254.169.254]/", Metadata),
            // WHATWG parsing reads these as 169.254.169.254, as the client will.
            ("http://2852039166/", Metadata),
            ("http://0xa9.0xfe.0xa9.0xfe/", Metadata),
            ("file:///var/feeds/local.xml", Ordinary),
        ] {
            assert_eq!(
                AddressClass::of_url_host(&url(configured)),
                class,
                "{configured}"
            );
        }
    }

    fn reach(configured: AddressClass, allow_insecure_redirect: bool) -> Reach {
        Reach {
            configured,
            allow_insecure_redirect,
        }
    }

    #[test]
    fn https_to_http_is_refused_unless_the_feed_allows_it() {
        let (secure, plain) = (url("https://a.example/rss"), url("http://b.example/rss"));
        assert_eq!(
            check_redirect(&secure, &plain, reach(Ordinary, false)),
            Err(Refusal::Downgrade)
        );
        assert_eq!(
            check_redirect(&secure, &plain, reach(Ordinary, true)),
            Ok(())
        );
        let same_host = url("http://a.example/rss");
        assert_eq!(
            check_redirect(&secure, &same_host, reach(Ordinary, false)),
            Err(Refusal::Downgrade)
        );
    }

    #[test]
    fn other_scheme_changes_are_followed() {
        let (secure, plain) = (url("https://a.example/rss"), url("http://a.example/rss"));
        let r = reach(Ordinary, false);
        assert_eq!(check_redirect(&plain, &secure, r), Ok(()));
        assert_eq!(check_redirect(&plain, &url("http://b.example/"), r), Ok(()));
        assert_eq!(
            check_redirect(&secure, &url("https://b.example/"), r),
            Ok(())
        );
    }

    #[test]
    fn redirects_to_blocked_address_literals_are_refused() {
        let from = url("http://news.example/rss");
        for (to, addr, class) in [
            (
                "http://169.254.169.254/latest/meta-data/",
                "169.254.169.254",
                Metadata,
            ),
            ("http://[fd00:ec2::254]/latest/", "fd00:ec2::254", Metadata),
            (
                "http://[::ffff:a9fe:a9fe]/",
                "::ffff:169.254.169.254",
                Metadata,
            ),
            ("http://2852039166/", "169.254.169.254", Metadata),
            ("http://169.254.1.10:8080/x", "169.254.1.10", LinkLocal),
            ("http://[fe80::1]/x", "fe80::1", LinkLocal),
        ] {
            assert_eq!(
                check_redirect(&from, &url(to), reach(Ordinary, true)),
                Err(Refusal::Address(ip(addr), class)),
                "{to}"
            );
        }
    }

    #[test]
    fn redirects_to_ordinary_literals_and_to_names_are_left_to_the_resolver() {
        let from = url("https://news.example/rss");
        let r = reach(Ordinary, false);
        for to in [
            "https://127.0.0.1:8443/rss",
            "https://[::1]/rss",
            "https://10.1.2.3/rss",
            "https://192.168.1.20/rss",
            "https://169.254.169.254.nip.example/rss",
        ] {
            assert_eq!(check_redirect(&from, &url(to), r), Ok(()), "{to}");
        }
    }

    #[test]
    fn a_feed_configured_on_a_link_local_address_follows_redirects_within_its_class() {
        let from = url("http://169.254.1.10/rss");
        let r = Reach::of(&feed("url = \"http://169.254.1.10/rss\""));
        assert_eq!(r.configured, LinkLocal);
        assert_eq!(
            check_redirect(&from, &url("http://169.254.1.11/rss"), r),
            Ok(())
        );
        assert_eq!(
            check_redirect(&from, &url("http://[fe80::2]/rss"), r),
            Ok(())
        );
        assert_eq!(
            check_redirect(&from, &url("http://169.254.169.254/"), r),
            Err(Refusal::Address(ip("169.254.169.254"), Metadata))
        );
    }

    /// The one feed of a config holding only `lines` in its `[[feeds]]` table.
    fn feed(lines: &str) -> FeedConfig {
        let text = format!("[[feeds]]\n{lines}\n\n[notifiers.out]\ntype = \"stdout\"\n");
        let config = Config::from_str_at(&text, Path::new("t.toml")).unwrap();
        config.feeds[0].clone()
    }

    #[test]
    fn allow_insecure_redirect_is_off_unless_set() {
        let off = Reach::of(&feed("url = \"https://a.example/rss\""));
        assert_eq!(off, reach(Ordinary, false));
        let on = Reach::of(&feed(
            "url = \"https://a.example/rss\"\nallow_insecure_redirect = true",
        ));
        assert_eq!(on, reach(Ordinary, true));
    }

    #[test]
    fn allow_insecure_redirect_must_be_a_boolean() {
        let text =
            "[[feeds]]\nurl = \"https://a.example/rss\"\nallow_insecure_redirect = \"yes\"\n";
        let err = Config::from_str_at(text, Path::new("t.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("t.toml:3:"), "{err}");
        assert!(err.contains("bool"), "{err}");
    }
}
