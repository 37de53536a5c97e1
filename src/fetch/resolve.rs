//! Name resolution that applies the address policy at connect time.
//!
//! Owns the HTTP client's resolver: it looks names up (the system resolver, or a stub in tests)
//! and hands the client only the addresses the feed may reach, so a name that resolves to a
//! cloud metadata service, now or after a rebinding, is never connected to. Must never decide
//! policy itself ([`super::policy`] does) and never cache: every connection asks afresh.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use async_trait::async_trait;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::policy::{AddressClass, may_connect};

/// Turns a host name into socket addresses (port 0: the client fills it in).
#[async_trait]
pub trait Lookup: Send + Sync {
    /// The addresses `host` resolves to.
    async fn lookup(&self, host: &str) -> io::Result<Vec<SocketAddr>>;
}

/// The system resolver (`getaddrinfo`, honouring `/etc/hosts` and `nsswitch.conf`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemLookup;

#[async_trait]
impl Lookup for SystemLookup {
    async fn lookup(&self, host: &str) -> io::Result<Vec<SocketAddr>> {
        // `getaddrinfo` blocks; tokio runs it on the blocking pool, off the async workers.
        Ok(tokio::net::lookup_host((host, 0)).await?.collect())
    }
}

/// A fixed answer per name, for tests and for callers that resolve by other means.
#[async_trait]
impl<F> Lookup for F
where
    F: Fn(&str) -> io::Result<Vec<SocketAddr>> + Send + Sync,
{
    async fn lookup(&self, host: &str) -> io::Result<Vec<SocketAddr>> {
        self(host)
    }
}

/// Every address a name resolved to was one the feed may not reach.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct BlockedAddress {
    /// The name.
    pub host: String,
    /// What it resolved to.
    pub addrs: Vec<IpAddr>,
}

impl fmt::Display for BlockedAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} resolves only to ", self.host)?;
        for (i, addr) in self.addrs.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{addr} ({})", AddressClass::of(*addr))?;
        }
        Ok(())
    }
}

/// Keeps the addresses a feed whose configured host is of class `configured` may reach; fails
/// when `found` held some and none of them may be reached.
pub fn admit(
    host: &str,
    found: Vec<SocketAddr>,
    configured: AddressClass,
) -> Result<Vec<SocketAddr>, BlockedAddress> {
    let (allowed, refused): (Vec<SocketAddr>, Vec<SocketAddr>) = found
        .into_iter()
        .partition(|a| may_connect(a.ip(), configured));
    if allowed.is_empty() && !refused.is_empty() {
        return Err(BlockedAddress {
            host: host.to_owned(),
            addrs: refused.iter().map(SocketAddr::ip).collect(),
        });
    }
    if !refused.is_empty() {
        tracing::debug!(host, ?refused, "skipping addresses feeds may not reach");
    }
    Ok(allowed)
}

/// The HTTP client's resolver: [`Lookup`], then [`admit`].
pub(super) struct PolicyResolver {
    lookup: Arc<dyn Lookup>,
    configured: AddressClass,
}

