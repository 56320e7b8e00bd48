//! Real TLS handshakes over TCP on 127.0.0.1 between [`ServerTls`] and rustls clients:
//! optional client certificates, ALPN, minimum versions, upstream verification modes, and
//! the channel binding both sides compute.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gatehouse_proxy::tls::{
    tls_server_end_point, upstream_client_config, ClientIdentity, ServerTls, TlsSettings,
    TlsVersion, UpstreamTlsMode,
};
use gatehouse_testkit::tls::{write_pem_files, CertAuthority, SelfSigned};
use rcgen::DnType;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ProtocolVersion, RootCertStore, ServerConfig};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TIMEOUT: Duration = Duration::from_secs(10);

/// What the server saw of a completed handshake.
#[derive(Debug)]
struct ServerSide {
    identity: Option<ClientIdentity>,
    alpn: Option<Vec<u8>>,
    version: Option<ProtocolVersion>,
}

/// What the client saw.
#[derive(Debug)]
struct ClientSide {
    server_cert: CertificateDer<'static>,
    alpn: Option<Vec<u8>>,
}

/// One handshake: the server accepts, then sends one byte; the client connects as
/// `server_name` and reads it (so a late rejection of the client certificate in TLS 1.3
/// shows on the client side too).
async fn handshake(
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    server_name: &str,
) -> (Result<ServerSide, String>, Result<ClientSide, String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server_task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let mut tls = tokio_rustls::TlsAcceptor::from(server)
            .accept(tcp)
            .await
            .map_err(|e| e.to_string())?;
        let (_, conn) = tls.get_ref();
        let side = ServerSide {
            identity: ClientIdentity::from_connection(conn).map_err(|e| e.to_string())?,
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
            version: conn.protocol_version(),
        };
        tls.write_all(b"x").await.map_err(|e| e.to_string())?;
        tls.flush().await.map_err(|e| e.to_string())?;
        let _ = tls.shutdown().await;
        Ok::<_, String>(side)
    });
    let name = ServerName::try_from(server_name.to_string()).expect("server name");
    let client_result = async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let mut tls = tokio_rustls::TlsConnector::from(client)
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte).await.map_err(|e| e.to_string())?;
        let (_, conn) = tls.get_ref();
        let server_cert = conn
            .peer_certificates()
            .and_then(|c| c.first())
            .ok_or("no server certificate")?
            .clone()
            .into_owned();
        Ok::<_, String>(ClientSide {
            server_cert,
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
        })
    };
    let client_result = tokio::time::timeout(TIMEOUT, client_result)
        .await
        .unwrap_or_else(|_| Err("client timed out".to_string()));
    let server_result = match tokio::time::timeout(TIMEOUT, server_task).await {
        Ok(Ok(r)) => r,
        Ok(Err(join)) => Err(join.to_string()),
        Err(_) => Err("server timed out".to_string()),
    };
    (server_result, client_result)
}

/// A CA, a server certificate from it for localhost, and the files on disk.
struct Setup {
    dir: tempfile::TempDir,
    ca: CertAuthority,
    ca_file: PathBuf,
    cert_file: PathBuf,
    key_file: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = CertAuthority::new("gatehouse test CA").expect("ca");
        let ca_file = dir.path().join("ca.crt");
        std::fs::write(&ca_file, ca.cert_pem()).expect("write ca");
        let server = ca.server_cert(&["localhost"]).expect("server cert");
        let (cert_file, key_file) = write_pem_files(dir.path(), "server", &server).expect("pem");
        Setup {
            dir,
            ca,
            ca_file,
            cert_file,
            key_file,
        }
    }

    fn settings(&self) -> TlsSettings {
        TlsSettings::new(&self.cert_file, &self.key_file)
    }

    fn settings_with_client_ca(&self, ca_file: &Path) -> TlsSettings {
        let mut s = self.settings();
        s.client_ca_file = Some(ca_file.to_path_buf());
        s
    }

    fn server(&self, settings: &TlsSettings) -> ServerTls {
        ServerTls::load(settings).expect("load server TLS")
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(ca_pem: &str) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("ca pem")).expect("add root");
    }
    roots
}

