//! The gateway end to end: real clients (psql, pgbench, psycopg, asyncpg,
//! tokio-postgres) through gatehouse to real PostgreSQL 15 and 18.

#[allow(dead_code)] // each test file uses part of the harness
#[path = "gateway/harness.rs"]
mod harness;

#[path = "gateway/auth_methods.rs"]
mod auth_methods;
#[path = "gateway/clients.rs"]
mod clients;
#[path = "gateway/network.rs"]
mod network;
#[path = "gateway/tls.rs"]
mod tls;
#[path = "gateway/upstream.rs"]
mod upstream;

#[path = "gateway/bad_input.rs"]
mod bad_input;
