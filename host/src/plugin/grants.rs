//! Capabilities a pipeline grants one plugin, and the locked-down WASI context
//! built from them. Everything not granted is denied; see the parent module
//! for which WASI imports are always linkable and which need a grant.

use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

use super::error::PluginError;
use super::store::StderrTail;

/// Capabilities granted to one plugin. The default grants nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Environment variables passed through by name, with the host process's
    /// values at the time the instance is created. Unset ones are left out.
    pub env: Vec<String>,
    /// Directories to preopen. `None`: the `wasi:filesystem` interfaces are not
    /// granted and a component importing them is refused; `Some(vec![])`:
    /// linked with nothing opened.
    pub dirs: Option<Vec<DirGrant>>,
    /// Outbound TCP destinations. `None`: the `wasi:sockets` interfaces are not
    /// granted and a component importing them is refused; `Some(vec![])`:
    /// linked with nothing reachable.
    pub network: Option<Vec<NetworkGrant>>,
}

/// A host directory made visible to the plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    /// The directory on the host (resolved against the pipeline file's directory).
    pub host: PathBuf,
    /// Where the plugin sees it, e.g. `/data`.
    pub guest: String,
    /// Read-only or read-write.
    pub mode: DirMode,
}

/// Access to a granted directory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DirMode {
    /// Read files and list directories only.
    #[default]
    ReadOnly,
    /// Also create, write, rename and delete.
    ReadWrite,
}

/// One outbound TCP destination, `host:port`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NetworkGrant {
    /// A host name or an IP address.
    pub host: String,
    /// The port.
    pub port: u16,
}

impl NetworkGrant {
    /// True when `host` is a name rather than an IP address.
    pub fn is_name(&self) -> bool {
        self.host.parse::<IpAddr>().is_err()
    }