/// A client trusting `ca_pem`, TLS `versions`, optional ALPN, optional client certificate.
fn client(
    ca_pem: &str,
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: &[&[u8]],
    cert: Option<&SelfSigned>,
) -> Arc<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .expect("versions")
        .with_root_certificates(roots(ca_pem));
    let mut config = match cert {
        None => builder.with_no_client_auth(),
        Some(cert) => {
            let chain =
                vec![CertificateDer::from_pem_slice(cert.cert_pem.as_bytes()).expect("cert")];
            let key = PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).expect("key");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client auth")
        }
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

const BOTH: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];
const ONLY_12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
const PG: &[&[u8]] = &[b"postgresql"];

// (a) no client certificate

#[tokio::test]
async fn no_client_certificate_is_allowed_with_a_client_ca() {
    let s = Setup::new();
    let server = s.server(&s.settings_with_client_ca(&s.ca_file));
    for versions in [BOTH, ONLY_12] {
        let (srv, cli) = handshake(
            server.config.clone(),
            client(s.ca.cert_pem(), versions, PG, None),
            "localhost",
        )
        .await;
        let srv = srv.expect("server handshake");
        cli.expect("client handshake");
        assert_eq!(srv.identity, None);
    }
}

#[tokio::test]
async fn without_a_client_ca_no_certificate_is_requested() {
    let s = Setup::new();
    let server = s.server(&s.settings());
    let alice = s.ca.client_cert("alice", &[]).expect("client cert");
    let (srv, cli) = handshake(
        server.config.clone(),
        client(s.ca.cert_pem(), BOTH, PG, Some(&alice)),
        "localhost",
    )
    .await;
    cli.expect("client");
    assert_eq!(
        srv.expect("server").identity,
        None,
        "certificate was not asked for"
    );
}

// (b) client certificate from the CA

#[tokio::test]
async fn client_certificate_from_the_ca_gives_its_identity() {
    let s = Setup::new();
    let server = s.server(&s.settings_with_client_ca(&s.ca_file));
    let alice =
        s.ca.client_cert(
            "alice",
            &[
                (DnType::OrganizationName, "Example"),
                (DnType::OrganizationalUnitName, "dev"),
            ],
        )
        .expect("client cert");
    for versions in [BOTH, ONLY_12] {
        let (srv, cli) = handshake(
            server.config.clone(),
            client(s.ca.cert_pem(), versions, PG, Some(&alice)),
            "localhost",
        )
        .await;
        cli.expect("client");
        let identity = srv.expect("server").identity.expect("identity");
        assert_eq!(identity.cn.as_deref(), Some("alice"));
        assert_eq!(identity.dn, "CN=alice,OU=dev,O=Example");
    }
}

#[tokio::test]
async fn multi_valued_rdn_fixture_through_a_handshake() {
    let s = Setup::new();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls_fixtures");
    // Two CAs in one file: the kit's and the fixture's.
    let both = format!(
        "{}{}",
        s.ca.cert_pem(),
        std::fs::read_to_string(fixtures.join("mv_ca.crt")).expect("mv ca")
    );
    let ca_file = s.dir.path().join("both.crt");
    std::fs::write(&ca_file, both).expect("write");
    let server = s.server(&s.settings_with_client_ca(&ca_file));
    let cert = SelfSigned {
        cert_pem: std::fs::read_to_string(fixtures.join("mv_client.crt")).expect("crt"),
        key_pem: std::fs::read_to_string(fixtures.join("mv_client.key")).expect("key"),
    };
    let (srv, cli) = handshake(
        server.config.clone(),
        client(s.ca.cert_pem(), BOTH, PG, Some(&cert)),
        "localhost",
    )
    .await;
    cli.expect("client");
    let identity = srv.expect("server").identity.expect("identity");
    assert_eq!(identity.cn.as_deref(), Some("#x y "));
    assert_eq!(
        identity.dn,
        r#"CN=\C3\A9,UID=u\;\<\>\"\\\\=,emailAddress=a@b.example,CN=\#x y\ ,UID=z+OU=b+OU=a,O=Ex\, Inc.,DC=example,DC=org"#
    );
}

