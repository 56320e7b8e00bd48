//! [`ClientIdentity`] against a real PostgreSQL 18, psql connecting with each client
//! certificate: for `cert` the server reports the DN it took from the certificate in
//! `SELECT system_user` (`cert:<DN>`); and `cert` without a map (`clientname=CN`) lets in
//! exactly the role named as our CN.

use std::path::Path;
use std::process::Command;

use gatehouse_proxy::tls::ClientIdentity;
use gatehouse_testkit::tls::{write_pem_files, CertAuthority, SelfSigned};
use gatehouse_testkit::{available, Cluster, ClusterOptions, PgVersion};
use rcgen::{CertificateParams, DistinguishedName, DnType, DnValue, ExtendedKeyUsagePurpose};

const HBA: &str = "local all all trust\n\
                   hostssl dncheck all 127.0.0.1/32 cert clientname=DN map=any\n\
                   hostssl cncheck all 127.0.0.1/32 cert\n";
const IDENT: &str = "any /^.*$ postgres\n";

/// Runs `sql` through psql over TLS with `cert` as client certificate, as `user` in `db`;
/// the output, or psql's error.
fn psql(
    cluster: &Cluster,
    dir: &Path,
    cert: &SelfSigned,
    db: &str,
    user: &str,
    sql: &str,
) -> Result<String, String> {
    let (cert_path, key_path) = write_pem_files(dir, "client", cert).expect("write");
    let quoted_user = user.replace('\\', "\\\\").replace('\'', "\\'");
    let conninfo = format!(
        "host=127.0.0.1 port={} dbname={db} user='{quoted_user}' sslmode=require sslcert={} \
         sslkey={}",
        cluster.port(),
        cert_path.display(),
        key_path.display()
    );
    let out = Command::new(cluster.bin_dir().join("psql"))
        .args(["-X", "-A", "-t", "-c", sql, &conninfo])
        .env("HOME", dir) // no ~/.postgresql/root.crt: sslmode=require does not verify
        .env("PGCLIENTENCODING", "UTF8")
        .env_remove("PGPASSWORD")
        .output()
        .expect("run psql");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let mut text = String::from_utf8(out.stdout).expect("utf-8");
    while text.ends_with('\n') {
        text.pop();
    }
    Ok(text)
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn client_cert(ca: &CertAuthority, dn: Vec<(DnType, DnValue)>) -> SelfSigned {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    let mut name = DistinguishedName::new();
    for (ty, value) in dn {
        name.push(ty, value);
    }
    params.distinguished_name = name;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    ca.sign(params).expect("sign")
}

fn utf8(s: &str) -> DnValue {
    DnValue::Utf8String(s.to_string())
}

#[test]
fn cn_and_dn_match_postgresql_18() {
    assert!(
        available(PgVersion::V18),
        "PostgreSQL 18 binaries not found: run scripts/install-deps"
    );
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls_fixtures");
    let ca = CertAuthority::new("gatehouse PG test CA").expect("ca");
    let cluster = Cluster::start_with(ClusterOptions::new(PgVersion::V18).hba(HBA).ident(IDENT))
        .expect("start");
    let cas = format!(
        "{}{}",
        ca.cert_pem(),
        std::fs::read_to_string(fixtures.join("mv_ca.crt")).expect("mv ca")
    );
    let ca_path = cluster
        .write_conf_file("client_ca.crt", cas.as_bytes())
        .expect("ca file");
    for db in ["dncheck", "cncheck"] {
        cluster
            .execute(&format!("CREATE DATABASE {db}"))
            .expect("database");
    }
    cluster
        .execute(&format!(
            "ALTER SYSTEM SET ssl_ca_file = '{}'",
            ca_path.display()
        ))
        .expect("ssl_ca_file");
    let reload = cluster.reload().expect("reload");
    assert!(
        reload.hba_reloaded && reload.ident_reloaded,
        "{:?}",
        reload.log
    );

    let mut certs = vec![
        ca.client_cert(
            "alice",
            &[
                (DnType::OrganizationName, "Example"),
                (DnType::OrganizationalUnitName, "dev"),
            ],
        )
        .expect("alice"),
        client_cert(
            &ca,
            vec![
                (
                    DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 25]),
                    utf8("org"),
                ),
                (DnType::OrganizationName, utf8("Ex, Inc. +\"\\<>;=")),
                (DnType::OrganizationalUnitName, utf8("#lead trail ")),
                (DnType::LocalityName, utf8("Zürich\ttab")),
                (
                    DnType::StateOrProvinceName,
                    DnValue::BmpString("Ωmega".try_into().expect("bmp")),
                ),
                (
                    DnType::CustomDnType(vec![2, 5, 4, 9]),
                    DnValue::UniversalString("𝄞 st".try_into().expect("universal")),
                ),
                (
                    DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
                    DnValue::Ia5String("bob@example.org".try_into().expect("ia5")),
                ),
                (DnType::CommonName, utf8(" bob é")),
            ],
        ),
        client_cert(&ca, vec![(DnType::CommonName, utf8("#"))]),
    ];
    certs.push(SelfSigned {
        cert_pem: std::fs::read_to_string(fixtures.join("mv_client.crt")).expect("crt"),
        key_pem: std::fs::read_to_string(fixtures.join("mv_client.key")).expect("key"),
    });

    let dir = tempfile::tempdir().expect("tempdir");

    // A subject attribute type OpenSSL does not know: PostgreSQL ends the connection while
    // filling pg_stat_ssl (X509_NAME_to_cstring), whatever the auth method. We print such a
    // DN as OpenSSL would (1.2.3.4=#0C...) instead of refusing it.
    let unknown = client_cert(
        &ca,
        vec![
            (DnType::CustomDnType(vec![1, 2, 3, 4]), utf8("opaque")),
            (DnType::CommonName, utf8("postgres")),
        ],
    );
    let err = psql(
        &cluster,
        dir.path(),
        &unknown,
        "dncheck",
        "postgres",
        "SELECT 1",
    )
    .expect_err("PostgreSQL refuses a subject with an unknown attribute type");
    assert!(
        err.contains("could not get NID for ASN1_OBJECT object"),
        "{err}"
    );
    let ours = ClientIdentity::from_der(&unknown.cert_der().expect("der")).expect("identity");
    assert_eq!(ours.dn, "CN=postgres,1.2.3.4=#0C066F7061717565");

    let log = || cluster.server_log().unwrap_or_default();
    for cert in &certs {
        let der = cert.cert_der().expect("der");
        let ours = ClientIdentity::from_der(&der).expect("identity");
        let dn = psql(
            &cluster,
            dir.path(),
            cert,
            "dncheck",
            "postgres",
            "SELECT system_user",
        )
        .unwrap_or_else(|e| panic!("{e}\n--- server log ---\n{}", log()));
        assert_eq!(dn, format!("cert:{}", ours.dn), "clientname=DN");

        let cn = ours.cn.expect("every test certificate has a CN");
        cluster
            .execute(&format!("CREATE ROLE {} LOGIN", quote_ident(&cn)))
            .expect("create role");
        let user = psql(
            &cluster,
            dir.path(),
            cert,
            "cncheck",
            &cn,
            "SELECT current_user",
        )
        .unwrap_or_else(|e| panic!("as {cn:?}: {e}\n--- server log ---\n{}", log()));
        assert_eq!(user, cn, "clientname=CN");
        let err = psql(
            &cluster,
            dir.path(),
            cert,
            "cncheck",
            "postgres",
            "SELECT 1",
        )
        .expect_err("a certificate for another name must not log in as postgres");
        assert!(err.contains("certificate"), "{err}");
    }
}
