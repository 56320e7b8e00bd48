//! Name resolution and interface facts the matcher needs, behind traits so the
//! engine stays pure (tests inject fixed answers; the CLI and gateway use the system).

use std::io;
use std::net::{IpAddr, ToSocketAddrs};

/// Forward and reverse DNS as PostgreSQL's `check_hostname()` uses them.
pub trait Resolver {
    /// Forward lookup (`getaddrinfo`): every address of `name`.
    fn lookup_host(&self, name: &str) -> io::Result<Vec<IpAddr>>;
    /// Reverse lookup (`getnameinfo(NI_NAMEREQD)`): the name of `addr`, if any.
    fn reverse(&self, addr: IpAddr) -> Option<String>;
}

/// The system resolver (`/etc/hosts`, DNS, as configured in nsswitch).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn lookup_host(&self, name: &str) -> io::Result<Vec<IpAddr>> {
        Ok((name, 0u16).to_socket_addrs()?.map(|a| a.ip()).collect())
    }

    fn reverse(&self, addr: IpAddr) -> Option<String> {
        let name = dns_lookup::lookup_addr(&addr).ok()?;
        // getnameinfo without NI_NAMEREQD falls back to the numeric form: treat as no name.
        if name.parse::<IpAddr>().is_ok() {
            None
        } else {
            Some(name)
        }
    }
}

/// A resolver that knows nothing: no names, no addresses.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoResolver;

impl Resolver for NoResolver {
    fn lookup_host(&self, name: &str) -> io::Result<Vec<IpAddr>> {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no resolver for {name}"),
        ))
    }
    fn reverse(&self, _addr: IpAddr) -> Option<String> {
        None
    }
}

/// One address of a local network interface, as `getifaddrs()` lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InterfaceAddr {
    /// The interface address.
    pub addr: IpAddr,
    /// Its netmask (same family).
    pub netmask: IpAddr,
}

/// The machine's interface addresses (for `samehost` / `samenet`).
///
/// Errors: the interface list cannot be read.
pub fn system_interfaces() -> io::Result<Vec<InterfaceAddr>> {
    let list = if_addrs::get_if_addrs()?;
    Ok(list
        .into_iter()
        .map(|i| match i.addr {
            if_addrs::IfAddr::V4(v4) => InterfaceAddr {
                addr: IpAddr::V4(v4.ip),
                netmask: IpAddr::V4(v4.netmask),
            },
            if_addrs::IfAddr::V6(v6) => InterfaceAddr {
                addr: IpAddr::V6(v6.ip),
                netmask: IpAddr::V6(v6.netmask),
            },
        })
        .collect())
}