// (c) client certificate from another CA

#[tokio::test]
async fn client_certificate_from_another_ca_fails_the_handshake() {
    let s = Setup::new();
    let server = s.server(&s.settings_with_client_ca(&s.ca_file));
    let stranger = CertAuthority::new("other CA").expect("ca");
    let mallory = stranger.client_cert("alice", &[]).expect("cert");
    for versions in [BOTH, ONLY_12] {
        let (srv, cli) = handshake(
            server.config.clone(),
            client(s.ca.cert_pem(), versions, PG, Some(&mallory)),
            "localhost",
        )
        .await;
        let err = srv.expect_err("server must refuse");
        assert!(
            err.contains("UnknownIssuer") || err.contains("issuer"),
            "{err}"
        );
        assert!(cli.is_err(), "client must see the failure");
    }
}

#[tokio::test]
async fn self_signed_client_certificate_fails_the_handshake() {
    let s = Setup::new();
    let server = s.server(&s.settings_with_client_ca(&s.ca_file));
    let lone = gatehouse_testkit::tls::self_signed(&["alice"]).expect("cert");
    let (srv, cli) = handshake(
        server.config.clone(),
        client(s.ca.cert_pem(), BOTH, PG, Some(&lone)),
        "localhost",
    )
    .await;
    assert!(srv.is_err() && cli.is_err(), "{srv:?} {cli:?}");
}

// (d) ALPN

#[tokio::test]
async fn alpn_postgresql_is_negotiated() {
    let s = Setup::new();
    let server = s.server(&s.settings());
    let (srv, cli) = handshake(
        server.config.clone(),
        client(s.ca.cert_pem(), BOTH, PG, None),
        "localhost",
    )
    .await;
    assert_eq!(
        srv.expect("server").alpn.as_deref(),
        Some(&b"postgresql"[..])
    );
    assert_eq!(
        cli.expect("client").alpn.as_deref(),
        Some(&b"postgresql"[..])
    );
}

#[tokio::test]
async fn client_without_alpn_still_connects() {
    // libpq before 17 (and any client over a plain SSLRequest) offers no ALPN.
    let s = Setup::new();
    let server = s.server(&s.settings());
    for versions in [BOTH, ONLY_12] {
        let (srv, cli) = handshake(
            server.config.clone(),
            client(s.ca.cert_pem(), versions, &[], None),
            "localhost",
        )
        .await;
        assert_eq!(srv.expect("server").alpn, None);
        assert_eq!(cli.expect("client").alpn, None);
    }
}

#[tokio::test]
async fn client_offering_only_another_protocol_is_refused() {
    // As PostgreSQL 17+ (its ALPN callback answers no_application_protocol).
    let s = Setup::new();
    let server = s.server(&s.settings());
    let (srv, cli) = handshake(
        server.config.clone(),
        client(s.ca.cert_pem(), BOTH, &[b"http/1.1"], None),
        "localhost",
    )
    .await;
    let err = srv.expect_err("refused");
    assert!(err.contains("doesn't support any known protocol"), "{err}");
    assert!(cli.is_err());
}

// (e) minimum version

#[tokio::test]
async fn tls13_only_refuses_a_tls12_only_client() {
    let s = Setup::new();
    let mut settings = s.settings();
    settings.min_version = TlsVersion::V1_3;
    let server = s.server(&settings);
    let (srv, cli) = handshake(
        server.config.clone(),
        client(s.ca.cert_pem(), ONLY_12, PG, None),
        "localhost",
    )
    .await;
    assert!(srv.is_err() && cli.is_err(), "{srv:?} {cli:?}");

    let (srv, _) = handshake(
        server.config.clone(),
        client(s.ca.cert_pem(), BOTH, PG, None),
        "localhost",
    )
    .await;
    assert_eq!(srv.expect("1.3").version, Some(ProtocolVersion::TLSv1_3));
}