impl PolicyResolver {
    /// A resolver for clients that fetch feeds configured on a host of class `configured`.
    pub(super) fn new(lookup: Arc<dyn Lookup>, configured: AddressClass) -> PolicyResolver {
        PolicyResolver { lookup, configured }
    }
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let lookup = Arc::clone(&self.lookup);
        let configured = self.configured;
        Box::pin(async move {
            let host = name.as_str();
            let admitted = admit(host, lookup.lookup(host).await?, configured)?;
            Ok(Box::new(admitted.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    use AddressClass::{LinkLocal, Metadata, Ordinary};

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter()
            .map(|a| SocketAddr::new(a.parse().unwrap(), 0))
            .collect()
    }

    /// A resolver over a stub that knows a few `.test` names and nothing else.
    fn resolver(configured: AddressClass) -> PolicyResolver {
        let stub = |host: &str| -> io::Result<Vec<SocketAddr>> {
            Ok(addrs(match host {
                "intranet.test" => &["10.0.0.7", "fd12::7"],
                "loopback.test" => &["127.0.0.1", "::1"],
                "rebound.test" => &["169.254.169.254"],
                "aws6.test" => &["fd00:ec2::254"],
                "mapped.test" => &["::ffff:169.254.169.254"],
                "device.test" => &["169.254.1.10", "fe80::1"],
                "mixed.test" => &["169.254.169.254", "203.0.113.9", "fe80::1", "2001:db8::9"],
                "nothing.test" => &[],
                _ => return Err(io::Error::new(io::ErrorKind::NotFound, "unknown name")),
            }))
        };
        PolicyResolver::new(Arc::new(stub), configured)
    }

    async fn resolve(r: &PolicyResolver, host: &str) -> Result<Vec<SocketAddr>, String> {
        match r.resolve(Name::from_str(host).unwrap()).await {
            Ok(found) => Ok(found.collect()),
            Err(e) => Err(e.to_string()),
        }
    }

    #[tokio::test]
    async fn ordinary_addresses_pass_through_in_order() {
        let r = resolver(Ordinary);
        assert_eq!(
            resolve(&r, "intranet.test").await,
            Ok(addrs(&["10.0.0.7", "fd12::7"]))
        );
        assert_eq!(
            resolve(&r, "loopback.test").await,
            Ok(addrs(&["127.0.0.1", "::1"]))
        );
    }

    #[tokio::test]
    async fn a_name_resolving_only_to_blocked_addresses_fails() {
        let r = resolver(Ordinary);
        for (host, addr) in [
            ("rebound.test", "169.254.169.254 (cloud metadata service)"),
            ("aws6.test", "fd00:ec2::254 (cloud metadata service)"),
            (
                "mapped.test",
                "::ffff:169.254.169.254 (cloud metadata service)",
            ),
        ] {
            assert_eq!(
                resolve(&r, host).await,
                Err(format!("{host} resolves only to {addr}"))
            );
        }
        assert_eq!(
            resolve(&r, "device.test").await,
            Err(
                "device.test resolves only to 169.254.1.10 (link-local address), fe80::1 (link-local address)"
                    .into()
            )
        );
    }

    #[tokio::test]
    async fn blocked_addresses_are_dropped_from_a_mixed_answer() {
        assert_eq!(
            resolve(&resolver(Ordinary), "mixed.test").await,
            Ok(addrs(&["203.0.113.9", "2001:db8::9"]))
        );
    }

    #[tokio::test]
    async fn a_feed_on_a_link_local_address_may_reach_link_local_names_only() {
        let r = resolver(LinkLocal);
        assert_eq!(
            resolve(&r, "device.test").await,
            Ok(addrs(&["169.254.1.10", "fe80::1"]))
        );
        assert_eq!(
            resolve(&r, "mixed.test").await,
            Ok(addrs(&["203.0.113.9", "fe80::1", "2001:db8::9"]))
        );
        assert!(resolve(&r, "rebound.test").await.is_err());
        let r = resolver(Metadata);
        assert_eq!(
            resolve(&r, "rebound.test").await,
            Ok(addrs(&["169.254.169.254"]))
        );
        assert!(resolve(&r, "device.test").await.is_err());
    }

    #[tokio::test]
    async fn lookup_failures_and_empty_answers_pass_through() {
        let r = resolver(Ordinary);
        assert_eq!(
            resolve(&r, "unknown.test").await,
            Err("unknown name".into())
        );
        assert_eq!(resolve(&r, "nothing.test").await, Ok(Vec::new()));
    }

    #[tokio::test]
    async fn the_blocked_error_can_be_told_from_other_failures() {
        let r = resolver(Ordinary);
        let err = r
            .resolve(Name::from_str("rebound.test").unwrap())
            .await
            .err()
            .unwrap();
        assert_eq!(
            err.downcast_ref::<BlockedAddress>(),
            Some(&BlockedAddress {
                host: "rebound.test".into(),
                addrs: vec!["169.254.169.254".parse().unwrap()],
            })
        );
    }
}