    /// True when a connection to `addr` is to this destination. Host names
    /// are resolved now, so the check follows DNS.
    fn allows(&self, addr: SocketAddr) -> bool {
        if addr.port() != self.port {
            return false;
        }
        let wanted = canonical(addr.ip());
        match self.host.parse::<IpAddr>() {
            Ok(ip) => canonical(ip) == wanted,
            Err(_) => (self.host.as_str(), self.port)
                .to_socket_addrs()
                .map(|mut found| found.any(|a| canonical(a.ip()) == wanted))
                .unwrap_or(false),
        }
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it maps.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl fmt::Display for NetworkGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl FromStr for NetworkGrant {
    type Err = String;

    /// Parses `host:port`, `1.2.3.4:port` or `[v6]:port`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not `host:port`");
        let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
        let host = match host.strip_prefix('[') {
            Some(v6) => {
                let v6 = v6.strip_suffix(']').ok_or_else(bad)?;
                v6.parse::<std::net::Ipv6Addr>()
                    .map_err(|_| format!("`{v6}` in `{s}` is not an IPv6 address"))?;
                v6
            }
            None => host,
        };
        let valid_host = !host.is_empty()
            && (host.parse::<IpAddr>().is_ok()
                || host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')));
        if !valid_host {
            return Err(format!(
                "`{host}` in `{s}` is not a host name or IP address"
            ));
        }
        let port: u16 = port
            .parse()
            .map_err(|_| format!("`{port}` in `{s}` is not a port number"))?;
        if port == 0 {
            return Err(format!("port 0 in `{s}` names no destination"));
        }
        Ok(NetworkGrant {
            host: host.to_string(),
            port,
        })
    }
}

/// The grant an import needs, if any: `wasi:filesystem/*` needs `dirs`,
/// `wasi:sockets/*` needs `network`; everything else the host links is
/// harmless with nothing granted.
pub fn grant_needed(import: &str) -> Option<&'static str> {
    if import.starts_with("wasi:filesystem/") {
        Some("dirs")
    } else if import.starts_with("wasi:sockets/") {
        Some("network")
    } else {
        None
    }
}

/// Refuses a component whose imports need a grant it was not given, naming
/// the first such import and the grant.
pub(crate) fn check_imports(
    imports: &[String],
    grants: &Grants,
    label: &str,
) -> Result<(), PluginError> {
    for import in imports {
        let (granted, hint) = match grant_needed(import) {
            None => continue,
            Some("dirs") => (
                grants.dirs.is_some(),
                "add `grants: { dirs: [{ host: PATH, guest: /data, mode: ro }] }` to this plugin, or `dirs: []` to link the filesystem with nothing opened",
            ),
            Some(_) => (
                grants.network.is_some(),
                "add `grants: { network: [\"host:port\"] }` to this plugin, or `network: []` to link sockets with nothing reachable",
            ),
        };
        if !granted {
            return Err(PluginError::NotGranted {
                plugin: label.to_string(),
                import: import.clone(),
                grant: grant_needed(import).unwrap_or_default(),
                hint: hint.to_string(),
            });
        }
    }
    Ok(())
}

// The Store's stderr tail (state in `store`) as WASI's stderr stream.
impl IsTerminal for StderrTail {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for StderrTail {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for StderrTail {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Largest `get-random-bytes` request served (wasmtime-wasi's default is 64 MiB,
/// which a plugin could use to make the host allocate that much per call).
const MAX_RANDOM_BYTES: u64 = 1 << 20;

/// The WASI context of one instance: exactly what `grants` allow.
pub(crate) fn wasi_ctx(
    grants: &Grants,
    label: &str,
    stderr: &StderrTail,
) -> Result<WasiCtx, PluginError> {
    let mut b = WasiCtxBuilder::new();
    b.stderr(stderr.clone()).max_random_size(MAX_RANDOM_BYTES);
    for name in &grants.env {
        if let Ok(value) = std::env::var(name) {
            b.env(name, value);
        }
    }
    for dir in grants.dirs.iter().flatten() {
        let perms = match dir.mode {
            DirMode::ReadOnly => FsPerms::ReadOnly,
            DirMode::ReadWrite => FsPerms::ReadWrite,
        };
        b.preopened_dir(&dir.host, &dir.guest, perms)
            .map_err(|e| PluginError::Grant {
                plugin: label.to_string(),
                grant: format!("dirs: {} → {}", dir.host.display(), dir.guest),
                message: format!("{e:#}"),
            })?;
    }
    let network: Arc<[NetworkGrant]> = grants.network.clone().unwrap_or_default().into();
    b.allow_udp(false)
        .allow_tcp(!network.is_empty())
        .allow_ip_name_lookup(network.iter().any(NetworkGrant::is_name));
    b.socket_addr_check(move |addr, use_| {
        let allowed = match use_ {
            // `connect` binds implicitly to the wildcard address first.
            SocketAddrUse::TcpBind => addr.ip().is_unspecified() && addr.port() == 0,
            SocketAddrUse::TcpConnect => network.iter().any(|g| g.allows(addr)),
            _ => false,
        };
        Box::pin(async move { allowed })
    });
    Ok(b.build())
}

/// Host names a plugin may look up: those named in its network grant.
pub(crate) fn lookup_names(grants: &Grants) -> Arc<[String]> {
    grants
        .network
        .iter()
        .flatten()
        .filter(|g| g.is_name())
        .map(|g| g.host.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn network_grants_parse_names_v4_and_v6() {
        let g: NetworkGrant = "kafka.internal:9092".parse().unwrap();
        assert_eq!(
            (g.host.as_str(), g.port, g.is_name()),
            ("kafka.internal", 9092, true)
        );
        let g: NetworkGrant = "10.0.0.1:80".parse().unwrap();
        assert!(!g.is_name());
        let g: NetworkGrant = "[::1]:443".parse().unwrap();
        assert_eq!(g.host, "::1");
        assert_eq!(g.to_string(), "[::1]:443");
        for bad in ["nohost", "h:0", "h:70000", ":80", "a b:1", "[zz]:1"] {
            assert!(bad.parse::<NetworkGrant>().is_err(), "{bad}");
        }
    }

    #[test]
    fn only_listed_destinations_are_allowed() {
        let g: NetworkGrant = "127.0.0.1:9092".parse().unwrap();
        assert!(g.allows("127.0.0.1:9092".parse().unwrap()));
        assert!(g.allows("[::ffff:127.0.0.1]:9092".parse().unwrap()));
        assert!(!g.allows("127.0.0.1:9093".parse().unwrap()));
        assert!(!g.allows("127.0.0.2:9092".parse().unwrap()));
        let named: NetworkGrant = "localhost:9092".parse().unwrap();
        assert!(named.allows("127.0.0.1:9092".parse().unwrap()));
        assert!(!named.allows("10.1.2.3:9092".parse().unwrap()));
    }

    #[test]
    fn imports_needing_a_grant_are_refused_with_its_name() {
        let imports = vec![
            "wasi:cli/environment@0.2.6".to_string(),
            "wasi:filesystem/preopens@0.2.6".to_string(),
        ];
        let err = check_imports(&imports, &Grants::default(), "x.wasm")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "x.wasm: imports `wasi:filesystem/preopens@0.2.6`, which needs `grants.dirs`"
            ),
            "{err}"
        );
        let granted = Grants {
            dirs: Some(vec![]),
            ..Grants::default()
        };
        assert!(check_imports(&imports, &granted, "x.wasm").is_ok());
        let sockets = vec!["wasi:sockets/tcp@0.2.6".to_string()];
        let err = check_imports(&sockets, &granted, "x.wasm")
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs `grants.network`"), "{err}");
    }
}