#[tokio::test]
async fn default_minimum_accepts_tls12() {
    let s = Setup::new();
    let server = s.server(&s.settings());
    let (srv, cli) = handshake(
        server.config.clone(),
        client(s.ca.cert_pem(), ONLY_12, PG, None),
        "localhost",
    )
    .await;
    cli.expect("client");
    assert_eq!(srv.expect("server").version, Some(ProtocolVersion::TLSv1_2));
}

// (f) upstream verification modes

async fn upstream(
    server: &ServerTls,
    mode: UpstreamTlsMode,
    root: Option<&Path>,
    name: &str,
) -> Result<ClientSide, String> {
    let config = upstream_client_config(mode, root).expect("upstream config");
    let (_, cli) = handshake(server.config.clone(), config, name).await;
    cli
}

#[tokio::test]
async fn verify_full_checks_the_name_verify_ca_does_not() {
    let s = Setup::new();
    let server = s.server(&s.settings());
    let root = Some(s.ca_file.as_path());
    upstream(&server, UpstreamTlsMode::VerifyFull, root, "localhost")
        .await
        .expect("verify-full as localhost");
    let err = upstream(&server, UpstreamTlsMode::VerifyFull, root, "example.com")
        .await
        .expect_err("verify-full as example.com");
    assert!(err.contains("not valid for name"), "{err}");
    upstream(&server, UpstreamTlsMode::VerifyCa, root, "localhost")
        .await
        .expect("verify-ca as localhost");
    upstream(&server, UpstreamTlsMode::VerifyCa, root, "example.com")
        .await
        .expect("verify-ca as example.com");
}

#[tokio::test]
async fn verify_ca_still_checks_the_chain() {
    let s = Setup::new();
    let server = s.server(&s.settings());
    let other = CertAuthority::new("other CA").expect("ca");
    let other_file = s.dir.path().join("other.crt");
    std::fs::write(&other_file, other.cert_pem()).expect("write");
    for mode in [
        UpstreamTlsMode::VerifyCa,
        UpstreamTlsMode::VerifyFull,
        // libpq: require with a root CA file behaves as verify-ca.
        UpstreamTlsMode::Require,
    ] {
        for name in ["localhost", "example.com"] {
            let err = upstream(&server, mode, Some(&other_file), name)
                .await
                .expect_err("wrong CA");
            assert!(err.contains("UnknownIssuer"), "{mode} {name}: {err}");
        }
    }
}

#[tokio::test]
async fn require_accepts_any_certificate() {
    let s = Setup::new();
    let lone = gatehouse_testkit::tls::self_signed(&["db.internal"]).expect("cert");
    let (cert, key) = write_pem_files(s.dir.path(), "lone", &lone).expect("write");
    let server = ServerTls::load(&TlsSettings::new(cert, key)).expect("load");
    let cli = upstream(&server, UpstreamTlsMode::Require, None, "example.com")
        .await
        .expect("require");
    assert_eq!(cli.alpn.as_deref(), Some(&b"postgresql"[..]));
}

// (g) channel binding agreement

#[tokio::test]
async fn both_sides_compute_the_same_end_point() {
    let s = Setup::new();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls_fixtures");
    let servers = [
        (s.server(&s.settings()), 32),
        (
            ServerTls::load(&TlsSettings::new(
                fixtures.join("rsa_sha384.crt"),
                fixtures.join("rsa_pkcs1.key"),
            ))
            .expect("rsa"),
            48,
        ),
    ];
    for (server, len) in servers {
        let config = upstream_client_config(UpstreamTlsMode::Require, None).expect("config");
        let (srv, cli) = handshake(server.config.clone(), config, "localhost").await;
        srv.expect("server");
        let received = cli.expect("client").server_cert;
        let client_view = tls_server_end_point(&received).expect("defined");
        assert_eq!(client_view, server.end_point);
        assert_eq!(client_view.len(), len);
        if len == 32 {
            assert_eq!(client_view, Sha256::digest(received.as_ref()).to_vec());
        }
    }
}
