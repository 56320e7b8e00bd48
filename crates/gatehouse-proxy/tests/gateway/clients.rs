//! Other real clients through the gateway: pgbench (including -C), psycopg 3,
//! asyncpg, tokio-postgres — and query cancel through gatehouse's own keys.

use std::process::Command;
use std::time::{Duration, Instant};

use gatehouse_proxy::config::UpstreamAuth;
use gatehouse_testkit::{Cluster, ClusterOptions, PgVersion};

use crate::auth_methods::engine;
use crate::harness::*;

const HBA: &str = "host all app 127.0.0.0/8 scram-sha-256\n";

fn setup(v: PgVersion) -> (Cluster, Gw, tempfile::TempDir) {
    let c = Cluster::start_with(ClusterOptions::new(v)).expect("cluster");
    c.execute(SETUP_SQL).expect("setup");
    c.execute(
        "SET password_encryption = 'scram-sha-256';
         CREATE ROLE app LOGIN PASSWORD 'app-pw';",
    )
    .expect("roles");
    c.execute("CREATE DATABASE appdb OWNER app")
        .expect("database");
    let dir = scratch();
    let gw = start(config(
        rules(dir.path(), HBA, None, engine(v)),
        unix_addr(&c),
        UpstreamAuth::Trust,
        auth_query(&c, Duration::from_secs(30)),
    ));
    (c, gw, dir)
}

#[test]
fn pgbench_select_only_and_connection_churn() {
    let (c, gw, _dir) = setup(PgVersion::V15);
    let pgbench = c.bin_dir().join("pgbench");
    let port = gw.port().to_string();
    let base = ["-h", "127.0.0.1", "-p", port.as_str(), "-U", "app"];
    let run = |args: &[&str]| {
        let out = Command::new(&pgbench)
            .args(base)
            .args(args)
            .env("PGPASSWORD", "app-pw")
            .env("PGSSLMODE", "disable")
            .output()
            .expect("pgbench");
        ok(&out)
    };
    run(&["-i", "-s", "1", "-q", "appdb"]);
    let out = run(&["-n", "-S", "-t", "200", "-c", "4", "-j", "2", "appdb"]);
    assert!(
        out.contains("number of transactions actually processed: 800/800"),
        "{out}"
    );
    let out = run(&["-n", "-S", "-C", "-t", "25", "-c", "4", "-j", "2", "appdb"]);
    assert!(
        out.contains("number of transactions actually processed: 100/100"),
        "{out}"
    );
}

#[test]
fn psycopg_and_asyncpg() {
    let (_c, gw, _dir) = setup(PgVersion::V18);
    let port = gw.port().to_string();
    let code = r#"
import os, psycopg
dsn = f"host=127.0.0.1 port={os.environ['GW_PORT']} user=app password=app-pw dbname=appdb sslmode=disable"
with psycopg.connect(dsn) as conn:
    conn.execute("CREATE TABLE t (id int primary key, note text)")
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO t VALUES (%s, %s)", [(i, f"n{i}") for i in range(100)])
    conn.commit()
    print(conn.execute("SELECT count(*), current_user FROM t").fetchone())
try:
    psycopg.connect(dsn.replace("app-pw", "wrong"))
except psycopg.OperationalError as e:
    print("refused:", e.sqlstate if hasattr(e, "sqlstate") else "", str(e).strip().splitlines()[-1])
"#;
    let out = run_python(code, &[("GW_PORT", &port)]);
    let text = ok(&out);
    assert!(text.contains("(100, 'app')"), "{text}");
    assert!(
        text.contains("password authentication failed for user \"app\""),
        "{text}"
    );

    let code = r#"
import asyncio, os, asyncpg
async def main():
    conn = await asyncpg.connect(host="127.0.0.1", port=int(os.environ["GW_PORT"]), user="app",
                                 password="app-pw", database="appdb", ssl=False)
    print(await conn.fetchval("SELECT count(*) FROM generate_series(1, 1000)"))
    stmt = await conn.prepare("SELECT $1::int + 1")
    print(await stmt.fetchval(41))
    await conn.close()
    try:
        await asyncpg.connect(host="127.0.0.1", port=int(os.environ["GW_PORT"]), user="app",
                              password="nope", database="appdb", ssl=False)
    except asyncpg.InvalidPasswordError as e:
        print("refused:", e.sqlstate)
asyncio.run(main())
"#;
    let out = run_python(code, &[("GW_PORT", &port)]);
    let text = ok(&out);
    assert_eq!(text, "1000\n42\nrefused: 28P01", "{text}");
}

#[test]
fn tokio_postgres_queries_and_cancel() {
    let (c, gw, _dir) = setup(PgVersion::V18);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dsn = format!(
            "host=127.0.0.1 port={} user=app password=app-pw dbname=appdb",
            gw.port()
        );
        let (client, conn) = tokio_postgres::connect(&dsn, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        let row = client
            .query_one("SELECT $1::text || '!'", &[&"hi"])
            .await
            .expect("query");
        assert_eq!(row.get::<_, String>(0), "hi!");
        let upstream_pid: i32 = client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .expect("pid")
            .get(0);
        assert!(upstream_pid > 0);

        // Cancel a long query with the key the gateway issued.
        let token = client.cancel_token();
        let started = Instant::now();
        let sleeper =
            tokio::spawn(async move { client.batch_execute("SELECT pg_sleep(30)").await });
        tokio::time::sleep(Duration::from_millis(300)).await;
        token
            .cancel_query(tokio_postgres::NoTls)
            .await
            .expect("cancel");
        let res = tokio::time::timeout(Duration::from_secs(10), sleeper)
            .await
            .expect("cancelled in time")
            .expect("join");
        let err = res.expect_err("the query was cancelled");
        assert_eq!(
            err.code(),
            Some(&tokio_postgres::error::SqlState::QUERY_CANCELED),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    });
    // The upstream saw the cancel for its backend (not some other session).
    let log = c.server_log().expect("log");
    assert!(
        log.contains("canceling statement due to user request"),
        "{log}"
    );
}
